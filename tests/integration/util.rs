//! Shared helpers: the built binary, fixture paths, output capture.

use std::path::{Path, PathBuf};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A command running the built `ociam` binary, without colour and with a clean environment.
pub fn ociam() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(assert_cmd::cargo::cargo_bin!("ociam"));
    cmd.env("NO_COLOR", "1")
        .env_remove("OCI_CLI_PROFILE")
        .env_remove("OCI_CONFIG_FILE");
    cmd
}

/// The instant commands on static fixtures (`live.json` files with fixed `timeCreated` dates:
/// plan cases, examples) run at (`OCIAM_NOW`), so their key ages never depend on the day the
/// tests run.
pub const FIXTURE_NOW: &str = "2026-11-01T00:00:00Z";

/// The test's "now": `OCIAM_NOW` when the suite runs with the clock moved, else the system
/// clock. Fixtures that live objects are dated from must be built relative to it.
pub fn now() -> jiff::Timestamp {
    std::env::var("OCIAM_NOW")
        .ok()
        .map(|s| s.parse().expect("OCIAM_NOW is an RFC 3339 instant"))
        .unwrap_or_else(jiff::Timestamp::now)
}

/// `t` moved by `days` (negative: earlier), as OCI writes times (RFC 3339, milliseconds).
pub fn days_from(t: jiff::Timestamp, days: i64) -> String {
    let moved = t
        .checked_add(jiff::SignedDuration::from_hours(24 * days))
        .expect("in range");
    moved.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// What a command did, in one comparable text.
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub fn transcript(&self) -> String {
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `ociam plan manifest.yaml --live live.json --format FORMAT` plus the fixture's `args`, run
/// in fixture directory `dir` at [`FIXTURE_NOW`].
pub fn plan_fixture(dir: &Path, format: &str) -> Outcome {
    let mut args = vec![
        "plan",
        "manifest.yaml",
        "--live",
        "live.json",
        "--format",
        format,
    ];
    let extra = extra_args(dir);
    args.extend(extra.iter().map(String::as_str));
    run_in(dir, &args)
}

/// Runs `ociam args...` in `dir` at [`FIXTURE_NOW`] (for static fixtures).
pub fn run_in(dir: &Path, args: &[&str]) -> Outcome {
    run_at(dir, args, Some(FIXTURE_NOW))
}

/// Runs `ociam args...` in `dir` with `OCIAM_NOW=now`, or with the inherited clock for `None`.
pub fn run_at(dir: &Path, args: &[&str], now: Option<&str>) -> Outcome {
    let mut cmd = ociam();
    if let Some(now) = now {
        cmd.env("OCIAM_NOW", now);
    }
    let out = cmd
        .current_dir(dir)
        .args(args)
        .output()
        .expect("ociam runs");
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The extra `plan` arguments stored in a case's `args` file (one per line), if any.
pub fn extra_args(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("args"))
        .map(|s| {
            s.lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Subdirectories of `dir`, sorted.
pub fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixture directory exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// An `ociam emulator` process on an ephemeral loopback port, killed when dropped.
pub struct Emulator {
    child: std::process::Child,
    /// Its data directory (kept while the emulator lives).
    pub data: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The lines it prints to stdout after the banner (`--stall` reports).
    lines: std::sync::mpsc::Receiver<String>,
    /// Its stdin: a line releases the writes `--stall` holds.
    stdin: Option<std::process::ChildStdin>,
}

impl Emulator {
    /// Starts an emulator on a fresh data directory with `extra` flags, and waits for the line
    /// that says where it listens.
    pub fn start(extra: &[&str]) -> Self {
        Self::start_at(extra, None)
    }

    /// [`Emulator::start`] with `OCIAM_NOW=now` (its object timestamps move; its signature
    /// check keeps the real clock), or the inherited clock for `None`.
    pub fn start_at(extra: &[&str], now: Option<&str>) -> Self {
        let data = tempfile::tempdir().unwrap();
        Self::spawn(data, extra, now)
    }

    /// Starts an emulator on a copy of data directory `from` (taken while no emulator runs
    /// on it): the same tenancy, objects and admin (whose key stays in `from`).
    pub fn start_from(from: &Path, extra: &[&str]) -> Self {
        let data = tempfile::tempdir().unwrap();
        copy_dir(from, data.path());
        Self::spawn(data, extra, None)
    }

    /// Stops the emulator (SIGKILL) and waits for it; its data directory stays.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits until the emulator prints a line containing `needle` and returns it. Panics if
    /// the emulator exits first, or after a minute (a failsafe against a hung test, not a
    /// synchronisation).
    pub fn wait_for_line(&self, needle: &str) -> String {
        loop {
            match self.lines.recv_timeout(std::time::Duration::from_secs(60)) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!("the emulator never printed `{needle}`: {e}"),
            }
        }
    }

    /// Releases every write `--stall` holds.
    pub fn release(&mut self) {
        use std::io::Write as _;
        let stdin = self.stdin.as_mut().expect("the emulator's stdin");
        stdin.write_all(b"release\n").unwrap();
        stdin.flush().unwrap();
    }

    /// Starts `ociam emulator --data DIR` (at `OCIAM_NOW=now` when given) and waits for its
    /// URL.
    fn spawn(data: tempfile::TempDir, extra: &[&str], now: Option<&str>) -> Self {
        use std::io::BufRead as _;
        let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin!("ociam"));
        if let Some(now) = now {
            command.env("OCIAM_NOW", now);
        }
        let mut child = command
            .args(["emulator", "--listen", "127.0.0.1:0", "--data"])
            .arg(data.path())
            .args(extra)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("the emulator starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = std::io::BufReader::new(stdout).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("the emulator prints where it listens")
                .expect("readable stdout");
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        // Keep draining stdout so the emulator never blocks on a full pipe; the lines go to
        // `wait_for_line`.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let stdin = child.stdin.take();
        Self {
            child,
            data,
            url,
            lines: rx,
            stdin,
        }
    }

    /// The `oci-config` the emulator wrote for its admin.
    pub fn config_file(&self) -> PathBuf {
        self.data.path().join("oci-config")
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Copies directory `from` into `to` (created), recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A PEM public key with a `bits`-bit modulus (not a real key pair: cheap at any size).
pub fn public_key_of_bits(bits: usize) -> String {
    use pkcs1::der::Encode as _;
    let mut modulus = vec![0xa5_u8; bits.div_ceil(8)];
    modulus[0] = 1_u8 << ((bits - 1) % 8);
    *modulus.last_mut().unwrap() |= 1;
    let der = pkcs1::RsaPublicKeyRef {
        modulus: pkcs1::UintRef::new(&modulus).unwrap(),
        public_exponent: pkcs1::UintRef::new(&[1, 0, 1]).unwrap(),
    }
    .to_der()
    .unwrap();
    ociam::keys::PublicKey::from_pkcs1_der(&der)
        .unwrap()
        .to_spki_pem()
}
