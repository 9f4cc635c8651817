//! Reading what the operator hands ociam: text files (manifests, snapshots, saved plans, key
//! files) as UTF-8, and a manifest together with the public-key files it names, which are read
//! relative to the manifest's directory and never from outside it.
//!
//! Shell: the file system. Parsing and checking belong to the core (`manifest`, `snapshot`,
//! `plan::saved`); this module only finds and reads the bytes, naming the file on failure.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::manifest::{self, KeyFiles, ManifestErrors};

/// Largest key file ociam reads (a PEM public key is well under 16 KiB).
const MAX_KEY_FILE: u64 = 64 * 1024;

/// Reads `path` as UTF-8 text; errors name `what` it is and the path.
///
/// # Errors
/// The file cannot be read or is not UTF-8.
pub fn read_text(path: &Path, what: &str) -> Result<String> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))?;
    String::from_utf8(bytes).with_context(|| format!("{what} {} is not UTF-8 text", path.display()))
}

/// Reads key files relative to the manifest's directory, refusing to leave it.
struct DirKeyFiles {
    root: PathBuf,
}

impl KeyFiles for DirKeyFiles {
    fn read(&self, relative: &str) -> Result<String, String> {
        let path = self.root.join(relative);
        let real = path.canonicalize().map_err(|e| e.to_string())?;
        if !real.starts_with(&self.root) {
            return Err("it resolves outside the manifest's directory (symlink?)".into());
        }
        let meta = fs::metadata(&real).map_err(|e| e.to_string())?;
        if !meta.is_file() {
            return Err("not a regular file".into());
        }
        if meta.len() > MAX_KEY_FILE {
            return Err(format!(
                "{} bytes is too large for a public key",
                meta.len()
            ));
        }
        let bytes = fs::read(&real).map_err(|e| e.to_string())?;
        String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())
    }
}

/// Reads and loads the manifest at `path` with the key files beside it. The outer error is an
/// unreadable file or directory; the inner one is every problem the manifest has.
///
/// # Errors
/// The manifest or its directory cannot be read.
pub fn load_manifest(path: &Path) -> Result<Result<manifest::Loaded, ManifestErrors>> {
    let source = read_text(path, "manifest")?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let root = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve the manifest's directory {}", dir.display()))?;
    let name = path.display().to_string();
    Ok(manifest::load(&source, &name, &DirKeyFiles { root }))
}
