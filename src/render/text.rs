//! The terminal view of a plan: terraform-like, for a person reading it at 3 a.m.
//!
//! Layout: a header (tenancy, actor), every change in apply order with its reason, the
//! manifest line it derives from (`source: iam/manifest.yaml:14`), authority, changed fields
//! and key slots, the API-key slots per user, the diagnostics compiler-style (errors first),
//! and a one-line summary. A long or multi-line text field that changes is one quoted value
//! with the changed words marked, `"kept [-removed-]{+added+}"` (see `render`'s header). A
//! rejected plan still shows every change and every diagnostic and ends by saying it cannot be
//! applied.
//!
//! Text that came from the manifest or the tenancy is passed through `render::sanitize`, so it
//! can never emit escape sequences; with `color == false` the output has no ANSI codes at all.
//! Public-key PEM bodies are never printed (the fingerprint identifies the key).
//!
//! Pure: writes only to the given writer.

use std::collections::BTreeMap;
use std::fmt::{self, Display};
use std::io::{self, Write};

use anstyle::{AnsiColor, Style};

use super::{
    Delivery, Val, Words, actor_authority, by_severity, delivery, field_views, granting_policies,
    is_signing_key, line_ref, sanitize, word_diff,
};
use crate::model::MAX_API_KEYS;
use crate::plan::{Authority, Change, Kind, Plan};
use crate::rules::{Diagnostic, Severity};

/// The longest action name (`reset_console_password`), for aligning subjects.
const ACTION_WIDTH: usize = 22;

const BOLD: Style = Style::new().bold();
const GREEN: Style = AnsiColor::Green.on_default();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const RED: Style = AnsiColor::Red.on_default();
const ERROR: Style = AnsiColor::Red.on_default().bold();
const WARNING: Style = AnsiColor::Yellow.on_default().bold();
const NOTE: Style = AnsiColor::Cyan.on_default().bold();
const ARROW: Style = AnsiColor::Blue.on_default().bold();

/// Colours text when enabled and does nothing at all otherwise.
#[derive(Clone, Copy)]
struct Palette {
    color: bool,
}

/// Text wrapped in a style's escape codes (or in nothing).
struct Painted<T> {
    style: Style,
    text: T,
}

impl<T: Display> Display for Painted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}{}",
            self.style.render(),
            self.text,
            self.style.render_reset()
        )
    }
}

impl Palette {
    fn paint<T: Display>(self, style: Style, text: T) -> Painted<T> {
        Painted {
            style: if self.color { style } else { Style::new() },
            text,
        }
    }
}

fn kind_style(kind: Kind) -> Style {
    match kind {
        Kind::Create => GREEN,
        Kind::Update => YELLOW,
        Kind::Delete => RED,
    }
}

fn severity_style(severity: Severity) -> Style {
    match severity {
        Severity::Error => ERROR,
        Severity::Warning => WARNING,
        Severity::Note => NOTE,
    }
}

/// Renders the whole plan for a terminal. `color` adds ANSI colours; without it the output is
/// plain text.
///
/// # Errors
/// Only the writer's errors.
pub fn render(plan: &Plan, color: bool, out: &mut dyn Write) -> io::Result<()> {
    let p = Palette { color };
    header(plan, p, out)?;
    if !plan.changes.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", p.paint(BOLD, "Changes, in apply order:"))?;
        let mut at_step: BTreeMap<u32, Vec<&Diagnostic>> = BTreeMap::new();
        for d in by_severity(&plan.diagnostics) {
            if let Some(step) = d.step {
                at_step.entry(step).or_default().push(d);
            }
        }
        let width = plan
            .changes
            .iter()
            .map(|c| c.seq.to_string().len())
            .max()
            .unwrap_or(1);
        for c in &plan.changes {
            let diags = at_step.get(&c.seq).map_or(&[][..], Vec::as_slice);
            change(plan, c, diags, width, p, out)?;
        }
    }
    if !plan.key_slots.is_empty() {
        writeln!(out)?;
        key_slots(plan, p, out)?;
    }
    if !plan.diagnostics.is_empty() {
        writeln!(out)?;
        render_diagnostics(&plan.diagnostics, color, out)?;
    }
    writeln!(out)?;
    summary(plan, p, out)
}

/// Renders only diagnostics, errors first, compiler-style (for `ociam validate`):
///
/// ```text
/// error[max-api-keys]: step 4, user.carol: <message>
///   help: <help>
///   --> manifest.yaml:12:5
/// ```
///
/// # Errors
/// Only the writer's errors.
pub fn render_diagnostics(
    diags: &[Diagnostic],
    color: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    let p = Palette { color };
    for (i, d) in by_severity(diags).into_iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        diagnostic(d, p, out)?;
    }
    Ok(())
}

fn header(plan: &Plan, p: Palette, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "{} {}",
        p.paint(BOLD, "Tenancy:"),
        sanitize(plan.tenancy.as_str())
    )?;
    write!(
        out,
        "{}   {} ({})",
        p.paint(BOLD, "Actor:"),
        sanitize(plan.actor.user.as_str()),
        sanitize(&actor_authority(&plan.actor.authority))
    )?;
    if let Some(fp) = &plan.actor.fingerprint {
        write!(out, ", signing key {}", sanitize(fp.short()))?;
    }
    writeln!(out)
}

fn change(
    plan: &Plan,
    c: &Change,
    diags: &[&Diagnostic],
    width: usize,
    p: Palette,
    out: &mut dyn Write,
) -> io::Result<()> {
    let style = kind_style(c.action.kind());
    writeln!(
        out,
        "  {:>width$} {} {} {}",
        c.seq,
        p.paint(style, c.action.symbol()),
        p.paint(style, format_args!("{:<ACTION_WIDTH$}", c.action.as_str())),
        sanitize(&c.subject()),
    )?;
    let pad = " ".repeat(width + 5);
    if !c.reason.is_empty() {
        writeln!(out, "{pad}reason: {}", sanitize(&c.reason))?;
    }
    if let Some(at) = &c.source {
        writeln!(out, "{pad}source: {}", sanitize(&line_ref(at)))?;
    }
    match c.authority {
        Authority::None => writeln!(out, "{pad}by: {}", p.paint(ERROR, "none (not authorized)"))?,
        Authority::Policy => writeln!(
            out,
            "{pad}by: policy {} ({})",
            sanitize(&granting_policies(c)),
            c.permissions.join(", ")
        )?,
        a => writeln!(out, "{pad}by: {a}")?,
    }
    for f in field_views(c) {
        if let (Some(Val::Text(b)), Some(Val::Text(a))) = (f.before, f.after)
            && let Some(words) = word_diff(b, a)
        {
            writeln!(out, "{pad}{} (word diff): {}", f.name, marked(&words, p))?;
            continue;
        }
        write!(out, "{pad}{}: ", f.name)?;
        match (f.before, f.after) {
            (Some(b), Some(a)) => writeln!(out, "{} → {}", value(b), value(a))?,
            (Some(v), None) | (None, Some(v)) => writeln!(out, "{}", value(v))?,
            (None, None) => writeln!(out)?,
        }
    }
    if let Some(d) = delivery(c) {
        match d {
            Delivery::Age(r) => writeln!(
                out,
                "{pad}one-time password: sealed to age recipient {}",
                sanitize(r)
            )?,
            Delivery::File => writeln!(
                out,
                "{pad}one-time password: written to a 0600 file (no deliver_to)"
            )?,
            Delivery::Link(email) => writeln!(
                out,
                "{pad}OCI emails a reset link to {} (identity domains: no one-time password)",
                sanitize(email)
            )?,
        }
    }
    if let Some(slots) = c.key_slots {
        write!(out, "{pad}key slots: {slots}")?;
        if slots.after > MAX_API_KEYS {
            write!(
                out,
                "  {}",
                p.paint(ERROR, format_args!("over OCI's limit of {MAX_API_KEYS}"))
            )?;
        }
        writeln!(out)?;
    }
    if is_signing_key(plan, c) {
        writeln!(
            out,
            "{pad}{}",
            p.paint(
                WARNING,
                format_args!(
                    "this is the key {} signs this plan with",
                    sanitize(plan.actor.user.as_str())
                )
            )
        )?;
    }
    for d in diags {
        writeln!(
            out,
            "{pad}{} (see below)",
            p.paint(
                severity_style(d.severity),
                format_args!("{}[{}]", d.severity, d.rule)
            ),
        )?;
    }
    Ok(())
}

fn value(v: Val<'_>) -> String {
    match v {
        Val::Text(s) => quote(s),
        Val::Flag(true) => "on".to_owned(),
        Val::Flag(false) => "off".to_owned(),
        Val::Num(n) => n.to_string(),
        Val::Unset => "(none)".to_owned(),
    }
}

/// A word diff as one quoted value: `"kept [-removed-]{+added+} kept"`, the markers red and
/// green when coloured.
fn marked(words: &[Words], p: Palette) -> String {
    let mut out = String::from('"');
    for w in words {
        match w {
            Words::Kept(t) => out.push_str(&quote_body(t)),
            Words::Removed(t) => {
                let t = format!("[-{}-]", quote_body(t));
                out.push_str(&p.paint(RED, t).to_string());
            }
            Words::Added(t) => {
                let t = format!("{{+{}+}}", quote_body(t));
                out.push_str(&p.paint(GREEN, t).to_string());
            }
        }
    }
    out.push('"');
    out
}

/// `s` in double quotes, with quotes and backslashes escaped and control characters visible.
fn quote(s: &str) -> String {
    format!("\"{}\"", quote_body(s))
}

/// [`quote`] without the quotes.
fn quote_body(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for part in s.split_inclusive(['"', '\\']) {
        let (body, last) = match part.strip_suffix(['"', '\\']) {
            Some(body) => (body, part.chars().last()),
            None => (part, None),
        };
        out.push_str(&sanitize(body));
        if let Some(c) = last {
            out.push('\\');
            out.push(c);
        }
    }
    out
}

fn key_slots(plan: &Plan, p: Palette, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "{}",
        p.paint(
            BOLD,
            format_args!("API-key slots (OCI allows at most {MAX_API_KEYS} per user):")
        )
    )?;
    let names: Vec<_> = plan
        .key_slots
        .iter()
        .map(|k| sanitize(k.user.as_str()))
        .collect();
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    for (k, name) in plan.key_slots.iter().zip(&names) {
        write!(
            out,
            "  {name:<width$}  {} → (peak {}) → {} of {MAX_API_KEYS}",
            k.before, k.peak, k.after
        )?;
        if usize::try_from(k.peak).is_ok_and(|n| n > MAX_API_KEYS) {
            write!(out, "  {}", p.paint(ERROR, "over the limit at some step"))?;
        }
        writeln!(out)?;
    }
    Ok(())
}

fn diagnostic(d: &Diagnostic, p: Palette, out: &mut dyn Write) -> io::Result<()> {
    write!(
        out,
        "{}: ",
        p.paint(
            severity_style(d.severity),
            format_args!("{}[{}]", d.severity, d.rule)
        )
    )?;
    if let Some(step) = d.step {
        write!(out, "step {step}, ")?;
    }
    writeln!(out, "{}: {}", sanitize(&d.subject), sanitize(&d.message))?;
    if !d.help.is_empty() {
        writeln!(out, "  {} {}", p.paint(NOTE, "help:"), sanitize(&d.help))?;
    }
    if let Some(at) = &d.location {
        writeln!(
            out,
            "  {} {}",
            p.paint(ARROW, "-->"),
            sanitize(&at.to_string())
        )?;
    }
    Ok(())
}

fn summary(plan: &Plan, p: Palette, out: &mut dyn Write) -> io::Result<()> {
    let s = &plan.summary;
    if plan.changes.is_empty() && !s.rejected {
        writeln!(
            out,
            "{}",
            p.paint(BOLD, "No changes. The tenancy matches the manifest.")
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "{}",
        p.paint(
            BOLD,
            format_args!(
                "Plan: {} to create, {} to update, {} to delete.",
                s.create, s.update, s.delete
            )
        )
    )?;
    if s.rejected {
        writeln!(
            out,
            "{}",
            p.paint(
                ERROR,
                format_args!(
                    "Plan REJECTED by {} error(s); it cannot be applied.",
                    s.errors
                )
            )
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::samples;
    use super::*;

    fn text(plan: &Plan, color: bool) -> String {
        let mut buf = Vec::new();
        render(plan, color, &mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn sample_plan() {
        insta::assert_snapshot!(text(&samples::sample_plan(), false));
    }

    #[test]
    fn a_reset_with_identity_domains_says_where_oci_emails_the_link() {
        let out = text(&samples::reset_link_plan(), false);
        assert!(
            out.contains("OCI emails a reset link to alice@example.com"),
            "{out}"
        );
        assert!(!out.contains("one-time password: "), "{out}");
        let classic = text(&samples::sample_plan(), false);
        assert!(!classic.contains("reset link"), "{classic}");
    }

    #[test]
    fn rejected_plan() {
        insta::assert_snapshot!(text(&samples::sample_rejected_plan(), false));
    }

    #[test]
    fn empty_plan() {
        insta::assert_snapshot!(text(&samples::empty_plan(), false));
    }

    #[test]
    fn diagnostics_only() {
        let plan = samples::sample_rejected_plan();
        let mut buf = Vec::new();
        render_diagnostics(&plan.diagnostics, false, &mut buf).unwrap();
        insta::assert_snapshot!(String::from_utf8(buf).unwrap());
    }

    #[test]
    fn colour_on_emits_ansi_and_colour_off_emits_none() {
        for plan in [samples::sample_plan(), samples::sample_rejected_plan()] {
            let plain = text(&plan, false);
            assert!(!plain.contains('\u{1b}'), "{plain}");
            let coloured = text(&plan, true);
            assert!(coloured.contains("\u{1b}[32m+"), "create is green");
            assert!(coloured.contains("\u{1b}[31m-"), "delete is red");
        }
        let coloured = text(&samples::sample_rejected_plan(), true);
        assert!(coloured.contains("\u{1b}[1m\u{1b}[31merror[max-api-keys]"));
        let mut buf = Vec::new();
        render_diagnostics(
            &samples::sample_rejected_plan().diagnostics,
            false,
            &mut buf,
        )
        .unwrap();
        assert!(!buf.contains(&0x1b));
    }

    #[test]
    fn manifest_text_cannot_emit_escape_codes() {
        let out = text(&samples::hostile_plan(), false);
        assert!(!out.contains('\u{1b}'), "{out}");
        assert!(out.contains(r#"description: "plain" → "a | b <script>alert(1)</script> `code`\nsecond line \u{1b}[31mred\u{1b}[0m""#), "{out}");
        assert!(out.contains(r"message with | pipe and <b>html</b>\nand a newline"));
    }

    #[test]
    fn public_key_pem_is_never_printed() {
        let out = text(&samples::sample_plan(), false);
        assert!(!out.contains("BEGIN PUBLIC KEY"));
        assert!(out.contains(samples::CAROL_NEW), "full fingerprint shown");
    }

    #[test]
    fn errors_come_first_and_the_rejection_is_the_last_line() {
        let out = text(&samples::sample_rejected_plan(), false);
        let first_error = out.find("\nerror[").unwrap();
        let first_warning = out.find("\nwarning[").unwrap();
        let first_note = out.find("\nnote[").unwrap();
        assert!(first_error < first_warning && first_warning < first_note);
        assert_eq!(
            out.lines().last(),
            Some("Plan REJECTED by 5 error(s); it cannot be applied.")
        );
        for seq in 1..=5 {
            assert!(out.contains(&format!("\n  {seq} ")), "step {seq} shown");
        }
    }

    #[test]
    fn each_change_names_its_manifest_line_and_a_pruned_one_none() {
        let out = text(&samples::sample_plan(), false);
        // The lines of the change whose header line ends with `header`.
        let block = |header: &str| -> Vec<&str> {
            out.lines()
                .skip_while(|l| !l.ends_with(header))
                .skip(1)
                .take_while(|l| l.starts_with("       "))
                .collect()
        };
        let alice = block("create_user            user.alice");
        assert_eq!(
            alice[..2],
            [
                "       reason: in manifest, not live",
                "       source: iam/manifest.yaml:14"
            ]
        );
        let pruned = block("delete_group           group.legacy-admins");
        assert!(!pruned.is_empty());
        assert!(pruned.iter().all(|l| !l.contains("source:")), "{pruned:?}");
    }

    #[test]
    fn a_long_or_multi_line_text_change_is_a_word_diff() {
        let out = text(&samples::word_diff_plan(), false);
        assert!(
            out.contains(
                "  description (word diff): \"Platform engineering owns the build runners[- and-]{+,+} the artifact registry{+ and the deploy pipeline+}\"\n"
            ),
            "{out}"
        );
        assert!(
            out.contains("  description (word diff): \"Carol\\nSRE, [-on call-]{+payments+}\"\n"),
            "{out}"
        );
        assert!(
            out.contains("  email: \"carol@old.example\" → \"carol@example.com\"\n"),
            "short values keep before → after: {out}"
        );
        let x = "x".repeat(70);
        let y = "y".repeat(70);
        assert!(
            out.contains(&format!("  description: \"{x}\" → \"{y}\"\n")),
            "nothing in common: {out}"
        );
        let coloured = text(&samples::word_diff_plan(), true);
        assert!(
            coloured.contains("\u{1b}[31m[-on call-]\u{1b}[0m\u{1b}[32m{+payments+}\u{1b}[0m"),
            "{coloured}"
        );
    }

    #[test]
    fn quote_escapes_quotes_and_backslashes() {
        assert_eq!(quote(r#"say "hi" \ bye"#), r#""say \"hi\" \\ bye""#);
        assert_eq!(quote("O'Brien"), "\"O'Brien\"");
    }
}
