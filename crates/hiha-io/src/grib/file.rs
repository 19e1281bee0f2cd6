//! Cutting a GRIB file into messages and parsing the headers of their
//! fields (no value is decoded here).

use super::error::{corrupt, GribError, GribResult};
use super::message::GribField;
use super::{grib1, grib2};

/// The edition of the GRIB message at the start of `bytes`, if it starts
/// with one.
pub fn edition_at(bytes: &[u8]) -> Option<u8> {
    if bytes.len() >= 8 && &bytes[..4] == b"GRIB" {
        Some(bytes[7])
    } else {
        None
    }
}

/// Cuts `bytes` into GRIB messages and parses the headers of all their
/// fields. Bytes between messages (padding, the 4-byte record markers of
/// Fortran files) are skipped; anything else that is not a message is an
/// error. Decoding values is left to [`super::decode`].
pub fn scan(bytes: &[u8]) -> GribResult<Vec<GribField>> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    let mut messages = 0usize;
    while pos < bytes.len() {
        let Some(start) = find_grib(bytes, pos) else {
            let rest = &bytes[pos..];
            if rest.iter().all(|&b| b == 0 || b == b' ' || b == b'\n') || rest.len() < 8 {
                break;
            }
            return Err(corrupt(format!(
                "{} bytes after byte {pos} are not a GRIB message",
                rest.len()
            )));
        };
        let Some(edition) = edition_at(&bytes[start..]) else {
            return Err(corrupt(format!(
                "the message at byte {start} is truncated (no room for its indicator section)"
            )));
        };
        let len = match edition {
            1 => grib1::message_len(&bytes[start..])?,
            2 => grib2::message_len(&bytes[start..])?,
            e => {
                return Err(GribError::Unsupported(format!(
                    "the message at byte {start} is GRIB edition {e}; hiha reads editions 1 and 2"
                )))
            }
        };
        let end = start
            .checked_add(len)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| {
                corrupt(format!(
                    "the message at byte {start} announces {len} bytes but the file ends after {} \
                 (truncated)",
                    bytes.len() - start
                ))
            })?;
        let msg = &bytes[start..end];
        if len < 12 || &msg[len - 4..] != b"7777" {
            return Err(corrupt(format!(
                "the message at byte {start} ({len} bytes) does not end with '7777' (truncated or \
                 garbled)"
            )));
        }
        let first = out.len();
        match edition {
            1 => out.push(grib1::parse(msg, start, first)?),
            _ => out.extend(grib2::parse(msg, start, first)?),
        }
        messages += 1;
        pos = end;
    }
    if messages == 0 {
        return Err(corrupt("no GRIB message in the file"));
    }
    Ok(out)
}

/// The offset of the next "GRIB" at or after `from`.
fn find_grib(bytes: &[u8], from: usize) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(4)
        .position(|w| w == b"GRIB")
        .map(|p| p + from)
}
