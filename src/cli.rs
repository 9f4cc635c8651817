//! The command line: clap types, one `cmd_*` function per subcommand, and the only place that
//! picks implementations (snapshot file, OCI profile or embedded emulator), reads the
//! environment and the clock, and maps outcomes to exit codes (0 success / no changes,
//! 1 error, 2 changes or drift present, 3 rejected by rules). It reads manifests, snapshots
//! and saved plans and writes `--out` files (through `durable`); the network, the journal
//! and secret delivery belong to `backend`, `apply`, `journal` and `deliver`.
//!
//! Glue only: decisions live in the pure core (`plan`, `drift`, `render`), where tests see them.

use std::ffi::OsString;
use std::fs;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::apply;
use crate::backend::{self, ProfileSpec};
use crate::durable;
use crate::emulator;
use crate::keys;
use crate::manifest::{self, KeyFiles, ManifestErrors};
use crate::model::{Fingerprint, UserName};
use crate::plan::{self, ActorSpec, Plan};
use crate::render::{self, Format};
use crate::snapshot;

/// Exit code: success, or no changes.
pub const EXIT_OK: u8 = 0;
/// Exit code: an error (bad input, network, auth).
pub const EXIT_ERROR: u8 = 1;
/// Exit code: changes or drift present (`--detailed-exitcode`, `drift`).
pub const EXIT_CHANGES: u8 = 2;
/// Exit code: the plan (or manifest) is rejected by rules.
pub const EXIT_REJECTED: u8 = 3;

/// Largest key file ociam reads (a PEM public key is well under 16 KiB).
const MAX_KEY_FILE: u64 = 64 * 1024;

/// Mode of plans, snapshots, drift reports and the demo seed, replaced atomically: what
/// `File::create` gives (the umask lowers it).
const PLAIN_FILE_MODE: u32 = 0o666;
/// Mode of the files import creates, which must be new: only public keys and the manifest
/// (the umask may lower it).
const PUBLIC_FILE_MODE: u32 = 0o644;

#[derive(Debug, Parser)]
#[command(
    name = "ociam",
    version,
    about = "Keep OCI IAM users, groups, memberships, API keys and password resets as code",
    after_help = "Exit codes: 0 success / no changes, 1 error, 2 changes or drift present, 3 rejected by rules."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Testing aid: date everything (key ages, `expires` dates, the emulator's timestamps) as if
    /// this RFC 3339 instant were now. Request signing and the emulator's signature check keep
    /// the real clock.
    #[arg(
        long,
        global = true,
        hide = true,
        env = "OCIAM_NOW",
        hide_env = true,
        value_name = "RFC3339"
    )]
    now: Option<jiff::Timestamp>,
}

/// "Now" for everything that dates things, read once per run: `--now` / `OCIAM_NOW` when
/// given, else the system clock. Request signing, retry tokens and the journal never use it.
#[derive(Clone, Copy, Debug)]
struct Clock {
    /// The instant plans, drift and `key-age` are computed at.
    now: jiff::Timestamp,
    /// How far that is from the system clock, in milliseconds (0 unless moved).
    offset_ms: i64,
}

impl Clock {
    fn read(moved: Option<jiff::Timestamp>) -> Self {
        let real = jiff::Timestamp::now();
        let now = moved.unwrap_or(real);
        Self {
            now,
            offset_ms: now.as_millisecond() - real.as_millisecond(),
        }
    }

    /// Days since the Unix epoch.
    fn today(self) -> i64 {
        self.now.as_second().div_euclid(86_400)
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a manifest offline: YAML, schema, keys and the manifest-only rules.
    Validate {
        /// The manifest file.
        manifest: PathBuf,
    },
    /// Plan the changes that take the live tenancy to the manifest.
    Plan(PlanArgs),
    /// Apply a fresh plan of a manifest, or exactly a saved plan (`plan --out`).
    Apply(ApplyArgs),
    /// Report how the tenancy differs from the manifest; exit 2 on drift.
    Drift(DriftArgs),
    /// Write a manifest (and public-key files) that describes the live tenancy.
    Import(ImportArgs),
    /// Capture the live tenancy as a snapshot file (the API's own JSON objects).
    Snapshot(SnapshotArgs),
    /// Run the local OCI Identity API emulator (prints its URL and config file, then serves
    /// until ctrl-c or SIGTERM).
    Emulator(EmulatorArgs),
    /// Print the OCI fingerprint of a public key file.
    Fingerprint {
        /// A PEM public key (`BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC KEY`).
        key: PathBuf,
    },
    /// Print the manifest JSON Schema (draft-07).
    Schema {
        /// Print the plan JSON Schema instead.
        #[arg(long)]
        plan: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Text,
    Json,
    Markdown,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Text => Self::Text,
            FormatArg::Json => Self::Json,
            FormatArg::Markdown => Self::Markdown,
        }
    }
}

/// Where live state comes from: a snapshot file, or a tenancy through an OCI profile.
#[derive(Debug, Args)]
struct LiveArgs {
    /// Plan against a snapshot file (read-only) instead of a live tenancy.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["profile", "config_file", "endpoint"])]
    live: Option<PathBuf>,
    /// The user that will run the plan (required with --live; a profile names its own user).
    #[arg(long, value_name = "NAME")]
    actor: Option<String>,
    /// The fingerprint of the key the actor signs with (with --live; lockout checks are exact
    /// with it).
    #[arg(long, value_name = "FP")]
    actor_fingerprint: Option<String>,
    /// The OCI config profile.
    #[arg(long, env = "OCI_CLI_PROFILE", value_name = "NAME")]
    profile: Option<String>,
    /// The OCI config file [default: ~/.oci/config].
    #[arg(long, env = "OCI_CONFIG_FILE", value_name = "FILE")]
    config_file: Option<PathBuf>,
    /// Talk to this Identity endpoint instead of the profile's region (e.g. an emulator).
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// Use the embedded emulator, started in-process on a loopback port, with its data in DIR
    /// [default: .ociam/emulator, seeded with a demo tenancy on first use].
    #[arg(
        long,
        value_name = "DIR",
        num_args = 0..=1,
        default_missing_value = emulator::DEFAULT_DATA_DIR,
        conflicts_with_all = ["live", "profile", "config_file", "endpoint"]
    )]
    emulator: Option<PathBuf>,
    /// How many users' API keys are listed at once.
    #[arg(long, value_name = "N", default_value_t = crate::oci::client::DEFAULT_PARALLELISM)]
    parallelism: usize,
}

#[derive(Debug, Args)]
struct PlanArgs {
    /// The manifest file.
    manifest: PathBuf,
    #[command(flatten)]
    live: LiveArgs,
    /// How to print the plan on stdout.
    #[arg(long, value_enum, default_value = "text")]
    format: FormatArg,
    /// Also write the plan as JSON to this file (for `ociam apply`).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Exit 2 when the plan has changes (0 when it has none).
    #[arg(long)]
    detailed_exitcode: bool,
    /// Accept up to N user/group deletions (above limits.max_deletions).
    #[arg(long, value_name = "N")]
    allow_deletions: Option<u32>,
    /// Let a manifest that lists no users (or no groups) prune all those ociam created.
    #[arg(long)]
    allow_empty_prune: bool,
}

#[derive(Debug, Args)]
struct ApplyArgs {
    /// A manifest (planned afresh, shown, then applied) or a saved plan from `plan --out`.
    target: PathBuf,
    #[command(flatten)]
    live: LiveArgs,
    /// Apply without asking (required when stdin is not a terminal).
    #[arg(long)]
    auto_approve: bool,
    /// Directory for one-time console passwords (one new 0600 file per reset: `.age`, sealed
    /// to the user's `deliver_to`, or plain `.txt`).
    #[arg(long, value_name = "DIR", default_value = ".ociam/secrets")]
    secrets_dir: PathBuf,
    /// Also show each one-time password once on the terminal, after its file is written
    /// (refused unless stdout is a terminal).
    #[arg(long)]
    reveal_passwords: bool,
    /// Accept up to N user/group deletions (above limits.max_deletions).
    #[arg(long, value_name = "N")]
    allow_deletions: Option<u32>,
    /// Let a manifest that lists no users (or no groups) prune all those ociam created.
    #[arg(long)]
    allow_empty_prune: bool,
    /// After a failed step, go on with the steps that do not touch the same user or group.
    #[arg(long)]
    keep_going: bool,
    /// Where the apply journal lives (one fsynced file per tenancy; resumes a killed apply).
    #[arg(long, value_name = "DIR", default_value = ".ociam")]
    journal_dir: PathBuf,
    /// `json` prints a machine-readable apply report on stdout instead of the plan.
    #[arg(long, value_enum, default_value = "text")]
    format: ReportFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ReportFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
struct DriftArgs {
    /// The manifest file.
    manifest: PathBuf,
    #[command(flatten)]
    live: LiveArgs,
    /// How to print the report.
    #[arg(long, value_enum, default_value = "text")]
    format: ReportFormat,
    /// Also write the JSON report to this file.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ImportArgs {
    #[command(flatten)]
    live: LiveArgs,
    /// Directory to write `manifest.yaml` and `keys/` into (must not hold a manifest yet).
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
}

#[derive(Debug, Args)]
struct SnapshotArgs {
    #[command(flatten)]
    live: LiveArgs,
    /// Write the snapshot here instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct EmulatorArgs {
    /// Data directory; on first start it gets a tenancy, user `admin` in `Administrators`, its
    /// key (`admin-key.pem`) and `oci-config`.
    #[arg(long, value_name = "DIR", default_value = emulator::DEFAULT_DATA_DIR)]
    data: PathBuf,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
    /// A snapshot whose objects are added on first start.
    #[arg(long, value_name = "FILE")]
    seed: Option<PathBuf>,
    /// Delay every request by MS milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    latency: u64,
    /// Answer this fraction (0 to 1) of requests with 429 or 503 and `retry-after: 1`.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    fail_rate: f64,
    /// The most items one list page returns.
    #[arg(long, value_name = "N", default_value_t = emulator::DEFAULT_PAGE_SIZE)]
    page_size: usize,
    /// Allow --listen on a non-loopback address (anyone who can reach it can try to sign in).
    #[arg(long)]
    allow_non_loopback: bool,
    /// Behave like a tenancy with identity domains: ListDomains answers, CreateUser needs an
    /// email, a password reset emails a link instead of returning a password (kept in DIR).
    #[arg(long)]
    identity_domains: bool,
}

/// Runs the command line and returns the process exit code. Errors are printed once, here.
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_ERROR } else { EXIT_OK });
        }
    };
    // Logs (RUST_LOG, default warnings only) go to stderr; they name requests, statuses and
    // opc-request-ids, never bodies, keys or passwords.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .try_init();
    let clock = Clock::read(cli.now);
    let result = match cli.command {
        Command::Validate { manifest } => cmd_validate(&manifest),
        Command::Plan(args) => cmd_plan(&args, clock),
        Command::Snapshot(args) => cmd_snapshot(&args, clock),
        Command::Apply(args) => cmd_apply(&args, clock),
        Command::Drift(args) => cmd_drift(&args, clock),
        Command::Import(args) => cmd_import(&args, clock),
        Command::Fingerprint { key } => cmd_fingerprint(&key),
        Command::Emulator(args) => cmd_emulator(args, clock),
        Command::Schema { plan } => cmd_schema(plan),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if e.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            {
                return ExitCode::from(EXIT_OK);
            }
            let _ = writeln!(io::stderr(), "ociam: error: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
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

fn read_text(path: &Path, what: &str) -> Result<String> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))?;
    String::from_utf8(bytes).with_context(|| format!("{what} {} is not UTF-8 text", path.display()))
}

/// Loads a manifest, printing its problems to stderr; `Ok(None)` when it has any.
fn load_manifest(path: &Path) -> Result<Option<manifest::Loaded>> {
    let source = read_text(path, "manifest")?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let root = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve the manifest's directory {}", dir.display()))?;
    let name = path.display().to_string();
    match manifest::load(&source, &name, &DirKeyFiles { root }) {
        Ok(loaded) => Ok(Some(loaded)),
        Err(ManifestErrors(errors)) => {
            let mut err = io::stderr().lock();
            for e in &errors {
                writeln!(err, "error: {e}")?;
                if let Some(snippet) = &e.snippet {
                    writeln!(err, "{snippet}")?;
                }
                writeln!(err, "  help: {}", e.help)?;
            }
            writeln!(
                err,
                "ociam: {} problem(s) in {name}; nothing was planned or changed",
                errors.len()
            )?;
            Ok(None)
        }
    }
}

fn stdout_color() -> bool {
    io::stdout().is_terminal()
        && anstream::AutoStream::choice(&io::stdout()) != anstream::ColorChoice::Never
}

fn stderr_color() -> bool {
    io::stderr().is_terminal()
        && anstream::AutoStream::choice(&io::stderr()) != anstream::ColorChoice::Never
}

fn cmd_validate(path: &Path) -> Result<u8> {
    let Some(loaded) = load_manifest(path)? else {
        return Ok(EXIT_ERROR);
    };
    let mut err = io::stderr().lock();
    render::text::render_diagnostics(&loaded.diagnostics, stderr_color(), &mut err)?;
    let errors = loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == crate::rules::Severity::Error)
        .count();
    if errors > 0 {
        writeln!(
            err,
            "ociam: {} is rejected by {errors} rule error(s)",
            path.display()
        )?;
        return Ok(EXIT_REJECTED);
    }
    writeln!(
        io::stdout(),
        "{} is valid: {} user(s), {} group(s)",
        path.display(),
        loaded.desired.users.len(),
        loaded.desired.groups.len()
    )?;
    Ok(EXIT_OK)
}

/// The live state, where it came from, and the actor.
struct Live {
    snapshot: snapshot::Snapshot,
    state: crate::model::State,
    name: String,
    actor: ActorSpec,
    /// The client, when the state was read from a tenancy (not a snapshot file).
    connected: Option<backend::Connected>,
    /// Set when the actor may read only its own user (not a tenancy administrator).
    scope: Option<UserName>,
}

/// The process's async runtime, started on first use.
fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let _ = RUNTIME.set(rt);
    RUNTIME.get().context("cannot start the async runtime")
}

/// A progress bar on stderr when it is a terminal; hidden (silent) otherwise, e.g. in CI.
fn progress_bar(what: &'static str) -> indicatif::ProgressBar {
    if !io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    let style = indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what);
    bar
}

/// The demo tenancy the embedded emulator starts with (see examples/quickstart).
const DEMO_SEED: &str = include_str!("../examples/quickstart/seed.json");

/// Starts the embedded emulator once per process and returns its URL and `oci-config`.
/// The default directory, `.ociam/emulator`, is seeded with the demo tenancy on first use.
fn embedded_emulator(dir: &Path, clock: Clock) -> Result<(String, PathBuf)> {
    static STARTED: std::sync::OnceLock<(String, PathBuf)> = std::sync::OnceLock::new();
    if let Some(started) = STARTED.get() {
        return Ok(started.clone());
    }
    let default = dir == Path::new(emulator::DEFAULT_DATA_DIR);
    let data_dir = dir.to_owned();
    let mut seed = None;
    if default && !data_dir.join("oci-config").exists() {
        let path = data_dir
            .parent()
            .unwrap_or(Path::new("."))
            .join("demo-seed.json");
        fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))
            .with_context(|| format!("cannot create {}", path.display()))?;
        durable::replace(&path, DEMO_SEED.as_bytes(), PLAIN_FILE_MODE)
            .with_context(|| format!("cannot write {}", path.display()))?;
        seed = Some(path);
    }
    let config = emulator::Config {
        data_dir: data_dir.clone(),
        seed,
        time_offset_ms: clock.offset_ms,
        ..emulator::Config::default()
    };
    let rt = runtime()?;
    let started = rt
        .block_on(emulator::Emulator::start(config))
        .with_context(|| {
            format!(
                "cannot start the embedded emulator on {}",
                data_dir.display()
            )
        })?;
    let url = started.url().to_owned();
    let config_file = started.config_file().to_owned();
    writeln!(
        io::stderr(),
        "ociam: using the embedded emulator at {url} (data: {})",
        data_dir.display()
    )?;
    rt.spawn(async move {
        let _ = started.run(std::future::pending()).await;
    });
    let _ = STARTED.set((url, config_file));
    STARTED
        .get()
        .cloned()
        .context("the embedded emulator did not start")
}

fn profile_spec(args: &LiveArgs) -> ProfileSpec {
    let home = std::env::var("HOME").ok();
    ProfileSpec {
        config_file: args
            .config_file
            .clone()
            .unwrap_or_else(|| backend::default_config_file(home.as_deref())),
        profile: args.profile.clone().unwrap_or_else(|| "DEFAULT".to_owned()),
        endpoint: args.endpoint.clone(),
        parallelism: args.parallelism,
        passphrase_env: std::env::var("OCI_CLI_PASSPHRASE").ok(),
        home,
    }
}

/// Reads the live state from the source `args` name.
fn read_live(args: &LiveArgs, clock: Clock) -> Result<Live> {
    if let Some(path) = &args.live {
        let name = path.display().to_string();
        let snap = snapshot::parse(&read_text(path, "snapshot")?, &name)?;
        let state = snap.to_state(&name)?;
        let Some(actor) = &args.actor else {
            bail!("--live needs --actor NAME: the user that will run the plan");
        };
        let wanted = UserName::new(actor);
        // Names match ignoring case; the plan names the actor as the tenancy spells it.
        let Some((actor, _)) = state.users.get_key_value(&wanted) else {
            bail!("--actor {wanted} is not a user in {name}; name the user that will run the plan");
        };
        let actor = actor.clone();
        let fingerprint = match &args.actor_fingerprint {
            None => None,
            Some(s) => Some(Fingerprint::parse(s).with_context(|| {
                format!(
                    "--actor-fingerprint `{s}` is not a fingerprint (16 hex bytes joined by `:`)"
                )
            })?),
        };
        return Ok(Live {
            snapshot: snap,
            state,
            name,
            actor: ActorSpec {
                user: actor,
                fingerprint,
            },
            connected: None,
            scope: None,
        });
    }
    if args.actor.is_some() || args.actor_fingerprint.is_some() {
        bail!(
            "--actor and --actor-fingerprint go with --live; with a profile the actor is the profile's user"
        );
    }
    let mut spec = profile_spec(args);
    if let Some(dir) = &args.emulator {
        let (url, config_file) = embedded_emulator(dir, clock)?;
        spec.config_file = config_file;
        spec.profile = "DEFAULT".to_owned();
        spec.endpoint = Some(url);
    }
    let connected = backend::connect(&spec)?;
    let name = match &spec.endpoint {
        Some(url) => format!("{url} (profile {})", spec.profile),
        None => format!(
            "tenancy {} (profile {})",
            connected.profile.tenancy, spec.profile
        ),
    };
    let rt = runtime()?;
    let bar = progress_bar("reading the tenancy");
    let fetched = rt.block_on(
        connected
            .client
            .fetch_snapshot_with_progress(&|done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            }),
    );
    bar.finish_and_clear();
    let (snap, scoped) = match fetched {
        Ok(snap) => (snap, false),
        Err(e) if e.status() == Some(404) => {
            // OCI answers 404 to the tenancy-wide lists of a user that is not an
            // administrator; such a user may still read (and manage) its own credentials.
            let own = rt
                .block_on(connected.client.fetch_own_snapshot(&connected.actor))
                .with_context(|| format!("after {e}"))?;
            (own, true)
        }
        Err(e) => return Err(e.into()),
    };
    // What the tenancy returns is checked like a snapshot file: no private-key material may
    // reach a plan, a report, an imported manifest or a snapshot written from it.
    snap.check_no_private_key(&name)?;
    let state = snap.to_state(&name)?;
    let actor = snap
        .users
        .iter()
        .find(|u| u.id == connected.actor.as_str())
        .map(|u| UserName::new(&u.name))
        .with_context(|| {
            format!(
                "the profile's user {} is not in the tenancy it reads",
                connected.actor
            )
        })?;
    if scoped {
        writeln!(
            io::stderr(),
            "ociam: {actor} may not read the whole tenancy (OCI answered 404 to its lists); it reads (and plans) only its own user and API keys"
        )?;
    }
    Ok(Live {
        snapshot: snap,
        state,
        name,
        actor: ActorSpec {
            user: actor.clone(),
            fingerprint: Some(connected.fingerprint.clone()),
        },
        connected: Some(connected),
        scope: scoped.then_some(actor),
    })
}

fn cmd_plan(args: &PlanArgs, clock: Clock) -> Result<u8> {
    let Some(loaded) = load_manifest(&args.manifest)? else {
        return Ok(EXIT_ERROR);
    };
    let live = read_live(&args.live, clock)?;
    check_tenancy(&loaded, &live)?;
    let options = plan_options(
        &loaded,
        &live,
        args.allow_deletions,
        args.allow_empty_prune,
        clock,
    );
    let plan = plan::plan(&loaded.desired, &live.state, &live.actor, &options);
    emit_plan(&plan, args.format.into(), args.out.as_deref())?;
    Ok(if plan.is_rejected() {
        EXIT_REJECTED
    } else if args.detailed_exitcode && !plan.is_empty() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}

fn cmd_snapshot(args: &SnapshotArgs, clock: Clock) -> Result<u8> {
    let live = read_live(&args.live, clock)?;
    let mut json = serde_json::to_vec_pretty(&live.snapshot)?;
    json.push(b'\n');
    match &args.out {
        Some(path) => {
            durable::replace(path, &json, PLAIN_FILE_MODE)
                .with_context(|| format!("cannot write the snapshot to {}", path.display()))?;
            writeln!(
                io::stderr(),
                "wrote {}: {} users, {} groups, {} memberships, {} API keys",
                path.display(),
                live.snapshot.users.len(),
                live.snapshot.groups.len(),
                live.snapshot.memberships.len(),
                live.snapshot.api_keys.values().map(Vec::len).sum::<usize>()
            )?;
        }
        None => io::stdout().write_all(&json)?,
    }
    Ok(EXIT_OK)
}

/// Writes the plan JSON to `out` (if any) and the chosen rendering to stdout.
fn emit_plan(plan: &Plan, format: Format, out: Option<&Path>) -> Result<()> {
    if let Some(path) = out {
        let mut json = Vec::new();
        render::render(plan, Format::Json, false, &mut json)?;
        durable::replace(path, &json, PLAIN_FILE_MODE)
            .with_context(|| format!("cannot write the plan to {}", path.display()))?;
    }
    let color = format == Format::Text && stdout_color();
    let mut stdout = io::stdout().lock();
    render::render(plan, format, color, &mut stdout)?;
    stdout.flush()?;
    Ok(())
}

fn cmd_fingerprint(path: &Path) -> Result<u8> {
    let text = read_text(path, "key file")?;
    if keys::find_private_key(&text).is_some() {
        bail!(
            "{} holds a PRIVATE key (not shown); pass its public key instead: openssl rsa -pubout -in {}",
            path.display(),
            path.display()
        );
    }
    let key = keys::PublicKey::from_pem(&text)
        .with_context(|| format!("{} is not a usable public key", path.display()))?;
    writeln!(io::stdout(), "{}", key.fingerprint())?;
    if let Some(problem) = keys::strength_problem(&key) {
        writeln!(io::stderr(), "warning[weak-key]: {problem}")?;
    }
    Ok(EXIT_OK)
}

fn cmd_emulator(args: EmulatorArgs, clock: Clock) -> Result<u8> {
    emulator::run_emulator(emulator::Config {
        data_dir: args.data,
        listen: args.listen,
        seed: args.seed,
        latency_ms: args.latency,
        fail_rate: args.fail_rate,
        page_size: args.page_size,
        skew_check: true,
        allow_non_loopback: args.allow_non_loopback,
        time_offset_ms: clock.offset_ms,
        identity_domains: args.identity_domains,
    })?;
    Ok(EXIT_OK)
}

fn cmd_schema(plan_schema: bool) -> Result<u8> {
    let text = if plan_schema {
        plan::change::json_schema()
    } else {
        manifest::raw::json_schema()
    };
    io::stdout().write_all(text.as_bytes())?;
    Ok(EXIT_OK)
}

/// Whether `text` is a saved plan (JSON with a `format_version` and `changes`) rather than a
/// manifest.
fn is_saved_plan(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .is_ok_and(|v| v.get("format_version").is_some() && v.get("changes").is_some())
}

/// Asks on the terminal; `Ok(false)` unless the operator types `yes`.
fn confirm(question: &str) -> Result<bool> {
    let mut err = io::stderr().lock();
    write!(err, "{question} Only 'yes' is accepted: ")?;
    err.flush()?;
    let mut answer = String::new();
    io::stdin().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

fn cmd_apply(args: &ApplyArgs, clock: Clock) -> Result<u8> {
    if args.reveal_passwords && !io::stdout().is_terminal() {
        bail!(
            "refusing --reveal-passwords: stdout is not a terminal, and a one-time password must never reach a pipe, file or CI log; nothing was done. Drop the flag: passwords go to files under --secrets-dir, sealed with age for users whose manifest entry sets console_password.deliver_to"
        );
    }
    let text = read_text(&args.target, "manifest or plan")?;
    let saved = is_saved_plan(&text);
    let (plan, loaded, live) = if saved {
        let plan: Plan = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a plan this ociam can apply",
                args.target.display()
            )
        })?;
        if plan.format_version != plan::FORMAT_VERSION {
            bail!(
                "{} has plan format_version {}; this ociam applies {}",
                args.target.display(),
                plan.format_version,
                plan::FORMAT_VERSION
            );
        }
        let live = read_live(&args.live, clock)?;
        (plan, None, live)
    } else {
        let Some(loaded) = load_manifest(&args.target)? else {
            return Ok(EXIT_ERROR);
        };
        let live = read_live(&args.live, clock)?;
        check_tenancy(&loaded, &live)?;
        let plan = plan::plan(
            &loaded.desired,
            &live.state,
            &live.actor,
            &plan_options(
                &loaded,
                &live,
                args.allow_deletions,
                args.allow_empty_prune,
                clock,
            ),
        );
        (plan, Some(loaded), live)
    };
    let mut journal =
        crate::journal::Journal::open(&args.journal_dir, live.state.tenancy.as_str())?;
    let plan_id = apply::plan_id(&plan.changes);
    if saved {
        // Objects that an interrupted run of this same plan already changed moved because of
        // us; everything else must be as the plan saw it.
        let ours: Vec<String> = journal
            .done(&plan_id)
            .into_values()
            .chain(journal.in_flight(&plan_id))
            .collect();
        check_saved_plan(&plan, &live, &args.target, &ours)?;
        let deletions = plan::deletions(&plan.changes);
        let budget = plan.deletion_budget.max(args.allow_deletions.unwrap_or(0));
        if deletions > budget {
            writeln!(
                io::stderr(),
                "error[mass-deletion]: {} deletes {deletions} users and groups; it was planned \
                 with --allow-deletions, so apply needs it too: --allow-deletions {deletions}",
                args.target.display()
            )?;
            return Ok(EXIT_REJECTED);
        }
    }
    let json = matches!(args.format, ReportFormat::Json);
    if !json {
        emit_plan(&plan, Format::Text, None)?;
    }
    if plan.is_rejected() {
        writeln!(
            io::stderr(),
            "ociam: the plan is rejected by rules; nothing was applied"
        )?;
        return Ok(EXIT_REJECTED);
    }
    if plan.is_empty() {
        return Ok(EXIT_OK);
    }
    if !args.auto_approve {
        if !io::stdin().is_terminal() {
            bail!("refusing to apply without --auto-approve: stdin is not a terminal");
        }
        let question = format!(
            "Apply these {} changes to tenancy {} as {}?",
            plan.changes.len(),
            plan.tenancy,
            plan.actor.user
        );
        if !confirm(&question)? {
            writeln!(io::stderr(), "ociam: not applied")?;
            return Ok(EXIT_ERROR);
        }
    }
    let connected = live
        .connected
        .as_ref()
        .context("apply needs a live tenancy: use a profile (--profile/--config-file/--endpoint), not --live")?;
    let delivery = apply::Delivery {
        secrets_dir: args.secrets_dir.clone(),
    };
    let reveal = |user: &UserName, password: &secrecy::SecretString| {
        use secrecy::ExposeSecret as _;
        let mut out = io::stdout();
        if out.is_terminal() {
            let _ = writeln!(
                out,
                "one-time console password of {user}: {}",
                password.expose_secret()
            );
        }
    };
    let target = apply::Target {
        client: &connected.client,
        snapshot: &live.snapshot,
        live: &live.state,
        desired: loaded.as_ref().map(|l| &l.desired),
        actor: &live.actor,
        delivery: &delivery,
        reveal: if args.reveal_passwords {
            Some(&reveal)
        } else {
            None
        },
    };
    let total = plan.changes.len();
    let mut err = io::stderr();
    // The journal dates records (and ages retry tokens) with the real clock, never `--now`.
    let wall_clock = || jiff::Timestamp::now().as_second();
    let mut run = apply::Run {
        journal: &mut journal,
        plan_id: plan_id.clone(),
        keep_going: args.keep_going,
        clock: &wall_clock,
    };
    let bar = progress_bar("applying");
    bar.set_length(total as u64);
    let report = runtime()?.block_on(apply::execute(
        &target,
        &plan.changes,
        &mut run,
        &mut |step| {
            bar.inc(1);
            let status = match &step.status {
                apply::StepStatus::Done => "done".to_owned(),
                apply::StepStatus::DoneEarlier => {
                    "done (by an earlier, interrupted apply)".to_owned()
                }
                apply::StepStatus::Failed(why) => format!("FAILED: {why}"),
                apply::StepStatus::NotStarted => "not started".to_owned(),
            };
            let delivered = match &step.delivered {
                Some(d) if d.sealed => format!(
                    " (one-time password sealed with age to {})",
                    d.path.display()
                ),
                Some(d) => format!(
                    " (one-time password written to {}, plain text, mode 0600)",
                    d.path.display()
                ),
                None => match &step.emailed_to {
                    Some(email) => format!(" (OCI emailed a reset link to {email})"),
                    None => String::new(),
                },
            };
            let line = format!(
                "[{}/{total}] {} {}: {status}{delivered}",
                step.seq, step.action, step.subject
            );
            if bar.is_hidden() {
                let _ = writeln!(err, "{line}");
            } else {
                bar.println(line);
            }
        },
    ));
    bar.finish_and_clear();
    let (done, failed, not_started) = report.counts();
    writeln!(
        io::stderr(),
        "Applied {done} of {total} changes ({failed} failed, {not_started} not started); journal: {}.",
        journal.path().display()
    )?;
    let code = if report.succeeded() {
        verify_after_apply(args, loaded.as_ref(), &plan, &live, json, clock)?
    } else {
        EXIT_ERROR
    };
    if json {
        let steps: Vec<serde_json::Value> = report
            .steps
            .iter()
            .map(|s| {
                let (status, detail) = match &s.status {
                    apply::StepStatus::Done => ("done", None),
                    apply::StepStatus::DoneEarlier => ("done_earlier", None),
                    apply::StepStatus::Failed(why) => ("failed", Some(why.clone())),
                    apply::StepStatus::NotStarted => ("not_started", None),
                };
                serde_json::json!({"seq": s.seq, "action": s.action, "subject": s.subject,
                    "status": status, "detail": detail,
                    "delivered_to": s.delivered.as_ref().map(|d| d.path.display().to_string()),
                    "sealed": s.delivered.as_ref().map(|d| d.sealed),
                    "reset_link_emailed_to": s.emailed_to})
            })
            .collect();
        let out = serde_json::json!({
            "format_version": 1,
            "tenancy": plan.tenancy,
            "plan_id": plan_id,
            "steps": steps,
            "summary": {"done": done, "failed": failed, "not_started": not_started},
            "matches": code == EXIT_OK,
        });
        let mut text = serde_json::to_vec_pretty(&out)?;
        text.push(b'\n');
        io::stdout().write_all(&text)?;
    }
    Ok(code)
}

/// Re-reads the tenancy and says whether it now matches; exit 2 with the remaining plan if not.
fn verify_after_apply(
    args: &ApplyArgs,
    loaded: Option<&manifest::Loaded>,
    applied: &Plan,
    before: &Live,
    json: bool,
    clock: Clock,
) -> Result<u8> {
    let after = read_live(&args.live, clock)?;
    let remaining = match loaded {
        Some(loaded) => plan::plan(
            &loaded.desired,
            &after.state,
            &after.actor,
            &plan_options(
                loaded,
                &after,
                args.allow_deletions,
                args.allow_empty_prune,
                clock,
            ),
        ),
        None => {
            let mut expected = before.state.clone();
            for change in &applied.changes {
                plan::simulate::apply(&mut expected, change);
            }
            let desired = crate::model::Desired::mirror(&expected);
            plan::plan(
                &desired,
                &after.state,
                &after.actor,
                &plan::Options {
                    today: clock.today(),
                    ..plan::Options::default()
                },
            )
        }
    };
    if remaining.is_empty() {
        if !json {
            writeln!(io::stdout(), "The tenancy now matches the manifest.")?;
        }
        Ok(EXIT_OK)
    } else {
        if !json {
            writeln!(io::stdout(), "The tenancy still differs from the manifest:")?;
            emit_plan(&remaining, Format::Text, None)?;
        }
        Ok(EXIT_CHANGES)
    }
}

/// A saved plan applies only to the tenancy, actor and objects it was made against (`ours`:
/// objects an interrupted run of this plan already changed).
fn check_saved_plan(plan: &Plan, live: &Live, path: &Path, ours: &[String]) -> Result<()> {
    if plan.tenancy != live.state.tenancy {
        bail!(
            "{} was made for tenancy {}, but {} is tenancy {}",
            path.display(),
            plan.tenancy,
            live.name,
            live.state.tenancy
        );
    }
    if plan.actor.user != live.actor.user {
        bail!(
            "{} was made for actor {}, but these credentials are {}'s; re-plan with them",
            path.display(),
            plan.actor.user,
            live.actor.user
        );
    }
    let moved =
        plan::precondition::moved_except(plan, &live.state, ours.iter().map(String::as_str))
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if !moved.is_empty() {
        bail!(
            "{} is stale: {} object(s) it reads or changes moved since it was made:\n  {}\nrun `ociam plan` again and review the new plan",
            path.display(),
            moved.len(),
            moved.join("\n  ")
        );
    }
    Ok(())
}

fn check_tenancy(loaded: &manifest::Loaded, live: &Live) -> Result<()> {
    if loaded.desired.tenancy != live.state.tenancy {
        bail!(
            "the manifest is for tenancy {} but {} holds tenancy {}",
            loaded.desired.tenancy,
            live.name,
            live.state.tenancy
        );
    }
    Ok(())
}

fn plan_options(
    loaded: &manifest::Loaded,
    live: &Live,
    allow_deletions: Option<u32>,
    allow_empty_prune: bool,
    clock: Clock,
) -> plan::Options {
    plan::Options {
        today: clock.today(),
        allow_deletions,
        allow_empty_prune,
        manifest_digest: loaded.digest.clone(),
        live_digest: live.snapshot.digest(),
        manifest_diagnostics: loaded.diagnostics.clone(),
        scope: live.scope.clone(),
    }
}

fn cmd_drift(args: &DriftArgs, clock: Clock) -> Result<u8> {
    let Some(loaded) = load_manifest(&args.manifest)? else {
        return Ok(EXIT_ERROR);
    };
    let live = read_live(&args.live, clock)?;
    check_tenancy(&loaded, &live)?;
    let plan = plan::plan(
        &loaded.desired,
        &live.state,
        &live.actor,
        &plan_options(&loaded, &live, None, false, clock),
    );
    let report = crate::drift::report(&plan);
    let mut json = serde_json::to_vec_pretty(&report)?;
    json.push(b'\n');
    if let Some(path) = &args.out {
        durable::replace(path, &json, PLAIN_FILE_MODE)
            .with_context(|| format!("cannot write the drift report to {}", path.display()))?;
    }
    match args.format {
        ReportFormat::Json => io::stdout().write_all(&json)?,
        ReportFormat::Text => io::stdout().write_all(crate::drift::to_text(&report).as_bytes())?,
    }
    Ok(if report.drift { EXIT_CHANGES } else { EXIT_OK })
}

fn cmd_import(args: &ImportArgs, clock: Clock) -> Result<u8> {
    let live = read_live(&args.live, clock)?;
    let manifest_path = args.out.join("manifest.yaml");
    if manifest_path.exists() {
        bail!(
            "{} already exists; import writes only into a directory without a manifest",
            manifest_path.display()
        );
    }
    let header = vec![
        format!(
            "Imported by ociam {} from {}.",
            env!("CARGO_PKG_VERSION"),
            live.name
        ),
        "Review before committing: every live user, group, membership and key is listed."
            .to_owned(),
    ];
    // Checked (public keys only, no private-key material anywhere) before anything is written.
    let exported = manifest::export::export(&live.state, &header)?;
    fs::create_dir_all(args.out.join("keys"))
        .with_context(|| format!("cannot create {}", args.out.join("keys").display()))?;
    for (relative, pem) in &exported.key_files {
        let path = args.out.join(relative);
        durable::create_new(&path, pem.as_bytes(), PUBLIC_FILE_MODE)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    durable::create_new(
        &manifest_path,
        exported.manifest.as_bytes(),
        PUBLIC_FILE_MODE,
    )
    .with_context(|| format!("cannot write {}", manifest_path.display()))?;
    writeln!(
        io::stderr(),
        "wrote {} ({} users, {} groups) and {} key file(s)",
        manifest_path.display(),
        live.state.users.len(),
        live.state.groups.len(),
        exported.key_files.len()
    )?;
    Ok(EXIT_OK)
}
