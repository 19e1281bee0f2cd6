//! GRIB2 CCSDS packing (data representation template 5.42): the integers
//! are compressed with CCSDS 121.0-B adaptive entropy coding (libaec in
//! ecCodes), decoded here by the pure-Rust `rust-aec` crate; the values are
//! then scaled as ecCodes' `DataCcsdsPacking` does.

use rust_aec::{flags_from_grib2_ccsds_flags, AecFlags, AecParams};

use super::error::{corrupt, unsupported, GribResult};
use super::simple::{scale_all, Scaling};

/// The CCSDS parameters of template 5.42.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CcsdsParams {
    /// libaec's flags (signed, 3-byte, MSB, preprocess, restricted, pad RSI).
    pub flags: u8,
    pub block_size: u8,
    /// Reference sample interval.
    pub rsi: u16,
}

/// Unpacks `n` values.
pub fn decode(scaling: &Scaling, p: &CcsdsParams, n: usize, data: &[u8]) -> GribResult<Vec<f64>> {
    if scaling.bits == 0 {
        return Ok(vec![scaling.reference; n]);
    }
    let bits = scaling.bits;
    if bits > 32 {
        return Err(unsupported(format!(
            "CCSDS packing with {bits} bits per value (at most 32)"
        )));
    }
    // As ecCodes: no 3-byte samples (17..24 bits take 4 bytes); we ask for
    // big-endian samples.
    let flags = flags_from_grib2_ccsds_flags(p.flags & !0x02) | AecFlags::MSB;
    let params = AecParams::new(bits as u8, u32::from(p.block_size), u32::from(p.rsi), flags);
    let width = match bits {
        1..=8 => 1,
        9..=16 => 2,
        _ => 4,
    };
    let len = n
        .checked_mul(width)
        .ok_or_else(|| corrupt("the CCSDS output size overflows"))?;
    let mut out = vec![0u8; len];
    // The decoder is a dependency: a panic on hostile input must still be
    // an error, not a crash.
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rust_aec::decode_into(data, params, n, &mut out)
    }));
    match res {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(corrupt(format!("CCSDS data cannot be decoded: {e}"))),
        Err(_) => return Err(corrupt("CCSDS data cannot be decoded (the decoder failed)")),
    }
    let ints = out
        .chunks_exact(width)
        .map(|c| c.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b)) as i64);
    Ok(scale_all(scaling, ints))
}
