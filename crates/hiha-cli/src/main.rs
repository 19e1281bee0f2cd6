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

mod plots;
mod report;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use hiha_core::bound::{Bound, BoundSet};
use hiha_core::codec::{self, CompressOptions, PredictorKind, Progress};
use hiha_core::fidelity;
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
    /// Compress the data variables of a NetCDF file or Zarr store into one .hiha archive.
    Compress(CompressArgs),
    /// Decompress a .hiha archive into a CF NetCDF file (NetCDF-4 with zlib by default).
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
    /// Compare a reconstruction with its original: RMSE, NRMSE, PSNR, max
    /// abs error and the fitness report (per-level errors, bias, R², sign
    /// changes, error autocorrelation, zonal spectra, DSSIM, geostrophic
    /// wind, vorticity/divergence of u+v, error ÷ ensemble spread).
    Compare {
        original: PathBuf,
        reconstruction: PathBuf,
        /// Variables, comma-separated, each read from both files (default:
        /// the file's only data variable). With u and v (or eastward_wind
        /// and northward_wind) among them, also their vorticity and
        /// divergence error.
        #[arg(long)]
        var: Option<String>,
        /// Print one JSON object with every metric instead of the text report.
        #[arg(long)]
        json: bool,
        /// Write PNGs into DIR (created if missing): per variable an error
        /// map per level (first frame), the zonal spectra ratio, an error histogram.
        #[arg(long, value_name = "DIR")]
        plots: Option<PathBuf>,
    },
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("mode").multiple(false).args(["nrmse", "max_abs", "max_rel", "rmse", "pw_rel"])))]
struct CompressArgs {
    /// Input NetCDF file (NetCDF-3 classic/64-bit offset/CDF-5, or NetCDF-4)
    /// or Zarr store (v2 or v3, a directory).
    input: PathBuf,
    /// Output archive (never the input; an existing file only with --force).
    #[arg(short, long)]
    output: PathBuf,
    /// Replace an existing output file.
    #[arg(short, long)]
    force: bool,
    /// Variables to store, comma-separated (default: every gridded data variable).
    #[arg(long, value_delimiter = ',', value_name = "NAME[,NAME...]")]
    var: Vec<String>,
    /// A bound, `MODE:VALUE` for every variable or `VAR=MODE:VALUE` for one
    /// (MODE: nrmse, rmse, max-abs, max-rel, pw-rel, spread), optionally
    /// followed by `:per-level` and/or `:keep-zeros`; repeat for several, e.g.
    /// `--bound nrmse:1e-4 --bound q=max-abs:1e-7:keep-zeros`. `spread:F`:
    /// every element within F × the ensemble spread at its point. The same
    /// strings work in the --config file's [bounds] table and in Python.
    #[arg(long, value_name = "[VAR=]MODE:VALUE", allow_hyphen_values = true)]
    bound: Vec<String>,
    /// Bound the normalised RMSE: RMSE / (max − min) <= T (= --bound nrmse:T).
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    nrmse: Option<f64>,
    /// Bound every element's absolute error, in the variable's units (= --bound max-abs:E).
    #[arg(long, value_name = "E", allow_hyphen_values = true)]
    max_abs: Option<f64>,
    /// Bound every element's error relative to the value range (max − min) (= --bound max-rel:R).
    #[arg(long, value_name = "R", allow_hyphen_values = true)]
    max_rel: Option<f64>,
    /// Bound the RMSE in the variable's units (= --bound rmse:E).
    #[arg(long, value_name = "E", allow_hyphen_values = true)]
    rmse: Option<f64>,
    /// Bound every element's error relative to its own magnitude: |x − x̂| <= R·|x|,
    /// so zeros stay zero and no sign flips (= --bound pw-rel:R).
    #[arg(long, value_name = "R", allow_hyphen_values = true)]
    pw_rel: Option<f64>,
    /// Every NRMSE and max-rel bound holds on each level against that level's
    /// own range (= `:per-level` on each bound); max-abs is per element already.
    #[arg(long)]
    per_level: bool,
    /// Exact zeros stay exactly zero and no value changes sign, for every
    /// variable (= `:keep-zeros` on each bound). On by default for a
    /// variable more than half of whose values are exactly 0.
    #[arg(long, conflicts_with = "no_keep_zeros")]
    keep_zeros: bool,
    /// Never keep zeros, not even for variables more than half zeros.
    #[arg(long)]
    no_keep_zeros: bool,
    /// For `spread:F` bounds: a NetCDF/GRIB file or Zarr store holding each
    /// such variable's spread under the variable's own name (its shape, or
    /// its shape without the member dim); without it the spread is the
    /// standard deviation over the input's ensemble members.
    #[arg(long, value_name = "FILE")]
    spread_file: Option<PathBuf>,
    /// The predictor whose residual is coded.
    #[arg(long, value_enum, default_value_t = PredictorArg::None)]
    predictor: PredictorArg,
    /// Frames per independently decodable chunk (default: about 4 Mi values per chunk).
    #[arg(long)]
    chunk_frames: Option<usize>,
    /// Settings as TOML: `[bounds]` (`default = "nrmse:1e-4"`, `q = "max-abs:1e-7"`;
    /// the command line wins), `[fic]` and `[trc]` (missing keys keep their defaults).
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
    /// For CF-packed (int16) sources: the largest share of each bound given
    /// up so that `decompress` can write packed integers on a coarser
    /// lattice (smaller output files); 0 keeps the whole bound for the
    /// archive.
    #[arg(long, value_name = "SHARE", default_value_t = codec::DEFAULT_REPACK_ROOM)]
    repack_room: f64,
    /// Read the whole input into memory instead of streaming it chunk by
    /// chunk (the archive is the same byte for byte; streaming needs
    /// predictor none and a NetCDF input, and is used whenever it can be).
    #[arg(long)]
    no_stream: bool,
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
    /// `default` and per-variable bounds, in the `--bound` grammar.
    #[serde(default)]
    bounds: std::collections::BTreeMap<String, String>,
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

/// `decompress --format`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    /// NetCDF-4/HDF5, chunked by 2-D field, shuffle + zlib.
    Nc4,
    /// NetCDF-3 (64-bit offset or CDF-5), uncompressed, for the oldest tools.
    Nc3,
    /// A Zarr v3 store (a directory): Blosc (shuffle + zstd), xarray's dimension names.
    Zarr,
}

#[derive(Args)]
struct DecompressArgs {
    /// Input archive.
    input: PathBuf,
    /// Output NetCDF file or Zarr store (never the input; an existing one only with --force).
    #[arg(short, long)]
    output: PathBuf,
    /// The output's format (default: zarr when the output's name ends in
    /// .zarr, else nc4). Variables whose source was CF-packed (int16 with
    /// scale_factor/add_offset) are written packed again when the archive
    /// says that keeps the bound, else as float32.
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Write every variable as float32, even where re-packing keeps the bound.
    #[arg(long)]
    float32: bool,
    /// Replace an existing output file.
    #[arg(short, long)]
    force: bool,
    /// Variables to write, comma-separated (default: all); only their sections are read.
    #[arg(long, value_delimiter = ',', value_name = "NAME[,NAME...]")]
    var: Vec<String>,
    /// Only frames A..B (flattened leading dims, end exclusive), e.g. 0..4.
    #[arg(long, value_name = "A..B")]
    frames: Option<String>,
    /// The most memory decoding may use, in GB; an archive that needs more
    /// is refused before anything is allocated.
    #[arg(long, value_name = "GB", default_value_t = DEFAULT_MAX_MEMORY_GB)]
    max_memory: f64,
    /// Decode the whole archive into memory before writing, instead of
    /// writing NetCDF-3 (`--format nc3`) frames as they are decoded (the
    /// file is the same; NetCDF-4 and Zarr output are always built in
    /// memory).
    #[arg(long)]
    no_stream: bool,
    /// A coarse preview, 2^K times coarser per horizontal axis (K = 1..6):
    /// reads only the coarse wavelet subbands of each chunk (chunks coded
    /// otherwise are read whole), writes every 2^K-th point of lat and lon
    /// from index 0, float32, and prints the bytes read. Approximate (no
    /// error bound), and sections read in part are not checksummed: `hiha
    /// verify` checks an archive.
    #[arg(long, value_name = "K")]
    preview: Option<u32>,
    /// With --preview: take time and levels from the coarse subbands too
    /// (fewer bytes read, but each frame and level of the preview blends
    /// its neighbours over about 2^K of them).
    #[arg(long, requires = "preview")]
    preview_all_axes: bool,
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

/// A core error about a bad value, as a usage error (exit 2).
fn usage_of(e: hiha_core::Error) -> anyhow::Error {
    match e {
        hiha_core::Error::InvalidInput(m) => usage(m),
        e => usage(e.to_string()),
    }
}

/// The bounds asked for: the config file's `[bounds]`, then `--bound`
/// terms, then the one-mode shorthands (`--nrmse T` is `--bound nrmse:T`).
fn bounds_from(a: &CompressArgs, config: &ConfigFile) -> Result<BoundSet> {
    let mut set = BoundSet::default();
    for (var, spec) in &config.bounds {
        let term = if var == "default" {
            spec.clone()
        } else {
            format!("{var}={spec}")
        };
        set.add(&term)
            .map_err(|e| usage(format!("--config [bounds] {var}: {e}")))?;
    }
    let shorthand = [
        a.nrmse.map(Bound::Nrmse),
        a.max_abs.map(Bound::MaxAbs),
        a.max_rel.map(Bound::MaxRel),
        a.rmse.map(Bound::Rmse),
        a.pw_rel.map(Bound::PwRel),
    ]
    .into_iter()
    .flatten()
    .next();
    let cli_default = a.bound.iter().any(|t| !t.contains('='));
    if shorthand.is_some() && cli_default {
        return Err(usage(
            "two bounds for every variable: give either --bound MODE:VALUE or one of --nrmse, \
             --max-abs, --max-rel, --rmse, --pw-rel",
        ));
    }
    for t in &a.bound {
        set.add(t).map_err(usage_of)?;
    }
    if let Some(b) = shorthand {
        b.validate().map_err(usage_of)?;
        set.default = Some(b);
    }
    if set.is_empty() {
        return Err(usage(
            "choose an accuracy: --nrmse T, --max-abs E, --max-rel R, --rmse E, --pw-rel R, or \
             --bound [VAR=]MODE:VALUE",
        ));
    }
    if a.per_level {
        let per_level = |b: Bound| match b {
            Bound::MaxAbs(_) => Ok(b),
            b => b.per_level().ok_or_else(|| {
                usage(format!(
                    "--per-level: {b} has no per-level form (use nrmse, max-rel or max-abs)"
                ))
            }),
        };
        set.default = set.default.map(per_level).transpose()?;
        for (_, b) in &mut set.per_var {
            *b = per_level(*b)?;
        }
    }
    Ok(set)
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
    check_paths_for(input, output, force, false)
}

/// [`check_paths`]; with `store` the output is a Zarr store (a directory):
/// an existing one is replaced only with `--force`, and only if it is a
/// Zarr store.
fn check_paths_for(input: &Path, output: &Path, force: bool, store: bool) -> Result<Existing> {
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
        if store && !hiha_io::zarr::is_store(output) {
            return Err(usage(format!(
                "the output '{}' exists and is not a Zarr store; choose another name",
                output.display()
            )));
        }
        if !store && output.is_dir() {
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

fn print_metrics(
    m: &Metrics,
    step: Option<f64>,
    c: &hiha_core::field::SpecialCounts,
    packed: bool,
) {
    outln!("  valid elements   {}", m.n);
    if *c != hiha_core::field::SpecialCounts::default() {
        outln!(
            "  kept exactly     {} missing, {} NaN, {} +inf, {} -inf",
            c.missing,
            c.nan,
            c.pos_inf,
            c.neg_inf
        );
    }
    if packed {
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

fn read_config(a: &CompressArgs) -> Result<ConfigFile> {
    let Some(path) = &a.config else {
        return Ok(ConfigFile::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// The codec options shared by every variable (the bound is set per variable).
fn base_options(a: &CompressArgs, config: &ConfigFile) -> CompressOptions {
    let mut opts = CompressOptions::new(Bound::Nrmse(1e-4));
    opts.predictor = match a.predictor {
        PredictorArg::None => PredictorKind::None,
        PredictorArg::Fic => PredictorKind::Fic,
        PredictorArg::Hiha => PredictorKind::Hiha,
    };
    opts.chunk_frames = a.chunk_frames;
    opts.repack_room = a.repack_room;
    if let Some(f) = &config.fic {
        opts.fic = f.clone();
    }
    if let Some(t) = &config.trc {
        opts.trc = t.clone();
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
    opts
}

/// Reads variable `name`'s spread from `path` (every value must be valid).
fn read_spread(path: &Path, name: &str) -> Result<std::sync::Arc<[f32]>> {
    let v = read_any_variable(path, Some(name))
        .with_context(|| format!("reading the spread of '{name}' from {}", path.display()))?;
    if v.field
        .missing
        .as_ref()
        .is_some_and(|m| m.iter().any(|&x| x))
    {
        return Err(usage(format!(
            "the spread of '{name}' in {} has missing values",
            path.display()
        )));
    }
    Ok(v.field.values.into())
}

/// Reads a dataset from a NetCDF file or a Zarr store.
fn read_any_dataset(
    path: &Path,
    vars: Option<&[&str]>,
) -> hiha_io::error::Result<hiha_io::LoadedDataset> {
    if hiha_io::zarr::is_store(path) {
        hiha_io::zarr::read_dataset(path, vars)
    } else {
        hiha_io::read_any(path, vars)
    }
}

/// Reads one variable from a NetCDF or GRIB file or a Zarr store.
fn read_any_variable(
    path: &Path,
    var: Option<&str>,
) -> hiha_io::error::Result<hiha_io::LoadedVariable> {
    if hiha_io::zarr::is_store(path) {
        hiha_io::zarr::read_variable(path, var)
    } else {
        hiha_io::read_any_variable(path, var)
    }
}

fn compress(a: &CompressArgs, quiet: bool) -> Result<()> {
    let config = read_config(a)?;
    let bounds = bounds_from(a, &config)?;
    if !(a.repack_room.is_finite() && (0.0..1.0).contains(&a.repack_room)) {
        return Err(usage(format!(
            "--repack-room is a share of the bound in [0, 1), got {}",
            a.repack_room
        )));
    }
    let existing = check_paths(&a.input, &a.output, a.force)?;
    let t0 = Instant::now();
    let selected: Vec<&str> = a.var.iter().map(String::as_str).collect();
    let selection = (!selected.is_empty()).then_some(&selected[..]);
    let base = base_options(a, &config);
    // The spread bound searches over the whole field's spread map: not
    // streamed.
    let spread = bounds
        .default
        .iter()
        .chain(bounds.per_var.iter().map(|(_, b)| b))
        .any(|b| matches!(b, Bound::Spread(_)));
    if !a.no_stream
        && !spread
        && base.predictor == PredictorKind::None
        && !hiha_io::zarr::is_store(&a.input)
    {
        let opened = hiha_io::frames::open_frames(&a.input, selection)
            .with_context(|| format!("reading {}", a.input.display()))?;
        if let Some(ds) = opened {
            return compress_streaming(a, quiet, &bounds, &base, ds, existing, t0);
        }
    }
    let dataset = read_any_dataset(&a.input, selection)
        .with_context(|| format!("reading {}", a.input.display()))?;
    let t_read = t0.elapsed();
    if !quiet {
        for n in &dataset.notes {
            errln!("note: {n}");
        }
    }
    let names: Vec<&str> = dataset
        .variables
        .iter()
        .map(|v| v.meta.var.name.as_str())
        .collect();
    let per_var = options_per_var(a, &names, &bounds, &base)?;
    let inputs: Vec<codec::VariableInput> = dataset
        .variables
        .iter()
        .zip(&per_var)
        .map(|(v, opts)| codec::VariableInput {
            field: &v.field,
            meta: &v.meta,
            opts,
        })
        .collect();
    let bar = Bar::new(quiet);
    let t1 = Instant::now();
    let res = codec::compress_many(&inputs, &bar);
    bar.finish();
    let (bytes, reports) = res?;
    let t_comp = t1.elapsed();
    hiha_io::write_atomic(&a.output, &bytes, existing)
        .with_context(|| format!("writing {}", a.output.display()))?;
    if !quiet {
        let reader = hiha_core::format::ArchiveReader::open(&bytes)?;
        let repack = (0..names.len())
            .map(|k| match reader.header().variable(k) {
                Some(h) => codec::repacking(&h),
                None => Ok(None),
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let summaries: Vec<VarSummary> = dataset
            .variables
            .iter()
            .map(|v| VarSummary::of(&v.field, &v.meta.var.name))
            .collect();
        let bounds: Vec<Bound> = per_var.iter().map(|o| o.bound).collect();
        report_compress(a, &summaries, &reports, &bounds, &repack, bytes.len());
        print_times(&reports, t_read, t_comp, "");
    }
    Ok(())
}

/// The options of each variable: the base options with its bound.
fn options_per_var(
    a: &CompressArgs,
    names: &[&str],
    bounds: &BoundSet,
    base: &CompressOptions,
) -> Result<Vec<CompressOptions>> {
    let unknown = bounds.unknown(names);
    if !unknown.is_empty() {
        return Err(usage(format!(
            "a bound names {}, which is not among the variables stored ({})",
            unknown.join(", "),
            names.join(", ")
        )));
    }
    names
        .iter()
        .map(|n| {
            let b = bounds.for_var(n).ok_or_else(|| {
                usage(format!(
                    "no bound for variable '{n}': add --bound {n}=MODE:VALUE or a bound for \
                     every variable (e.g. --nrmse 1e-4)"
                ))
            })?;
            let spread = match (b, &a.spread_file) {
                (Bound::Spread(_), Some(path)) => Some(read_spread(path, n)?),
                _ => None,
            };
            Ok(CompressOptions {
                bound: b,
                keep_zeros: if a.keep_zeros || bounds.keep_zeros_for(n) {
                    Some(true)
                } else if a.no_keep_zeros {
                    Some(false)
                } else {
                    None
                },
                spread,
                ..base.clone()
            })
        })
        .collect::<Result<Vec<_>>>()
        .and_then(|per_var| {
            if a.spread_file.is_some()
                && !per_var.iter().any(|o| matches!(o.bound, Bound::Spread(_)))
            {
                return Err(usage(
                    "--spread-file is for spread:F bounds, and no variable has one",
                ));
            }
            Ok(per_var)
        })
}

fn print_times(
    reports: &[codec::CompressReport],
    t_read: std::time::Duration,
    t_comp: std::time::Duration,
    how: &str,
) {
    let raw: usize = reports.iter().map(|r| r.original_bytes).sum();
    let mb = raw as f64 / 1e6;
    outln!(
        "  time             read {:.2}s, compress+verify {:.2}s ({:.1} MB/s){how}",
        t_read.as_secs_f64(),
        t_comp.as_secs_f64(),
        mb / t_comp.as_secs_f64().max(1e-9)
    );
}

/// What the report of `compress` says about a variable's source.
struct VarSummary {
    name: String,
    shape: hiha_core::field::Shape,
    /// The smallest step between sampled values ([`value_step`]).
    step: Option<f64>,
    counts: hiha_core::field::SpecialCounts,
    packing: Option<hiha_core::field::Packing>,
}

impl VarSummary {
    fn of(field: &hiha_core::field::Field, name: &str) -> Self {
        Self {
            name: name.to_string(),
            shape: field.shape,
            step: value_step(&field.values, field.missing.as_deref()),
            counts: field.special_counts(),
            packing: field.packing,
        }
    }
}

/// A frame source that also gathers, on the first pass over the frames,
/// what the report needs: the sample of [`value_step`] (the same elements)
/// and the counts of flagged elements.
struct Observed {
    inner: hiha_io::frames::NcFrames,
    /// Frames seen so far in order (the first pass).
    seen: usize,
    stride: usize,
    sample: Vec<f32>,
    counts: hiha_core::field::SpecialCounts,
}

impl Observed {
    fn new(inner: hiha_io::frames::NcFrames) -> Self {
        use codec::FrameSource;
        let stride = (inner.shape().len() / 1_000_000).max(1);
        Self {
            inner,
            seen: 0,
            stride,
            sample: Vec::new(),
            counts: Default::default(),
        }
    }

    fn summary(&self, name: &str) -> VarSummary {
        use codec::FrameSource;
        let mut v = self.sample.clone();
        v.sort_by(f32::total_cmp);
        v.dedup();
        let step = v
            .windows(2)
            .map(|w| (w[1] as f64) - (w[0] as f64))
            .filter(|d| *d > 0.0)
            .min_by(f64::total_cmp);
        VarSummary {
            name: name.to_string(),
            shape: self.inner.shape(),
            step,
            counts: self.counts,
            packing: self.inner.packing(),
        }
    }
}

impl codec::FrameSource for Observed {
    fn shape(&self) -> hiha_core::field::Shape {
        self.inner.shape()
    }
    fn packing(&self) -> Option<hiha_core::field::Packing> {
        self.inner.packing()
    }
    fn read_frames(
        &mut self,
        frames: std::ops::Range<usize>,
    ) -> hiha_core::Result<hiha_core::field::Field> {
        let f = self.inner.read_frames(frames.clone())?;
        if frames.start == self.seen {
            self.seen = frames.end;
            let base = frames.start * f.shape.frame_len();
            let first = (self.stride - base % self.stride) % self.stride;
            for i in (first..f.values.len()).step_by(self.stride) {
                let x = f.values[i];
                if x.is_finite() && !f.is_missing(i) {
                    self.sample.push(x);
                }
            }
            let c = f.special_counts();
            self.counts.missing += c.missing;
            self.counts.nan += c.nan;
            self.counts.pos_inf += c.pos_inf;
            self.counts.neg_inf += c.neg_inf;
        }
        Ok(f)
    }
}

/// `compress` reading the input chunk by chunk (predictor none, NetCDF
/// input): memory bounded by a few chunks, not by the file; the archive is
/// the one the in-memory path writes.
fn compress_streaming(
    a: &CompressArgs,
    quiet: bool,
    bounds: &BoundSet,
    base: &CompressOptions,
    ds: hiha_io::frames::FramesDataset,
    existing: Existing,
    t0: Instant,
) -> Result<()> {
    let t_read = t0.elapsed();
    if !quiet {
        for n in &ds.notes {
            errln!("note: {n}");
        }
    }
    let names: Vec<String> = ds
        .variables
        .iter()
        .map(|v| v.meta.var.name.clone())
        .collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let per_var = options_per_var(a, &name_refs, bounds, base)?;
    let bar = Bar::new(quiet);
    let t1 = Instant::now();
    let stream = codec::StreamOptions::default();
    let mut parts = Vec::with_capacity(names.len());
    let mut summaries = Vec::with_capacity(names.len());
    for (v, opts) in ds.variables.into_iter().zip(&per_var) {
        let spill = hiha_io::atomic::spill_file(&a.output)?;
        let mut src = Observed::new(v.frames);
        let r = codec::compress_streamed(&mut src, &v.meta, opts, &stream, spill, &bar);
        let part = match r {
            Ok(p) => p,
            Err(e) => {
                bar.finish();
                // A failed read keeps the kind of its error (exit code).
                return Err(match src.inner.take_error() {
                    Some(io) => anyhow::Error::new(io),
                    None => anyhow::Error::new(e),
                })
                .with_context(|| format!("compressing '{}'", v.meta.var.name));
            }
        };
        summaries.push(src.summary(&v.meta.var.name));
        parts.push(part);
    }
    bar.finish();
    let t_comp = t1.elapsed();
    let mut archive_bytes = 0u64;
    hiha_io::write_atomic_with(&a.output, existing, |f| -> Result<()> {
        let (mut w, n) = codec::write_archive(&mut parts, std::io::BufWriter::new(f))?;
        w.flush()?;
        archive_bytes = n;
        Ok(())
    })
    .with_context(|| format!("writing {}", a.output.display()))?;
    if !quiet {
        let reports: Vec<codec::CompressReport> = parts.iter().map(|p| p.report.clone()).collect();
        let repack = parts
            .iter()
            .map(|p| codec::repacking(p.header()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let bounds: Vec<Bound> = per_var.iter().map(|o| o.bound).collect();
        let n = usize::try_from(archive_bytes).unwrap_or(usize::MAX);
        report_compress(a, &summaries, &reports, &bounds, &repack, n);
        print_times(
            &reports,
            t_read,
            t_comp,
            ", streamed: reading is part of it",
        );
    }
    Ok(())
}

/// Prints what `compress` achieved: every variable verified on every
/// element, and the ratios against float32 and against the input file.
fn report_compress(
    a: &CompressArgs,
    vars: &[VarSummary],
    reports: &[codec::CompressReport],
    bounds: &[Bound],
    repack: &[Option<codec::Repacking>],
    archive_bytes: usize,
) {
    let source_bytes = if hiha_io::zarr::is_store(&a.input) {
        Some(hiha_io::zarr::store_bytes(&a.input))
    } else {
        std::fs::metadata(&a.input).map(|m| m.len()).ok()
    };
    for (((v, report), bound), repack) in vars.iter().zip(reports).zip(bounds).zip(repack) {
        let s = v.shape;
        outln!(
            "{} -> {}: variable '{}' ({} frames x {} levels x {} x {}), {}",
            a.input.display(),
            a.output.display(),
            v.name,
            s.frames,
            s.levels,
            s.lat,
            s.lon,
            bound
        );
        outln!("verified on every element:");
        print_metrics(&report.metrics, v.step, &v.counts, v.packing.is_some());
        if v.packing.is_some() {
            match repack {
                Some(r) => outln!(
                    "  re-packed        scale_factor {} ({} x the source's) keeps the bound too \
                     (max abs error {:.6e}, RMSE {:.6e}): decompress writes packed integers",
                    r.scale,
                    v.packing.map_or(1.0, |p| r.scale / p.scale),
                    r.max_abs,
                    r.rmse
                ),
                None => outln!(
                    "  re-packed        rounded to the source's packing the values would not keep \
                     the bound: decompress writes float32"
                ),
            }
        }
        if vars.len() > 1 {
            outln!(
                "  ratio            {:.2}x on its own ({} -> {} bytes)",
                report.ratio(),
                report.original_bytes,
                report.compressed_bytes
            );
        }
    }
    let raw: usize = reports.iter().map(|r| r.original_bytes).sum();
    let values = raw / 4;
    outln!(
        "  ratio            {:.2}x against float32 ({} -> {} bytes, {:.3} bits/value{})",
        raw as f64 / archive_bytes.max(1) as f64,
        raw,
        archive_bytes,
        archive_bytes as f64 * 8.0 / values.max(1) as f64,
        if vars.len() > 1 {
            format!(", {} variables", vars.len())
        } else {
            String::new()
        }
    );
    if let Some(src) = source_bytes {
        outln!(
            "  file ratio       {:.2}x against the input file's own {} bytes",
            src as f64 / archive_bytes.max(1) as f64,
            src
        );
    }
}

fn decompress(a: &DecompressArgs, quiet: bool) -> Result<()> {
    if let Some(k) = a.preview {
        return decompress_preview(a, k, quiet);
    }
    let frames = a.frames.as_deref().map(parse_frames).transpose()?;
    let opts = decode_options(a.max_memory)?;
    let format = output_format(a);
    let existing = check_paths_for(&a.input, &a.output, a.force, format == FormatArg::Zarr)?;
    // The header and frame index only: a streamed decompression reads the
    // sections of a few chunks at a time, the in-memory one all of them.
    let file = hiha_core::format::ArchiveFile::open(&a.input).map_err(|e| match e {
        hiha_core::Error::Io(_) => {
            anyhow::Error::new(e).context(format!("reading {}", a.input.display()))
        }
        e => e.into(),
    })?;
    let header = file.header();
    let variable_index = |n: &str| header.variable_names().iter().position(|x| *x == n);
    let all = header.variable_names();
    let names: Vec<&str> = if a.var.is_empty() {
        all.clone()
    } else {
        for v in &a.var {
            if !all.contains(&v.as_str()) {
                return Err(usage(format!(
                    "--var {v}: the archive holds {}",
                    all.join(", ")
                )));
            }
        }
        a.var.iter().map(String::as_str).collect()
    };
    if let Some(r) = &frames {
        for n in &names {
            let k = variable_index(n).unwrap_or(0);
            let total = header.shape_of(k).map_or(0, |s| s.frames);
            if r.end > total {
                return Err(usage(format!(
                    "--frames {}..{}: variable '{n}' has {total} frames",
                    r.start, r.end
                )));
            }
        }
    }
    // What the encoder verified about re-packing each variable.
    let mut repack = Vec::with_capacity(names.len());
    for n in &names {
        let k = variable_index(n)
            .ok_or_else(|| anyhow::anyhow!("variable '{n}' is not in the archive"))?;
        let h = header
            .variable(k)
            .ok_or_else(|| anyhow::anyhow!("variable '{n}' is not in the archive"))?;
        repack.push(if a.float32 {
            None
        } else {
            codec::repacking(&h)?
        });
    }
    let streams = file.version().0 == hiha_core::format::FORMAT_VERSION.0;
    if format == FormatArg::Nc3 && !a.no_stream && streams {
        let done = decompress_nc3_streaming(
            a,
            quiet,
            &file,
            &names,
            &repack,
            frames.clone(),
            &opts,
            existing,
        )?;
        if done {
            return Ok(());
        }
    } else if format == FormatArg::Nc4 && !quiet {
        let values: u64 = names
            .iter()
            .filter_map(|n| variable_index(n))
            .filter_map(|k| header.shape_of(k))
            .map(|s| match &frames {
                Some(r) => (r.len() * s.frame_len()) as u64,
                None => s.len() as u64,
            })
            .sum();
        if values > NC4_MEMORY_NOTE_VALUES {
            errln!(
                "note: NetCDF-4 output is built in memory (about {:.1} GB for these {values} \
                 values); `--format nc3` writes the frames as they are decoded, in bounded memory",
                values as f64 * 12.0 / 1e9
            );
        }
    }
    let bytes =
        std::fs::read(&a.input).with_context(|| format!("reading {}", a.input.display()))?;
    let t0 = Instant::now();
    let decoded = names
        .iter()
        .map(|n| codec::decompress_variable(&bytes, n, frames.clone(), &opts))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let dt = t0.elapsed();
    let items: Vec<hiha_io::OutputVar> = decoded
        .iter()
        .zip(&repack)
        .map(|((field, meta), r)| hiha_io::OutputVar {
            field,
            meta,
            repack: r.map(|r| r.packing()),
        })
        .collect();
    let t1 = Instant::now();
    let written = write_output(&a.output, &items, format, existing)?;
    let dw = t1.elapsed();
    if !quiet {
        let values: usize = decoded.iter().map(|(f, _)| f.values.len()).sum();
        let mb = values as f64 * 4.0 / 1e6;
        outln!(
            "{} -> {}: '{}' ({} values) decoded in {:.3}s ({:.1} MB/s), written in {:.3}s",
            a.input.display(),
            a.output.display(),
            names.join("', '"),
            values,
            dt.as_secs_f64(),
            mb / dt.as_secs_f64().max(1e-9),
            dw.as_secs_f64()
        );
        print_written(&written, &repack, format, values);
    }
    Ok(())
}

/// `hiha decompress --preview K`: every variable asked for, at 2^K times
/// coarser per horizontal axis, from the coarse wavelet subbands.
fn decompress_preview(a: &DecompressArgs, level: u32, quiet: bool) -> Result<()> {
    use hiha_core::codec::preview;
    if a.frames.is_some() {
        return Err(usage(
            "--preview decodes every frame: it cannot be combined with --frames",
        ));
    }
    if !(1..=preview::MAX_PREVIEW_LEVEL).contains(&level) {
        return Err(usage(format!(
            "--preview {level}: K must be 1 to {} (2^K times coarser per horizontal axis)",
            preview::MAX_PREVIEW_LEVEL
        )));
    }
    let opts = decode_options(a.max_memory)?;
    let format = output_format(a);
    let existing = check_paths_for(&a.input, &a.output, a.force, format == FormatArg::Zarr)?;
    let t0 = Instant::now();
    let file = hiha_core::format::ArchiveFile::open(&a.input).map_err(|e| match e {
        hiha_core::Error::Io(_) => {
            anyhow::Error::new(e).context(format!("reading {}", a.input.display()))
        }
        e => e.into(),
    })?;
    let header = file.header();
    let all = header.variable_names();
    let names: Vec<String> = if a.var.is_empty() {
        all.iter().map(|s| s.to_string()).collect()
    } else {
        for v in &a.var {
            if !all.contains(&v.as_str()) {
                return Err(usage(format!(
                    "--var {v}: the archive holds {}",
                    all.join(", ")
                )));
            }
        }
        a.var.clone()
    };
    let popts = preview::PreviewOptions {
        level,
        vertical: !a.preview_all_axes,
        decode: opts,
    };
    let mut decoded = Vec::with_capacity(names.len());
    let mut full_values = 0usize;
    for n in &names {
        let k = all
            .iter()
            .position(|x| x == n)
            .ok_or_else(|| anyhow::anyhow!("variable '{n}' is not in the archive"))?;
        if let Some(shape) = header.shape_of(k) {
            preview::check_preview_level(level, &shape)
                .map_err(|e| usage(format!("--preview {level}, variable '{n}': {e}")))?;
            full_values += shape.len();
        }
        let (field, meta, stats) = preview::preview_variable(&file, k, &popts)
            .with_context(|| format!("previewing variable '{n}'"))?;
        decoded.push((field, meta, stats));
    }
    let dt = t0.elapsed();
    let items: Vec<hiha_io::OutputVar> = decoded
        .iter()
        .map(|(field, meta, _)| hiha_io::OutputVar {
            field,
            meta,
            repack: None,
        })
        .collect();
    let t1 = Instant::now();
    let written = write_output(&a.output, &items, format, existing)?;
    let dw = t1.elapsed();
    if !quiet {
        let read = file.bytes_read();
        let size = file.len();
        let values: usize = decoded.iter().map(|(f, _, _)| f.values.len()).sum();
        let partial: usize = decoded.iter().map(|(_, _, s)| s.partial_chunks).sum();
        let whole: usize = decoded.iter().map(|(_, _, s)| s.whole_chunks).sum();
        let step = 1usize << level;
        outln!(
            "{} -> {}: preview at level {level} ({} point of lat and lon) of '{}': \
             {values} values",
            a.input.display(),
            a.output.display(),
            preview::every(step),
            names.join("', '"),
        );
        outln!(
            "  read {read} of {size} archive bytes ({:.1} %), decoded in {:.3}s ({:.1} MB/s of \
             the full-resolution float32 field), written in {:.3}s",
            100.0 * read as f64 / size.max(1) as f64,
            dt.as_secs_f64(),
            full_values as f64 * 4.0 / 1e6 / dt.as_secs_f64().max(1e-9),
            dw.as_secs_f64()
        );
        outln!(
            "  chunks: {partial} read in part (coarse wavelet subbands), {whole} read whole \
             (not wavelet-coded, or a predictor or bound that needs every byte)"
        );
        outln!(
            "  approximate: no error bound holds, and sections read in part are not \
             checksummed (`hiha verify` checks the archive)"
        );
        let _ = written;
    }
    Ok(())
}

/// Prints how each variable was written and the output's size.
fn print_written(
    written: &hiha_io::Written,
    repack: &[Option<codec::Repacking>],
    format: FormatArg,
    values: usize,
) {
    for ((name, enc), r) in written.vars.iter().zip(repack) {
        match (enc, r) {
            (hiha_io::VarEncoding::Packed { dtype, multiple }, Some(r)) => outln!(
                "  {name:<16} {} packed, scale_factor {} ({multiple} x the source's), \
                 add_offset {}: within the bound (max abs error {:.3e}, RMSE {:.3e})",
                format!("{dtype:?}").to_lowercase(),
                r.scale,
                r.offset,
                r.max_abs,
                r.rmse
            ),
            (hiha_io::VarEncoding::Float32 { reason: Some(why) }, _) => {
                outln!("  {name:<16} float32 (not re-packed: {why})")
            }
            _ => outln!("  {name:<16} float32"),
        }
    }
    outln!(
        "  output           {} bytes, {} ({:.2}x smaller than float32's {} bytes)",
        written.bytes,
        match format {
            FormatArg::Nc4 => "NetCDF-4, shuffle + zlib",
            FormatArg::Nc3 => "NetCDF-3",
            FormatArg::Zarr => "Zarr v3 store, Blosc (shuffle + zstd)",
        },
        (values as f64 * 4.0) / written.bytes.max(1) as f64,
        values * 4
    );
}

/// Decompresses into NetCDF-3, writing each batch of frames as it is
/// decoded: memory bounded by a few chunks, not by the output. `false`
/// when how a variable is written cannot be decided before its values are
/// known (see `hiha_io::Nc3Stream`): nothing was written, and the caller
/// decodes in memory.
#[allow(clippy::too_many_arguments)]
fn decompress_nc3_streaming(
    a: &DecompressArgs,
    quiet: bool,
    file: &hiha_core::format::ArchiveFile,
    names: &[&str],
    repack: &[Option<codec::Repacking>],
    frames: Option<std::ops::Range<usize>>,
    opts: &codec::DecodeOptions,
    existing: Existing,
) -> Result<bool> {
    let mut ks = Vec::with_capacity(names.len());
    let mut metas = Vec::with_capacity(names.len());
    let mut wants = Vec::with_capacity(names.len());
    let mut shapes = Vec::with_capacity(names.len());
    let mut ranges = Vec::with_capacity(names.len());
    for n in names {
        let h = file.header();
        let k = h
            .variable_names()
            .iter()
            .position(|x| x == n)
            .ok_or_else(|| anyhow::anyhow!("variable '{n}' is not in the archive"))?;
        let view = h
            .variable(k)
            .ok_or_else(|| anyhow::anyhow!("variable '{n}' is not in the archive"))?;
        let shape = view.shape;
        let want = frames.clone().unwrap_or(0..shape.frames);
        metas.push(codec::variable_meta(&view, frames.clone())?);
        ranges.push(codec::value_range(&view)?);
        shapes.push(hiha_core::field::Shape {
            frames: want.len(),
            ..shape
        });
        wants.push(want);
        ks.push(k);
    }
    let items: Vec<hiha_io::StreamVar> = (0..names.len())
        .map(|k| hiha_io::StreamVar {
            meta: &metas[k],
            shape: shapes[k],
            repack: repack[k].map(|r| r.packing()),
            range: ranges[k],
        })
        .collect();
    let batch = codec::StreamOptions::default().in_flight;
    let mut broken = false;
    let mut written = None;
    let t0 = Instant::now();
    let res = hiha_io::write_atomic_with(&a.output, existing, |f| -> Result<()> {
        let Some(mut w) = hiha_io::Nc3Stream::start(f, &a.output, &items)? else {
            broken = true;
            bail!("the output cannot be written frame by frame");
        };
        for (j, &k) in ks.iter().enumerate() {
            let base = wants[j].start;
            let mut sink = |r: std::ops::Range<usize>, piece: hiha_core::field::Field| match w
                .write_frames(f, j, r.start - base, &piece)
            {
                Ok(true) => Ok(()),
                Ok(false) => {
                    broken = true;
                    Err(hiha_core::Error::InvalidInput(
                        "decoded values the header written first does not allow".into(),
                    ))
                }
                Err(e) => Err(hiha_core::Error::Io(std::io::Error::other(e.to_string()))),
            };
            codec::decompress_file_streamed(file, k, frames.clone(), opts, batch, &mut sink)?;
        }
        written = Some(w.finish()?);
        Ok(())
    });
    if broken {
        return Ok(false);
    }
    res.with_context(|| format!("writing {}", a.output.display()))?;
    let dt = t0.elapsed();
    let written = written.ok_or_else(|| anyhow::anyhow!("nothing was written"))?;
    if !quiet {
        let values: usize = shapes.iter().map(|s| s.len()).sum();
        let mb = values as f64 * 4.0 / 1e6;
        outln!(
            "{} -> {}: '{}' ({} values) decoded and written in {:.3}s ({:.1} MB/s), streamed",
            a.input.display(),
            a.output.display(),
            names.join("', '"),
            values,
            dt.as_secs_f64(),
            mb / dt.as_secs_f64().max(1e-9)
        );
        print_written(&written, repack, FormatArg::Nc3, values);
    }
    Ok(true)
}

/// Above this many values, `decompress` to NetCDF-4 says that it builds
/// the output in memory (and how to avoid it).
const NC4_MEMORY_NOTE_VALUES: u64 = 1 << 28;

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
        "{}: format {}.{}, {} variable(s), {} sections, every checksum holds; {} values decoded; \
         {hashes} ({:.2}s)",
        input.display(),
        r.format.0,
        r.format.1,
        r.variables,
        r.sections,
        r.values,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One variable of `hiha compare`: both sides and its report.
struct Compared {
    orig: hiha_io::LoadedVariable,
    recon: hiha_io::LoadedVariable,
    metrics: Metrics,
    fidelity: fidelity::Fidelity,
}

/// Reads variable `var` (or the only one) from both files and computes its report.
fn compare_one(orig: &Path, recon: &Path, var: Option<&str>, json: bool) -> Result<Compared> {
    let a = read_any_variable(orig, var).with_context(|| format!("reading {}", orig.display()))?;
    let name = a.meta.var.name.clone();
    let b = read_any_variable(recon, Some(&name))
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
        let w = format!(
            "warning: the missing-value masks of '{name}' differ; comparing where the original is valid"
        );
        if json {
            errln!("{w}");
        } else {
            outln!("{w}");
        }
    }
    let metrics = Metrics::against_source(&a.field, &b.field.values)?;
    let opts = fidelity::Options {
        geopotential_factor: fidelity::geopotential_factor(&a.meta.var),
        ensemble: fidelity::Ensemble::from_meta(&a.meta, a.field.shape.frames),
    };
    let fid = fidelity::report(
        &fidelity::Input {
            field: &a.field,
            recon: &b.field.values,
            lat: &a.grid.lat,
            lon: &a.grid.lon,
        },
        &opts,
    )
    .with_context(|| format!("the fitness report of '{name}'"))?;
    Ok(Compared {
        orig: a,
        recon: b,
        metrics,
        fidelity: fid,
    })
}

/// Whether a variable is the eastward (`'u'`) or northward (`'v'`) wind.
fn wind_component(v: &hiha_io::LoadedVariable) -> Option<char> {
    let std_name = v.meta.var.attrs.iter().find_map(|a| match &a.value {
        hiha_core::meta::AttrValue::Text(t) if a.name == "standard_name" => Some(t.trim()),
        _ => None,
    });
    match (std_name, v.meta.var.name.as_str()) {
        (Some("eastward_wind"), _) | (_, "u") => Some('u'),
        (Some("northward_wind"), _) | (_, "v") => Some('v'),
        _ => None,
    }
}

fn compare(
    orig: &Path,
    recon: &Path,
    var: Option<&str>,
    json: bool,
    plots: Option<&Path>,
) -> Result<()> {
    let names: Vec<Option<&str>> = match var {
        Some(list) => {
            let v: Vec<Option<&str>> = list
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(Some)
                .collect();
            if v.is_empty() {
                return Err(usage("--var names no variable".to_string()));
            }
            v
        }
        None => vec![None],
    };
    let mut done = Vec::new();
    for n in names {
        done.push(compare_one(orig, recon, n, json)?);
    }
    // The pair u, v (the first of each among the variables compared).
    let find = |c: char| done.iter().position(|d| wind_component(&d.orig) == Some(c));
    let winds = match (find('u'), find('v')) {
        (Some(iu), Some(iv)) => {
            let (u, v) = (&done[iu], &done[iv]);
            fn input(d: &Compared) -> fidelity::Input<'_> {
                fidelity::Input {
                    field: &d.orig.field,
                    recon: &d.recon.field.values,
                    lat: &d.orig.grid.lat,
                    lon: &d.orig.grid.lon,
                }
            }
            let w = fidelity::wind_error(&input(u), &input(v))
                .context("the vorticity and divergence of the winds")?;
            Some((
                u.orig.meta.var.name.clone(),
                v.orig.meta.var.name.clone(),
                w,
            ))
        }
        _ => None,
    };
    let mut written = Vec::new();
    if let Some(dir) = plots {
        for d in &done {
            written.extend(plots::write(
                dir,
                &plots::Plot {
                    name: &d.orig.meta.var.name,
                    field: &d.orig.field,
                    recon: &d.recon.field.values,
                    lat: &d.orig.grid.lat,
                    lon: &d.orig.grid.lon,
                    levels: d.orig.grid.levels.as_deref(),
                    fidelity: &d.fidelity,
                },
            )?);
        }
    }
    if json {
        let vars: Vec<serde_json::Value> = done
            .iter()
            .map(|d| {
                let s = d.orig.field.shape;
                serde_json::json!({
                    "name": d.orig.meta.var.name,
                    "units": d.orig.meta.var.attrs.iter().find_map(|a| match &a.value {
                        hiha_core::meta::AttrValue::Text(t) if a.name == "units" => Some(t.clone()),
                        _ => None,
                    }),
                    "shape": { "frames": s.frames, "levels": s.levels, "lat": s.lat, "lon": s.lon },
                    "level_values": d.orig.grid.levels,
                    "source_step": value_step(&d.orig.field.values, d.orig.field.missing.as_deref()),
                    "metrics": d.metrics,
                    "fidelity": d.fidelity,
                })
            })
            .collect();
        let winds = winds
            .as_ref()
            .map(|(u, v, w)| serde_json::json!({ "u": u, "v": v, "errors": w }));
        let doc = serde_json::json!({
            "original": orig.display().to_string(),
            "reconstruction": recon.display().to_string(),
            "note": "error = reconstruction - original; null where a value is undefined (see docs/fidelity.md)",
            "variables": vars,
            "winds": winds,
            "plots": written.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        });
        outln!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        for d in &done {
            outln!(
                "{} vs {}, variable '{}':",
                orig.display(),
                recon.display(),
                d.orig.meta.var.name
            );
            print_metrics(
                &d.metrics,
                value_step(&d.orig.field.values, d.orig.field.missing.as_deref()),
                &d.orig.field.special_counts(),
                d.orig.field.packing.is_some(),
            );
            emit(format_args!(
                "{}",
                report::fidelity_text(&d.fidelity, d.orig.grid.levels.as_deref())
            ));
        }
        if let Some((u, v, w)) = &winds {
            emit(format_args!("{}", report::wind_text(u, v, w.as_ref())));
        }
        if let Some(dir) = plots {
            outln!("{} plots written to {}", written.len(), dir.display());
        }
    }
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
    // Before any thread starts: reuse freed chunk-sized blocks instead of
    // faulting fresh pages in for every trial and decode (hiha-malloc).
    hiha_malloc::tune();
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
            json,
            plots,
        } => compare(
            original,
            reconstruction,
            var.as_deref(),
            *json,
            plots.as_deref(),
        ),
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

/// Writes decoded variables to `output` in `format`.
fn write_output(
    output: &Path,
    items: &[hiha_io::OutputVar],
    format: FormatArg,
    existing: hiha_io::Existing,
) -> Result<hiha_io::Written> {
    match format {
        FormatArg::Nc4 => {
            hiha_io::write_netcdf(output, items, hiha_io::OutputFormat::Nc4, existing)
        }
        FormatArg::Nc3 => {
            hiha_io::write_netcdf(output, items, hiha_io::OutputFormat::Nc3, existing)
        }
        FormatArg::Zarr => hiha_io::zarr::write_store(output, items, existing),
    }
    .with_context(|| format!("writing {}", output.display()))
}

/// The output format: `--format`, else Zarr for a `.zarr` path, else NetCDF-4.
fn output_format(a: &DecompressArgs) -> FormatArg {
    a.format.unwrap_or(
        if a.output
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("zarr"))
        {
            FormatArg::Zarr
        } else {
            FormatArg::Nc4
        },
    )
}
