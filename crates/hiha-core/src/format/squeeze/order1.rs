//! Header coding 1: an adaptive order-1 byte model (format 1.0).

use crate::entropy::{BitModel, RangeDecoder, RangeEncoder};

use super::primer::PRIMER;

/// Order-1 adaptive byte model: a 255-node binary tree per previous byte.
pub(super) struct ByteModel {
    trees: Vec<BitModel>,
}

impl ByteModel {
    fn new() -> Self {
        Self {
            trees: vec![BitModel::new(); 256 * 256],
        }
    }

    pub(super) fn primed() -> Self {
        let mut m = Self::new();
        let mut scratch = RangeEncoder::new();
        let mut prev = 0u8;
        for &b in PRIMER.as_bytes() {
            m.encode(&mut scratch, prev, b);
            prev = b;
        }
        m
    }

    pub(super) fn encode(&mut self, enc: &mut RangeEncoder, prev: u8, byte: u8) {
        let base = prev as usize * 256;
        let mut node = 1usize;
        for i in (0..8).rev() {
            let bit = (byte >> i) & 1 == 1;
            enc.encode_bit(&mut self.trees[base + node], bit);
            node = (node << 1) | bit as usize;
        }
    }

    pub(super) fn decode(&mut self, dec: &mut RangeDecoder, prev: u8) -> u8 {
        let base = prev as usize * 256;
        let mut node = 1usize;
        for _ in 0..8 {
            let bit = dec.decode_bit(&mut self.trees[base + node]);
            node = (node << 1) | bit as usize;
        }
        (node - 256) as u8
    }
}

impl ByteModel {
    /// Decodes `len` bytes; stops early, with fewer bytes, when the input
    /// runs out (the flag says so).
    pub(super) fn decode_all(mut self, coded: &[u8], len: usize) -> (Vec<u8>, bool) {
        let mut dec = RangeDecoder::new(coded);
        let mut out = Vec::with_capacity(len.min(1 << 20));
        let mut prev = 0u8;
        for i in 0..len {
            if i % 4096 == 0 && dec.overrun() {
                break;
            }
            let b = self.decode(&mut dec, prev);
            out.push(b);
            prev = b;
        }
        let overrun = dec.overrun();
        (out, overrun)
    }
}
