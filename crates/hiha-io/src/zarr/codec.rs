//! The chunk codecs, in pure Rust: zstd (`ruzstd`), gzip and zlib
//! (`flate2`), numcodecs' LZ4 and Blosc 1 (LZ4 blocks through `lz4_flex`,
//! zstd, zlib; byte shuffle), crc32c. Every decoder is given the most
//! bytes it may produce, so a damaged or hostile chunk cannot make it
//! allocate more.

use std::io::Read;

use super::meta::Codec;

type Res<T> = std::result::Result<T, String>;

/// Reads `r` to its end, refusing more than `limit` bytes.
fn read_limited(r: impl Read, limit: usize, what: &str) -> Res<Vec<u8>> {
    let mut out = Vec::new();
    r.take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("{what}: {e}"))?;
    if out.len() > limit {
        return Err(format!(
            "{what}: decodes to more than the {limit} bytes expected"
        ));
    }
    Ok(out)
}

fn zstd(data: &[u8], limit: usize) -> Res<Vec<u8>> {
    let mut src = data;
    let dec =
        ruzstd::decoding::StreamingDecoder::new(&mut src).map_err(|e| format!("zstd: {e}"))?;
    read_limited(dec, limit, "zstd")
}

fn u32_at(b: &[u8], at: usize) -> Res<u32> {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| "truncated".to_string())
}

/// numcodecs' LZ4: the decoded size (little-endian i32), then an LZ4 block.
fn lz4_numcodecs(data: &[u8], limit: usize) -> Res<Vec<u8>> {
    let n = u32_at(data, 0).map_err(|e| format!("lz4: {e}"))? as usize;
    if n > limit {
        return Err(format!(
            "lz4: announces {n} bytes, more than the {limit} expected"
        ));
    }
    let mut out = vec![0u8; n];
    let got =
        lz4_flex::block::decompress_into(&data[4..], &mut out).map_err(|e| format!("lz4: {e}"))?;
    if got != n {
        return Err(format!("lz4: {got} bytes decoded, {n} announced"));
    }
    Ok(out)
}

/// Undoes blosc's byte shuffle of `src` (elements of `typesize` bytes).
fn unshuffle(src: &[u8], typesize: usize) -> Vec<u8> {
    if typesize <= 1 {
        return src.to_vec();
    }
    let n = src.len() / typesize;
    let mut out = vec![0u8; src.len()];
    for j in 0..typesize {
        for i in 0..n {
            out[i * typesize + j] = src[j * n + i];
        }
    }
    // The bytes after the last whole element are not shuffled.
    out[n * typesize..].copy_from_slice(&src[n * typesize..]);
    out
}

/// Decodes a Blosc 1 frame (what numcodecs' `Blosc` writes): a 16-byte
/// header, block offsets, and per block one stream or one per byte of the
/// type size, compressed with LZ4, zstd or zlib (blosclz and snappy are
/// refused), then unshuffled.
fn blosc(data: &[u8], limit: usize) -> Res<Vec<u8>> {
    let bad = |m: &str| format!("blosc: {m}");
    if data.len() < 16 {
        return Err(bad("truncated header"));
    }
    let flags = data[2];
    let typesize = usize::from(data[3]).max(1);
    let nbytes = u32_at(data, 4).map_err(|e| bad(&e))? as usize;
    let blocksize = u32_at(data, 8).map_err(|e| bad(&e))? as usize;
    let cbytes = u32_at(data, 12).map_err(|e| bad(&e))? as usize;
    if nbytes > limit {
        return Err(bad(&format!(
            "announces {nbytes} bytes, more than the {limit} expected"
        )));
    }
    if cbytes > data.len() {
        return Err(bad("truncated"));
    }
    let (shuffle, memcpyed, bitshuffle) = (flags & 1 != 0, flags & 2 != 0, flags & 4 != 0);
    if memcpyed {
        return data
            .get(16..16 + nbytes)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| bad("truncated"));
    }
    if bitshuffle {
        return Err(bad("bit shuffle is not supported (byte shuffle is)"));
    }
    if nbytes == 0 {
        return Ok(Vec::new());
    }
    if blocksize == 0 {
        return Err(bad("block size 0"));
    }
    let compressor = flags >> 5;
    let nblocks = nbytes.div_ceil(blocksize);
    let leftover = nbytes % blocksize;
    let mut out = Vec::with_capacity(nbytes);
    for b in 0..nblocks {
        let start = u32_at(data, 16 + 4 * b).map_err(|e| bad(&e))? as usize;
        let last = b + 1 == nblocks && leftover > 0;
        let bsize = if last { leftover } else { blocksize };
        let split = flags & 0x10 == 0 && typesize <= 16 && bsize / typesize >= 128 && !last;
        let nsplits = if split { typesize } else { 1 };
        let neblock = bsize / nsplits;
        let mut block = Vec::with_capacity(bsize);
        let mut pos = start;
        for _ in 0..nsplits {
            let csize = u32_at(data, pos).map_err(|e| bad(&e))? as usize;
            pos += 4;
            let src = data
                .get(pos..pos.checked_add(csize).ok_or_else(|| bad("truncated"))?)
                .ok_or_else(|| bad("truncated"))?;
            pos += csize;
            if csize == neblock {
                // Stored uncompressed.
                block.extend_from_slice(src);
                continue;
            }
            let part = match compressor {
                1 => {
                    let mut o = vec![0u8; neblock];
                    let got = lz4_flex::block::decompress_into(src, &mut o)
                        .map_err(|e| bad(&format!("lz4: {e}")))?;
                    o.truncate(got);
                    o
                }
                3 => read_limited(flate2::read::ZlibDecoder::new(src), neblock, "blosc zlib")?,
                4 => zstd(src, neblock)?,
                0 => {
                    return Err(bad(
                        "the blosclz codec is not supported (lz4, zstd, zlib are)",
                    ))
                }
                c => {
                    return Err(bad(&format!(
                        "codec {c} is not supported (lz4, zstd, zlib are)"
                    )))
                }
            };
            if part.len() != neblock {
                return Err(bad("a block decodes to the wrong size"));
            }
            block.extend_from_slice(&part);
        }
        if block.len() != bsize {
            return Err(bad("a block decodes to the wrong size"));
        }
        if shuffle {
            block = unshuffle(&block, typesize);
        }
        out.extend_from_slice(&block);
    }
    Ok(out)
}

/// CRC-32C (Castagnoli), as the `crc32c` codec appends it.
pub(crate) fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Undoes the bytes-to-bytes codecs of a chunk (the last applied first).
/// `limit` bounds what any step may produce.
pub(crate) fn decode(codecs: &[Codec], data: Vec<u8>, limit: usize) -> Res<Vec<u8>> {
    let mut data = data;
    for c in codecs.iter().rev() {
        data = match c {
            Codec::Zstd => zstd(&data, limit)?,
            Codec::Gzip => read_limited(flate2::read::GzDecoder::new(&data[..]), limit, "gzip")?,
            Codec::Zlib => read_limited(flate2::read::ZlibDecoder::new(&data[..]), limit, "zlib")?,
            Codec::Blosc => blosc(&data, limit)?,
            Codec::Lz4 => lz4_numcodecs(&data, limit)?,
            Codec::Crc32c => {
                let n = data
                    .len()
                    .checked_sub(4)
                    .ok_or_else(|| "crc32c: truncated".to_string())?;
                let want = u32_at(&data, n)?;
                if crc32c(&data[..n]) != want {
                    return Err("crc32c: checksum mismatch (damaged chunk)".into());
                }
                data.truncate(n);
                data
            }
            Codec::VlenUtf8 => data,
        };
    }
    Ok(data)
}

/// zstd-compresses a chunk (ruzstd's fastest level, about zstd's level 1).
pub(crate) fn zstd_encode(data: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
}

/// Blosc's byte shuffle: byte `j` of every element, for `j` in order; the
/// bytes after the last whole element stay where they are.
fn shuffle(src: &[u8], typesize: usize) -> Vec<u8> {
    let n = src.len() / typesize;
    let mut out = Vec::with_capacity(src.len());
    for j in 0..typesize {
        out.extend(src.chunks_exact(typesize).map(|e| e[j]));
    }
    out.extend_from_slice(&src[n * typesize..]);
    out
}

/// The largest chunk written as a Blosc frame (Blosc 1 counts in i32).
pub(crate) const BLOSC_MAX: usize = (i32::MAX as usize) - 64;

/// A Blosc 1 frame of one block, not split, byte-shuffled for elements of
/// `typesize` bytes, compressed with zstd (or stored when that does not
/// pay): what numcodecs' and zarr-python's Blosc decode. `data` must be
/// at most [`BLOSC_MAX`] bytes.
pub(crate) fn blosc_encode(data: &[u8], typesize: usize) -> Vec<u8> {
    let ts = typesize.clamp(1, 255);
    let n = data.len();
    let z = zstd_encode(&if ts > 1 {
        shuffle(data, ts)
    } else {
        data.to_vec()
    });
    // 0x10: blocks not split; 4 << 5: zstd; 1: byte shuffle.
    let mut flags: u8 = 0x10 | (4 << 5) | u8::from(ts > 1);
    let stored = z.len() + 8 >= n;
    if stored {
        flags = 0x02 | 0x10; // memcpyed: the raw bytes follow the header
    }
    let cbytes = if stored { 16 + n } else { 16 + 4 + 4 + z.len() };
    let mut out = Vec::with_capacity(cbytes);
    out.extend_from_slice(&[2, 1, flags, ts as u8]);
    for x in [n, n.max(1), cbytes] {
        out.extend_from_slice(&(x as u32).to_le_bytes());
    }
    if stored {
        out.extend_from_slice(data);
    } else {
        out.extend_from_slice(&20u32.to_le_bytes());
        out.extend_from_slice(&(z.len() as u32).to_le_bytes());
        out.extend_from_slice(&z);
    }
    out
}

/// Decodes `vlen-utf8` items: a u32 count, then per item a u32 length and
/// its bytes.
pub(crate) fn vlen_utf8(data: &[u8], expect: usize) -> Res<Vec<String>> {
    let n = u32_at(data, 0).map_err(|e| format!("vlen-utf8: {e}"))? as usize;
    if n != expect {
        return Err(format!("vlen-utf8: {n} items, the chunk holds {expect}"));
    }
    let mut out = Vec::with_capacity(n.min(data.len()));
    let mut pos = 4usize;
    for _ in 0..n {
        let len = u32_at(data, pos).map_err(|e| format!("vlen-utf8: {e}"))? as usize;
        pos += 4;
        let b = data
            .get(pos..pos.checked_add(len).ok_or("vlen-utf8: truncated")?)
            .ok_or("vlen-utf8: truncated")?;
        out.push(String::from_utf8_lossy(b).into_owned());
        pos += len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_known_value() {
        // RFC 3720 test vector: 32 bytes of zeros.
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn zstd_round_trip_and_limit() {
        let data: Vec<u8> = (0..10_000u32)
            .flat_map(|i| (i % 97).to_le_bytes())
            .collect();
        let z = zstd_encode(&data);
        assert!(z.len() < data.len());
        assert_eq!(
            decode(&[Codec::Zstd], z.clone(), data.len()),
            Ok(data.clone())
        );
        assert!(decode(&[Codec::Zstd], z, data.len() - 1).is_err());
    }

    #[test]
    fn blosc_round_trip() {
        let data: Vec<u8> = (0..5000u32)
            .flat_map(|i| ((i as f32).sin() * 100.0).to_le_bytes())
            .collect();
        for (d, ts) in [
            (&data[..], 4),
            (&data[..4001], 4),
            (&data[..3], 2),
            (&[][..], 1),
        ] {
            let f = blosc_encode(d, ts);
            assert_eq!(decode(&[Codec::Blosc], f, d.len()).as_deref(), Ok(d));
        }
        // What does not compress is stored (flag 0x02).
        let f = blosc_encode(&data[..3], 1);
        assert_eq!(f[2] & 2, 2);
        assert_eq!(f.len(), 16 + 3);
    }

    #[test]
    fn shuffle_inverts() {
        let src: Vec<u8> = (0..23).collect();
        // shuffled: bytes 0 of each of 5 u32 elements, then bytes 1, ...; 3 left over.
        let mut sh = Vec::new();
        for j in 0..4 {
            for i in 0..5 {
                sh.push(src[i * 4 + j]);
            }
        }
        sh.extend_from_slice(&src[20..]);
        assert_eq!(unshuffle(&sh, 4), src);
    }

    #[test]
    fn damaged_chunks_are_errors() {
        assert!(decode(&[Codec::Blosc], vec![2, 1, 0x21, 4, 255, 255, 255, 255], 16).is_err());
        assert!(decode(&[Codec::Crc32c], vec![1, 2, 3, 4, 5], 16).is_err());
        assert!(decode(&[Codec::Lz4], vec![100, 0, 0, 0, 1], 16).is_err());
        assert!(vlen_utf8(&[2, 0, 0, 0, 9, 0, 0, 0, b'a'], 2).is_err());
    }
}
