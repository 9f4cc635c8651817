//! The command line's shape: the clap types of every subcommand and flag, and the run's
//! [`Clock`] (the one "now" everything that dates things uses, movable with the hidden
//! `--now` / `OCIAM_NOW` for tests). No behaviour: `cli` dispatches on these.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[cfg(feature = "emulator")]
use crate::emulator;
use crate::render::{Format, annotate};

#[derive(Debug, Parser)]
#[command(
    name = "ociam",
    version,
    about = "Keep OCI IAM users, groups, memberships, API keys and password resets as code",
    after_help = "Exit codes: 0 success / no changes, 1 error, 2 changes or drift present, 3 rejected by rules."
)]
pub(super) struct Cli {
    #[command(subcommand)]
    pub(super) command: Command,
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
    pub(super) now: Option<jiff::Timestamp>,
    /// When to colour output: `auto` colours a terminal unless `NO_COLOR` is set (or
    /// `CLICOLOR_FORCE` asks for it anywhere); `always` and `never` override both.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "auto",
        value_name = "WHEN"
    )]
    pub(super) color: ColorArg,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum ColorArg {
    Auto,
    Always,
    Never,
}

/// "Now" for everything that dates things, read once per run: `--now` / `OCIAM_NOW` when
/// given, else the system clock. Request signing, retry tokens and the journal never use it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Clock {
    /// The instant plans, drift and `key-age` are computed at.
    pub(super) now: jiff::Timestamp,
    /// How far that is from the system clock, in milliseconds (0 unless moved).
    #[cfg_attr(not(feature = "emulator"), allow(dead_code))] // only the emulator reads it
    pub(super) offset_ms: i64,
}

impl Clock {
    pub(super) fn read(moved: Option<jiff::Timestamp>) -> Self {
        let real = jiff::Timestamp::now();
        let now = moved.unwrap_or(real);
        Self {
            now,
            offset_ms: now.as_millisecond() - real.as_millisecond(),
        }
    }

    /// Days since the Unix epoch.
    pub(super) fn today(self) -> i64 {
        self.now.as_second().div_euclid(86_400)
    }
}

#[derive(Debug, Subcommand)]
pub(super) enum Command {
    /// Check a manifest offline: YAML, schema, keys and the manifest-only rules.
    Validate {
        /// The manifest file.
        manifest: PathBuf,
        /// How to print the findings: `text` on stderr (and the verdict on stdout), or an
        /// annotation document on stdout.
        #[arg(long, value_enum, default_value = "text")]
        format: ValidateFormat,
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
    #[cfg(feature = "emulator")]
    /// Run the local OCI Identity API emulator (prints its URL and config file, then serves
    /// until ctrl-c or SIGTERM).
    Emulator(EmulatorArgs),
    /// Print the OCI fingerprint of a public key file.
    Fingerprint {
        /// A PEM public key (`BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC KEY`).
        key: PathBuf,
    },
    /// Print a shell completion script (e.g. `ociam completions bash > /etc/bash_completion.d/ociam`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `ociam man > ociam.1`.
    Man,
    /// Print the manifest JSON Schema (draft-07).
    Schema {
        /// Print the plan JSON Schema instead.
        #[arg(long)]
        plan: bool,
        /// Print the JSON Schema of `apply --format json` instead.
        #[arg(long, conflicts_with = "plan")]
        apply_report: bool,
    },
}

/// `plan --format`: a rendering of the plan, or its findings as annotations.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum FormatArg {
    /// The plan for people (a terminal).
    Text,
    /// The plan's JSON contract (`ociam schema --plan`).
    Json,
    /// A pull-request comment.
    Markdown,
    /// GitHub Actions workflow commands (annotations on the pull request's diff).
    Github,
    /// SARIF 2.1.0 (GitHub code scanning).
    Sarif,
    /// GitLab code-quality report JSON.
    Gitlab,
}

/// What `plan` prints on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PlanOutput {
    /// The plan, rendered.
    Plan(Format),
    /// The plan's findings, as an annotation document.
    Annotations(annotate::Format),
}

impl FormatArg {
    pub(super) fn output(self) -> PlanOutput {
        match self {
            Self::Text => PlanOutput::Plan(Format::Text),
            Self::Json => PlanOutput::Plan(Format::Json),
            Self::Markdown => PlanOutput::Plan(Format::Markdown),
            Self::Github => PlanOutput::Annotations(annotate::Format::Github),
            Self::Sarif => PlanOutput::Annotations(annotate::Format::Sarif),
            Self::Gitlab => PlanOutput::Annotations(annotate::Format::Gitlab),
        }
    }
}

/// `validate --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum ValidateFormat {
    /// Findings on stderr, the verdict on stdout.
    Text,
    /// GitHub Actions workflow commands.
    Github,
    /// SARIF 2.1.0.
    Sarif,
    /// GitLab code-quality report JSON.
    Gitlab,
}

impl ValidateFormat {
    /// The annotation format, or `None` for `text`.
    pub(super) fn annotations(self) -> Option<annotate::Format> {
        match self {
            Self::Text => None,
            Self::Github => Some(annotate::Format::Github),
            Self::Sarif => Some(annotate::Format::Sarif),
            Self::Gitlab => Some(annotate::Format::Gitlab),
        }
    }
}

/// `drift --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum DriftFormat {
    /// The report for people, by category.
    Text,
    /// The JSON report (as `--out` writes it).
    Json,
    /// An issue body: a hidden marker line, counts per category, a table per category.
    Markdown,
    /// GitHub Actions workflow commands.
    Github,
    /// SARIF 2.1.0.
    Sarif,
    /// GitLab code-quality report JSON.
    Gitlab,
}

impl DriftFormat {
    /// The annotation format, or `None` for `text`, `json` and `markdown`.
    pub(super) fn annotations(self) -> Option<annotate::Format> {
        match self {
            Self::Text | Self::Json | Self::Markdown => None,
            Self::Github => Some(annotate::Format::Github),
            Self::Sarif => Some(annotate::Format::Sarif),
            Self::Gitlab => Some(annotate::Format::Gitlab),
        }
    }
}

/// Where live state comes from: a snapshot file, or a tenancy through an OCI profile.
#[derive(Debug, Args)]
pub(super) struct LiveArgs {
    /// Plan against a snapshot file (read-only) instead of a live tenancy.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["profile", "config_file", "endpoint"])]
    pub(super) live: Option<PathBuf>,
    /// The user that will run the plan (required with --live; a profile names its own user).
    #[arg(long, value_name = "NAME")]
    pub(super) actor: Option<String>,
    /// The fingerprint of the key the actor signs with (with --live; lockout checks are exact
    /// with it).
    #[arg(long, value_name = "FP")]
    pub(super) actor_fingerprint: Option<String>,
    /// The OCI config profile.
    #[arg(long, env = "OCI_CLI_PROFILE", value_name = "NAME")]
    pub(super) profile: Option<String>,
    /// The OCI config file [default: ~/.oci/config].
    #[arg(long, env = "OCI_CONFIG_FILE", value_name = "FILE")]
    pub(super) config_file: Option<PathBuf>,
    /// Talk to this Identity endpoint instead of the profile's region (e.g. an emulator).
    #[arg(long, value_name = "URL")]
    pub(super) endpoint: Option<String>,
    #[cfg(feature = "emulator")]
    /// Use the embedded emulator, started in-process on a loopback port, with its data in DIR
    /// [default: .ociam/emulator, seeded with a demo tenancy on first use].
    #[arg(
        long,
        value_name = "DIR",
        num_args = 0..=1,
        default_missing_value = emulator::DEFAULT_DATA_DIR,
        conflicts_with_all = ["live", "profile", "config_file", "endpoint"]
    )]
    pub(super) emulator: Option<PathBuf>,
    /// Most requests in flight at once (reads and writes); the adaptive limiter starts here
    /// and comes down when OCI throttles (429/503).
    #[arg(long, value_name = "N", default_value_t = crate::oci::client::DEFAULT_PARALLELISM)]
    pub(super) parallelism: usize,
}

/// What a plan may delete beyond the manifest's own limits (given again to apply a saved plan).
#[derive(Debug, Default, Clone, Copy, Args)]
pub(super) struct Allowances {
    /// Accept up to N user/group deletions (above limits.max_deletions).
    #[arg(long, value_name = "N")]
    pub(super) allow_deletions: Option<u32>,
    /// Let a manifest that lists no users (or no groups) prune all those ociam created.
    #[arg(long)]
    pub(super) allow_empty_prune: bool,
}

#[derive(Debug, Args)]
pub(super) struct PlanArgs {
    /// The manifest file.
    pub(super) manifest: PathBuf,
    #[command(flatten)]
    pub(super) live: LiveArgs,
    /// How to print the plan on stdout (`github`, `sarif`, `gitlab`: its findings as
    /// annotations).
    #[arg(long, value_enum, default_value = "text")]
    pub(super) format: FormatArg,
    /// Also write the plan as JSON to this file (for `ociam apply`).
    #[arg(long, value_name = "FILE")]
    pub(super) out: Option<PathBuf>,
    /// Exit 2 when the plan has changes (0 when it has none).
    #[arg(long)]
    pub(super) detailed_exitcode: bool,
    #[command(flatten)]
    pub(super) allow: Allowances,
    /// With `--format markdown`, link each manifest line to `URL/FILE#LLINE`: the URL of the
    /// directory ociam runs in, e.g. a pull request's
    /// `https://github.com/OWNER/REPO/blob/COMMIT`.
    #[arg(long, value_name = "URL", value_parser = source_url_base)]
    pub(super) source_url_base: Option<String>,
}

fn source_url_base(s: &str) -> Result<String, String> {
    crate::render::check_source_url_base(s).map(|()| s.to_owned())
}

#[derive(Debug, Args)]
pub(super) struct ApplyArgs {
    /// A manifest (planned afresh, shown, then applied) or a saved plan from `plan --out`.
    pub(super) target: PathBuf,
    #[command(flatten)]
    pub(super) live: LiveArgs,
    /// Apply without asking (required when stdin is not a terminal).
    #[arg(long)]
    pub(super) auto_approve: bool,
    /// Directory for one-time console passwords (one new 0600 file per reset: `.age`, sealed
    /// to the user's `deliver_to`, or plain `.txt`).
    #[arg(long, value_name = "DIR", default_value = ".ociam/secrets")]
    pub(super) secrets_dir: PathBuf,
    /// Also show each one-time password once on the terminal, after its file is written
    /// (refused unless stdout is a terminal).
    #[arg(long)]
    pub(super) reveal_passwords: bool,
    #[command(flatten)]
    pub(super) allow: Allowances,
    /// After a failed step, go on with the steps that do not touch the same user or group.
    #[arg(long)]
    pub(super) keep_going: bool,
    /// Where the apply journal lives (one fsynced file per tenancy; resumes a killed apply).
    #[arg(long, value_name = "DIR", default_value = ".ociam")]
    pub(super) journal_dir: PathBuf,
    /// `json` prints a machine-readable apply report on stdout instead of the plan.
    #[arg(long, value_enum, default_value = "text")]
    pub(super) format: ReportFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum ReportFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub(super) struct DriftArgs {
    /// The manifest file.
    pub(super) manifest: PathBuf,
    #[command(flatten)]
    pub(super) live: LiveArgs,
    /// How to print the report (`markdown`: an issue body with a hidden marker; `github`,
    /// `sarif`, `gitlab`: its items as annotations).
    #[arg(long, value_enum, default_value = "text")]
    pub(super) format: DriftFormat,
    /// Also write the JSON report to this file.
    #[arg(long, value_name = "FILE")]
    pub(super) out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(super) struct ImportArgs {
    #[command(flatten)]
    pub(super) live: LiveArgs,
    /// Directory to write `manifest.yaml` and `keys/` into (must not hold a manifest yet).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub(super) out: PathBuf,
}

#[derive(Debug, Args)]
pub(super) struct SnapshotArgs {
    #[command(flatten)]
    pub(super) live: LiveArgs,
    /// Write the snapshot here instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub(super) out: Option<PathBuf>,
}

#[cfg(feature = "emulator")]
#[derive(Debug, Args)]
pub(super) struct EmulatorArgs {
    /// Data directory; on first start it gets a tenancy, user `admin` in `Administrators`, its
    /// key (`admin-key.pem`) and `oci-config`.
    #[arg(long, value_name = "DIR", default_value = emulator::DEFAULT_DATA_DIR)]
    pub(super) data: PathBuf,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub(super) listen: std::net::SocketAddr,
    /// A snapshot whose objects are added on first start.
    #[arg(long, value_name = "FILE")]
    pub(super) seed: Option<PathBuf>,
    /// Delay every request by MS milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub(super) latency: u64,
    /// Answer this fraction (0 to 1) of requests with 429 or 503 and `retry-after: 1`.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    pub(super) fail_rate: f64,
    /// Accept at most N requests per second (a token bucket: bursts of N, refilled at N per
    /// second); over it, answer 429 `TooManyRequests` without `retry-after`, as OCI often does.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(super) rate_limit: Option<u32>,
    /// The most items one list page returns.
    #[arg(long, value_name = "N", default_value_t = emulator::DEFAULT_PAGE_SIZE)]
    pub(super) page_size: usize,
    /// Allow --listen on a non-loopback address (anyone who can reach it can try to sign in).
    #[arg(long)]
    pub(super) allow_non_loopback: bool,
    /// Behave like a tenancy with identity domains: ListDomains answers, CreateUser needs an
    /// email, a password reset emails a link instead of returning a password (kept in DIR).
    #[arg(long)]
    pub(super) identity_domains: bool,
    /// Test aid: hold the N-th write of ACTION before it is applied or after it is committed
    /// (see `emulator::stall`).
    #[arg(long, value_name = "ACTION:N:before|after", hide = true)]
    pub(super) stall: Vec<emulator::stall::Stall>,
}
