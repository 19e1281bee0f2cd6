//! Residual coder: the bound holds on every element, on real and synthetic
//! data; damaged streams give errors, never panics or silent garbage.

use hiha_core::residual::{decode, encode, Target};
use hiha_core::Error;

const FIXTURE_DIMS: [usize; 4] = [4, 2, 61, 120];

fn fixture() -> Vec<f32> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/era5_t_4x2x61x120.f32"
    );
    let bytes = std::fs::read(path).expect("fixture");
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn lcg(s: &mut u64) -> f64 {
    *s = s
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (*s >> 11) as f64 / (1u64 << 53) as f64
}

fn range(x: &[f32], m: Option<&[bool]>) -> f64 {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for (i, &v) in x.iter().enumerate() {
        if m.is_some_and(|m| m[i]) {
            continue;
        }
        lo = lo.min(v as f64);
        hi = hi.max(v as f64);
    }
    hi - lo
}

/// Encodes, decodes, checks the target on every valid element and NaN on
/// masked ones; returns the compressed size.
fn check(x: &[f32], p: Option<&[f32]>, dims: &[usize], m: Option<&[bool]>, t: Target) -> usize {
    let bytes = encode(x, p, dims, m, t).expect("encode");
    let y = decode(&bytes, p, dims, m).expect("decode");
    assert_eq!(y.len(), x.len());
    let (mut sse, mut n, mut worst) = (0.0f64, 0usize, 0.0f64);
    for i in 0..x.len() {
        if m.is_some_and(|m| m[i]) {
            assert!(y[i].is_nan(), "masked element {i} decoded as {}", y[i]);
            continue;
        }
        n += 1;
        if x[i].to_bits() == y[i].to_bits() {
            continue;
        }
        let d = (x[i] as f64 - y[i] as f64).abs();
        assert!(d.is_finite(), "element {i}: {} vs {}", x[i], y[i]);
        sse += d * d;
        worst = worst.max(d);
        if let Target::MaxAbs(e) = t {
            assert!(d <= e, "element {i}: |{} - {}| = {d:e} > {e:e}", x[i], y[i]);
        }
    }
    if let Target::Rmse(r) = t {
        let rmse = if n > 0 { (sse / n as f64).sqrt() } else { 0.0 };
        assert!(rmse <= r, "rmse {rmse:e} > {r:e}");
    }
    bytes.len()
}

#[test]
fn residual_real_field_max_abs_and_rmse() {
    let x = fixture();
    let r = range(&x, None);
    for rel in [1e-2, 1e-3, 1e-4, 1e-5, 1e-7] {
        let s1 = check(&x, None, &FIXTURE_DIMS, None, Target::MaxAbs(rel * r));
        let s2 = check(&x, None, &FIXTURE_DIMS, None, Target::Rmse(rel * r));
        assert!(
            s2 <= s1,
            "rmse target should not cost more than maxabs: {s2} vs {s1}"
        );
        if rel >= 1e-3 {
            assert!(
                x.len() * 4 / s2 > 6,
                "ratio too low at nrmse {rel}: {s2} bytes"
            );
        }
    }
}

#[test]
fn residual_with_prediction() {
    let x = fixture();
    let r = range(&x, None);
    // A smooth but imperfect "prediction": the field shifted by one frame.
    let fl = 2 * 61 * 120;
    let p: Vec<f32> = (0..x.len())
        .map(|i| if i >= fl { x[i - fl] } else { x[i] + 0.5 })
        .collect();
    for rel in [1e-2, 1e-4] {
        check(&x, Some(&p), &FIXTURE_DIMS, None, Target::MaxAbs(rel * r));
        check(&x, Some(&p), &FIXTURE_DIMS, None, Target::Rmse(rel * r));
    }
    // A prediction equal to the data costs almost nothing.
    let s = check(&x, Some(&x), &FIXTURE_DIMS, None, Target::MaxAbs(1e-6));
    assert!(s < 200, "{s}");
    let s = check(&x, Some(&x), &FIXTURE_DIMS, None, Target::MaxAbs(0.0));
    assert!(s < 200, "{s}");
}

#[test]
fn residual_missing_values_are_not_read() {
    let mut x = fixture();
    let mut s = 11u64;
    let m: Vec<bool> = (0..x.len())
        .map(|i| lcg(&mut s) < 0.1 || (i / 120) % 61 < 5)
        .collect();
    for (v, &k) in x.iter_mut().zip(&m) {
        if k {
            *v = f32::NAN;
        }
    }
    let r = range(&x, Some(&m));
    for t in [
        Target::MaxAbs(1e-3 * r),
        Target::Rmse(1e-3 * r),
        Target::MaxAbs(0.0),
    ] {
        check(&x, None, &FIXTURE_DIMS, Some(&m), t);
    }
    // Every element masked.
    let all = vec![true; 10];
    let nan = vec![f32::NAN; 10];
    check(&nan, None, &[10], Some(&all), Target::MaxAbs(1.0));
}

#[test]
fn residual_edge_cases() {
    // Constant field.
    let c = vec![273.15f32; 1000];
    let s = check(&c, None, &[10, 100], None, Target::MaxAbs(1e-3));
    assert!(s < 100, "{s}");
    check(&c, None, &[10, 100], None, Target::Rmse(1e-3));
    // Single element, several shapes with length-1 axes.
    for dims in [vec![1], vec![1, 1, 1, 1]] {
        check(&[42.5], None, &dims, None, Target::MaxAbs(0.01));
        check(&[42.5], None, &dims, None, Target::Rmse(0.01));
        check(&[-1e30], None, &dims, None, Target::MaxAbs(0.0));
    }
    let mut s = 5u64;
    let v: Vec<f32> = (0..3 * 17)
        .map(|i| (i as f32 * 0.3).sin() + lcg(&mut s) as f32 * 0.1)
        .collect();
    for dims in [
        vec![3, 1, 17],
        vec![1, 3, 17, 1],
        vec![51],
        vec![1, 51],
        vec![3, 1, 1, 17],
    ] {
        for t in [
            Target::MaxAbs(1e-3),
            Target::Rmse(1e-2),
            Target::MaxAbs(0.5),
            Target::Rmse(10.0),
        ] {
            check(&v, None, &dims, None, t);
        }
    }
    // Huge dynamic range, spikes, denormals, signed zeros.
    let mut h: Vec<f32> = (0..4096)
        .map(|i| ((i as f64 * 0.01).sin() * 100.0) as f32)
        .collect();
    h[100] = 3.0e38;
    h[101] = -3.0e38;
    h[200] = 1e-40;
    h[300] = -0.0;
    h[4000] = 1e20;
    for t in [
        Target::MaxAbs(1e-3),
        Target::MaxAbs(1e-6),
        Target::Rmse(1e-2),
        Target::MaxAbs(1e30),
    ] {
        check(&h, None, &[64, 64], None, t);
    }
    // Large magnitudes where the bound is near the f32 spacing.
    let big: Vec<f32> = (0..5000)
        .map(|i| 1.0e6 + (i as f32 * 0.7).sin() * 1000.0)
        .collect();
    for e in [0.03, 0.0625, 0.07, 0.125, 1.0] {
        check(&big, None, &[50, 100], None, Target::MaxAbs(e));
    }
    check(&big, None, &[50, 100], None, Target::Rmse(0.04));
    // Non-finite values in valid slots are kept bit-exact.
    let mut w = v.clone();
    w[3] = f32::INFINITY;
    w[7] = f32::NAN;
    let bytes = encode(&w, None, &[51], None, Target::MaxAbs(1e-3)).unwrap();
    let y = decode(&bytes, None, &[51], None).unwrap();
    assert_eq!(y[3], f32::INFINITY);
    assert!(y[7].is_nan());
    assert!((y[10] - w[10]).abs() <= 1e-3);
    // Empty block.
    check(&[], None, &[0], None, Target::MaxAbs(1.0));
}

#[test]
fn residual_invalid_input_is_refused() {
    let x = vec![1.0f32; 12];
    let bad = |r: hiha_core::Result<Vec<u8>>| matches!(r, Err(Error::InvalidInput(_)));
    assert!(bad(encode(&x, None, &[3, 5], None, Target::MaxAbs(1.0))));
    assert!(bad(encode(
        &x,
        None,
        &[1, 1, 1, 3, 4],
        None,
        Target::MaxAbs(1.0)
    )));
    assert!(bad(encode(&x, None, &[12], None, Target::MaxAbs(f64::NAN))));
    assert!(bad(encode(&x, None, &[12], None, Target::Rmse(-1.0))));
    assert!(bad(encode(
        &x,
        Some(&x[..5]),
        &[12],
        None,
        Target::Rmse(1.0)
    )));
    assert!(bad(encode(
        &x,
        None,
        &[12],
        Some(&[false; 3]),
        Target::Rmse(1.0)
    )));
    assert!(bad(encode(
        &x,
        None,
        &[usize::MAX, 3],
        None,
        Target::Rmse(1.0)
    )));
}

#[test]
fn residual_damaged_streams_error_without_panic() {
    let x = fixture();
    let dims = FIXTURE_DIMS;
    let r = range(&x, None);
    for t in [Target::MaxAbs(1e-3 * r), Target::Rmse(1e-2 * r)] {
        let bytes = encode(&x, None, &dims, None, t).unwrap();
        // Truncations.
        for cut in [
            0,
            1,
            4,
            5,
            6,
            8,
            20,
            bytes.len() / 3,
            bytes.len() / 2,
            bytes.len() - 1,
        ] {
            assert!(
                decode(&bytes[..cut], None, &dims, None).is_err(),
                "cut {cut}"
            );
        }
        // Bit flips anywhere.
        let mut s = 99u64;
        for k in 0..64 {
            let mut b = bytes.clone();
            let pos = if k < 8 {
                k
            } else {
                (lcg(&mut s) * b.len() as f64) as usize
            };
            b[pos] ^= 1 << (k % 8);
            assert!(decode(&b, None, &dims, None).is_err(), "flip at {pos}");
        }
        // Wrong dims.
        assert!(decode(&bytes, None, &[4, 2, 61, 121], None).is_err());
    }
    // Garbage with a valid checksum must not panic either (may decode or error).
    let mut s = 3u64;
    for len in [5usize, 6, 12, 40, 300, 5000] {
        for tag in [0u8, 1, 2, 200] {
            let mut body: Vec<u8> = (0..len - 5).map(|_| (lcg(&mut s) * 256.0) as u8).collect();
            if tag == 1 && body.len() > 4 {
                // A plausible header: length, predictor, step count.
                body[0] = (body.len() - 1).min(127) as u8;
                body[1] %= 3;
                body[2] = 13;
            }
            let mut b = vec![tag];
            b.extend_from_slice(&crc32(&body).to_le_bytes());
            b.extend_from_slice(&body);
            let _ = decode(&b, None, &dims, None);
            let _ = decode(&b, None, &[len], None);
        }
    }
}

/// CRC-32 (IEEE), to forge checksummed garbage in the test above.
fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}
