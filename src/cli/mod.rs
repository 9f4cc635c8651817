//! The command line: [`run`] parses the arguments ([`args`]), dispatches to one `cmd_*`
//! function per subcommand (`apply` in [`apply`]) and maps outcomes to exit codes (0 success /
//! no changes, 1 error, 2 changes or drift present, 3 rejected by rules). It is the only place
//! that picks implementations (snapshot file, OCI profile or embedded emulator: [`source`]),
//! reads the environment, the terminal and the clock, and prints ([`output`]); `--out` files
//! are written through `files`.
//!
//! Glue only: decisions live where tests see them — planning, saved-plan checks and drift in
//! the core (`plan`, `plan::saved`, `drift`, `render`), reading live state in `backend::live`,
//! applying and its report in `apply`, reading input files in `files`.

mod apply;
mod args;
mod output;
mod source;

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{CommandFactory as _, Parser as _};

use crate::backend::live::Live;
#[cfg(feature = "emulator")]
use crate::emulator;
use crate::files;
use crate::keys;
use crate::manifest;
use crate::plan::{self, Plan};
use crate::render::{self, annotate};
#[cfg(feature = "emulator")]
use args::EmulatorArgs;
use args::{
    Allowances, Cli, Clock, Command, DriftArgs, DriftFormat, ImportArgs, PlanArgs, PlanOutput,
    SnapshotArgs, ValidateFormat,
};
use output::{
    emit_annotations, emit_plan_linked, load_manifest, set_color, stderr_color, write_plan_json,
};
use source::read_live;

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

fn cmd_plan(args: &PlanArgs, clock: Clock) -> Result<u8> {
    let output = args.format.output();
    let annotations = match output {
        PlanOutput::Annotations(format) => Some(format),
        PlanOutput::Plan(_) => None,
    };
    let Some(loaded) = load_manifest(&args.manifest, annotations)? else {
        return Ok(EXIT_ERROR);
    };
    let mut live = read_live(&args.live, clock)?;
    // Planning needs only the state and the digest: the service's objects go before the
    // planner copies the state (at 100,000 users they are about half the process's memory).
    drop(std::mem::take(&mut live.snapshot));
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
        stalls: args.stall,
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
        live_digest: live.digest.clone(),
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
    let mut live = read_live(&args.live, clock)?;
    drop(std::mem::take(&mut live.snapshot)); // as in `plan`: only the state is needed
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
