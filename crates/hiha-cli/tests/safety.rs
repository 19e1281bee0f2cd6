//! The user's files are safe and the exit codes are the documented ones:
//! an output is never the input, an existing output is replaced only with
//! `--force`, a bad output directory is reported before any work, parallel
//! runs into one directory never share a temporary file, a closed stdout is
//! not a crash, and each kind of failure has its exit code.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use hiha_core::metrics::Metrics;

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/samples")
        .join(name)
}

/// The small bundled sample (one frame, two levels, 2.5 degrees).
fn small() -> PathBuf {
    sample("gfs_t_pl2_2p5deg_global_cdf1.nc")
}

fn hiha(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hiha"))
        .args(args)
        .output()
        .expect("runs hiha")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_code(o: &Output, code: i32, what: &str) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "{what}: expected exit {code}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(o)
    );
    assert!(!stderr(o).contains("panicked"), "{what}: {}", stderr(o));
}

fn tempdir(tag: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("hiha-safety-{tag}-"))
        .tempdir()
        .expect("temp dir")
}

/// The names in a directory, sorted.
fn names(d: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn compress(input: &Path, output: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["-q", "compress", s(input), "-o", s(output)];
    args.extend_from_slice(extra);
    hiha(&args)
}

#[test]
fn the_output_is_never_the_input() {
    let d = tempdir("same");
    let input = d.path().join("in.nc");
    std::fs::copy(small(), &input).expect("copy sample");
    let original = std::fs::read(&input).expect("read");
    std::fs::create_dir(d.path().join("sub")).expect("mkdir");
    let other_spelling = d.path().join("sub/../in.nc");
    let symlink = d.path().join("link.nc");
    let hardlink = d.path().join("hard.nc");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&input, &symlink).expect("symlink");
    std::fs::hard_link(&input, &hardlink).expect("hard link");
    let mut outputs = vec![input.clone(), other_spelling, hardlink.clone()];
    if cfg!(unix) {
        outputs.push(symlink.clone());
    }
    for out in &outputs {
        for force in [false, true] {
            let extra: &[&str] = if force {
                &["--nrmse", "1e-3", "--force"]
            } else {
                &["--nrmse", "1e-3"]
            };
            let o = compress(&input, out, extra);
            let what = format!("compress -o {} (force {force})", out.display());
            assert_code(&o, 2, &what);
            assert!(
                stderr(&o).contains("is the input"),
                "{what}: {}",
                stderr(&o)
            );
            assert_eq!(std::fs::read(&input).expect("read"), original, "{what}");
        }
    }
    // The same for decompress: an archive is never replaced by its own output.
    let archive = d.path().join("a.hiha");
    assert_code(
        &compress(&input, &archive, &["--nrmse", "1e-3"]),
        0,
        "compress",
    );
    let bytes = std::fs::read(&archive).expect("archive");
    let alias = d.path().join("alias.hiha");
    std::fs::hard_link(&archive, &alias).expect("hard link");
    for out in [&archive, &alias] {
        let o = hiha(&["-q", "decompress", s(&archive), "-o", s(out), "-f"]);
        assert_code(&o, 2, "decompress onto its input");
        assert_eq!(std::fs::read(&archive).expect("archive"), bytes);
    }
    // A symlink as the input, the target as the output.
    #[cfg(unix)]
    {
        let o = compress(&symlink, &input, &["--nrmse", "1e-3", "-f"]);
        assert_code(&o, 2, "compress link.nc -o in.nc");
        assert_eq!(std::fs::read(&input).expect("read"), original);
    }
}

#[test]
fn an_existing_output_is_replaced_only_with_force() {
    let d = tempdir("force");
    let archive = d.path().join("a.hiha");
    let precious = b"the user's own file".to_vec();
    std::fs::write(&archive, &precious).expect("write");
    let o = compress(&small(), &archive, &["--nrmse", "1e-3"]);
    assert_code(&o, 2, "compress over an existing file");
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&archive).expect("read"), precious);
    assert_code(
        &compress(&small(), &archive, &["--nrmse", "1e-3", "--force"]),
        0,
        "compress --force",
    );
    let o = hiha(&["info", s(&archive)]);
    assert_code(&o, 0, "info on the replaced archive");

    let nc = d.path().join("orig.nc");
    std::fs::write(&nc, &precious).expect("write");
    let o = hiha(&["-q", "decompress", s(&archive), "-o", s(&nc)]);
    assert_code(&o, 2, "decompress over an existing file");
    assert_eq!(std::fs::read(&nc).expect("read"), precious);
    let o = hiha(&["-q", "decompress", s(&archive), "-o", s(&nc), "-f"]);
    assert_code(&o, 0, "decompress -f");
    let back = hiha_io::read_variable(&nc, None).expect("a NetCDF file now");
    assert_eq!(back.field.shape.lat, 73);
    // An existing directory is never an output, even with --force.
    let sub = d.path().join("dir.hiha");
    std::fs::create_dir(&sub).expect("mkdir");
    let o = compress(&small(), &sub, &["--nrmse", "1e-3", "--force"]);
    assert_code(&o, 2, "compress onto a directory");
    assert!(sub.is_dir());
    assert_eq!(
        names(d.path()),
        vec!["a.hiha", "dir.hiha", "orig.nc"],
        "nothing else was left in the directory"
    );
}

#[test]
fn a_bad_output_directory_is_reported_before_any_work() {
    let d = tempdir("outdir");
    let missing = d.path().join("no/such/dir/a.hiha");
    let o = compress(&small(), &missing, &["--nrmse", "1e-3"]);
    assert_code(&o, 2, "missing output directory");
    assert!(stderr(&o).contains("no/such/dir"), "{}", stderr(&o));
    let file = d.path().join("plain");
    std::fs::write(&file, b"x").expect("write");
    let o = compress(&small(), &file.join("a.hiha"), &["--nrmse", "1e-3"]);
    assert_code(&o, 2, "output 'directory' is a file");
    // Before any work: the input is not even read. Here it is not NetCDF
    // (exit 4 once read), yet the output directory is what gets reported.
    let text = d.path().join("notes.txt");
    std::fs::write(&text, "not a NetCDF file\n").expect("write");
    let o = compress(&text, &missing, &["--nrmse", "1e-3"]);
    assert_code(&o, 2, "the output directory is checked first");
    // Decompress too.
    let archive = d.path().join("a.hiha");
    assert_code(&compress(&small(), &archive, &["--nrmse", "1e-3"]), 0, "c");
    let o = hiha(&[
        "decompress",
        s(&archive),
        "-o",
        s(&d.path().join("no/x.nc")),
    ]);
    assert_code(&o, 2, "decompress into a missing directory");
    assert_eq!(names(d.path()), vec!["a.hiha", "notes.txt", "plain"]);
}

/// Files in the directory that belong to others are never touched: not the
/// fixed temporary names older versions used (which made `x.u10` and
/// `x.d2m` share `x.hiha.tmp`), nor another run's partial file.
#[test]
fn a_run_touches_no_file_but_its_output() {
    let d = tempdir("others");
    let others = [
        ("x.hiha.tmp", "another run's temporary file (old naming)"),
        ("x.d2m", "another archive"),
        (
            "x.nc.hiha-io.tmp",
            "another run's temporary file (old naming)",
        ),
        (
            ".x.d2m.hiha-partial-Ab12Cd",
            "another output's live partial file",
        ),
        (
            ".x.u10.hiha-partial-Zz98Yy",
            "a live partial file of this output",
        ),
    ];
    for (name, text) in others {
        std::fs::write(d.path().join(name), text).expect("write");
    }
    let out = d.path().join("x.u10");
    assert_code(
        &compress(&small(), &out, &["--nrmse", "1e-3"]),
        0,
        "compress",
    );
    let nc = d.path().join("x.nc");
    let o = hiha(&["-q", "decompress", s(&out), "-o", s(&nc)]);
    assert_code(&o, 0, "decompress");
    for (name, text) in others {
        let p = d.path().join(name);
        assert_eq!(
            std::fs::read_to_string(&p).ok().as_deref(),
            Some(text),
            "{name} was touched"
        );
    }
    assert_eq!(names(d.path()).len(), others.len() + 2);
}

/// A partial file of the same output left by a killed run (kill -9) is
/// removed by the next write of that output once it is an hour old; a
/// younger one may belong to a run in progress and stays.
#[test]
fn stale_partial_files_of_the_same_output_are_cleaned_up() {
    let d = tempdir("stale");
    let stale = d.path().join(".x.u10.hiha-partial-Ab12Cd");
    let young = d.path().join(".x.u10.hiha-partial-Ef34Gh");
    for (p, age) in [(&stale, 2 * 3600), (&young, 60)] {
        let f = std::fs::File::create(p).expect("create");
        let t = SystemTime::now()
            .checked_sub(Duration::from_secs(age))
            .expect("past");
        f.set_modified(t).expect("mtime");
    }
    let out = d.path().join("x.u10");
    assert_code(
        &compress(&small(), &out, &["--nrmse", "1e-3"]),
        0,
        "compress",
    );
    assert!(!stale.exists(), "the stale partial file was not removed");
    assert!(young.exists(), "a young partial file was removed");
}

/// Parallel runs of different inputs and bounds into one directory, with
/// outputs that differ only in their extension: each archive holds its own
/// data within its own bound, and no temporary file remains.
#[test]
fn parallel_runs_into_one_directory_do_not_collide() {
    let d = tempdir("parallel");
    let jobs = [
        ("x.u10", small(), "--nrmse", 1e-2),
        (
            "x.d2m",
            sample("gfs_t_pl26_2p5deg_global_2011101100_f072.nc"),
            "--nrmse",
            1e-3,
        ),
        ("x.t2m", small(), "--max-rel", 1e-3),
        (
            "x.msl",
            sample("gfs_t_pl6_2p5deg_global_nc4_packed.nc"),
            "--nrmse",
            1e-4,
        ),
        ("x.sp", small(), "--nrmse", 1e-4),
        (
            "x.tcc",
            sample("gfs_t_pl26_2p5deg_global_2011101100_f072.nc"),
            "--max-rel",
            1e-2,
        ),
    ];
    for round in 0..2 {
        let children: Vec<_> = jobs
            .iter()
            .map(|(out, input, mode, v)| {
                let v = format!("{v:e}");
                Command::new(env!("CARGO_BIN_EXE_hiha"))
                    .args(["-q", "compress", s(input), "-o"])
                    .arg(d.path().join(out))
                    .args([*mode, v.as_str(), "--force"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn")
            })
            .collect();
        for (child, (out, ..)) in children.into_iter().zip(&jobs) {
            let o = child.wait_with_output().expect("wait");
            assert_code(&o, 0, &format!("round {round}: compress -o {out}"));
        }
        let mut want: Vec<String> = jobs.iter().map(|j| j.0.to_string()).collect();
        want.sort();
        assert_eq!(
            names(d.path()),
            want,
            "round {round}: temporary files remain"
        );
    }
    for (out, input, mode, v) in &jobs {
        let archive = d.path().join(out);
        let back = d.path().join(format!("{out}.nc"));
        let o = hiha(&["-q", "decompress", s(&archive), "-o", s(&back)]);
        assert_code(&o, 0, &format!("decompress {out}"));
        let a = hiha_io::read_variable(input, None).expect("original");
        let b = hiha_io::read_variable(&back, None).expect("reconstruction");
        assert_eq!(a.field.shape, b.field.shape, "{out} holds another input");
        assert_eq!(
            a.meta.aux_vars, b.meta.aux_vars,
            "{out} holds another input"
        );
        let m = Metrics::compute(&a.field.values, &b.field.values, a.field.missing.as_deref())
            .expect("comparable");
        match *mode {
            "--nrmse" => assert!(m.nrmse <= *v, "{out}: NRMSE {} > {v}", m.nrmse),
            _ => assert!(m.max_abs <= v * m.range, "{out}: max rel violated"),
        }
        // The archive records its own bound.
        let info = hiha(&["info", s(&archive)]);
        assert_code(&info, 0, "info");
        let text = String::from_utf8_lossy(&info.stdout);
        let bound = if *mode == "--nrmse" {
            format!("NRMSE <= {v:e}")
        } else {
            format!("max error <= {v:e} x range")
        };
        assert!(text.contains(&bound), "{out}: no '{bound}' in\n{text}");
    }
}

/// Runs hiha with stdout a pipe whose reader is gone (`hiha … | head -1`).
fn with_closed_stdout(args: &[&str], read_one_line: bool) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hiha"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let out = child.stdout.take().expect("stdout");
    if read_one_line {
        let mut line = String::new();
        BufReader::new(out).read_line(&mut line).expect("one line");
    } else {
        drop(out);
    }
    child.wait_with_output().expect("wait")
}

#[test]
fn a_closed_stdout_is_not_a_crash() {
    let d = tempdir("pipe");
    let archive = d.path().join("a.hiha");
    let back = d.path().join("a.nc");
    let cases: Vec<(Vec<String>, bool)> = vec![
        (
            vec![
                "compress".into(),
                s(&small()).into(),
                "-o".into(),
                s(&archive).into(),
                "--nrmse".into(),
                "1e-3".into(),
            ],
            false,
        ),
        (vec!["info".into(), s(&archive).into()], false),
        (vec!["info".into(), s(&archive).into()], true),
        (
            vec![
                "decompress".into(),
                s(&archive).into(),
                "-o".into(),
                s(&back).into(),
            ],
            false,
        ),
        (
            vec!["compare".into(), s(&small()).into(), s(&back).into()],
            false,
        ),
        (
            vec!["compare".into(), s(&small()).into(), s(&back).into()],
            true,
        ),
    ];
    for (args, one_line) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = with_closed_stdout(&args, *one_line);
        let what = format!("hiha {} with stdout closed", args.join(" "));
        assert_ne!(o.status.code(), Some(101), "{what}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{what}: {}", stderr(&o));
        // The work itself is done and reported as done.
        assert_code(&o, 0, &what);
    }
    assert!(archive.is_file() && back.is_file());
}

#[test]
fn non_netcdf_input_is_unsupported_not_an_os_error() {
    let d = tempdir("formats");
    let mut grib = b"GRIB".to_vec();
    grib.extend((0..500u32).map(|i| (i * 37 % 251) as u8));
    grib.extend_from_slice(b"7777");
    let cases: [(&str, &[u8]); 4] = [
        ("empty.nc", b""),
        ("text.nc", b"time,lat,lon,t\n0,10,20,273.15\n"),
        ("fake.grib", &grib),
        ("tiny.nc", b"CD"),
    ];
    for (name, bytes) in cases {
        let p = d.path().join(name);
        std::fs::write(&p, bytes).expect("write");
        let o = compress(
            &p,
            &d.path().join(format!("{name}.hiha")),
            &["--nrmse", "1e-3"],
        );
        assert_code(&o, 4, name);
        assert!(stderr(&o).contains(name), "{name}: {}", stderr(&o));
    }
    let o = compress(
        &d.path().join("fake.grib"),
        &d.path().join("g.hiha"),
        &["--nrmse", "1e-3"],
    );
    assert!(stderr(&o).contains("GRIB"), "{}", stderr(&o));
    // A missing input is an operating-system error (exit 5), and says so.
    let o = compress(
        &d.path().join("missing.nc"),
        &d.path().join("m.hiha"),
        &["--nrmse", "1e-3"],
    );
    assert_code(&o, 5, "missing input");
    assert!(stderr(&o).contains("missing.nc"), "{}", stderr(&o));
    // A missing archive too.
    let o = hiha(&[
        "decompress",
        s(&d.path().join("missing.hiha")),
        "-o",
        s(&d.path().join("m.nc")),
    ]);
    assert_code(&o, 5, "missing archive");
}

#[test]
fn bad_parameter_values_are_usage_errors() {
    let d = tempdir("params");
    let out = d.path().join("a.hiha");
    let input = small();
    for (mode, v) in [
        ("--nrmse", "abc"),
        ("--nrmse", "0"),
        ("--nrmse", "-1"),
        ("--nrmse", "2"),
        ("--nrmse", "1"),
        ("--nrmse", "nan"),
        ("--nrmse", "inf"),
        ("--max-abs", "-0.5"),
        ("--max-abs", "0"),
        ("--max-rel", "-1e-3"),
        ("--max-rel", "1.5"),
    ] {
        let o = compress(&input, &out, &[mode, v]);
        assert_code(&o, 2, &format!("{mode} {v}"));
        assert!(stderr(&o).contains(mode), "{mode} {v}: {}", stderr(&o));
        assert!(!out.exists(), "{mode} {v} wrote an output");
    }
    // A negative value is read as a value and refused for what it is, not
    // with clap's tip about `-- -1`.
    let o = compress(&input, &out, &["--nrmse", "-1"]);
    let e = stderr(&o);
    assert!(e.contains("must be a finite number above 0"), "{e}");
    assert!(!e.contains("-- -1"), "{e}");

    assert_code(&compress(&input, &out, &["--nrmse", "1e-3"]), 0, "compress");
    let back = d.path().join("a.nc");
    for frames in ["5..2", "1..1", "x", "1..x", "-1..2", "0-4", ""] {
        let o = hiha(&[
            "decompress",
            s(&out),
            "-o",
            s(&back),
            &format!("--frames={frames}"),
        ]);
        assert_code(&o, 2, &format!("--frames {frames}"));
        assert!(stderr(&o).contains("--frames"), "{frames}: {}", stderr(&o));
        assert!(!back.exists());
    }
}

#[test]
fn help_documents_the_exit_codes() {
    let o = hiha(&["--help"]);
    assert_code(&o, 0, "--help");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("Exit status"), "{text}");
    for code in ["0 ", "1 ", "2 ", "3 ", "4 ", "5 "] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(code)),
            "exit code {code}missing from --help:\n{text}"
        );
    }
    for sub in ["compress", "decompress"] {
        let o = hiha(&[sub, "--help"]);
        assert_code(&o, 0, sub);
        assert!(String::from_utf8_lossy(&o.stdout).contains("--force"));
    }
}
