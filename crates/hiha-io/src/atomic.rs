//! Writing an output file so that no reader ever sees half of it.
//!
//! The bytes go to a uniquely named partial file in the output's directory,
//! `.<name>.hiha-partial-XXXXXX` (six random letters or digits), which is
//! flushed to disk (`fsync`) and then renamed onto the final name. Two
//! writers never share a partial file, even for outputs whose names differ
//! only in their extension. On every error the partial file is removed.
//!
//! A process killed in the middle (`kill -9`, power loss) cannot remove its
//! partial file. A later write of the *same* output name in the same
//! directory removes the partial files of that name that have not been
//! modified for [`STALE_PARTIAL_AGE`] (one hour). A live writer's partial
//! file is never that old: it is created only once the whole output is
//! ready in memory, and written, flushed and renamed straight away.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{IoError, Result};

/// What a write does when its output path already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Replace the existing file (atomically: readers see the old or the new
    /// file, never a mix).
    Replace,
    /// Fail with [`IoError::Exists`] and leave the existing file alone. The
    /// check is part of the final rename, so a file created by another
    /// process while this one was working is not replaced either.
    Refuse,
}

/// Partial files of an output left untouched for this long belong to a
/// writer that died; a later write of the same output removes them.
pub const STALE_PARTIAL_AGE: Duration = Duration::from_secs(3600);

/// Length of the random part of a partial file's name.
const RAND_CHARS: usize = 6;

/// The prefix of the partial files written for an output named `name`:
/// `.<name>.hiha-partial-`.
fn partial_prefix(name: &OsStr) -> OsString {
    let mut p = OsString::from(".");
    p.push(name);
    p.push(".hiha-partial-");
    p
}

/// True if `file` is the name of a partial file of the output whose prefix
/// is `prefix` (the prefix followed by exactly the random part).
fn is_partial_name(file: &OsStr, prefix: &OsStr) -> bool {
    let (f, p) = (file.as_encoded_bytes(), prefix.as_encoded_bytes());
    f.len() == p.len() + RAND_CHARS
        && f.starts_with(p)
        && f[p.len()..].iter().all(u8::is_ascii_alphanumeric)
}

/// The directory an output path is written in ("." for a bare file name).
pub fn output_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Checks that the output `path` can be written, before any work is done:
/// its directory exists and a partial file can be created (and is removed
/// again) there. The probe is named like a partial file of `path`, so even
/// a probe left by a killed process is cleaned up later.
pub fn check_writable(path: &Path) -> Result<()> {
    let werr = |reason: String| IoError::Write {
        path: path.display().to_string(),
        reason,
    };
    let name = path
        .file_name()
        .ok_or_else(|| werr("the path does not end in a file name".to_string()))?;
    let dir = output_dir(path);
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(werr(format!("'{}' is not a directory", dir.display()))),
        Err(e) => return Err(werr(format!("directory '{}': {e}", dir.display()))),
    }
    tempfile::Builder::new()
        .prefix(&partial_prefix(name))
        .suffix("")
        .rand_bytes(RAND_CHARS)
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| werr(format!("cannot create a file in '{}': {e}", dir.display())))
}

/// Writes `bytes` to `path` through a unique partial file in the same
/// directory, `fsync`ed before it is renamed onto `path`, then removes stale
/// partial files of the same output name (see the module docs).
pub fn write_atomic(path: &Path, bytes: &[u8], existing: Existing) -> Result<()> {
    write_atomic_with(path, existing, |f| {
        f.write_all(bytes).map_err(|e| IoError::Write {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    })
}

/// [`write_atomic`] for outputs written piece by piece: `write` fills the
/// partial file (it may seek; the file starts empty), which is then
/// `fsync`ed and renamed onto `path`. An error of `write` removes the
/// partial file and is returned as it is.
pub fn write_atomic_with<E: From<IoError>>(
    path: &Path,
    existing: Existing,
    write: impl FnOnce(&mut std::fs::File) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let shown = path.display().to_string();
    let werr = |reason: String| IoError::Write {
        path: shown.clone(),
        reason,
    };
    let name = path
        .file_name()
        .ok_or_else(|| werr("the path does not end in a file name".to_string()))?;
    let dir = output_dir(path);
    let prefix = partial_prefix(name);
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix("").rand_bytes(RAND_CHARS);
    #[cfg(unix)]
    {
        // Like a plain create: 0o666 less the umask (tempfile's default is 0o600).
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(|e| {
        werr(format!(
            "cannot create a temporary file in '{}': {e}",
            dir.display()
        ))
    })?;
    // From here on, an early return drops `tmp`, which deletes the file.
    write(tmp.as_file_mut())?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| werr(format!("writing '{}': {e}", tmp.path().display())))?;
    let persisted = match existing {
        Existing::Replace => tmp.persist(path),
        Existing::Refuse => tmp.persist_noclobber(path),
    };
    if let Err(e) = persisted {
        // Dropping `e` drops the temporary file with it.
        return Err(if existing == Existing::Refuse
            && e.error.kind() == std::io::ErrorKind::AlreadyExists
        {
            IoError::Exists { path: shown }
        } else {
            werr(e.error.to_string())
        }
        .into());
    }
    sync_dir(dir);
    remove_stale_partials(path, STALE_PARTIAL_AGE);
    Ok(())
}

/// An anonymous temporary file next to the output `path` (removed by the
/// system when closed, even after a crash): where a streaming writer keeps
/// what it cannot hold in memory until the output is written. On the
/// output's file system, not in `/tmp`, which is often in memory.
pub fn spill_file(path: &Path) -> Result<std::fs::File> {
    let dir = output_dir(path);
    tempfile::tempfile_in(dir).map_err(|e| IoError::Write {
        path: path.display().to_string(),
        reason: format!("cannot create a temporary file in '{}': {e}", dir.display()),
    })
}

/// Makes the rename durable (best effort: not every platform or file
/// system can sync a directory, and the file itself is already on disk).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Removes the partial files of the output `path` (same directory, same
/// output name) that have not been modified for `max_age`, and returns
/// them. Other files, partial files of other outputs, symbolic links and
/// younger partial files are left alone. Errors are ignored: this is
/// cleaning up after someone else.
pub fn remove_stale_partials(path: &Path, max_age: Duration) -> Vec<PathBuf> {
    let Some(name) = path.file_name() else {
        return Vec::new();
    };
    let prefix = partial_prefix(name);
    let Ok(entries) = std::fs::read_dir(output_dir(path)) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        if !is_partial_name(&entry.file_name(), &prefix) {
            continue;
        }
        let p = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        let old = meta
            .modified()
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= max_age);
        if meta.is_file() && old && std::fs::remove_file(&p).is_ok() {
            removed.push(p);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn dir(tag: &str) -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix(&format!("hiha-io-atomic-{tag}-"))
            .tempdir()
            .expect("temp dir")
    }

    fn names(d: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn writes_replaces_and_refuses() {
        let d = dir("basic");
        let out = d.path().join("x.nc");
        write_atomic(&out, b"one", Existing::Refuse).expect("new file");
        assert_eq!(std::fs::read(&out).expect("read"), b"one");
        let e = write_atomic(&out, b"two", Existing::Refuse).expect_err("exists");
        assert!(matches!(e, IoError::Exists { .. }), "{e}");
        assert_eq!(std::fs::read(&out).expect("read"), b"one", "left alone");
        write_atomic(&out, b"three", Existing::Replace).expect("replace");
        assert_eq!(std::fs::read(&out).expect("read"), b"three");
        assert_eq!(
            names(d.path()),
            vec!["x.nc".to_string()],
            "no partial file left"
        );
    }

    #[test]
    fn check_writable_probes_and_leaves_nothing() {
        let d = dir("probe");
        check_writable(&d.path().join("x.nc")).expect("writable");
        assert!(names(d.path()).is_empty(), "the probe is removed");
        let e = check_writable(&d.path().join("no/x.nc")).expect_err("no dir");
        assert!(matches!(e, IoError::Write { .. }), "{e}");
        std::fs::write(d.path().join("f"), b"").expect("write");
        let e = check_writable(&d.path().join("f/x.nc")).expect_err("not a dir");
        assert!(e.to_string().contains("not a directory"), "{e}");
    }

    #[test]
    fn a_failed_write_leaves_nothing() {
        let d = dir("fail");
        // The target is a non-empty directory: the final rename fails.
        let out = d.path().join("sub");
        std::fs::create_dir(&out).expect("mkdir");
        std::fs::write(out.join("keep"), b"k").expect("write");
        let e = write_atomic(&out, b"data", Existing::Replace).expect_err("cannot replace a dir");
        assert!(matches!(e, IoError::Write { .. }), "{e}");
        assert_eq!(names(d.path()), vec!["sub".to_string()]);
        // A missing directory.
        let e = write_atomic(&d.path().join("no/such/x.nc"), b"d", Existing::Replace)
            .expect_err("no dir");
        assert!(matches!(e, IoError::Write { .. }), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn outputs_are_not_private_to_the_owner() {
        use std::os::unix::fs::PermissionsExt;
        let d = dir("mode");
        let out = d.path().join("m.nc");
        write_atomic(&out, b"m", Existing::Refuse).expect("write");
        // Same mode as a plain create (0o666 less the umask), not the 0o600
        // of a temporary file.
        let plain = d.path().join("plain");
        std::fs::write(&plain, b"p").expect("write");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode();
        assert_eq!(mode(&out), mode(&plain), "{:o}", mode(&out));
    }

    #[test]
    fn only_old_partials_of_the_same_output_are_removed() {
        let d = dir("stale");
        let out = d.path().join("x.u10");
        let touch = |name: &str, age: Duration| {
            let p = d.path().join(name);
            let f = std::fs::File::create(&p).expect("create");
            let t = SystemTime::now()
                .checked_sub(age)
                .expect("a time in the past");
            f.set_modified(t).expect("set mtime");
        };
        let hour = Duration::from_secs(3600);
        touch(".x.u10.hiha-partial-Ab3dE9", 2 * hour); // stale: removed
        touch(".x.u10.hiha-partial-zzzzzz", Duration::ZERO); // live: kept
        touch(".x.d2m.hiha-partial-Ab3dE9", 2 * hour); // another output: kept
        touch(".x.u10.hiha-partial-Ab3dE9x", 2 * hour); // not our pattern: kept
        touch("x.u10.hiha-partial-Ab3dE9", 2 * hour); // not our pattern: kept
        write_atomic(&out, b"u", Existing::Refuse).expect("write");
        assert_eq!(
            names(d.path()),
            vec![
                ".x.d2m.hiha-partial-Ab3dE9",
                ".x.u10.hiha-partial-Ab3dE9x",
                ".x.u10.hiha-partial-zzzzzz",
                "x.u10",
                "x.u10.hiha-partial-Ab3dE9",
            ]
        );
    }

    #[test]
    fn names_differing_in_extension_never_share_a_partial() {
        let a = partial_prefix(OsStr::new("x.u10"));
        let b = partial_prefix(OsStr::new("x.d2m"));
        assert_ne!(a, b);
        assert!(!is_partial_name(
            OsStr::new(".x.d2m.hiha-partial-abcdef"),
            &a
        ));
        assert!(is_partial_name(
            OsStr::new(".x.u10.hiha-partial-abcdef"),
            &a
        ));
    }
}
