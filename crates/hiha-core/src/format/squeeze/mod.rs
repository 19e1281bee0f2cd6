//! Compression of the header block.
//!
//! At high ratios a whole archive is a few kilobytes, and the header (dims,
//! coordinates, CF attributes, history) can be most of it. The header is
//! therefore coded with a byte model whose probabilities are first *primed*
//! on a fixed text of the names and values that NetCDF/CF headers are made
//! of ([`primer`]). The primers are part of the format: changing one is a
//! format change (the golden files catch it).
//!
//! Layout of a squeezed block: a coding byte, then
//!
//! | coding | rest | since |
//! |---|---|---|
//! | 0 | the raw bytes | 1.0 |
//! | 1 | varint raw length, the bytes range-coded by an order-1 model ([`order1`]) | 1.0 |
//! | 2 | varint raw length, the bytes range-coded by a context-mixing model ([`mixing`]) | 2.4 |
//!
//! The writer keeps whichever is shortest.

#[cfg(test)]
mod corpus;
mod mixing;
mod order1;
mod primer;

pub use primer::{PRIMER, PRIMER_2};

use crate::entropy::RangeEncoder;
use crate::error::{Error, Result};

use super::wire::{put_varint, Cursor};
use mixing::Mixing;
use order1::ByteModel;

/// The coding byte of header coding 2, and the minor version (of major 2)
/// that defines it.
const MIXING: u8 = 2;
/// The format minor version that added header coding 2.
pub const MIXING_MINOR: u16 = 4;

fn order1_coded(raw: &[u8]) -> Vec<u8> {
    let mut model = ByteModel::primed();
    let mut enc = RangeEncoder::new();
    let mut prev = 0u8;
    for &b in raw {
        model.encode(&mut enc, prev, b);
        prev = b;
    }
    enc.finish()
}

/// Squeezes `raw` with a coding of format 2.3 or older (codings 0 and 1).
pub fn squeeze_v1(raw: &[u8]) -> Vec<u8> {
    let coded = order1_coded(raw);
    let mut out = Vec::with_capacity(coded.len() + 6);
    if coded.len() + 5 < raw.len() {
        out.push(1);
        put_varint(&mut out, raw.len() as u64);
        out.extend_from_slice(&coded);
    } else {
        out.push(0);
        out.extend_from_slice(raw);
    }
    out
}

/// Squeezes `raw` (see the module docs for the layout) with the shortest
/// coding.
pub fn squeeze(raw: &[u8]) -> Vec<u8> {
    let old = squeeze_v1(raw);
    let coded = Mixing::with_primed(|m| m.encode(raw));
    let mut out = Vec::with_capacity(coded.len() + 6);
    out.push(MIXING);
    put_varint(&mut out, raw.len() as u64);
    out.extend_from_slice(&coded);
    if out.len() < old.len() {
        out
    } else {
        old
    }
}

/// The cost in bits of each byte of `raw` under header coding 2 (for
/// measurements: `examples/header_sizes.rs`).
pub fn mixing_costs(raw: &[u8]) -> Vec<f64> {
    Mixing::with_primed(|m| m.costs(raw))
}

/// The oldest format minor version (of major 2) that defines the coding of
/// a squeezed block.
pub fn coding_minor(block: &[u8]) -> u16 {
    match block.first() {
        Some(&MIXING) => MIXING_MINOR,
        _ => 0,
    }
}

/// A coded header expands to at most this many times its coded length
/// (plus [`EXPANSION_SLACK`]). Real headers code at 1.2–4× (CF attribute text,
/// coordinates); the adaptive models could in principle reach ~3000× on a
/// constant text, which no header is.
pub const MAX_EXPANSION: u64 = 32;
/// Raw header bytes always allowed, whatever the coded length.
pub const EXPANSION_SLACK: u64 = 64 * 1024;

/// Reverses [`squeeze`]. The raw length is capped by `max_raw` so a hostile
/// length cannot make the reader allocate without bound.
pub fn unsqueeze(block: &[u8], max_raw: usize) -> Result<Vec<u8>> {
    let (&coding, rest) = block
        .split_first()
        .ok_or_else(|| Error::Truncated("header block is empty".into()))?;
    if coding == 0 {
        return Ok(rest.to_vec());
    }
    if coding != 1 && coding != MIXING {
        return Err(Error::Corrupt(format!("unknown header coding {coding}")));
    }
    let mut c = Cursor::new(rest, "header raw length");
    let len = c.varint()?;
    let coded = &rest[c.position()..];
    // The raw length must be justified by the coded bytes: no real
    // header codes to less than 1/MAX_EXPANSION of its length, so a
    // hostile length costs at most a small multiple of the bytes given.
    let justified = (coded.len() as u64)
        .saturating_mul(MAX_EXPANSION)
        .saturating_add(EXPANSION_SLACK);
    if len > max_raw as u64 || len > justified {
        return Err(Error::Corrupt(format!(
            "header claims {len} bytes uncompressed from {} coded bytes, more than the \
             {} allowed",
            coded.len(),
            justified.min(max_raw as u64)
        )));
    }
    let (out, overrun) = if coding == MIXING {
        Mixing::with_primed(|m| m.decode(coded, len as usize))
    } else {
        ByteModel::primed().decode_all(coded, len as usize)
    };
    if overrun {
        return Err(Error::Truncated("compressed header ends early".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primer_2_is_what_the_corpus_makes() {
        let made = corpus::primer_2();
        if std::env::var_os("HIHA_WRITE_PRIMER").is_some() {
            let path = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/src/format/squeeze/primer2.bin"
            );
            std::fs::write(path, &made).unwrap();
        }
        assert!(
            made == PRIMER_2,
            "corpus.rs no longer makes primer2.bin ({} vs {} bytes): the primer is part of \
             format 2.4 and must not change",
            made.len(),
            PRIMER_2.len()
        );
    }

    #[test]
    fn round_trips_and_shrinks_cf_text() {
        let text =
            b"\x05units\x01K\x09long_name\x0bTemperature\x0dstandard_name\x0fair_temperature\
            history 2024-01-01 Created by cfgrib; GRIB_paramId 130 GRIB_units K degrees_north";
        let s = squeeze(text);
        assert!(
            s.len() * 5 < text.len() * 4,
            "{} vs {}",
            s.len(),
            text.len()
        );
        assert_eq!(unsqueeze(&s, 1 << 20).unwrap(), text);
        let bin: Vec<u8> = (0..50u32).map(|i| (i * 97 % 256) as u8).collect();
        let s = squeeze(&bin);
        assert_eq!(unsqueeze(&s, 1 << 20).unwrap(), bin);
        assert!(unsqueeze(&[], 10).is_err());
        assert!(unsqueeze(&[7, 1, 2], 10).is_err());
        let s = squeeze(text);
        assert!(unsqueeze(&s, 10).is_err());
        assert!(unsqueeze(&s[..s.len() / 2], 1 << 20).is_err());
    }

    #[test]
    fn the_reused_working_model_codes_as_a_fresh_one() {
        let raw = corpus::primer_2();
        let (a, b) = (&raw[100..900], &raw[5000..6500]);
        // A fresh thread starts from a fresh copy of the primed state.
        let fresh = |x: Vec<u8>| std::thread::spawn(move || squeeze(&x)).join().unwrap();
        let (fa, fb) = (fresh(a.to_vec()), fresh(b.to_vec()));
        // This thread codes and decodes them in turn with one working model.
        for _ in 0..2 {
            assert_eq!(squeeze(a), fa);
            assert_eq!(squeeze(b), fb);
            assert_eq!(unsqueeze(&fa, 1 << 20).unwrap(), a);
            assert_eq!(unsqueeze(&fb, 1 << 20).unwrap(), b);
        }
    }

    #[test]
    fn mixing_codes_headers_smaller_than_order_1_and_survives_hostile_bytes() {
        let raw = corpus::primer_2(); // header-like bytes, 12.7 KB
        let two = squeeze(&raw[3000..9000]);
        let one = squeeze_v1(&raw[3000..9000]);
        assert_eq!(two[0], MIXING);
        assert_eq!(coding_minor(&two), MIXING_MINOR);
        assert_eq!(coding_minor(&one), 0);
        assert!(two.len() * 2 < one.len(), "{} vs {}", two.len(), one.len());
        assert_eq!(unsqueeze(&two, 1 << 20).unwrap(), &raw[3000..9000]);
        // Truncated anywhere: an error, never a panic or a wrong header.
        for cut in [3, 10, two.len() / 3, two.len() - 8] {
            assert!(unsqueeze(&two[..cut], 1 << 20).is_err(), "cut at {cut}");
        }
        // Random bytes after coding byte 2 (a small length, then noise):
        // decoded or refused, within the length bound.
        let mut x = 0x1234_5678u32;
        for n in [1usize, 5, 40, 300] {
            let mut block = vec![MIXING, 0x80, 0x02];
            for _ in 0..n {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                block.push(x as u8);
            }
            if let Ok(out) = unsqueeze(&block, 1 << 20) {
                assert_eq!(out.len(), 256);
            }
        }
        // A length the coded bytes cannot justify is refused before decoding.
        let mut huge = vec![MIXING];
        put_varint(&mut huge, 1 << 27);
        huge.extend_from_slice(&[0; 16]);
        assert!(matches!(unsqueeze(&huge, 1 << 28), Err(Error::Corrupt(_))));
    }
}
