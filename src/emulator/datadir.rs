//! The emulator's data directory: creating it (mode 0700), the exclusive lock on
//! `emulator.lock`, and the first-start bootstrap files: the admin's private key
//! (`admin-key.pem`, mode 0600) and `oci-config` (profile `DEFAULT`, mode 0600), each
//! replaced atomically ([`crate::durable::replace`]) before the store commits the bootstrap
//! (see `store::seed`).
//!
//! Must not: print or log the private key; leave a half-written key or config behind.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use super::EmulatorError;
use super::store::{Bootstrap, HOME_REGION, InitOutcome, Store};
use crate::{durable, keygen, snapshot};

/// The database file.
pub const DB_FILE: &str = "emulator.db";
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
