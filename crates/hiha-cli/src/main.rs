//! `hiha`: compress gridded atmospheric fields with a verified error bound.
//!
//! Exit codes: see [`EXIT_CODES`] (also shown by `hiha --help`).
//!
//! Safety of the user's files: an output is never the input (same path,
//! symlink, hard link), an existing output is replaced only with `--force`,
//! the output directory is checked before any work, and the output is
//! written through a unique partial file that is renamed into place only
//! when complete (see `hiha_io::atomic`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use hiha_core::bound::Bound;
use hiha_core::codec::{self, CompressOptions, PredictorKind, Progress};
use hiha_core::metrics::Metrics;
use hiha_io::Existing;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The exit codes, as `hiha --help` shows them.
const EXIT_CODES: &str = "\
Exit status:
  0  success
  1  any other failure (e.g. an unknown --var, a bad --config file)
  2  bad command line: a missing or invalid option or value, an output that
     is the input, an existing output without --force, an output directory
     that is missing or not writable
  3  the error bound could not be met (never silently)
  4  the input or archive is corrupt or unsupported (empty, text, GRIB,
     damaged NetCDF or archive)
  5  operating-system I/O error (e.g. the input does not exist or cannot be
     read, the disk is full)";

#[derive(Parser)]
#[command(
    name = "hiha",
    version,
    about = "Error-bounded compression of gridded atmospheric data (HiHa)",
    after_help = EXIT_CODES
)]
struct Cli {
    /// Print nothing but errors.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compress one variable of a NetCDF file into a .hiha archive.
    Compress(CompressArgs),
    /// Decompress a .hiha archive into a CF NetCDF file.
    Decompress(DecompressArgs),
    /// Describe a .hiha archive: variable, shape, bound, sections and their bytes
    /// (every section's checksum is checked; damage exits 4).
    Info {
        /// The archive.
        input: PathBuf,
    },
    /// Check an archive completely: every checksum, then a full decode compared
    /// with the hash of the values the encoder verified (exit 4 on any damage).
    Verify {
        /// The archive.
        input: PathBuf,
        /// The most memory decoding may use, in GB.
        #[arg(long, value_name = "GB", default_value_t = DEFAULT_MAX_MEMORY_GB)]
        max_memory: f64,
    },
    /// Compare a reconstruction with its original: RMSE, NRMSE, PSNR, max abs error.
    Compare {
        original: PathBuf,
        reconstruction: PathBuf,
        /// Variable name (default: the file's only data variable).
        #[arg(long)]
        var: Option<String>,
    },
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["nrmse", "max_abs", "max_rel"])))]
struct CompressArgs {
    /// Input NetCDF file (NetCDF-3 classic/64-bit offset/CDF-5, or NetCDF-4).
    input: PathBuf,
    /// Output archive (never the input; an existing file only with --force).
    #[arg(short, long)]
    output: PathBuf,
    /// Replace an existing output file.
    #[arg(short, long)]
    force: bool,
    /// Variable name (default: the file's only data variable).
    #[arg(long)]
    var: Option<String>,
    /// Bound the normalised RMSE: RMSE / (max − min) <= T.
    #[arg(long, value_name = "T", allow_negative_numbers = true)]
    nrmse: Option<f64>,
    /// Bound every element's absolute error, in the variable's units.
    #[arg(long, value_name = "E", allow_negative_numbers = true)]
    max_abs: Option<f64>,
    /// Bound every element's error relative to the value range (max − min).
    #[arg(long, value_name = "R", allow_negative_numbers = true)]
    max_rel: Option<f64>,
    /// The predictor whose residual is coded.
    #[arg(long, value_enum, default_value_t = PredictorArg::None)]
    predictor: PredictorArg,
    /// Frames per independently decodable chunk (default: about 4 Mi values per chunk).
    #[arg(long)]
    chunk_frames: Option<usize>,
    /// FIC/TRC settings as TOML (`[fic]` and `[trc]` tables; missing keys keep their defaults).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Ablation: no sparse storage of the high band (SSM).
    #[arg(long)]
    no_ssm: bool,
    /// Ablation: no multi-scale INR of the low band (MIM).
    #[arg(long)]
    no_mim: bool,
    /// Ablation: no octree of SIRENs for the mid band (IDM).
    #[arg(long)]
    no_idm: bool,
    /// How MIM upscales its thumbnail.
    #[arg(long, value_enum)]
    interp: Option<InterpArg>,
}

#[derive(Clone, Copy, ValueEnum)]
enum InterpArg {
    /// Optimal interpolation (3D-Var with a Gaussian background covariance).
    Oi,
    Cubic,
    Trilinear,
}

/// The `--config` file.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    fic: Option<hiha_core::predictor::fic::FicConfig>,
    #[serde(default)]
    trc: Option<hiha_core::predictor::trc::TrcConfig>,
}

#[derive(Clone, Copy, ValueEnum)]
enum PredictorArg {
    /// The residual coder alone.
    None,
    /// HiHa's frequency-based hierarchical compression, frame by frame (HiHa without TRC).
    Fic,
    /// Full HiHa: FIC keyframes + temporal residual compression (TRC) between them.
    Hiha,
}

#[derive(Args)]
struct DecompressArgs {
    /// Input archive.
    input: PathBuf,
    /// Output NetCDF file (never the input; an existing file only with --force).
    #[arg(short, long)]
    output: PathBuf,
    /// Replace an existing output file.
    #[arg(short, long)]
    force: bool,
    /// Only frames A..B (flattened leading dims, end exclusive), e.g. 0..4.
    #[arg(long, value_name = "A..B")]
    frames: Option<String>,
    /// The most memory decoding may use, in GB; an archive that needs more
    /// is refused before anything is allocated.
    #[arg(long, value_name = "GB", default_value_t = DEFAULT_MAX_MEMORY_GB)]
    max_memory: f64,
}

/// `--max-memory` default: the codec's default limit, in GB.
const DEFAULT_MAX_MEMORY_GB: f64 = codec::DEFAULT_MAX_MEMORY as f64 / 1e9;

fn decode_options(max_memory_gb: f64) -> Result<codec::DecodeOptions> {
    if !(max_memory_gb.is_finite() && max_memory_gb > 0.0) {
        return Err(usage(format!(
            "--max-memory must be a positive number of GB, got {max_memory_gb}"
        )));
    }
    Ok(codec::DecodeOptions {
        max_memory: (max_memory_gb * 1e9) as u64,
        ..codec::DecodeOptions::default()
    })
}

/// An indicatif bar behind the codec's progress trait.
struct Bar {
    bar: Mutex<Option<ProgressBar>>,
    quiet: bool,
}

impl Bar {
    fn new(quiet: bool) -> Self {
        Self {
            bar: Mutex::new(None),
            quiet,
        }
    }
    fn finish(&self) {
        if let Ok(mut g) = self.bar.lock() {
            if let Some(b) = g.take() {
                b.finish_and_clear();
            }
        }
    }
}

impl Progress for Bar {
    fn stage(&self, name: &str, total: u64) {
        let Ok(mut g) = self.bar.lock() else { return };
        if let Some(b) = g.take() {
            b.finish_and_clear();
        }
        let b = if self.quiet {
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden())
        } else {
            ProgressBar::new(total)
        };
        if let Ok(style) = ProgressStyle::with_template(
            "{msg:>10} [{elapsed_precise}] {wide_bar} {pos}/{len} (ETA {eta})",
        ) {
            b.set_style(style);
        }
        b.set_message(name.to_string());
        *g = Some(b);
    }
    fn inc(&self, n: u64) {
        if let Ok(g) = self.bar.lock() {
            if let Some(b) = g.as_ref() {
                b.inc(n);
            }
        }
    }
}

/// A bad command line found after parsing: an invalid value, an output
/// that is the input, an existing output without --force, ... Exit code 2,
/// like clap's own parse errors.
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

/// Set once standard output is found closed (the reader of a pipe went
/// away): later output is dropped and the command finishes quietly.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
/// The first other error writing to standard output, reported at exit.
static STDOUT_ERROR: Mutex<Option<std::io::Error>> = Mutex::new(None);

/// Writes to standard output without ever panicking (`println!` panics on
/// a closed pipe, e.g. `hiha info a.hiha | head -1`).
fn emit(args: std::fmt::Arguments<'_>) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args) {
        stdout_failed(e);
    }
}

fn stdout_failed(e: std::io::Error) {
    STDOUT_CLOSED.store(true, Ordering::Relaxed);
    if e.kind() != std::io::ErrorKind::BrokenPipe {
        if let Ok(mut g) = STDOUT_ERROR.lock() {
            g.get_or_insert(e);
        }
    }
}

/// `println!` that never panics: see [`emit`].
macro_rules! outln {
    ($($arg:tt)*) => {
        emit(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` that never panics on a closed standard error.
macro_rules! errln {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

fn bound_from(a: &CompressArgs) -> Result<Bound> {
    let b = match (a.nrmse, a.max_abs, a.max_rel) {
        (Some(t), None, None) => Bound::Nrmse(t),
        (None, Some(e), None) => Bound::MaxAbs(e),
        (None, None, Some(r)) => Bound::MaxRel(r),
        _ => {
            return Err(usage(
                "choose exactly one accuracy mode: --nrmse T, --max-abs E or --max-rel R",
            ))
        }
    };
    // The only failure is an invalid value: a usage error, whatever its type.
    b.validate().map_err(|e| match e {
        hiha_core::Error::InvalidInput(m) => usage(m),
        e => usage(e.to_string()),
    })?;
    Ok(b)
}

fn parse_frames(s: &str) -> Result<std::ops::Range<usize>> {
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| usage(format!("--frames takes A..B (end exclusive), got '{s}'")))?;
    let a: usize = a
        .trim()
        .parse()
        .map_err(|e| usage(format!("--frames: bad start frame in '{s}': {e}")))?;
    let b: usize = b
        .trim()
        .parse()
        .map_err(|e| usage(format!("--frames: bad end frame in '{s}': {e}")))?;
    if a >= b {
        return Err(usage(format!(
            "--frames {s}: the range is empty (the end is exclusive)"
        )));
    }
    Ok(a..b)
}

/// True if `output` names the same file as `input` (whose metadata is
/// `input_meta`): the same path after resolving symbolic links, or on unix
/// the same device and inode (hard links, bind mounts).
fn same_file(input: &Path, input_meta: &std::fs::Metadata, output: &Path) -> bool {
    if let (Ok(a), Ok(b)) = (input.canonicalize(), output.canonicalize()) {
        if a == b {
            return true;
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(o) = std::fs::metadata(output) {
            return o.dev() == input_meta.dev() && o.ino() == input_meta.ino();
        }
    }
    #[cfg(not(unix))]
    let _ = input_meta;
    false
}

/// The checks before any work: the input can be read, the output is not the
/// input, an existing output is replaced only with `--force`, and the
/// output's directory exists and can be written. Returns what to do with an
/// output that appears meanwhile.
fn check_paths(input: &Path, output: &Path, force: bool) -> Result<Existing> {
    let input_meta =
        std::fs::metadata(input).with_context(|| format!("reading {}", input.display()))?;
    if same_file(input, &input_meta, output) {
        return Err(usage(format!(
            "the output '{}' is the input '{}'; choose another output",
            output.display(),
            input.display()
        )));
    }
    // (If it cannot be looked at, its directory is missing or unreadable:
    // the probe below says which.)
    if std::fs::symlink_metadata(output).is_ok() {
        if output.is_dir() {
            return Err(usage(format!(
                "the output '{}' is a directory; give a file name",
                output.display()
            )));
        }
        if !force {
            return Err(usage(format!(
                "the output '{}' exists; pass --force to replace it",
                output.display()
            )));
        }
    }
    hiha_io::atomic::check_writable(output)
        .map_err(|e| usage(format!("the output cannot be written: {e}")))?;
    Ok(if force {
        Existing::Replace
    } else {
        Existing::Refuse
    })
}

/// The smallest positive step between distinct values of a sample: the
/// quantisation step of sources that were packed to 16 bits.
fn value_step(values: &[f32], missing: Option<&[bool]>) -> Option<f64> {
    let stride = (values.len() / 1_000_000).max(1);
    let mut v: Vec<f32> = values
        .iter()
        .enumerate()
        .step_by(stride)
        .filter(|(i, x)| x.is_finite() && !missing.is_some_and(|m| m[*i]))
        .map(|(_, &x)| x)
        .collect();
    v.sort_by(f32::total_cmp);
    v.dedup();
    v.windows(2)
        .map(|w| (w[1] as f64) - (w[0] as f64))
        .filter(|d| *d > 0.0)
        .min_by(f64::total_cmp)
}

fn print_metrics(m: &Metrics, step: Option<f64>, field: &hiha_core::field::Field) {
    outln!("  valid elements   {}", m.n);
    let c = field.special_counts();
    if c != hiha_core::field::SpecialCounts::default() {
        outln!(
            "  kept exactly     {} missing, {} NaN, {} +inf, {} -inf",
            c.missing,
            c.nan,
            c.pos_inf,
            c.neg_inf
        );
    }
    if field.packing.is_some() {
        outln!(
            "  checked against  the source's packed values (scale_factor * k + add_offset, in f64)"
        );
    }
    outln!("  value range      {:.6e}", m.range);
    outln!("  RMSE             {:.6e}", m.rmse);
    outln!("  NRMSE            {:.6e}", m.nrmse);
    outln!("  PSNR             {:.2} dB", m.psnr);
    outln!("  max abs error    {:.6e}", m.max_abs);
    if let Some(s) = step {
        outln!(
            "  source step      {s:.3e} (max error = {:.2} steps, RMSE = {:.2} steps)",
            m.max_abs / s,
            m.rmse / s
        );
    }
}

fn compress(a: &CompressArgs, quiet: bool) -> Result<()> {
    let bound = bound_from(a)?;
    let existing = check_paths(&a.input, &a.output, a.force)?;
    let t0 = Instant::now();
    let mut loaded = hiha_io::read_variable(&a.input, a.var.as_deref())
        .with_context(|| format!("reading {}", a.input.display()))?;
    let t_read = t0.elapsed();
    let dropped = drop_other_gridded_variables(&mut loaded.meta);
    if !dropped.is_empty() && !quiet {
        errln!(
            "note: the archive holds only '{}'; the file's other gridded variables ({}) are not stored: \
             compress each with --var",
            loaded.meta.var.name,
            dropped.join(", ")
        );
    }
    let field = &loaded.field;
    let mut opts = CompressOptions::new(bound);
    opts.predictor = match a.predictor {
        PredictorArg::None => PredictorKind::None,
        PredictorArg::Fic => PredictorKind::Fic,
        PredictorArg::Hiha => PredictorKind::Hiha,
    };
    opts.chunk_frames = a.chunk_frames;
    if let Some(path) = &a.config {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let c: ConfigFile =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        if let Some(f) = c.fic {
            opts.fic = f;
        }
        if let Some(t) = c.trc {
            opts.trc = t;
        }
    }
    opts.fic.ssm &= !a.no_ssm;
    opts.fic.mim &= !a.no_mim;
    opts.fic.idm &= !a.no_idm;
    if let Some(i) = a.interp {
        opts.fic.interp = match i {
            InterpArg::Oi => hiha_core::predictor::mim::Interp::Oi,
            InterpArg::Cubic => hiha_core::predictor::mim::Interp::Cubic,
            InterpArg::Trilinear => hiha_core::predictor::mim::Interp::Trilinear,
        };
    }
    let bar = Bar::new(quiet);
    let t1 = Instant::now();
    let res = codec::compress(field, &loaded.meta, &opts, &bar);
    bar.finish();
    let (bytes, report) = res?;
    let t_comp = t1.elapsed();
    hiha_io::write_atomic(&a.output, &bytes, existing)
        .with_context(|| format!("writing {}", a.output.display()))?;
    if !quiet {
        let s = field.shape;
        outln!(
            "{} -> {}: variable '{}' ({} frames x {} levels x {} x {}), {}",
            a.input.display(),
            a.output.display(),
            loaded.meta.var.name,
            s.frames,
            s.levels,
            s.lat,
            s.lon,
            bound
        );
        outln!("verified on every element:");
        print_metrics(
            &report.metrics,
            value_step(&field.values, field.missing.as_deref()),
            field,
        );
        outln!(
            "  ratio            {:.2}x ({} -> {} bytes, {:.3} bits/value)",
            report.ratio(),
            report.original_bytes,
            report.compressed_bytes,
            report.bits_per_value()
        );
        let mb = report.original_bytes as f64 / 1e6;
        outln!(
            "  time             read {:.2}s, compress+verify {:.2}s ({:.1} MB/s)",
            t_read.as_secs_f64(),
            t_comp.as_secs_f64(),
            mb / t_comp.as_secs_f64().max(1e-9)
        );
    }
    Ok(())
}

/// Removes the other gridded variables (those on the lat and lon dims) from
/// the metadata: an archive holds one variable, and carrying its neighbours
/// raw would swamp it. Coordinates, bounds and scalars stay. Returns the
/// names removed.
fn drop_other_gridded_variables(meta: &mut hiha_core::meta::DatasetMeta) -> Vec<String> {
    let lat = meta.var.layout.lat_dim.clone();
    let lon = meta.var.layout.lon_dim.clone();
    let gridded = |v: &hiha_core::meta::AuxVar| v.dims.contains(&lat) && v.dims.contains(&lon);
    let dropped = meta
        .aux_vars
        .iter()
        .filter(|v| gridded(v))
        .map(|v| v.name.clone())
        .collect();
    meta.aux_vars.retain(|v| !gridded(v));
    dropped
}

fn decompress(a: &DecompressArgs, quiet: bool) -> Result<()> {
    let frames = a.frames.as_deref().map(parse_frames).transpose()?;
    let opts = decode_options(a.max_memory)?;
    let existing = check_paths(&a.input, &a.output, a.force)?;
    let bytes =
        std::fs::read(&a.input).with_context(|| format!("reading {}", a.input.display()))?;
    if let Some(r) = &frames {
        let total = hiha_core::format::ArchiveReader::open(&bytes)?
            .header()
            .shape
            .frames;
        if r.end > total {
            return Err(usage(format!(
                "--frames {}..{}: the archive has {total} frames",
                r.start, r.end
            )));
        }
    }
    let t0 = Instant::now();
    let (field, meta) = codec::decompress_with(&bytes, frames, &opts)?;
    let dt = t0.elapsed();
    hiha_io::write_variable_with(&a.output, &field, &meta, existing)
        .with_context(|| format!("writing {}", a.output.display()))?;
    if !quiet {
        let mb = field.values.len() as f64 * 4.0 / 1e6;
        outln!(
            "{} -> {}: {} frames of '{}' in {:.3}s ({:.1} MB/s)",
            a.input.display(),
            a.output.display(),
            field.shape.frames,
            meta.var.name,
            dt.as_secs_f64(),
            mb / dt.as_secs_f64().max(1e-9)
        );
    }
    Ok(())
}

fn verify(input: &Path, max_memory_gb: f64) -> Result<()> {
    let opts = decode_options(max_memory_gb)?;
    let bytes = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    let t0 = Instant::now();
    let r =
        codec::verify(&bytes, &opts).with_context(|| format!("verifying {}", input.display()))?;
    let hashes = if r.chunks_checked > 0 {
        format!("{} chunk hashes match the decoded values", r.chunks_checked)
    } else {
        "format 1 stores no value hashes: decoded without them".to_string()
    };
    outln!(
        "{}: format {}.{}, {} sections, every checksum holds; {} values decoded; {hashes} ({:.2}s)",
        input.display(),
        r.format.0,
        r.format.1,
        r.sections,
        r.values,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

fn compare(orig: &Path, recon: &Path, var: Option<&str>) -> Result<()> {
    let a =
        hiha_io::read_variable(orig, var).with_context(|| format!("reading {}", orig.display()))?;
    let name = a.meta.var.name.clone();
    let b = hiha_io::read_variable(recon, Some(&name))
        .with_context(|| format!("reading {}", recon.display()))?;
    if a.field.shape != b.field.shape {
        bail!(
            "shapes differ: {:?} in {} against {:?} in {}",
            a.field.shape,
            orig.display(),
            b.field.shape,
            recon.display()
        );
    }
    if a.field.missing != b.field.missing {
        outln!("warning: the missing-value masks differ; comparing where the original is valid");
    }
    let m = Metrics::against_source(&a.field, &b.field.values)?;
    outln!(
        "{} vs {}, variable '{name}':",
        orig.display(),
        recon.display()
    );
    print_metrics(
        &m,
        value_step(&a.field.values, a.field.missing.as_deref()),
        &a.field,
    );
    Ok(())
}

/// The exit code of a core library error.
fn core_code(e: &hiha_core::Error) -> u8 {
    use hiha_core::Error as E;
    match e {
        E::BoundViolated(_) => 3,
        E::Corrupt(_) | E::Truncated(_) | E::Checksum { .. } | E::Unsupported(_) => 4,
        E::Io(_) => 5,
        E::InvalidInput(_) => 1,
    }
}

/// The exit code of an error (see [`EXIT_CODES`]): the first cause with a
/// known kind decides; a usage error anywhere in the chain makes it 2.
fn exit_code(e: &anyhow::Error) -> u8 {
    if e.chain().any(|c| c.is::<UsageError>()) {
        return 2;
    }
    for cause in e.chain() {
        if let Some(c) = cause.downcast_ref::<hiha_core::Error>() {
            return core_code(c);
        }
        if let Some(c) = cause.downcast_ref::<hiha_io::IoError>() {
            use hiha_io::IoError as E;
            return match c {
                E::Core(c) => core_code(c),
                E::Open { .. } | E::UnsupportedFormat(_) | E::NotRegularGrid(_) => 4,
                E::Corrupt { .. } => 4,
                E::Read { .. } | E::Write { .. } => 5,
                E::Exists { .. } => 2,
                E::NotFound { .. } | E::BadShape(_) => 1,
            };
        }
        if cause.is::<std::io::Error>() {
            return 5;
        }
    }
    1
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match &cli.command {
        Command::Compress(a) => compress(a, cli.quiet),
        Command::Decompress(a) => decompress(a, cli.quiet),
        Command::Info { input } => std::fs::read(input)
            .with_context(|| format!("reading {}", input.display()))
            .and_then(|b| Ok(codec::describe(&b)?))
            .and_then(|d| {
                emit(format_args!("{}", d.text));
                match d.damaged.first() {
                    None => Ok(()),
                    Some(first) => Err(anyhow::Error::new(hiha_core::Error::Corrupt(format!(
                        "{} damaged section(s), the first: {first}",
                        d.damaged.len()
                    )))),
                }
            }),
        Command::Verify { input, max_memory } => verify(input, *max_memory),
        Command::Compare {
            original,
            reconstruction,
            var,
        } => compare(original, reconstruction, var.as_deref()),
    };
    if let Err(e) = std::io::stdout().lock().flush() {
        if !STDOUT_CLOSED.load(Ordering::Relaxed) {
            stdout_failed(e);
        }
    }
    // A closed pipe is not an error: the reader had what it wanted. Any
    // other failure to write the report is an I/O error.
    let stdout_error = STDOUT_ERROR.lock().ok().and_then(|mut g| g.take());
    let r = match (r, stdout_error) {
        (Ok(()), Some(e)) => Err(anyhow::Error::new(e).context("writing to standard output")),
        (r, _) => r,
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            errln!("hiha: error: {e:#}");
            ExitCode::from(exit_code(&e))
        }
    }
}
