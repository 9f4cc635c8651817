//! The operator's files. Reading: text files (manifests, snapshots, saved plans, key files) as
//! UTF-8, and a manifest together with the public-key files it names, read relative to the
//! manifest's directory and never from outside it. Writing, through [`crate::durable`]: `--out`
//! reports (plans, snapshots, drift reports), replaced atomically, and what `import` creates,
//! which must all be new.
//!
//! Shell: the file system. Parsing and checking belong to the core (`manifest`, `snapshot`,
//! `plan::saved`); this module only moves bytes, naming the file on failure.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::durable;
use crate::manifest::{self, KeyFiles, ManifestErrors, export::Exported};

/// Mode of plans, snapshots and drift reports, replaced atomically: what `File::create` gives
/// (the umask lowers it).
const REPORT_FILE_MODE: u32 = 0o666;
/// Mode of the files import creates, which must be new: only public keys and the manifest (the
/// umask may lower it).
const PUBLIC_FILE_MODE: u32 = 0o644;

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

/// Writes a report (`what`: "the plan", "the snapshot", …) to `path`, replacing it atomically.
///
/// # Errors
/// The file cannot be written.
pub fn write_report(path: &Path, bytes: &[u8], what: &str) -> Result<()> {
    durable::replace(path, bytes, REPORT_FILE_MODE)
        .with_context(|| format!("cannot write {what} to {}", path.display()))
}

/// Writes an imported manifest and its key files into `dir` (keys under `dir/keys/`), each as
/// a new file; returns the manifest's path. Refuses a directory that already holds a manifest.
///
/// # Errors
/// `dir/manifest.yaml` exists, or a file cannot be created (an existing key file included).
pub fn write_import(dir: &Path, exported: &Exported) -> Result<PathBuf> {
    let manifest_path = dir.join("manifest.yaml");
    if manifest_path.exists() {
        bail!(
            "{} already exists; import writes only into a directory without a manifest",
            manifest_path.display()
        );
    }
    fs::create_dir_all(dir.join("keys"))
        .with_context(|| format!("cannot create {}", dir.join("keys").display()))?;
    for (relative, pem) in &exported.key_files {
        let path = dir.join(relative);
        durable::create_new(&path, pem.as_bytes(), PUBLIC_FILE_MODE)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    durable::create_new(
        &manifest_path,
        exported.manifest.as_bytes(),
        PUBLIC_FILE_MODE,
    )
    .with_context(|| format!("cannot write {}", manifest_path.display()))?;
    Ok(manifest_path)
}
