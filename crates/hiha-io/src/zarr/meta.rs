//! Zarr array metadata (v2 `.zarray` + `.zattrs`, v3 `zarr.json`), parsed
//! into what the reader needs; anything it cannot decode is refused by name.

use serde_json::{Map, Value};

/// The element type of an array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ZType {
    Bool,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F32,
    F64,
    /// Variable-length UTF-8 strings (v3 `string`, v2 `|O` + `vlen-utf8`).
    Str,
    /// Fixed-length UTF-32 strings of this many code points (numpy `<Un`,
    /// v3 `fixed_length_utf32`).
    Utf32(usize),
    /// Fixed-length byte strings (numpy `|Sn`, v3 `fixed_length_bytes`?).
    Bytes(usize),
}

impl ZType {
    /// Bytes per element in a decoded chunk (`None`: variable length).
    pub fn size(self) -> Option<usize> {
        Some(match self {
            ZType::Bool | ZType::I8 | ZType::U8 => 1,
            ZType::I16 | ZType::U16 => 2,
            ZType::I32 | ZType::U32 | ZType::F32 => 4,
            ZType::I64 | ZType::U64 | ZType::F64 => 8,
            ZType::Str => return None,
            ZType::Utf32(n) => n.checked_mul(4)?,
            ZType::Bytes(n) => n,
        })
    }

    /// The size of one scalar whose bytes are swapped for endianness.
    pub fn scalar_size(self) -> usize {
        match self {
            ZType::Utf32(_) => 4,
            ZType::Bytes(_) | ZType::Str => 1,
            t => t.size().unwrap_or(1),
        }
    }
}

/// A bytes-to-bytes (or, for strings, array-to-bytes) codec, in the order
/// the writer applied them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Codec {
    Zstd,
    Gzip,
    Zlib,
    Blosc,
    /// numcodecs' LZ4: a little-endian i32 size, then an LZ4 block.
    Lz4,
    Crc32c,
    VlenUtf8,
}

/// How chunk keys are spelled.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChunkKey {
    /// `Some("c")` for v3's default encoding (`c/0/1`), `None` for v2 (`0.1`).
    pub prefix: Option<&'static str>,
    pub sep: char,
}

impl ChunkKey {
    /// The key of the chunk at grid position `idx`.
    pub fn key(&self, idx: &[usize]) -> String {
        let parts: Vec<String> = idx.iter().map(|i| i.to_string()).collect();
        match (self.prefix, parts.is_empty()) {
            (Some(p), true) => p.to_string(),
            (Some(p), false) => format!("{p}{}{}", self.sep, parts.join(&self.sep.to_string())),
            (None, true) => "0".to_string(),
            (None, false) => parts.join(&self.sep.to_string()),
        }
    }
}

/// One array's metadata.
#[derive(Debug, Clone)]
pub(crate) struct ArrayMeta {
    pub shape: Vec<usize>,
    pub chunks: Vec<usize>,
    pub dtype: ZType,
    pub big_endian: bool,
    /// The fill value as the metadata gives it (`Null` when none).
    pub fill: Value,
    pub codecs: Vec<Codec>,
    pub key: ChunkKey,
    pub attrs: Map<String, Value>,
    /// Dimension names (`dimension_names` in v3, `_ARRAY_DIMENSIONS` in v2).
    pub dims: Option<Vec<String>>,
    pub v2: bool,
}

fn usizes(v: Option<&Value>, what: &str) -> Result<Vec<usize>, String> {
    let a = v
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{what} is missing or not a list"))?;
    a.iter()
        .map(|x| {
            x.as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| format!("{what} holds {x}, not a size"))
        })
        .collect()
}

fn names(v: Option<&Value>) -> Option<Vec<String>> {
    v?.as_array()?
        .iter()
        .map(|x| x.as_str().map(str::to_string))
        .collect()
}

/// Parses a numpy type string (`<f4`, `|u1`, `<U4`, `|O`, ...).
fn numpy_type(s: &str) -> Result<(ZType, bool), String> {
    let mut chars = s.chars();
    let order = chars.next();
    let rest = chars.as_str();
    let big = order == Some('>');
    if !matches!(order, Some('<' | '>' | '|')) {
        return Err(format!("dtype '{s}' is not a numpy type string"));
    }
    let t = match rest {
        "b1" => ZType::Bool,
        "i1" => ZType::I8,
        "i2" => ZType::I16,
        "i4" => ZType::I32,
        "i8" => ZType::I64,
        "u1" => ZType::U8,
        "u2" => ZType::U16,
        "u4" => ZType::U32,
        "u8" => ZType::U64,
        "f4" => ZType::F32,
        "f8" => ZType::F64,
        "O" => ZType::Str,
        r if r.starts_with('U') => ZType::Utf32(
            r[1..]
                .parse()
                .map_err(|_| format!("dtype '{s}' has a bad length"))?,
        ),
        r if r.starts_with('S') => ZType::Bytes(
            r[1..]
                .parse()
                .map_err(|_| format!("dtype '{s}' has a bad length"))?,
        ),
        _ => return Err(format!("dtype '{s}' is not supported")),
    };
    Ok((t, big))
}

fn v3_type(v: &Value) -> Result<ZType, String> {
    if let Some(s) = v.as_str() {
        return Ok(match s {
            "bool" => ZType::Bool,
            "int8" => ZType::I8,
            "int16" => ZType::I16,
            "int32" => ZType::I32,
            "int64" => ZType::I64,
            "uint8" => ZType::U8,
            "uint16" => ZType::U16,
            "uint32" => ZType::U32,
            "uint64" => ZType::U64,
            "float32" => ZType::F32,
            "float64" => ZType::F64,
            "string" => ZType::Str,
            other => return Err(format!("data type '{other}' is not supported")),
        });
    }
    let name = v.get("name").and_then(Value::as_str).unwrap_or("");
    let len = v
        .get("configuration")
        .and_then(|c| c.get("length_bytes"))
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok());
    match (name, len) {
        ("fixed_length_utf32", Some(n)) if n % 4 == 0 => Ok(ZType::Utf32(n / 4)),
        ("fixed_length_bytes" | "null_terminated_bytes", Some(n)) => Ok(ZType::Bytes(n)),
        _ => Err(format!("data type {v} is not supported")),
    }
}

fn numcodec(v: &Value, what: &str) -> Result<Codec, String> {
    let id = v.get("id").and_then(Value::as_str).unwrap_or("");
    Ok(match id {
        "zstd" => Codec::Zstd,
        "gzip" => Codec::Gzip,
        "zlib" => Codec::Zlib,
        "blosc" => Codec::Blosc,
        "lz4" => Codec::Lz4,
        "crc32c" => Codec::Crc32c,
        "vlen-utf8" => Codec::VlenUtf8,
        _ => {
            return Err(format!(
                "{what} '{id}' is not supported (supported: zstd, blosc, zlib, gzip, lz4, \
                 crc32c, vlen-utf8)"
            ))
        }
    })
}

/// Parses a v2 array from its `.zarray` and `.zattrs` documents.
pub(crate) fn parse_v2(zarray: &Value, zattrs: Option<&Value>) -> Result<ArrayMeta, String> {
    let shape = usizes(zarray.get("shape"), "shape")?;
    let chunks = usizes(zarray.get("chunks"), "chunks")?;
    let dtype = zarray
        .get("dtype")
        .and_then(Value::as_str)
        .ok_or("dtype is missing or structured (structured types are not supported)")?;
    let (dtype, big_endian) = numpy_type(dtype)?;
    if zarray.get("order").and_then(Value::as_str).unwrap_or("C") != "C" {
        return Err("order 'F' (column-major chunks) is not supported".into());
    }
    let mut codecs = Vec::new();
    if let Some(f) = zarray.get("filters").and_then(Value::as_array) {
        for x in f {
            codecs.push(numcodec(x, "filter")?);
        }
    }
    if let Some(c) = zarray.get("compressor").filter(|c| !c.is_null()) {
        codecs.push(numcodec(c, "compressor")?);
    }
    let sep = match zarray
        .get("dimension_separator")
        .and_then(Value::as_str)
        .unwrap_or(".")
    {
        "/" => '/',
        _ => '.',
    };
    let attrs = zattrs
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let dims = names(attrs.get("_ARRAY_DIMENSIONS"));
    Ok(ArrayMeta {
        shape,
        chunks,
        dtype,
        big_endian,
        fill: zarray.get("fill_value").cloned().unwrap_or(Value::Null),
        codecs,
        key: ChunkKey { prefix: None, sep },
        attrs,
        dims,
        v2: true,
    })
}

/// Parses a v3 array from its `zarr.json` document.
pub(crate) fn parse_v3(doc: &Value) -> Result<ArrayMeta, String> {
    let shape = usizes(doc.get("shape"), "shape")?;
    let grid = doc.get("chunk_grid").ok_or("chunk_grid is missing")?;
    if grid.get("name").and_then(Value::as_str) != Some("regular") {
        return Err(format!(
            "chunk grid {grid} is not supported (only 'regular')"
        ));
    }
    let chunks = usizes(
        grid.get("configuration").and_then(|c| c.get("chunk_shape")),
        "chunk_shape",
    )?;
    let dtype = v3_type(doc.get("data_type").ok_or("data_type is missing")?)?;
    let enc = doc.get("chunk_key_encoding");
    let enc_name = enc
        .and_then(|e| e.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("default");
    let enc_sep = enc
        .and_then(|e| e.get("configuration"))
        .and_then(|c| c.get("separator"))
        .and_then(Value::as_str);
    let key = match enc_name {
        "default" => ChunkKey {
            prefix: Some("c"),
            sep: if enc_sep == Some(".") { '.' } else { '/' },
        },
        "v2" => ChunkKey {
            prefix: None,
            sep: if enc_sep == Some("/") { '/' } else { '.' },
        },
        other => return Err(format!("chunk key encoding '{other}' is not supported")),
    };
    if doc
        .get("storage_transformers")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        return Err("storage transformers are not supported".into());
    }
    let mut big_endian = false;
    let mut codecs = Vec::new();
    let list = doc
        .get("codecs")
        .and_then(Value::as_array)
        .ok_or("codecs is missing")?;
    for c in list {
        let name = c.get("name").and_then(Value::as_str).unwrap_or("");
        let conf = c.get("configuration");
        match name {
            "bytes" => {
                big_endian =
                    conf.and_then(|x| x.get("endian")).and_then(Value::as_str) == Some("big");
            }
            "transpose" => {
                let order = conf.and_then(|x| x.get("order"));
                let identity = match order {
                    Some(Value::String(s)) => s == "C",
                    Some(Value::Array(a)) => a
                        .iter()
                        .enumerate()
                        .all(|(i, x)| x.as_u64() == Some(i as u64)),
                    _ => false,
                };
                if !identity {
                    return Err("a transposing codec is not supported".into());
                }
            }
            "zstd" => codecs.push(Codec::Zstd),
            "gzip" => codecs.push(Codec::Gzip),
            "blosc" => codecs.push(Codec::Blosc),
            "crc32c" => codecs.push(Codec::Crc32c),
            "vlen-utf8" => codecs.insert(0, Codec::VlenUtf8),
            "sharding_indexed" => {
                return Err("sharded arrays (sharding_indexed) are not supported".into())
            }
            other => {
                return Err(format!(
                    "codec '{other}' is not supported (supported: bytes, zstd, gzip, blosc, \
                     crc32c, vlen-utf8)"
                ))
            }
        }
    }
    let attrs = doc
        .get("attributes")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    Ok(ArrayMeta {
        shape,
        chunks,
        dtype,
        big_endian,
        fill: doc.get("fill_value").cloned().unwrap_or(Value::Null),
        codecs,
        key,
        attrs,
        dims: names(doc.get("dimension_names")),
        v2: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_keys() {
        let v3 = ChunkKey {
            prefix: Some("c"),
            sep: '/',
        };
        assert_eq!(v3.key(&[0, 1, 2]), "c/0/1/2");
        assert_eq!(v3.key(&[]), "c");
        let v2 = ChunkKey {
            prefix: None,
            sep: '.',
        };
        assert_eq!(v2.key(&[3, 0]), "3.0");
        assert_eq!(v2.key(&[]), "0");
    }

    #[test]
    fn numpy_types() {
        assert_eq!(numpy_type("<f4"), Ok((ZType::F32, false)));
        assert_eq!(numpy_type(">i2"), Ok((ZType::I16, true)));
        assert_eq!(numpy_type("<U4"), Ok((ZType::Utf32(4), false)));
        assert!(numpy_type("<c8").is_err());
        assert!(numpy_type("").is_err());
    }
}
