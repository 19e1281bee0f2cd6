//! Header bytes of archives under each header coding, and the time to
//! decode them: the numbers of docs/ALGORITHM.md "Header coding".
//!
//! Usage: `cargo run --release -p hiha-core --example header_sizes -- A.hiha...`
//! With `HEADER_COSTS=1`, also each run of text or binary bytes of the raw
//! header with its cost under header coding 2; with `HEADER_DUMP=DIR`, the
//! raw headers are written to DIR as `NAME.raw`, which the example also
//! reads (to compare models on the same headers).

use std::time::Instant;

use hiha_core::format::{mixing_costs, squeeze, squeeze_v1, unsqueeze};

/// The raw header fields of an archive.
fn raw_header(bytes: &[u8]) -> Vec<u8> {
    let (mut len, mut shift, mut pos) = (0usize, 0, 12);
    loop {
        let b = bytes[pos];
        pos += 1;
        len |= usize::from(b & 0x7F) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            break;
        }
    }
    unsqueeze(&bytes[pos..pos + len], 1 << 28).expect("header block")
}

/// Median seconds of decoding `block`.
fn decode_time(block: &[u8]) -> f64 {
    let mut t: Vec<f64> = (0..21)
        .map(|_| {
            let t0 = Instant::now();
            std::hint::black_box(unsqueeze(block, 1 << 28).expect("decodes"));
            t0.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[10]
}

fn main() {
    let mut totals = [0usize; 3];
    println!("archive  raw  coding-1  best(coding)  decode-ms coding-1 / best");
    for path in std::env::args().skip(1) {
        // An archive, or a raw header as `HEADER_DUMP` writes them.
        let bytes = std::fs::read(&path).expect("read archive");
        let raw = if path.ends_with(".raw") {
            bytes
        } else {
            raw_header(&bytes)
        };
        if let Some(dir) = std::env::var_os("HEADER_DUMP") {
            let name = std::path::Path::new(&path).with_extension("raw");
            let name = name.file_name().expect("a file name");
            std::fs::write(std::path::Path::new(&dir).join(name), &raw).expect("write raw header");
        }
        let new = squeeze(&raw);
        let old = squeeze_v1(&raw);
        assert_eq!(unsqueeze(&new, 1 << 28).expect("decodes"), raw);
        let name = std::path::Path::new(&path)
            .file_name()
            .map_or(path.clone(), |n| n.to_string_lossy().into_owned());
        println!(
            "{name:60} {:5} {:5} {:5} ({})  {:.2} / {:.2}",
            raw.len(),
            old.len(),
            new.len(),
            new[0],
            decode_time(&old) * 1e3,
            decode_time(&new) * 1e3
        );
        if std::env::var_os("HEADER_COSTS").is_some() {
            let costs = mixing_costs(&raw);
            let text = |b: u8| b.is_ascii_graphic() || b == b' ';
            let mut i = 0;
            while i < raw.len() {
                let kind = text(raw[i]);
                let j = (i..raw.len())
                    .find(|&j| text(raw[j]) != kind)
                    .unwrap_or(raw.len());
                let c: f64 = costs[i..j].iter().sum::<f64>() / 8.0;
                let shown = if kind {
                    String::from_utf8_lossy(&raw[i..j]).into_owned()
                } else {
                    format!("<{} bin>", j - i)
                };
                println!("  {c:7.1} B  {:4} raw  {shown}", j - i);
                i = j;
            }
        }
        totals[0] += raw.len();
        totals[1] += old.len();
        totals[2] += new.len();
    }
    println!(
        "total raw {}  coding-1 {}  best {}",
        totals[0], totals[1], totals[2]
    );
}
