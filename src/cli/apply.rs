//! `ociam apply`: a fresh plan of a manifest, or exactly a saved plan, shown, confirmed and
//! applied, then verified by reading the tenancy again. Glue: the saved-plan checks are
//! [`crate::plan::saved`]'s, the executor, its journal and its report are [`crate::apply`]'s;
//! this file asks the operator, draws progress and prints, and tells the journal when to
//! compact: at open, and once an apply completed (settling writes a killed apply left open
//! when a fresh plan of the manifest finds the tenancy matching).

use std::io::{self, IsTerminal, Write};

use anyhow::{Context, Result, bail};

use super::args::{ApplyArgs, Clock, ReportFormat};
use super::output::{emit_plan, load_manifest, progress_bar};
use super::source::{read_live, throughput_message};
use super::{EXIT_CHANGES, EXIT_ERROR, EXIT_OK, EXIT_REJECTED, files, plan_manifest};
use crate::apply;
use crate::backend::live::{self, Live};
use crate::journal::Journal;
use crate::manifest;
use crate::model::UserName;
use crate::plan::{self, Plan, saved};
use crate::render::Format;

/// Unix seconds of the real clock: the journal dates records (and ages retry tokens and
/// plans) with it, never with `--now`.
fn wall_clock() -> i64 {
    jiff::Timestamp::now().as_second()
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

pub(super) fn cmd_apply(args: &ApplyArgs, clock: Clock) -> Result<u8> {
    if args.reveal_passwords && !io::stdout().is_terminal() {
        bail!(
            "refusing --reveal-passwords: stdout is not a terminal, and a one-time password must never reach a pipe, file or CI log; nothing was done. Drop the flag: passwords go to files under --secrets-dir, sealed with age for users whose manifest entry sets console_password.deliver_to"
        );
    }
    let path = args.target.display();
    let text = files::read_text(&args.target, "manifest or plan")?;
    let (plan, loaded, live) = if saved::is_saved_plan(&text) {
        let plan = saved::parse(&text).map_err(|e| anyhow::anyhow!("{path} {e}"))?;
        (plan, None, read_live(&args.live, clock)?)
    } else {
        let Some(loaded) = load_manifest(&args.target, None)? else {
            return Ok(EXIT_ERROR);
        };
        let live = read_live(&args.live, clock)?;
        let plan = plan_manifest(&loaded, &live, args.allow, clock)?;
        (plan, Some(loaded), live)
    };
    let mut journal = Journal::open(&args.journal_dir, live.state.tenancy.as_str())?;
    // Plans settled more than a retry-token TTL ago are dropped (see `journal`); a failure
    // leaves the journal as it was, so the apply goes on.
    if let Err(e) = journal.compact(wall_clock()) {
        writeln!(io::stderr(), "warning: {e}; it was not compacted")?;
    }
    let plan_id = apply::plan_id(&plan.changes);
    if loaded.is_none() {
        // Objects that an interrupted run of this same plan already changed moved because of
        // us; everything else must be as the plan saw it.
        let ours: Vec<String> = journal
            .done(&plan_id)
            .into_values()
            .chain(journal.in_flight(&plan_id))
            .collect();
        let here = saved::Here {
            live: &live.state,
            source_name: &live.name,
            actor: &live.actor.user,
            ours: &ours,
        };
        saved::check(&plan, &here).map_err(|e| anyhow::anyhow!("{path} {e}"))?;
        if let Some(deletions) = saved::deletions_over_budget(&plan, args.allow.allow_deletions) {
            writeln!(
                io::stderr(),
                "error[mass-deletion]: {path} deletes {deletions} users and groups; it was planned \
                 with --allow-deletions, so apply needs it too: --allow-deletions {deletions}"
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
        if loaded.is_some() {
            // The tenancy already matches the manifest: see `settle_open` below.
            if let Err(e) = journal.settle_open(&plan_id, wall_clock()) {
                writeln!(io::stderr(), "warning: {e}")?;
            }
        }
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
    let report = execute(args, &plan, loaded.as_ref(), &live, &mut journal, &plan_id)?;
    let counts = report.counts();
    writeln!(
        io::stderr(),
        "Applied {} of {} changes ({} failed, {} not started); journal: {}.",
        counts.done,
        plan.changes.len(),
        counts.failed,
        counts.not_started,
        journal.path().display()
    )?;
    let code = if report.succeeded() {
        verify(args, loaded.as_ref(), &plan, &live, json, clock)?
    } else {
        EXIT_ERROR
    };
    if report.succeeded() {
        // The tenancy matches the manifest: writes an earlier, killed apply left open are in
        // it or needless. Then every step is done: the plan's records are no longer needed.
        let settled = if loaded.is_some() && code == EXIT_OK {
            journal.settle_open(&plan_id, wall_clock()).map(drop)
        } else {
            Ok(())
        };
        if let Err(e) = settled.and_then(|()| journal.complete(&plan_id, wall_clock()).map(drop)) {
            writeln!(io::stderr(), "warning: {e}; it was not compacted")?;
        }
    }
    if json {
        let document = report.document(&plan.tenancy, &plan_id, code == EXIT_OK);
        let mut text = serde_json::to_vec_pretty(&document)?;
        text.push(b'\n');
        io::stdout().write_all(&text)?;
    }
    Ok(code)
}

/// Runs the executor over `plan`, drawing a progress bar (or, off a terminal, one line per
/// step).
fn execute(
    args: &ApplyArgs,
    plan: &Plan,
    loaded: Option<&manifest::Loaded>,
    live: &Live,
    journal: &mut Journal,
    plan_id: &str,
) -> Result<apply::ApplyReport> {
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
        desired: loaded.map(|l| &l.desired),
        actor: &live.actor,
        delivery: &delivery,
        reveal: if args.reveal_passwords {
            Some(&reveal)
        } else {
            None
        },
    };
    let mut run = apply::Run {
        journal,
        plan_id: plan_id.to_owned(),
        keep_going: args.keep_going,
        parallelism: connected.client.parallelism(),
        clock: &wall_clock,
    };
    let total = plan.changes.len();
    let bar = progress_bar("applying");
    bar.set_length(total as u64);
    let mut err = io::stderr();
    let started = std::time::Instant::now();
    let opening = format!(
        "applying {total} changes, up to {} at once",
        run.parallelism
    );
    if bar.is_hidden() {
        let _ = writeln!(err, "{opening}");
    } else {
        bar.println(opening);
    }
    let report = live::runtime()?.block_on(apply::execute(
        &target,
        &plan.changes,
        &mut run,
        &mut |step| {
            bar.inc(1);
            bar.set_message(throughput_message(
                "applying",
                &connected.client.throughput(),
            ));
            let line = format!("[{}/{total}] {step}", step.seq);
            if bar.is_hidden() {
                let _ = writeln!(err, "{line}");
            } else {
                bar.println(line);
            }
        },
    ));
    bar.finish_and_clear();
    let throughput = connected.client.throughput();
    let _ = writeln!(
        err,
        "wrote {} of {total} steps in {:.2} s (concurrency {} of {} at the end, {} throttled)",
        report.counts().done,
        started.elapsed().as_secs_f64(),
        throughput.limit,
        throughput.cap,
        throughput.throttles
    );
    Ok(report)
}

/// Re-reads the tenancy and says whether it now matches; exit 2 with the remaining plan if not.
fn verify(
    args: &ApplyArgs,
    loaded: Option<&manifest::Loaded>,
    applied: &Plan,
    before: &Live,
    json: bool,
    clock: Clock,
) -> Result<u8> {
    let after = read_live(&args.live, clock)?;
    let remaining = match loaded {
        Some(loaded) => plan_manifest(loaded, &after, args.allow, clock)?,
        None => {
            // A saved plan comes without its manifest: what it should have made is the state
            // it was planned against with its steps applied.
            let expected = plan::simulate::expected_after(&before.state, &applied.changes);
            let options = plan::Options {
                today: clock.today(),
                ..plan::Options::default()
            };
            plan::plan(&expected, &after.state, &after.actor, &options)
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
