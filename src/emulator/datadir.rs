//! The emulator's data directory: creating it (mode 0700), the exclusive lock on
//! `emulator.lock`, a new directory's unique tenancy OCID (random), and the first-start
//! bootstrap files: the admin's private key
//! (`admin-key.pem`, mode 0600) and `oci-config` (profile `DEFAULT`, mode 0600), each
//! replaced atomically ([`crate::durable::replace`]) before the store commits the bootstrap
//! (see `store::seed`).
//!
//! Must not: print or log the private key; leave a half-written key or config behind.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use super::EmulatorError;
use super::store::{Bootstrap, HOME_REGION, InitOutcome, Store};
use crate::model::Ocid;
use crate::{durable, keygen, snapshot};

/// The database file.
pub const DB_FILE: &str = "emulator.db";
/// Mode of every database file (`emulator.db`, `-wal`, `-shm`): retry-token records hold
/// one-time passwords for replay.
pub const DB_FILE_MODE: u32 = 0o600;
/// The lock file.
pub const LOCK_FILE: &str = "emulator.lock";
/// The admin's private key.
pub const KEY_FILE: &str = "admin-key.pem";
/// The OCI config file.
pub const CONFIG_FILE: &str = "oci-config";

/// Creates `dir` if needed, resolves it to an absolute path and takes its lock.
pub fn prepare(dir: &Path) -> Result<(PathBuf, File), EmulatorError> {
    let err = |source| EmulatorError::DataDir {
        path: dir.to_path_buf(),
        source,
    };
    if !dir.exists() {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(err)?;
    }
    let dir = dir.canonicalize().map_err(err)?;
    let lock_path = dir.join(LOCK_FILE);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| EmulatorError::DataDir {
            path: lock_path.clone(),
            source,
        })?;
    match lock.try_lock() {
        Ok(()) => Ok((dir, lock)),
        Err(fs::TryLockError::WouldBlock) => Err(EmulatorError::Locked {
            dir,
            lock: lock_path,
        }),
        Err(fs::TryLockError::Error(source)) => Err(EmulatorError::DataDir {
            path: lock_path,
            source,
        }),
    }
}

/// Creates `DIR/emulator.db` empty with mode 0600 when it is missing, so SQLite opens a file
/// that was never readable by others (SQLite gives the `-wal` and `-shm` files it creates the
/// database file's mode), then sets every `emulator.db*` regular file in `dir` that has other
/// bits to 0600: a database from an older ociam, or a `-wal`/`-shm` left with another mode.
/// Called before the store opens the database and again once it is open (and its `-wal` and
/// `-shm` exist).
pub fn secure_database(dir: &Path) -> Result<(), EmulatorError> {
    let db = dir.join(DB_FILE);
    match durable::create_new(&db, b"", DB_FILE_MODE) {
        Ok(()) | Err(durable::DurableError::Exists { symlink: false, .. }) => {}
        Err(e) => {
            return Err(EmulatorError::DataDir {
                path: db,
                source: std::io::Error::other(e),
            });
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| EmulatorError::DataDir { path, source }
        };
        for entry in fs::read_dir(dir).map_err(err(dir))? {
            let entry = entry.map_err(err(dir))?;
            let path = entry.path();
            let is_db = entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(DB_FILE));
            // `file_type` does not follow symbolic links: only regular files are changed.
            if !is_db || !entry.file_type().map_err(err(&path))?.is_file() {
                continue;
            }
            let mode = entry.metadata().map_err(err(&path))?.permissions().mode();
            if mode & 0o777 != DB_FILE_MODE {
                fs::set_permissions(&path, fs::Permissions::from_mode(DB_FILE_MODE))
                    .map_err(err(&path))?;
            }
        }
    }
    Ok(())
}

/// On first start: reads the seed, generates the admin key and bootstraps the store, writing
/// the key and config files just before the store commits. Later starts change nothing.
pub fn initialize(store: &Store, dir: &Path, seed: Option<&Path>) -> Result<(), EmulatorError> {
    if store.is_initialized()? {
        if let Some(seed) = seed {
            tracing::warn!(
                seed = %seed.display(),
                "the data directory is already initialized; --seed is only read on first start"
            );
        }
        return Ok(());
    }
    let seed = seed
        .map(|path| {
            let text = fs::read_to_string(path).map_err(|source| EmulatorError::SeedRead {
                path: path.to_path_buf(),
                source,
            })?;
            let name = path.display().to_string();
            let seed = snapshot::parse(&text, &name)?;
            // Checked here too (the store checks again) so errors name the file.
            seed.to_state(&name)?;
            Ok::<_, EmulatorError>(seed)
        })
        .transpose()?;
    let key = keygen::generate_rsa_2048()?;
    let bootstrap = Bootstrap {
        admin_public_pem: key.public_spki_pem.clone(),
        tenancy_name: "ociam-emulator".to_owned(),
        tenancy_id: new_tenancy_id()?,
    };
    store.initialize(seed.as_ref(), &bootstrap, |outcome| {
        write_files(dir, outcome, &key.private_pkcs8_pem).map_err(|e| {
            format!(
                "cannot write {KEY_FILE} and {CONFIG_FILE} in {}: {e}",
                dir.display()
            )
        })
    })?;
    Ok(())
}

/// A fresh tenancy OCID, unique to this data directory: `ocid1.tenancy.oc1..emu` and 32
/// lowercase hex characters from the OS RNG (so two data directories never share a tenancy, nor
/// the apply journal named after it).
fn new_tenancy_id() -> Result<Ocid, EmulatorError> {
    let bytes =
        super::middleware::random_bytes::<16>().ok_or(EmulatorError::Random("a tenancy OCID"))?;
    Ok(Ocid::new(format!(
        "ocid1.tenancy.oc1..emu{}",
        crate::hex::lower(&bytes)
    )))
}

fn write_files(
    dir: &Path,
    outcome: &InitOutcome,
    private_pem: &str,
) -> Result<(), durable::DurableError> {
    let key_path = dir.join(KEY_FILE);
    let mut key_text = zeroize::Zeroizing::new(String::with_capacity(private_pem.len() + 16));
    key_text.push_str(private_pem);
    if !key_text.ends_with('\n') {
        key_text.push('\n');
    }
    // OCI's label convention; the OCI CLI warns about keys without it.
    key_text.push_str("OCI_API_KEY\n");
    durable::replace(&key_path, key_text.as_bytes(), 0o600)?;
    let config = format!(
        "[DEFAULT]\nuser={}\nfingerprint={}\nkey_file={}\ntenancy={}\nregion={HOME_REGION}\n",
        outcome.admin_user,
        outcome.admin_fingerprint,
        key_path.display(),
        outcome.tenancy
    );
    durable::replace(&dir.join(CONFIG_FILE), config.as_bytes(), 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn database_files_are_created_and_kept_0600() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let mode = |name: &str| {
            fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        secure_database(dir.path()).unwrap();
        assert_eq!(mode(DB_FILE), 0o600, "created 0600");
        assert_eq!(fs::read(dir.path().join(DB_FILE)).unwrap(), b"");
        // Loose files (an older ociam, another umask) are tightened; others are left alone.
        for name in [DB_FILE, "emulator.db-wal", "emulator.db-shm", "oci-config"] {
            let path = dir.path().join(name);
            fs::write(&path, b"x").unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        }
        secure_database(dir.path()).unwrap();
        for name in [DB_FILE, "emulator.db-wal", "emulator.db-shm"] {
            assert_eq!(mode(name), 0o600, "{name}");
        }
        assert_eq!(mode("oci-config"), 0o644, "not a database file");
        assert_eq!(
            fs::read(dir.path().join(DB_FILE)).unwrap(),
            b"x",
            "never truncated"
        );
    }

    #[test]
    fn fresh_tenancy_ids_are_ocid_shaped_lowercase_and_distinct() {
        let a = new_tenancy_id().unwrap();
        let b = new_tenancy_id().unwrap();
        assert_ne!(a, b);
        for id in [&a, &b] {
            let suffix = id
                .as_str()
                .strip_prefix("ocid1.tenancy.oc1..")
                .expect("tenancy OCID prefix");
            assert_eq!(suffix.len(), 35, "{id}");
            assert!(
                suffix
                    .bytes()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()),
                "{id}"
            );
        }
    }
}
