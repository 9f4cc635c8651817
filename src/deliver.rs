//! Delivery of one-time console passwords into the secrets directory: sealed at once to the
//! user's age X25519 recipient (`<dir>/<user>.reset-<n>.age`, ASCII-armored) or, without
//! one, as a plain file (`<dir>/<user>.reset-<n>.txt`). Either file holds the password and a
//! newline.
//!
//! Shell: owns the filesystem side of a password reset. The directory is created 0700 when
//! missing; an existing one that is a symlink, not a directory, or group/world-writable is
//! refused. Every file is new (`O_CREAT|O_EXCL`, `O_NOFOLLOW`, mode 0600 from creation),
//! written, `fsync`ed, and its directory `fsync`ed ([`crate::durable::create_new`]) before
//! [`deliver`] returns, so "delivered" means "on disk". [`preflight`] runs the same checks
//! before the reset, so a reset is never issued into a delivery that is bound to fail. The
//! recipient is parsed by the core [`recipient`] module, which the manifest loader also uses.
//!
//! Must not: print or log anything; put a password byte in an error, a `Debug` or a return
//! value; overwrite or follow an existing file; write a file before encryption succeeded.
//! Trusted, as ssh trusts `~`: the directory's *parent* (whoever may rename entries there can
//! swap the directory between the check and the create).

use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use age::x25519;
use secrecy::{ExposeSecret as _, SecretString};
use zeroize::Zeroizing;

use crate::durable::{self, DurableError};
use crate::model::UserName;
use crate::recipient;

/// Where a one-time password went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    /// The new file.
    pub path: PathBuf,
    /// Whether it is sealed with age (`.age`) rather than plain text (`.txt`).
    pub sealed: bool,
}

/// Why a one-time password could not be delivered. Never holds a password byte.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// `deliver_to` is not an age X25519 recipient.
    #[error("user {user}: console_password.deliver_to {reason}")]
    Recipient {
        /// Whose recipient it is.
        user: UserName,
        /// What is wrong (names the recipient, which is public).
        reason: String,
    },
    /// The secrets directory is a symbolic link.
    #[error(
        "the secrets directory {} is a symbolic link; ociam writes one-time passwords only into a real directory it can vouch for: pass that directory itself",
        .path.display()
    )]
    DirIsSymlink {
        /// The directory as given.
        path: PathBuf,
    },
    /// The secrets directory exists and is not a directory.
    #[error("the secrets directory {} exists and is not a directory", .path.display())]
    NotADirectory {
        /// The path as given.
        path: PathBuf,
    },
    /// Others may create, rename or delete entries in the secrets directory.
    #[error(
        "the secrets directory {} is writable by its group or by others (mode {mode:04o}), so they could swap or plant the password files; run `chmod 700 {}` or pick another directory",
        .path.display(), .path.display()
    )]
    DirTooOpen {
        /// The directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A file (or a symbolic link) already has the name the password would get.
    #[error(
        "{} already exists{}; ociam never overwrites or follows a file here: if that is a password from an earlier apply whose reset tag was not recorded, hand it over (or discard it) and move the file away, then apply again",
        .path.display(), if *.symlink { " as a symbolic link" } else { "" }
    )]
    Exists {
        /// The path.
        path: PathBuf,
        /// Whether the existing entry is a symbolic link.
        symlink: bool,
    },
    /// age could not encrypt (no file was written).
    #[error("cannot seal the one-time password of user {user} with age: {reason}")]
    Seal {
        /// Whose password.
        user: UserName,
        /// age's message (it never contains the plaintext).
        reason: String,
    },
    /// A filesystem call failed.
    #[error("cannot {action} {}: {error}", .path.display())]
    Io {
        /// What was being done (`create the secrets directory`, `write`, …).
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        error: io::Error,
    },
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> DeliverError + use<> {
    let path = path.to_owned();
    move |error| DeliverError::Io {
        action,
        path,
        error,
    }
}

fn recipient_for(
    user: &UserName,
    recipient: Option<&str>,
) -> Result<Option<x25519::Recipient>, DeliverError> {
    recipient
        .map(|r| {
            recipient::parse(r).map_err(|reason| DeliverError::Recipient {
                user: user.clone(),
                reason,
            })
        })
        .transpose()
}

/// The file a password of `user`'s reset `reset` goes to: `<user>.reset-<n>.age` or `.txt`,
/// with any character outside `[A-Za-z0-9-_.@+]` replaced by `_`.
#[must_use]
pub fn file_name(user: &UserName, reset: u32, sealed: bool) -> String {
    let safe: String = user
        .as_str()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.@+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let ext = if sealed { "age" } else { "txt" };
    format!("{safe}.reset-{reset}.{ext}")
}

/// Checks, before the password is reset, that [`deliver`] can succeed: the recipient parses,
/// the directory is usable (and is created 0700 when missing), and the file does not exist.
/// Returns the path the password will go to.
///
/// # Errors
/// As [`deliver`].
pub fn preflight(
    dir: &Path,
    user: &UserName,
    reset: u32,
    recipient: Option<&str>,
) -> Result<PathBuf, DeliverError> {
    let sealed = recipient_for(user, recipient)?.is_some();
    drop(open_dir(dir)?);
    let path = dir.join(file_name(user, reset, sealed));
    match fs::symlink_metadata(&path) {
        Ok(meta) => Err(DeliverError::Exists {
            symlink: meta.file_type().is_symlink(),
            path,
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(path),
        Err(e) => Err(io_error("inspect", &path)(e)),
    }
}

/// The file an earlier, interrupted delivery of this reset already wrote, if any: for an
/// apply that re-sends a reset with its recorded retry token, so the service replays the same
/// password and the file on disk already holds it. Runs the directory checks; a symlink at
/// the path is refused, never reported as delivered.
///
/// # Errors
/// As [`preflight`], except that an existing regular file is `Ok(Some(_))`.
pub fn existing(
    dir: &Path,
    user: &UserName,
    reset: u32,
    recipient: Option<&str>,
) -> Result<Option<Delivered>, DeliverError> {
    let sealed = recipient_for(user, recipient)?.is_some();
    match preflight(dir, user, reset, recipient) {
        Ok(_) => Ok(None),
        Err(DeliverError::Exists {
            path,
            symlink: false,
        }) => Ok(Some(Delivered { path, sealed })),
        Err(e) => Err(e),
    }
}

/// Delivers `user`'s one-time password of reset `reset`: sealed with age to `recipient`
/// (`<dir>/<user>.reset-<n>.age`, armored) when one is given, else in plain text
/// (`<dir>/<user>.reset-<n>.txt`). The file is new, 0600, synced, and its directory synced,
/// before this returns.
///
/// # Errors
/// A malformed recipient (naming the user), an unusable directory, an existing file or
/// symlink at the path, or an I/O failure. No file is left behind on error.
pub fn deliver(
    dir: &Path,
    user: &UserName,
    reset: u32,
    recipient: Option<&str>,
    password: &SecretString,
) -> Result<Delivered, DeliverError> {
    let recipient = recipient_for(user, recipient)?;
    let sealed = recipient.is_some();
    // Encrypt before touching the disk: a failure leaves no file behind.
    let contents = match &recipient {
        Some(r) => seal(r, password).map_err(|e| DeliverError::Seal {
            user: user.clone(),
            reason: e.to_string(),
        })?,
        None => {
            let secret = password.expose_secret().as_bytes();
            // Sized up front, so no reallocation leaves an unzeroized copy behind.
            let mut plain = Zeroizing::new(Vec::with_capacity(secret.len() + 1));
            plain.extend_from_slice(secret);
            plain.push(b'\n');
            plain
        }
    };
    // Checked (and held open) while the file is created in it.
    let _dir_handle = open_dir(dir)?;
    let path = dir.join(file_name(user, reset, sealed));
    // A delivery killed before its file got its name left a temporary copy of this same
    // password (the reset is re-sent with its retry token, so the service replays it): keep
    // one copy only.
    durable::remove_leftovers(&path).map_err(from_durable)?;
    write_new(&path, &contents)?;
    Ok(Delivered { path, sealed })
}

/// The armored age file of `password` and a newline, sealed to `recipient`.
fn seal(
    recipient: &x25519::Recipient,
    password: &SecretString,
) -> Result<Zeroizing<Vec<u8>>, age::EncryptError> {
    use age::armor::{ArmoredWriter, Format};
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))?;
    let mut out = Zeroizing::new(Vec::new());
    let armored = ArmoredWriter::wrap_output(&mut *out, Format::AsciiArmor)?;
    let mut writer = encryptor.wrap_output(armored)?;
    writer.write_all(password.expose_secret().as_bytes())?;
    writer.write_all(b"\n")?;
    writer.finish()?.finish()?;
    Ok(out)
}

/// Creates `dir` (0700, with any missing parents) if it is missing, refuses it if it is a
/// symlink, not a directory, or group/world-writable, and returns the handle it checked.
fn open_dir(dir: &Path) -> Result<fs::File, DeliverError> {
    match fs::symlink_metadata(dir) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_error("create the secrets directory", dir))?,
        Err(e) => return Err(io_error("inspect the secrets directory", dir)(e)),
    }
    let opened = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dir);
    let handle = match opened {
        Ok(handle) => handle,
        Err(e) => {
            // Say why in words: ELOOP (symlink) and ENOTDIR are opaque as OS errors.
            let meta = fs::symlink_metadata(dir);
            return Err(match meta {
                Ok(m) if m.file_type().is_symlink() => DeliverError::DirIsSymlink {
                    path: dir.to_owned(),
                },
                Ok(m) if !m.is_dir() => DeliverError::NotADirectory {
                    path: dir.to_owned(),
                },
                _ => io_error("open the secrets directory", dir)(e),
            });
        }
    };
    // Checked on the opened handle (not by path again), so no swap slips in between.
    let meta = handle
        .metadata()
        .map_err(io_error("inspect the secrets directory", dir))?;
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(DeliverError::DirTooOpen {
            path: dir.to_owned(),
            mode,
        });
    }
    Ok(handle)
}

/// Creates `path` (which must not exist, and is never followed) with mode 0600, writes
/// `contents` and syncs it and its directory ([`durable::create_new`]); removes it again if
/// writing fails.
fn write_new(path: &Path, contents: &[u8]) -> Result<(), DeliverError> {
    durable::create_new(path, contents, 0o600).map_err(from_durable)
}

fn from_durable(e: DurableError) -> DeliverError {
    match e {
        DurableError::Exists { path, symlink } => DeliverError::Exists { path, symlink },
        DurableError::Io {
            action,
            path,
            error,
        } => DeliverError::Io {
            action,
            path,
            error,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    const PASSWORD: &str = "Canary-0ne-Time-Pa55word!";

    fn secret() -> SecretString {
        SecretString::from(PASSWORD.to_owned())
    }

    fn alice() -> UserName {
        UserName::new("alice")
    }

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn no_password(e: &DeliverError) {
        assert!(!e.to_string().contains(PASSWORD), "{e}");
        assert!(!format!("{e:?}").contains(PASSWORD), "{e:?}");
    }

    #[test]
    fn sealed_round_trip_is_armored_0600_in_a_new_0700_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state/secrets");
        let identity = x25519::Identity::generate();
        let recipient = identity.to_public().to_string();
        let got = deliver(&dir, &alice(), 3, Some(&recipient), &secret()).unwrap();
        assert_eq!(got.path, dir.join("alice.reset-3.age"));
        assert!(got.sealed);
        assert!(!format!("{got:?}").contains(PASSWORD));
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&tmp.path().join("state")), 0o700);
        assert_eq!(mode(&got.path), 0o600);
        let bytes = fs::read(&got.path).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"),
            "{text}"
        );
        assert!(!text.contains(PASSWORD));
        let plain = age::decrypt(&identity, &bytes).unwrap();
        assert_eq!(plain, format!("{PASSWORD}\n").into_bytes());
        // A different identity cannot open it.
        assert!(age::decrypt(&x25519::Identity::generate(), &bytes).is_err());
    }

    #[test]
    fn plain_file_is_0600_with_the_password_and_a_newline() {
        let tmp = tempfile::tempdir().unwrap();
        let got = deliver(tmp.path(), &alice(), 1, None, &secret()).unwrap();
        assert_eq!(got.path, tmp.path().join("alice.reset-1.txt"));
        assert!(!got.sealed);
        assert_eq!(mode(&got.path), 0o600);
        assert_eq!(
            fs::read_to_string(&got.path).unwrap(),
            format!("{PASSWORD}\n")
        );
    }

    #[test]
    fn a_redelivery_after_a_kill_removes_the_killed_delivery_s_temporary_copy() {
        let tmp = tempfile::tempdir().unwrap();
        let leftover = tmp
            .path()
            .join(".alice.reset-1.txt.77.0123456789abcdef.tmp");
        fs::write(&leftover, format!("{PASSWORD}\n")).unwrap();
        let got = deliver(tmp.path(), &alice(), 1, None, &secret()).unwrap();
        let names: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            [got.path.file_name().unwrap().to_owned()],
            "one copy"
        );
    }

    #[test]
    fn refuses_to_overwrite_and_preflight_sees_it_first() {
        let tmp = tempfile::tempdir().unwrap();
        let first = deliver(tmp.path(), &alice(), 1, None, &secret()).unwrap();
        let before = fs::read(&first.path).unwrap();
        let pre = preflight(tmp.path(), &alice(), 1, None).unwrap_err();
        assert!(
            matches!(pre, DeliverError::Exists { symlink: false, .. }),
            "{pre}"
        );
        let e = deliver(
            tmp.path(),
            &alice(),
            1,
            None,
            &SecretString::from("other".to_owned()),
        )
        .unwrap_err();
        assert!(
            matches!(e, DeliverError::Exists { symlink: false, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("alice.reset-1.txt"), "{e}");
        no_password(&e);
        assert_eq!(fs::read(&first.path).unwrap(), before, "left untouched");
        // Another reset number is another file.
        assert_eq!(
            preflight(tmp.path(), &alice(), 2, None).unwrap(),
            tmp.path().join("alice.reset-2.txt")
        );
    }

    #[test]
    fn existing_finds_an_earlier_delivery_but_never_a_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let r = x25519::Identity::generate().to_public().to_string();
        assert_eq!(existing(tmp.path(), &alice(), 1, Some(&r)).unwrap(), None);
        let first = deliver(tmp.path(), &alice(), 1, Some(&r), &secret()).unwrap();
        assert_eq!(
            existing(tmp.path(), &alice(), 1, Some(&r)).unwrap(),
            Some(first)
        );
        std::os::unix::fs::symlink(tmp.path().join("x"), tmp.path().join("alice.reset-2.txt"))
            .unwrap();
        assert!(matches!(
            existing(tmp.path(), &alice(), 2, None),
            Err(DeliverError::Exists { symlink: true, .. })
        ));
    }

    #[test]
    fn refuses_a_planted_symlink_and_never_writes_through_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("secrets");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        let target = tmp.path().join("elsewhere");
        for (name, sealed) in [("alice.reset-1.txt", None), ("alice.reset-1.age", Some(()))] {
            std::os::unix::fs::symlink(&target, dir.join(name)).unwrap();
            let recipient = sealed.map(|()| x25519::Identity::generate().to_public().to_string());
            let e = deliver(&dir, &alice(), 1, recipient.as_deref(), &secret()).unwrap_err();
            assert!(
                matches!(e, DeliverError::Exists { symlink: true, .. }),
                "{e}"
            );
            assert!(e.to_string().contains("symbolic link"), "{e}");
            no_password(&e);
            assert!(!target.exists(), "nothing was written through the link");
            let pre = preflight(&dir, &alice(), 1, recipient.as_deref()).unwrap_err();
            assert!(
                matches!(pre, DeliverError::Exists { symlink: true, .. }),
                "{pre}"
            );
        }
    }

    #[test]
    fn refuses_a_symlinked_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        fs::create_dir(&real).unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o700)).unwrap();
        let link = tmp.path().join("secrets");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let e = deliver(&link, &alice(), 1, None, &secret()).unwrap_err();
        assert!(matches!(e, DeliverError::DirIsSymlink { .. }), "{e}");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        no_password(&e);
        assert!(matches!(
            preflight(&link, &alice(), 1, None),
            Err(DeliverError::DirIsSymlink { .. })
        ));
        assert_eq!(fs::read_dir(&real).unwrap().count(), 0);
    }

    #[test]
    fn refuses_a_group_or_world_writable_directory() {
        let tmp = tempfile::tempdir().unwrap();
        for bits in [0o777, 0o1777, 0o770, 0o702] {
            let dir = tmp.path().join(format!("open-{bits:o}"));
            fs::create_dir(&dir).unwrap();
            fs::set_permissions(&dir, fs::Permissions::from_mode(bits)).unwrap();
            let e = deliver(&dir, &alice(), 1, None, &secret()).unwrap_err();
            assert!(matches!(e, DeliverError::DirTooOpen { .. }), "{e}");
            let text = e.to_string();
            assert!(
                text.contains("writable by its group or by others"),
                "{text}"
            );
            assert!(text.contains("chmod 700"), "{text}");
            no_password(&e);
            assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        }
        // Readable by others but not writable is accepted (the file itself is 0600).
        let dir = tmp.path().join("readable");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        deliver(&dir, &alice(), 1, None, &secret()).unwrap();
    }

    #[test]
    fn refuses_a_file_where_the_directory_should_be() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("secrets");
        fs::write(&file, "x").unwrap();
        let e = deliver(&file, &alice(), 1, None, &secret()).unwrap_err();
        assert!(matches!(e, DeliverError::NotADirectory { .. }), "{e}");
    }

    #[test]
    fn bad_recipient_names_the_user_shows_no_password_and_writes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("secrets");
        // A real recipient with its last character changed fails the Bech32 checksum.
        let real = x25519::Identity::generate().to_public().to_string();
        let flipped = format!(
            "{}{}",
            &real[..real.len() - 1],
            if real.ends_with('q') { 'p' } else { 'q' }
        );
        for bad in [
            "age1notarecipient",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk",
            "",
            flipped.as_str(),
        ] {
            let e = deliver(&dir, &alice(), 1, Some(bad), &secret()).unwrap_err();
            assert!(matches!(e, DeliverError::Recipient { .. }), "{bad}: {e}");
            let text = e.to_string();
            assert!(text.contains("user alice"), "{text}");
            assert!(text.contains(&format!("`{bad}`")), "{text}");
            no_password(&e);
            assert!(recipient::check(bad).is_err());
            assert!(matches!(
                preflight(&dir, &alice(), 1, Some(bad)),
                Err(DeliverError::Recipient { .. })
            ));
        }
        assert!(!dir.exists(), "a bad recipient creates nothing");
    }

    #[test]
    fn odd_user_names_stay_inside_the_directory() {
        assert_eq!(
            file_name(&UserName::new("../etc/x y"), 2, true),
            ".._etc_x_y.reset-2.age"
        );
        assert_eq!(
            file_name(&UserName::new("ana.b+ci@example.com"), 1, false),
            "ana.b+ci@example.com.reset-1.txt"
        );
    }
}
