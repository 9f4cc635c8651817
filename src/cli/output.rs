//! How the command line prints: manifest problems, plans (with `--out`'s JSON beside them),
//! annotation documents, colour (`--color`, `NO_COLOR`, `CLICOLOR_FORCE`) and the progress bar.
//! Glue: what is printed is rendered by `render`.

use std::io::{self, IsTerminal, Write};
use std::path::Path;

use anyhow::Result;

use super::args::ColorArg;
use crate::files;
use crate::manifest::{self, ManifestErrors};
use crate::plan::Plan;
use crate::render::{self, Format, annotate};

/// Loads a manifest, printing its problems to stderr (and, with an annotation format, as
/// that document on stdout); `Ok(None)` when it has any.
pub(super) fn load_manifest(
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
pub(super) fn set_color(choice: ColorArg) {
    let global = match choice {
        ColorArg::Auto => anstream::ColorChoice::Auto,
        ColorArg::Always => anstream::ColorChoice::Always,
        ColorArg::Never => anstream::ColorChoice::Never,
    };
    global.write_global();
}

pub(super) fn stdout_color() -> bool {
    anstream::AutoStream::choice(&io::stdout()) != anstream::ColorChoice::Never
}

pub(super) fn stderr_color() -> bool {
    anstream::AutoStream::choice(&io::stderr()) != anstream::ColorChoice::Never
}

/// Writes `findings` as `format` to stdout; `manifest` places those without a location.
pub(super) fn emit_annotations(
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

/// A progress bar on stderr when it is a terminal; hidden (silent) otherwise, e.g. in CI.
pub(super) fn progress_bar(what: &'static str) -> indicatif::ProgressBar {
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

/// Writes the plan JSON to `out` (if any) and the chosen rendering to stdout.
pub(super) fn emit_plan(plan: &Plan, format: Format, out: Option<&Path>) -> Result<()> {
    emit_plan_linked(plan, format, out, None)
}

/// [`emit_plan`], linking manifest lines under `source_url_base` (`--source-url-base`).
pub(super) fn emit_plan_linked(
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
pub(super) fn write_plan_json(plan: &Plan, out: Option<&Path>) -> Result<()> {
    if let Some(path) = out {
        let mut json = Vec::new();
        render::render(plan, Format::Json, false, &mut json)?;
        files::write_report(path, &json, "the plan")?;
    }
    Ok(())
}
