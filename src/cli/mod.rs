//! The command line: [`run`] parses the arguments ([`args`]), dispatches to one `cmd_*`
//! function per subcommand (`apply` in [`apply`]) and maps outcomes to exit codes (0 success /
//! no changes, 1 error, 2 changes or drift present, 3 rejected by rules). It is the only place
//! that picks implementations (snapshot file, OCI profile or embedded emulator), reads the
//! environment, the terminal and the clock, and writes `--out` files (through `durable`).
//!
//! Glue only: decisions live where tests see them — planning, saved-plan checks and drift in
//! the core (`plan`, `plan::saved`, `drift`, `render`), reading live state in `backend::live`,
//! applying and its report in `apply`, reading input files in `files`.

mod apply;
mod args;

use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{CommandFactory as _, Parser as _};

use crate::backend::live::{self, Live};
use crate::backend::{self, ProfileSpec};
#[cfg(feature = "emulator")]
use crate::emulator;
use crate::files;
use crate::keys;
use crate::manifest::{self, ManifestErrors};
use crate::plan::{self, Plan};
use crate::render::{self, Format, annotate};
#[cfg(feature = "emulator")]
use args::EmulatorArgs;
use args::{
    Allowances, Cli, Clock, ColorArg, Command, DriftArgs, DriftFormat, ImportArgs, LiveArgs,
    PlanArgs, PlanOutput, SnapshotArgs, ValidateFormat,
};

/// Exit code: success, or no changes.
pub const EXIT_OK: u8 = 0;
/// Exit code: an error (bad input, network, auth).
pub const EXIT_ERROR: u8 = 1;
/// Exit code: changes or drift present (`--detailed-exitcode`, `drift`).
pub const EXIT_CHANGES: u8 = 2;
/// Exit code: the plan (or manifest) is rejected by rules.
pub const EXIT_REJECTED: u8 = 3;

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
    set_color(cli.color);
    let clock = Clock::read(cli.now);
    let result = match cli.command {
        Command::Validate { manifest, format } => cmd_validate(&manifest, format),
        Command::Plan(args) => cmd_plan(&args, clock),
        Command::Snapshot(args) => cmd_snapshot(&args, clock),
        Command::Apply(args) => apply::cmd_apply(&args, clock),
        Command::Drift(args) => cmd_drift(&args, clock),
        Command::Import(args) => cmd_import(&args, clock),
        Command::Fingerprint { key } => cmd_fingerprint(&key),
        #[cfg(feature = "emulator")]
        Command::Emulator(args) => cmd_emulator(args, clock),
        Command::Schema { plan, apply_report } => cmd_schema(plan, apply_report),
        Command::Completions { shell } => cmd_completions(shell),
        Command::Man => cmd_man(),
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

/// Loads a manifest, printing its problems to stderr (and, with an annotation format, as
/// that document on stdout); `Ok(None)` when it has any.
fn load_manifest(
    path: &Path,
    annotations: Option<annotate::Format>,
) -> Result<Option<manifest::Loaded>> {
    match files::load_manifest(path)? {
        Ok(loaded) => Ok(Some(loaded)),
        Err(ManifestErrors(errors)) => {
            if let Some(format) = annotations {
                let findings = annotate::from_manifest_errors(&errors);
                emit_annotations(&findings, format, path)?;
            }
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
                "ociam: {} problem(s) in {}; nothing was planned or changed",
                errors.len(),
                path.display()
            )?;
            Ok(None)
        }
    }
}

/// Sets how colour is chosen for the whole run (`--color`): anstream's global choice, which
/// `auto` leaves to `NO_COLOR`, `CLICOLOR(_FORCE)` and whether the stream is a terminal.
fn set_color(choice: ColorArg) {
    let global = match choice {
        ColorArg::Auto => anstream::ColorChoice::Auto,
        ColorArg::Always => anstream::ColorChoice::Always,
        ColorArg::Never => anstream::ColorChoice::Never,
    };
    global.write_global();
}

fn stdout_color() -> bool {
    anstream::AutoStream::choice(&io::stdout()) != anstream::ColorChoice::Never
}

fn stderr_color() -> bool {
    anstream::AutoStream::choice(&io::stderr()) != anstream::ColorChoice::Never
}

/// Writes `findings` as `format` to stdout; `manifest` places those without a location.
fn emit_annotations(
    findings: &[annotate::Finding],
    format: annotate::Format,
    manifest: &Path,
) -> Result<()> {
    let mut stdout = io::stdout().lock();
    annotate::render(
        findings,
        format,
        &manifest.display().to_string(),
        &mut stdout,
    )?;
    stdout.flush()?;
    Ok(())
}

fn cmd_validate(path: &Path, format: ValidateFormat) -> Result<u8> {
    let annotations = format.annotations();
    let Some(loaded) = load_manifest(path, annotations)? else {
        return Ok(EXIT_ERROR);
    };
    if let Some(format) = annotations {
        emit_annotations(
            &annotate::from_diagnostics(&loaded.diagnostics),
            format,
            path,
        )?;
    }
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
    let verdict = format!(
        "{} is valid: {} user(s), {} group(s)",
        path.display(),
        loaded.desired.users.len(),
        loaded.desired.groups.len()
    );
    // On stdout, unless stdout is an annotation document.
    if annotations.is_some() {
        writeln!(err, "{verdict}")?;
    } else {
        writeln!(io::stdout(), "{verdict}")?;
    }
    Ok(EXIT_OK)
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

/// The profile `args` name: `--profile`/`--config-file`/`--endpoint` and the environment, or
/// the embedded emulator's (started here) with `--emulator`.
fn profile_spec(args: &LiveArgs, clock: Clock) -> Result<ProfileSpec> {
    #[cfg(feature = "emulator")]
    if let Some(dir) = &args.emulator {
        let embedded = emulator::embedded::start_once(dir, clock.offset_ms, live::runtime()?)?;
        if embedded.started_now {
            writeln!(
                io::stderr(),
                "ociam: using the embedded emulator at {} (data: {})",
                embedded.url,
                dir.display()
            )?;
        }
        return Ok(ProfileSpec {
            config_file: embedded.config_file,
            profile: "DEFAULT".to_owned(),
            endpoint: Some(embedded.url),
            parallelism: args.parallelism,
            passphrase_env: None,
            home: std::env::var("HOME").ok(),
        });
    }
    let _ = clock; // dates only the embedded emulator
    let home = std::env::var("HOME").ok();
    Ok(ProfileSpec {
        config_file: args
            .config_file
            .clone()
            .unwrap_or_else(|| backend::default_config_file(home.as_deref())),
        profile: args.profile.clone().unwrap_or_else(|| "DEFAULT".to_owned()),
        endpoint: args.endpoint.clone(),
        parallelism: args.parallelism,
        passphrase_env: std::env::var("OCI_CLI_PASSPHRASE").ok(),
        home,
    })
}

/// Reads the live state from the source `args` name: a snapshot file, the embedded emulator
/// or a profile.
fn read_live(args: &LiveArgs, clock: Clock) -> Result<Live> {
    if let Some(path) = &args.live {
        return live::from_snapshot_file(
            path,
            args.actor.as_deref(),
            args.actor_fingerprint.as_deref(),
        );
    }
    if args.actor.is_some() || args.actor_fingerprint.is_some() {
        bail!(
            "--actor and --actor-fingerprint go with --live; with a profile the actor is the profile's user"
        );
    }
    let spec = profile_spec(args, clock)?;
    let bar = progress_bar("reading the tenancy");
    let read = live::read_tenancy(&spec, &|done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    let live = read?;
    if let Some(actor) = &live.scope {
        writeln!(
            io::stderr(),
            "ociam: {actor} may not read the whole tenancy (OCI answered 404 to its lists); it reads (and plans) only its own user and API keys"
        )?;
    }
    Ok(live)
}

fn cmd_plan(args: &PlanArgs, clock: Clock) -> Result<u8> {
    let output = args.format.output();
    let annotations = match output {
        PlanOutput::Annotations(format) => Some(format),
        PlanOutput::Plan(_) => None,
    };
    let Some(loaded) = load_manifest(&args.manifest, annotations)? else {
        return Ok(EXIT_ERROR);
    };
    let live = read_live(&args.live, clock)?;
    let plan = plan_manifest(&loaded, &live, args.allow, clock)?;
    match output {
        PlanOutput::Plan(format) => emit_plan_linked(
            &plan,
            format,
            args.out.as_deref(),
            args.source_url_base.as_deref(),
        )?,
        PlanOutput::Annotations(format) => {
            write_plan_json(&plan, args.out.as_deref())?;
            emit_annotations(&annotate::from_plan(&plan), format, &args.manifest)?;
        }
    }
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
            files::write_report(path, &json, "the snapshot")?;
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
    emit_plan_linked(plan, format, out, None)
}

/// [`emit_plan`], linking manifest lines under `source_url_base` (`--source-url-base`).
fn emit_plan_linked(
    plan: &Plan,
    format: Format,
    out: Option<&Path>,
    source_url_base: Option<&str>,
) -> Result<()> {
    write_plan_json(plan, out)?;
    let options = render::Options {
        color: format == Format::Text && stdout_color(),
        source_url_base: source_url_base.map(str::to_owned),
    };
    let mut stdout = io::stdout().lock();
    render::render_with(plan, format, &options, &mut stdout)?;
    stdout.flush()?;
    Ok(())
}

/// Writes the plan JSON to `out`, if given (`plan --out`, for `ociam apply`).
fn write_plan_json(plan: &Plan, out: Option<&Path>) -> Result<()> {
    if let Some(path) = out {
        let mut json = Vec::new();
        render::render(plan, Format::Json, false, &mut json)?;
        files::write_report(path, &json, "the plan")?;
    }
    Ok(())
}

fn cmd_fingerprint(path: &Path) -> Result<u8> {
    let text = files::read_text(path, "key file")?;
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

#[cfg(feature = "emulator")]
fn cmd_emulator(args: EmulatorArgs, clock: Clock) -> Result<u8> {
    emulator::run_emulator(emulator::Config {
        data_dir: args.data,
        listen: args.listen,
        seed: args.seed,
        latency_ms: args.latency,
        fail_rate: args.fail_rate,
        rate_limit: args.rate_limit,
        page_size: args.page_size,
        skew_check: true,
        allow_non_loopback: args.allow_non_loopback,
        time_offset_ms: clock.offset_ms,
        identity_domains: args.identity_domains,
    })?;
    Ok(EXIT_OK)
}

fn cmd_completions(shell: clap_complete::Shell) -> Result<u8> {
    let mut stdout = io::stdout().lock();
    clap_complete::generate(shell, &mut Cli::command(), "ociam", &mut stdout);
    stdout.flush()?;
    Ok(EXIT_OK)
}

fn cmd_man() -> Result<u8> {
    let mut stdout = io::stdout().lock();
    clap_mangen::Man::new(Cli::command()).render(&mut stdout)?;
    stdout.flush()?;
    Ok(EXIT_OK)
}

fn cmd_schema(plan_schema: bool, apply_report: bool) -> Result<u8> {
    let text = if plan_schema {
        plan::change::json_schema()
    } else if apply_report {
        crate::apply::report::json_schema()
    } else {
        manifest::raw::json_schema()
    };
    io::stdout().write_all(text.as_bytes())?;
    Ok(EXIT_OK)
}

/// Plans `loaded` against `live` (after checking that both are one tenancy) as of the clock's
/// today, with the deletion allowances of the command line.
fn plan_manifest(
    loaded: &manifest::Loaded,
    live: &Live,
    allow: Allowances,
    clock: Clock,
) -> Result<Plan> {
    if loaded.desired.tenancy != live.state.tenancy {
        bail!(
            "the manifest is for tenancy {} but {} holds tenancy {}",
            loaded.desired.tenancy,
            live.name,
            live.state.tenancy
        );
    }
    let options = plan::Options {
        today: clock.today(),
        allow_deletions: allow.allow_deletions,
        allow_empty_prune: allow.allow_empty_prune,
        manifest_digest: loaded.digest.clone(),
        live_digest: live.snapshot.digest(),
        manifest_diagnostics: loaded.diagnostics.clone(),
        scope: live.scope.clone(),
    };
    Ok(plan::plan(
        &loaded.desired,
        &live.state,
        &live.actor,
        &options,
    ))
}

fn cmd_drift(args: &DriftArgs, clock: Clock) -> Result<u8> {
    let annotations = args.format.annotations();
    let Some(loaded) = load_manifest(&args.manifest, annotations)? else {
        return Ok(EXIT_ERROR);
    };
    let live = read_live(&args.live, clock)?;
    let plan = plan_manifest(&loaded, &live, Allowances::default(), clock)?;
    let report = crate::drift::report(&plan);
    let mut json = serde_json::to_vec_pretty(&report)?;
    json.push(b'\n');
    if let Some(path) = &args.out {
        files::write_report(path, &json, "the drift report")?;
    }
    if let Some(format) = annotations {
        emit_annotations(&annotate::from_drift(&report), format, &args.manifest)?;
    } else {
        let text = match args.format {
            DriftFormat::Text => crate::drift::to_text(&report).into_bytes(),
            DriftFormat::Markdown => render::drift::to_markdown(&report).into_bytes(),
            _ => json,
        };
        io::stdout().write_all(&text)?;
    }
    Ok(if report.drift { EXIT_CHANGES } else { EXIT_OK })
}

fn cmd_import(args: &ImportArgs, clock: Clock) -> Result<u8> {
    let live = read_live(&args.live, clock)?;
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
    let manifest_path = files::write_import(&args.out, &exported)?;
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
