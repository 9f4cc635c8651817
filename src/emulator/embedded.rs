//! The embedded emulator (`--emulator [DIR]` on `plan`, `apply`, `drift`, `import`,
//! `snapshot`): started once per process, in-process on a loopback port, serving in the
//! background of the given runtime. The default directory, `.ociam/emulator`, is seeded with
//! the demo tenancy of `examples/quickstart` on first use.
//!
//! Shell: the data directory, the seed file beside it, the socket.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{Config, DEFAULT_DATA_DIR, Emulator};

/// The demo tenancy the embedded emulator starts with (see examples/quickstart).
const DEMO_SEED: &str = include_str!("../../examples/quickstart/seed.json");

/// Mode of the demo seed file, replaced atomically (the umask lowers it).
const SEED_FILE_MODE: u32 = 0o666;

/// A running embedded emulator.
#[derive(Clone, Debug)]
pub struct Embedded {
    /// Its base URL.
    pub url: String,
    /// The `oci-config` file that signs in as its `admin`.
    pub config_file: PathBuf,
    /// Whether this call started it (false: an earlier call in this process did).
    pub started_now: bool,
}

/// Starts the embedded emulator on `dir` once per process (later calls return the first
/// one), its clock moved by `time_offset_ms` like the rest of the run.
///
/// # Errors
/// The seed cannot be written or the emulator cannot start.
pub fn start_once(
    dir: &Path,
    time_offset_ms: i64,
    rt: &tokio::runtime::Runtime,
) -> Result<Embedded> {
    static STARTED: std::sync::OnceLock<Embedded> = std::sync::OnceLock::new();
    if let Some(started) = STARTED.get() {
        return Ok(Embedded {
            started_now: false,
            ..started.clone()
        });
    }
    let default = dir == Path::new(DEFAULT_DATA_DIR);
    let data_dir = dir.to_owned();
    let mut seed = None;
    if default && !data_dir.join("oci-config").exists() {
        let path = data_dir
            .parent()
            .unwrap_or(Path::new("."))
            .join("demo-seed.json");
        std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))
            .with_context(|| format!("cannot create {}", path.display()))?;
        crate::durable::replace(&path, DEMO_SEED.as_bytes(), SEED_FILE_MODE)
            .with_context(|| format!("cannot write {}", path.display()))?;
        seed = Some(path);
    }
    let config = Config {
        data_dir: data_dir.clone(),
        seed,
        time_offset_ms,
        ..Config::default()
    };
    let started = rt.block_on(Emulator::start(config)).with_context(|| {
        format!(
            "cannot start the embedded emulator on {}",
            data_dir.display()
        )
    })?;
    let embedded = Embedded {
        url: started.url().to_owned(),
        config_file: started.config_file().to_owned(),
        started_now: true,
    };
    rt.spawn(async move {
        let _ = started.run(std::future::pending()).await;
    });
    let _ = STARTED.set(embedded.clone());
    Ok(embedded)
}
