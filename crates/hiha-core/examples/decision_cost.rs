//! The cost of one adaptive binary decision in the range decoder, branchy
//! and branch-free: the number behind docs/ALGORITHM.md, "Fine bounds: what
//! limits decode and compress speed".
//!
//! `cargo run --release -p hiha-core --example decision_cost [N]`
//! (N decisions, default 20 000 000; 16 contexts, about 20 % ones).
use hiha_core::entropy::{BitModel, RangeDecoder, RangeEncoder};
use std::time::Instant;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000_000);
    let mut s = 1u64;
    let bits: Vec<bool> = (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 33) % 100 < 20
        })
        .collect();
    let mut enc = RangeEncoder::new();
    let mut models = [BitModel::new(); 16];
    for (i, &b) in bits.iter().enumerate() {
        enc.encode_bit(&mut models[i & 15], b);
    }
    let bytes = enc.finish();
    for _ in 0..3 {
        let t = Instant::now();
        let mut dec = RangeDecoder::new(&bytes);
        let mut models = [BitModel::new(); 16];
        let ones = (0..n)
            .filter(|&i| dec.decode_bit(&mut models[i & 15]))
            .count();
        let branchy = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut dec = RangeDecoder::new(&bytes);
        let mut models = [BitModel::new(); 16];
        let ones_select: u32 = (0..n)
            .map(|i| dec.decode_bit_select(&mut models[i & 15]))
            .sum();
        let select = t.elapsed().as_secs_f64();
        assert_eq!(ones, ones_select as usize);
        println!(
            "{n} decisions ({ones} ones, {} bytes): branchy {:.2} ns, branch-free {:.2} ns a decision",
            bytes.len(),
            branchy * 1e9 / n as f64,
            select * 1e9 / n as f64
        );
    }
}
