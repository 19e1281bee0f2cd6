//! Decodes an archive N times, for CPU-time comparisons of decoder builds
//! (docs/ALGORITHM.md, "Speed of the entropy coder"; scripts/bench/cpu_time.sh):
//! `decode_loop ARCHIVE.hiha N`
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(n)) = (
        args.get(1),
        args.get(2).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: decode_loop ARCHIVE.hiha N");
        return ExitCode::from(2);
    };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut values = 0usize;
    for _ in 0..n {
        match hiha_core::codec::decompress(&bytes, None) {
            Ok((field, _)) => values += field.values.len(),
            Err(e) => {
                eprintln!("{path}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!("{values} values decoded");
    ExitCode::SUCCESS
}
