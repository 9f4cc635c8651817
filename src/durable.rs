//! Durable files: the one implementation of writing a file to disk, used by every writer
//! (cli's plans, snapshots, drift reports, import output and demo seed; deliver's password
//! files; the emulator's key and config; the apply journal).
//!
//! - [`create_new`]: a file that must not exist yet (an existing file or symbolic link is
//!   refused, never followed), appearing with its whole content or not at all: written to a
//!   temporary file, `fsync`ed, hard-linked to its name (`link` refuses an existing name), the
//!   temporary name removed and the directory `fsync`ed.
//! - [`replace`]: atomic replacement: a temporary file with an unpredictable name in the same
//!   directory (created like [`create_new`]), written, `fsync`ed, renamed over the target (a
//!   symbolic link there is replaced, not followed), and the directory `fsync`ed. Readers see
//!   the old content or the new, never a mix; on failure the old content stays and the
//!   temporary file is removed.
//! - [`remove_leftovers`]: removes the temporary files a killed write of a path left.
//! - [`open_append`]: opens a file for reading and appending, creating it (as [`create_new`])
//!   with its directory `fsync`ed when it is missing.
//!
//! Modes are given by the caller and applied at creation (a stricter umask lowers them).
//!
//! Shell: the file system. Must not: overwrite in place, follow a symbolic link it creates
//! through, or put file contents in an error.

use std::fs;
use std::hash::{BuildHasher as _, Hasher as _};
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a file could not be written. Names the path and the operation; never holds content.
#[derive(Debug, thiserror::Error)]
pub enum DurableError {
    /// A file (or a symbolic link) already has the name of a file that must be new.
    #[error(
        "{} already exists{}",
        .path.display(), if *.symlink { " as a symbolic link" } else { "" }
    )]
    Exists {
        /// The path.
        path: PathBuf,
        /// Whether the existing entry is a symbolic link.
        symlink: bool,
    },
    /// A filesystem call failed.
    #[error("cannot {action} {}: {error}", .path.display())]
    Io {
        /// What was being done (`create`, `write`, `sync`, `sync the directory`, …).
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        error: io::Error,
    },
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> DurableError + use<> {
    let path = path.to_owned();
    move |error| DurableError::Io {
        action,
        path,
        error,
    }
}

/// Creates `path`, which must not exist (an existing file or symbolic link is refused and
/// never followed), with permission bits `mode` and content `bytes`, all at once: the bytes go
/// to a temporary file beside it (as [`replace`] makes one), which is synced and then
/// hard-linked to `path` (`link` refuses an existing name, a symbolic link included, and never
/// follows one) before the temporary name is removed and the directory synced. So `path`
/// appears with its whole content or not at all: a process killed mid-write leaves no empty or
/// partial file (a password file that exists is a delivered password).
///
/// # Errors
/// [`DurableError::Exists`] when something has the name already; [`DurableError::Io`]
/// otherwise. On error `path` is untouched and no temporary file remains.
pub fn create_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), DurableError> {
    let dir = parent(path);
    // Errors name the file asked for, not the temporary one.
    let named = |e: DurableError| match e {
        DurableError::Io { action, error, .. } => DurableError::Io {
            action,
            path: path.to_owned(),
            error,
        },
        exists @ DurableError::Exists { .. } => exists,
    };
    let (tmp, file) = open_temp(path, mode).map_err(named)?;
    write_and_sync(file, &tmp, bytes).map_err(named)?;
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => sync_dir(dir),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let symlink = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
            Err(DurableError::Exists {
                path: path.to_owned(),
                symlink,
            })
        }
        Err(e) => Err(io_error("create", path)(e)),
    }
}

/// Removes the temporary files a killed [`create_new`] or [`replace`] of `path` left beside it
/// (`.<name>.<pid>.<random>.tmp`; regular files only, a symbolic link of that shape is left
/// alone), so a write that is redone leaves one copy, not two. Returns how many it removed.
///
/// # Errors
/// [`DurableError::Io`] when the directory cannot be read or a leftover removed.
pub fn remove_leftovers(path: &Path) -> Result<usize, DurableError> {
    let dir = parent(path);
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Ok(0);
    };
    let prefix = format!(".{name}.");
    let mut removed = 0;
    for entry in fs::read_dir(dir).map_err(io_error("read the directory", dir))? {
        let entry = entry.map_err(io_error("read the directory", dir))?;
        let file = entry.file_name().to_string_lossy().into_owned();
        let regular = entry.file_type().is_ok_and(|t| t.is_file());
        if regular && file.starts_with(&prefix) && file.ends_with(".tmp") {
            fs::remove_file(entry.path()).map_err(io_error("remove", &entry.path()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Replaces `path` atomically with `bytes`: writes a new temporary file (permission bits
/// `mode`, an unpredictable name beside `path`, created as [`create_new`] does), syncs it,
/// renames it over `path` and syncs the directory. A symbolic link at `path` is replaced,
/// not followed. On failure `path` keeps its old content and no temporary file remains.
///
/// # Errors
/// [`DurableError::Io`] naming the failed operation and its path.
pub fn replace(path: &Path, bytes: &[u8], mode: u32) -> Result<(), DurableError> {
    let dir = parent(path);
    let (tmp, file) = open_temp(path, mode)?;
    write_and_sync(file, &tmp, bytes)?;
    if let Err(error) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(DurableError::Io {
            action: "rename a temporary file over",
            path: path.to_owned(),
            error,
        });
    }
    sync_dir(dir)
}

/// Opens `path` for reading and appending. When it is missing it is created as
/// [`create_new`] does (permission bits `mode`, never through a symbolic link), and the file
/// and its directory are synced so the new entry survives a crash.
///
/// # Errors
/// [`DurableError::Io`] naming the failed operation and its path.
pub fn open_append(path: &Path, mode: u32) -> Result<fs::File, DurableError> {
    // Two rounds: the file may be removed between a refused create and the open.
    for _ in 0..2 {
        match open_new(path, mode, true) {
            Ok(file) => {
                file.sync_all().map_err(io_error("sync", path))?;
                sync_dir(parent(path))?;
                return Ok(file);
            }
            Err(DurableError::Exists { .. }) => {}
            Err(e) => return Err(e),
        }
        match fs::OpenOptions::new().read(true).append(true).open(path) {
            Ok(file) => return Ok(file),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error("open", path)(e)),
        }
    }
    Err(DurableError::Io {
        action: "open",
        path: path.to_owned(),
        error: io::Error::from(io::ErrorKind::NotFound),
    })
}

/// The directory `path` is in (`.` for a bare file name).
fn parent(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// `O_CREAT|O_EXCL|O_NOFOLLOW` with `mode`, for writing (or reading and appending).
fn open_new(path: &Path, mode: u32, append: bool) -> Result<fs::File, DurableError> {
    let mut options = fs::OpenOptions::new();
    if append {
        options.read(true).append(true);
    } else {
        options.write(true);
    }
    let opened = options
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path);
    match opened {
        Ok(file) => Ok(file),
        Err(e)
            if e.kind() == io::ErrorKind::AlreadyExists
                || e.raw_os_error() == Some(libc::ELOOP) =>
        {
            let symlink = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
            Err(DurableError::Exists {
                path: path.to_owned(),
                symlink,
            })
        }
        Err(e) => Err(io_error("create", path)(e)),
    }
}

/// A new temporary file beside `path`: `.<name>.<pid>.<random>.tmp`, where the random part
/// comes from a keyed hash (std's randomly seeded `RandomState`) of a process-wide counter,
/// so other users cannot predict it; created with `O_EXCL|O_NOFOLLOW`, retried on a clash.
fn open_temp(path: &Path, mode: u32) -> Result<(PathBuf, fs::File), DurableError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let dir = parent(path);
    let mut last = None;
    for _ in 0..16 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        hasher.write_u32(std::process::id());
        let tmp = dir.join(format!(
            ".{name}.{}.{:016x}.tmp",
            std::process::id(),
            hasher.finish()
        ));
        match open_new(&tmp, mode, false) {
            Ok(file) => return Ok((tmp, file)),
            Err(e @ DurableError::Exists { .. }) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| DurableError::Exists {
        path: dir.to_owned(),
        symlink: false,
    }))
}

/// Writes `bytes` into the new file at `path` and syncs it; removes the file on failure.
fn write_and_sync(mut file: fs::File, path: &Path, bytes: &[u8]) -> Result<(), DurableError> {
    let written = file
        .write_all(bytes)
        .map_err(io_error("write", path))
        .and_then(|()| file.sync_all().map_err(io_error("sync", path)));
    if written.is_err() {
        drop(file);
        let _ = fs::remove_file(path);
    }
    written
}

/// Syncs the directory `dir`, so a created or renamed entry in it survives a crash.
fn sync_dir(dir: &Path) -> Result<(), DurableError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("sync the directory", dir))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn create_new_writes_with_the_given_mode() {
        let tmp = tempfile::tempdir().unwrap();
        // Owner-only bits, which no usual umask lowers.
        for (name, bits) in [("read-only", 0o400), ("secret", 0o600)] {
            let path = tmp.path().join(name);
            create_new(&path, b"contents\n", bits).unwrap();
            assert_eq!(fs::read(&path).unwrap(), b"contents\n");
            assert_eq!(mode(&path), bits, "{name}");
        }
        assert_eq!(
            entries(tmp.path()),
            ["read-only", "secret"],
            "no stray files"
        );
    }

    #[test]
    fn create_new_refuses_an_existing_file_and_leaves_it_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        fs::write(&path, "old").unwrap();
        let e = create_new(&path, b"CANARY-CONTENT", 0o600).unwrap_err();
        assert!(
            matches!(&e, DurableError::Exists { symlink: false, path: p } if *p == path),
            "{e}"
        );
        assert!(e.to_string().contains("already exists"), "{e}");
        assert!(
            !format!("{e} {e:?}").contains("CANARY"),
            "no contents in the error: {e}"
        );
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(entries(tmp.path()), ["f"], "no temporary file is left");
    }

    #[test]
    fn leftovers_of_a_killed_write_are_removed_and_nothing_else() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("alice.reset-1.txt");
        let leftover = tmp
            .path()
            .join(".alice.reset-1.txt.4242.00ff00ff00ff00ff.tmp");
        fs::write(&leftover, "interrupted").unwrap();
        fs::write(
            tmp.path()
                .join(".bob.reset-1.txt.4242.0000000000000001.tmp"),
            "b",
        )
        .unwrap();
        fs::write(tmp.path().join("alice.reset-2.txt"), "other").unwrap();
        std::os::unix::fs::symlink(
            tmp.path().join("elsewhere"),
            tmp.path().join(".alice.reset-1.txt.1.2.tmp"),
        )
        .unwrap();
        assert_eq!(remove_leftovers(&path).unwrap(), 1);
        assert_eq!(
            entries(tmp.path()),
            [
                ".alice.reset-1.txt.1.2.tmp",
                ".bob.reset-1.txt.4242.0000000000000001.tmp",
                "alice.reset-2.txt"
            ]
        );
        create_new(&path, b"pw\n", 0o600).unwrap();
        assert_eq!(remove_leftovers(&path).unwrap(), 0);
    }

    #[test]
    fn create_new_refuses_a_symlink_and_never_writes_through_it() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("elsewhere");
        let dangling = tmp.path().join("dangling");
        std::os::unix::fs::symlink(&target, &dangling).unwrap();
        let e = create_new(&dangling, b"x", 0o600).unwrap_err();
        assert!(
            matches!(e, DurableError::Exists { symlink: true, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(!target.exists(), "nothing was created through the link");

        fs::write(&target, "kept").unwrap();
        let live = tmp.path().join("live");
        std::os::unix::fs::symlink(&target, &live).unwrap();
        let e = create_new(&live, b"x", 0o600).unwrap_err();
        assert!(
            matches!(e, DurableError::Exists { symlink: true, .. }),
            "{e}"
        );
        assert_eq!(fs::read(&target).unwrap(), b"kept");
    }

    #[test]
    fn replace_swaps_the_content_and_leaves_no_temporary_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("plan.json");
        replace(&path, b"first", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"first");
        assert_eq!(mode(&path), 0o600);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        replace(&path, b"second", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_eq!(mode(&path), 0o600, "the new file's mode, not the old one's");
        assert_eq!(entries(tmp.path()), ["plan.json"]);
    }

    #[test]
    fn replace_replaces_a_symlink_instead_of_following_it() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("elsewhere");
        fs::write(&target, "kept").unwrap();
        let path = tmp.path().join("out");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        replace(&path, b"new", 0o644).unwrap();
        assert!(
            !fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(fs::read(&target).unwrap(), b"kept");
    }

    #[test]
    fn replace_that_cannot_rename_keeps_the_old_content_and_no_temporary_file() {
        let tmp = tempfile::tempdir().unwrap();
        // A non-empty directory at the target: the rename fails after the temp was written.
        let path = tmp.path().join("busy");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("inside"), "old").unwrap();
        let e = replace(&path, b"new", 0o600).unwrap_err();
        assert!(
            matches!(&e, DurableError::Io { action, path: p, .. }
                if *action == "rename a temporary file over" && *p == path),
            "{e}"
        );
        assert!(e.to_string().contains("busy"), "{e}");
        assert_eq!(fs::read(path.join("inside")).unwrap(), b"old");
        assert_eq!(entries(tmp.path()), ["busy"], "the temporary file is gone");
    }

    #[test]
    fn a_missing_directory_names_the_path_and_the_operation() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("missing/f");
        let e = create_new(&path, b"x", 0o600).unwrap_err();
        assert!(
            matches!(&e, DurableError::Io { action: "create", path: p, error }
                if *p == path && error.kind() == io::ErrorKind::NotFound),
            "{e}"
        );
        assert!(e.to_string().starts_with("cannot create "), "{e}");
        let e = replace(&path, b"x", 0o600).unwrap_err();
        assert!(
            matches!(
                e,
                DurableError::Io {
                    action: "create",
                    ..
                }
            ),
            "{e}"
        );
        let e = sync_dir(&tmp.path().join("missing")).unwrap_err();
        assert!(
            matches!(
                e,
                DurableError::Io {
                    action: "sync the directory",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn a_bare_file_name_lives_in_the_current_directory() {
        assert_eq!(parent(Path::new("plan.json")), Path::new("."));
        assert_eq!(parent(Path::new("a/plan.json")), Path::new("a"));
        sync_dir(parent(Path::new("plan.json"))).unwrap();
    }

    #[test]
    fn temporary_names_differ_and_stay_beside_the_target() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x.json");
        let (a, _fa) = open_temp(&path, 0o600).unwrap();
        let (b, _fb) = open_temp(&path, 0o600).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.parent(), Some(tmp.path()));
        let name = a.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(".x.json."), "{name}");
        assert!(name.ends_with(".tmp"), "{name}");
    }

    #[test]
    fn open_append_creates_once_then_appends() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("journal.jsonl");
        let mut f = open_append(&path, 0o600).unwrap();
        assert_eq!(mode(&path), 0o600);
        f.write_all(b"one\n").unwrap();
        drop(f);
        let mut f = open_append(&path, 0o644).unwrap();
        let mut text = String::new();
        io::Read::read_to_string(&mut f, &mut text).unwrap();
        assert_eq!(text, "one\n", "an existing file is opened, not truncated");
        f.write_all(b"two\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one\ntwo\n");
        assert_eq!(mode(&path), 0o600, "an existing file keeps its mode");
    }

    #[test]
    fn open_append_never_creates_through_a_dangling_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("elsewhere");
        let path = tmp.path().join("journal.jsonl");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let e = open_append(&path, 0o600).unwrap_err();
        assert!(matches!(e, DurableError::Io { action: "open", .. }), "{e}");
        assert!(!target.exists());
    }
}
