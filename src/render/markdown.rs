//! The pull-request comment: GitHub-flavoured Markdown that CI posts for reviewers.
//!
//! Order is chosen for review: a hidden marker line ([`PLAN_MARKER`], by which CI finds its one
//! comment), a status title, the summary table, the error table (outside any `<details>`, so a
//! rejection is seen at once), warnings and notes (collapsed), every change (collapsed), the
//! API-key slots per user, and a footer with the digests.
//!
//! Every piece of text that came from the manifest or the tenancy goes through `escape` or
//! `code`, so a description cannot break a table, open a code span or inject HTML.
//!
//! A change or finding from a manifest entry says where under its subject: `at
//! iam/manifest.yaml:14`, a link to `BASE/iam/manifest.yaml#L14` when a base URL is given
//! (`--source-url-base`). A long or multi-line text field that changes is one value with the
//! changed words marked, `"kept ~~removed~~ **added** kept"` (see `render`'s header); an
//! unchanged stretch over [`MAX_KEPT`] characters keeps only its ends around `…`.
//!
//! The comment never exceeds [`MAX_MARKDOWN_CHARS`] (GitHub rejects comments over 65,536
//! characters). When the full rendering would, rows are dropped from the end of the sections
//! (changes first in practice; the summary is always kept and the error table is favoured) and
//! a note says how many were left out and points to the plan JSON artifact. Sizes are measured
//! in UTF-8 bytes, which is never less than the count of characters or UTF-16 units.
//!
//! Pure: writes only to the given writer.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::{
    Delivery, Val, Words, actor_authority, by_severity, clip, count, delivery, field_views,
    granting_policies, is_signing_key, line_ref, sanitize, short_ocid, source_url, word_diff,
};
use crate::model::{Location, MAX_API_KEYS};
use crate::plan::{Authority, Change, KeySlots, Kind, Plan};
use crate::rules::{Diagnostic, Severity};

/// The first line of every plan comment: hidden when rendered; the CI recipes find (and
/// update) their one pull-request comment by it.
pub const PLAN_MARKER: &str = "<!-- ociam:plan -->";

/// The most characters (measured as UTF-8 bytes) a rendered comment may have.
pub const MAX_MARKDOWN_CHARS: usize = 60_000;

/// Longest reason, message or hint shown in a cell, in characters (before escaping).
const MAX_CELL: usize = 500;
/// Longest field value (description, email, recipient) shown, in characters.
const MAX_VALUE: usize = 200;
/// Longest unchanged stretch of a word diff shown whole, in characters.
const MAX_KEPT: usize = 80;

/// Writes the pull-request comment for `plan`: at most [`MAX_MARKDOWN_CHARS`].
///
/// # Errors
/// Only the writer's errors.
pub fn render(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    render_with(plan, None, out)
}

/// [`render`], linking manifest locations under `source_url_base` (see
/// [`super::Options::source_url_base`]).
///
/// # Errors
/// Only the writer's errors.
pub fn render_with(
    plan: &Plan,
    source_url_base: Option<&str>,
    out: &mut dyn Write,
) -> io::Result<()> {
    out.write_all(to_markdown_with(plan, source_url_base).as_bytes())
}

/// The pull-request comment for `plan` as a string of at most [`MAX_MARKDOWN_CHARS`].
#[must_use]
pub fn to_markdown(plan: &Plan) -> String {
    to_markdown_with(plan, None)
}

/// [`to_markdown`], linking manifest locations under `source_url_base`.
#[must_use]
pub fn to_markdown_with(plan: &Plan, source_url_base: Option<&str>) -> String {
    let links = Links {
        base: source_url_base,
    };
    build(plan, MAX_MARKDOWN_CHARS, links)
}

/// Where manifest locations link to, if anywhere.
#[derive(Clone, Copy, Default)]
struct Links<'a> {
    base: Option<&'a str>,
}

impl Links<'_> {
    /// `at` as `label`: a link when there is a base and `at` is relative to it, else a code
    /// span.
    fn at(self, at: &Location, label: &str) -> String {
        let label = clip(label, MAX_CELL);
        match self.base.and_then(|base| source_url(base, at)) {
            Some(url) => format!("[{}]({url})", escape(&label)),
            None => code(&label),
        }
    }
}

fn build(plan: &Plan, limit: usize, links: Links<'_>) -> String {
    let head = head(plan);
    let foot = footer(plan);
    let errors: Vec<&Diagnostic> = by_severity(&plan.diagnostics)
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    let others: Vec<&Diagnostic> = by_severity(&plan.diagnostics)
        .into_iter()
        .filter(|d| d.severity != Severity::Error)
        .collect();
    let errors = error_section(&errors, links);
    let others = other_section(&others, &plan.diagnostics, links);
    let changes = change_section(plan, links);
    let slots = slot_section(&plan.key_slots);

    let full = [&errors, &others, &changes, &slots]
        .iter()
        .map(|s| s.full_len())
        .sum::<usize>()
        + head.len()
        + foot.len();
    let (errors, others, changes, slots) = if full <= limit {
        (
            errors.render(usize::MAX),
            others.render(usize::MAX),
            changes.render(usize::MAX),
            slots.render(usize::MAX),
        )
    } else {
        // Favour the error table, then the small per-user and per-finding tables; the change
        // list gets whatever is left (at least an eighth of the room).
        let mut room = limit.saturating_sub(head.len() + foot.len());
        let errors = errors.render(room / 4 * 3);
        room = room.saturating_sub(errors.len());
        let slots = slots.render(room / 2);
        room = room.saturating_sub(slots.len());
        let others = others.render(room / 2);
        room = room.saturating_sub(others.len());
        (errors, others, changes.render(room), slots)
    };
    let mut out = String::with_capacity(limit.min(full));
    for part in [&head, &errors, &others, &changes, &slots, &foot] {
        out.push_str(part);
    }
    out
}

/// A table (optionally collapsed) whose rows may be cut from the end to fit a budget.
struct Section {
    /// Everything before the first row (heading, `<details>`, table header).
    prefix: String,
    rows: Vec<String>,
    /// Everything after the last row (`</details>` and blank lines).
    suffix: String,
    /// What a row is, plural, for the truncation note: `changes`, `errors`…
    noun: &'static str,
}

impl Section {
    fn empty() -> Self {
        Self {
            prefix: String::new(),
            rows: Vec::new(),
            suffix: String::new(),
            noun: "",
        }
    }

    fn full_len(&self) -> usize {
        if self.rows.is_empty() {
            return 0;
        }
        self.prefix.len() + self.rows.iter().map(String::len).sum::<usize>() + self.suffix.len()
    }

    fn note(&self, left_out: usize) -> String {
        format!(
            "… {left_out} more {} not shown (comment size limit); see the plan JSON artifact \
             for the full plan.\n\n",
            self.noun
        )
    }

    /// The section in at most `budget` bytes: whole, or its first rows and a note.
    fn render(&self, budget: usize) -> String {
        if self.rows.is_empty() {
            return String::new();
        }
        if self.full_len() <= budget {
            let mut s = self.prefix.clone();
            self.rows.iter().for_each(|r| s.push_str(r));
            s.push_str(&self.suffix);
            return s;
        }
        // The note for every row is the longest note there can be.
        let fixed = self.prefix.len() + self.suffix.len() + self.note(self.rows.len()).len();
        let mut used = fixed;
        let shown = self
            .rows
            .iter()
            .take_while(|r| {
                used += r.len();
                used <= budget
            })
            .count();
        let note = self.note(self.rows.len() - shown);
        if shown == 0 {
            return if note.len() <= budget {
                note
            } else {
                String::new()
            };
        }
        let mut s = self.prefix.clone();
        self.rows[..shown].iter().for_each(|r| s.push_str(r));
        s.push_str(&self.suffix);
        s.push_str(&note);
        s
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn head(plan: &Plan) -> String {
    let s = &plan.summary;
    let warnings = count(&plan.diagnostics, Severity::Warning);
    let changes = plan.changes.len();
    let (icon, status) = if s.rejected {
        (
            "❌",
            format!(
                "rejected by {}",
                plural(s.errors as usize, "error", "errors")
            ),
        )
    } else if changes == 0 && warnings == 0 {
        ("✅", "no changes".to_owned())
    } else if warnings > 0 {
        (
            "⚠️",
            format!(
                "{}, {}",
                plural(changes, "change", "changes"),
                plural(warnings, "warning", "warnings")
            ),
        )
    } else {
        ("✅", plural(changes, "change", "changes"))
    };
    let mut h = String::new();
    let _ = writeln!(h, "{PLAN_MARKER}");
    let _ = writeln!(
        h,
        "### {icon} ociam plan for tenancy {}: {status}\n",
        code(&short_ocid(plan.tenancy.as_str()))
    );
    h.push_str("| Create | Update | Delete | Errors | Warnings | Rejected | Actor |\n");
    h.push_str("|---:|---:|---:|---:|---:|:---|:---|\n");
    let _ = write!(
        h,
        "| {} | {} | {} | {} | {} | {} | {} ({})",
        s.create,
        s.update,
        s.delete,
        s.errors,
        s.warnings,
        if s.rejected { "**yes**" } else { "no" },
        code(&clip(plan.actor.user.as_str(), 100)),
        escape(&clip(&actor_authority(&plan.actor.authority), MAX_CELL)),
    );
    if let Some(fp) = &plan.actor.fingerprint {
        let _ = write!(h, ", signing key {}", code(fp.short()));
    }
    h.push_str(" |\n\n");
    if s.rejected {
        h.push_str("**This plan cannot be applied** until the errors below are fixed.\n\n");
    } else if changes == 0 {
        h.push_str("No changes. The tenancy matches the manifest.\n\n");
    }
    h
}

fn authority(c: &Change) -> String {
    match c.authority {
        Authority::Admin => "admin".to_owned(),
        Authority::Policy => format!("policy {}", code(&clip(&granting_policies(c), MAX_CELL))),
        Authority::SelfService => "self-service".to_owned(),
        Authority::None => "**none**".to_owned(),
    }
}

fn subject_cell(d: &Diagnostic, links: Links<'_>) -> String {
    let mut s = code(&clip(&d.subject, MAX_CELL));
    if let Some(at) = &d.location {
        let _ = write!(s, "<br>at {}", links.at(at, &at.to_string()));
    }
    s
}

fn step_cell(step: Option<u32>) -> String {
    step.map_or_else(|| "—".to_owned(), |s| s.to_string())
}

fn error_section(errors: &[&Diagnostic], links: Links<'_>) -> Section {
    if errors.is_empty() {
        return Section::empty();
    }
    Section {
        prefix: format!(
            "#### ❌ {}\n\n| Rule | Step | Subject | Problem | Fix |\n|:---|---:|:---|:---|:---|\n",
            plural(errors.len(), "error", "errors")
        ),
        rows: errors
            .iter()
            .map(|d| {
                format!(
                    "| {} | {} | {} | {} | {} |\n",
                    code(d.rule.id()),
                    step_cell(d.step),
                    subject_cell(d, links),
                    escape(&clip(&d.message, MAX_CELL)),
                    escape(&clip(&d.help, MAX_CELL)),
                )
            })
            .collect(),
        suffix: "\n".to_owned(),
        noun: "errors",
    }
}

fn other_section(others: &[&Diagnostic], all: &[Diagnostic], links: Links<'_>) -> Section {
    if others.is_empty() {
        return Section::empty();
    }
    let warnings = count(all, Severity::Warning);
    let notes = count(all, Severity::Note);
    let title = match (warnings, notes) {
        (0, n) => plural(n, "note", "notes"),
        (w, 0) => plural(w, "warning", "warnings"),
        (w, n) => format!(
            "{} and {}",
            plural(w, "warning", "warnings"),
            plural(n, "note", "notes")
        ),
    };
    Section {
        prefix: format!(
            "<details><summary>{title}</summary>\n\n\
             | Severity | Rule | Step | Subject | Message | Hint |\n\
             |:---|:---|---:|:---|:---|:---|\n"
        ),
        rows: others
            .iter()
            .map(|d| {
                format!(
                    "| {} | {} | {} | {} | {} | {} |\n",
                    if d.severity == Severity::Warning {
                        "⚠️ warning"
                    } else {
                        "ℹ️ note"
                    },
                    code(d.rule.id()),
                    step_cell(d.step),
                    subject_cell(d, links),
                    escape(&clip(&d.message, MAX_CELL)),
                    escape(&clip(&d.help, MAX_CELL)),
                )
            })
            .collect(),
        suffix: "\n</details>\n\n".to_owned(),
        noun: "warnings and notes",
    }
}

fn change_section(plan: &Plan, links: Links<'_>) -> Section {
    if plan.changes.is_empty() {
        return Section::empty();
    }
    let mut at_step: std::collections::BTreeMap<u32, Vec<&Diagnostic>> =
        std::collections::BTreeMap::new();
    for d in by_severity(&plan.diagnostics) {
        if let Some(step) = d.step {
            at_step.entry(step).or_default().push(d);
        }
    }
    Section {
        prefix: format!(
            "<details><summary>{}, in apply order</summary>\n\n\
             | # | | Action | Subject | By | Key slots | Reason | Details |\n\
             |---:|:---:|:---|:---|:---|:---|:---|:---|\n",
            plural(plan.changes.len(), "change", "changes")
        ),
        rows: plan
            .changes
            .iter()
            .map(|c| {
                let diags = at_step.get(&c.seq).map_or(&[][..], Vec::as_slice);
                change_row(plan, c, diags, links)
            })
            .collect(),
        suffix: "\n</details>\n\n".to_owned(),
        noun: "changes",
    }
}

fn change_row(plan: &Plan, c: &Change, diags: &[&Diagnostic], links: Links<'_>) -> String {
    let symbol = match c.action.kind() {
        Kind::Create => "`+`",
        Kind::Update => "`~`",
        Kind::Delete => "`-`",
    };
    let slots = c.key_slots.map_or_else(String::new, |s| {
        let over = s.after > MAX_API_KEYS;
        let arrow = clip(&s.to_string(), 40).replace("->", "→");
        format!("{}{}", escape(&arrow), if over { " ❌" } else { "" })
    });
    let mut details: Vec<String> = field_views(c)
        .into_iter()
        .map(|f| match (f.before, f.after) {
            (Some(b), Some(a)) => match (b, a) {
                (Val::Text(b), Val::Text(a)) => word_diff(b, a).map(|w| marked(&w)),
                _ => None,
            }
            .map_or_else(
                || format!("{}: {} → {}", f.name, value(b), value(a)),
                |words| format!("{} (word diff): {words}", f.name),
            ),
            (Some(v), None) | (None, Some(v)) => format!("{}: {}", f.name, value(v)),
            (None, None) => f.name.to_owned(),
        })
        .collect();
    match delivery(c) {
        Some(Delivery::Age(r)) => details.push(format!(
            "one-time password sealed to age recipient {}",
            code(&clip(r, MAX_VALUE))
        )),
        Some(Delivery::File) => {
            details.push("one-time password written to a 0600 file (no deliver\\_to)".to_owned());
        }
        Some(Delivery::Link(email)) => details.push(format!(
            "OCI emails a reset link to {} (identity domains: no one-time password)",
            code(&clip(email, MAX_VALUE))
        )),
        None => {}
    }
    if is_signing_key(plan, c) {
        details.push(format!(
            "⚠️ the key {} signs this plan with",
            code(plan.actor.user.as_str())
        ));
    }
    for d in diags {
        let icon = match d.severity {
            Severity::Error => "❌",
            Severity::Warning => "⚠️",
            Severity::Note => "ℹ️",
        };
        details.push(format!("{icon} {} {}", d.severity, code(d.rule.id())));
    }
    let mut subject = code(&clip(&c.subject(), MAX_CELL));
    if let Some(at) = &c.source {
        let _ = write!(subject, "<br>at {}", links.at(at, &line_ref(at)));
    }
    format!(
        "| {} | {symbol} | {} | {subject} | {} | {slots} | {} | {} |\n",
        c.seq,
        c.action.as_str(),
        authority(c),
        escape(&clip(&c.reason, MAX_CELL)),
        details.join("<br>"),
    )
}

/// A word diff as one quoted value: `"kept ~~removed~~ **added** kept"`. Whitespace at the
/// ends of a change stays outside its markers (GitHub does not close `~~` or `**` after a
/// space); a removed run of only whitespace is not shown; a space separates a removal from
/// the addition that replaces it.
fn marked(words: &[Words]) -> String {
    let mut out = String::from('"');
    for (i, w) in words.iter().enumerate() {
        if matches!(w, Words::Added(_))
            && matches!(words.get(i.wrapping_sub(1)), Some(Words::Removed(t)) if !t.trim().is_empty())
            && !out.ends_with(char::is_whitespace)
        {
            out.push(' ');
        }
        let (text, mark) = match w {
            Words::Kept(t) => {
                out.push_str(&escape(&elide(t, i == 0, i + 1 == words.len())));
                continue;
            }
            Words::Removed(t) => (t, "~~"),
            Words::Added(t) => (t, "**"),
        };
        let core = text.trim();
        let lead = &text[..text.len() - text.trim_start().len()];
        let trail = &text[text.trim_end().len()..];
        if core.is_empty() {
            if mark == "**" {
                out.push_str(&escape(text));
            }
            continue;
        }
        let _ = write!(
            out,
            "{}{mark}{}{mark}{}",
            escape(lead),
            escape(&clip(core, MAX_VALUE)),
            escape(trail)
        );
    }
    out.push('"');
    out
}

/// An unchanged stretch of a word diff, without its middle (or its far end, at the start or
/// end of the value) when longer than [`MAX_KEPT`].
fn elide(t: &str, first: bool, last: bool) -> std::borrow::Cow<'_, str> {
    let n = t.chars().count();
    if n <= MAX_KEPT {
        return t.into();
    }
    let keep = MAX_KEPT / 2;
    let head: String = t.chars().take(keep).collect();
    let tail: String = t.chars().skip(n - keep).collect();
    match (first, last) {
        (true, true) => t.into(),
        (true, false) => format!("…{tail}").into(),
        (false, true) => format!("{head}…").into(),
        (false, false) => format!("{head} … {tail}").into(),
    }
}

fn value(v: Val<'_>) -> String {
    match v {
        Val::Text(s) => format!("\"{}\"", escape(&clip(s, MAX_VALUE))),
        Val::Flag(true) => "on".to_owned(),
        Val::Flag(false) => "off".to_owned(),
        Val::Num(n) => n.to_string(),
        Val::Unset => "(none)".to_owned(),
    }
}

fn slot_section(slots: &[KeySlots]) -> Section {
    if slots.is_empty() {
        return Section::empty();
    }
    Section {
        prefix: format!(
            "#### API-key slots (OCI allows at most {MAX_API_KEYS} per user)\n\n\
             | User | Before | Peak | After | |\n|:---|---:|---:|---:|:---|\n"
        ),
        rows: slots
            .iter()
            .map(|k| {
                let over = usize::try_from(k.peak).is_ok_and(|n| n > MAX_API_KEYS);
                let full = usize::try_from(k.peak).is_ok_and(|n| n == MAX_API_KEYS);
                format!(
                    "| {} | {} | {} | {} | {} |\n",
                    code(&clip(k.user.as_str(), 100)),
                    k.before,
                    if over {
                        format!("**{}**", k.peak)
                    } else {
                        k.peak.to_string()
                    },
                    k.after,
                    if over {
                        "❌ over the limit at some step"
                    } else if full {
                        "at the limit"
                    } else {
                        ""
                    },
                )
            })
            .collect(),
        suffix: "\n".to_owned(),
        noun: "users' key slots",
    }
}

fn footer(plan: &Plan) -> String {
    let digest = |d: &str| code(&clip(d, 19));
    format!(
        "<sub>Tenancy {} · manifest {} · live {}</sub>\n",
        code(&clip(plan.tenancy.as_str(), 200)),
        digest(&plan.manifest_digest),
        digest(&plan.live_digest),
    )
}

/// `s` in a code span when it is made only of characters that cannot end the span, break a
/// table or form HTML (names, OCIDs, fingerprints, rule ids, paths); otherwise escaped text.
pub(super) fn code(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:/@+-=,…".contains(c));
    if safe { format!("`{s}`") } else { escape(s) }
}

/// `s` as inert Markdown text for a table cell: Markdown punctuation backslash-escaped, `<`,
/// `>` and `&` as entities, newlines as `<br>`, other control characters and bidi overrides
/// made visible (`\u{1b}`).
pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' | '|' | '`' | '*' | '_' | '[' | ']' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' => out.push_str("<br>"),
            '\r' => {}
            c => {
                let mut buf = [0u8; 4];
                out.push_str(&sanitize(c.encode_utf8(&mut buf)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::samples;
    use super::*;

    #[test]
    fn a_reset_with_identity_domains_says_where_oci_emails_the_link() {
        let mut buf = Vec::new();
        render(&samples::reset_link_plan(), &mut buf).unwrap();
        let out = String::from_utf8(buf).unwrap();
        assert!(
            out.contains("OCI emails a reset link to `alice@example.com`"),
            "{out}"
        );
        assert!(!out.contains("one-time password sealed"), "{out}");
    }

    /// Unescaped `|` in a line: the number of cell borders GitHub sees.
    fn borders(line: &str) -> usize {
        let mut n = 0;
        let mut escaped = false;
        for c in line.chars() {
            match c {
                '\\' if !escaped => escaped = true,
                '|' if !escaped => n += 1,
                _ => escaped = false,
            }
            if c != '\\' {
                escaped = false;
            }
        }
        n
    }

    /// Every table row has as many cell borders as its header.
    fn assert_tables_are_intact(md: &str) {
        let mut expected = None;
        for line in md.lines() {
            if line.starts_with('|') {
                let n = borders(line);
                let want = *expected.get_or_insert(n);
                assert_eq!(n, want, "broken table row: {line}");
            } else {
                expected = None;
            }
        }
    }

    #[test]
    fn sample_plan() {
        let md = to_markdown(&samples::sample_plan());
        assert_tables_are_intact(&md);
        insta::assert_snapshot!(md);
    }

    #[test]
    fn rejected_plan() {
        let md = to_markdown(&samples::sample_rejected_plan());
        assert_tables_are_intact(&md);
        insta::assert_snapshot!(md);
    }

    #[test]
    fn empty_plan() {
        insta::assert_snapshot!(to_markdown(&samples::empty_plan()));
    }

    #[test]
    fn summary_comes_first_and_errors_are_not_collapsed() {
        let md = to_markdown(&samples::sample_rejected_plan());
        let summary = md.find("| Create | Update | Delete |").unwrap();
        let errors = md
            .find("| Rule | Step | Subject | Problem | Fix |")
            .unwrap();
        let first_details = md.find("<details>").unwrap();
        assert!(summary < errors && errors < first_details);
        assert!(md.starts_with(
            "<!-- ociam:plan -->\n### ❌ ociam plan for tenancy `…5r4e2q`: rejected by 5 errors"
        ));
        assert!(
            md.contains("| `max-api-keys` | 3 | `user.ci-runner`<br>at `iam/manifest.yaml:12:9` |")
        );
    }

    #[test]
    fn user_text_cannot_break_tables_or_inject_html() {
        let md = to_markdown(&samples::hostile_plan());
        assert_tables_are_intact(&md);
        assert!(!md.contains("<script>"), "{md}");
        assert!(!md.contains("<img"), "{md}");
        assert!(!md.contains("<b>"), "{md}");
        assert!(!md.contains('\u{1b}'), "{md}");
        assert!(md.contains(r"a \| b &lt;script&gt;alert(1)&lt;/script&gt; \`code\`<br>second line \u{1b}\[31mred\u{1b}\[0m"), "{md}");
        assert!(md.contains(r"description differs \| &lt;img src=x onerror=alert(1)&gt;"));
        // A subject with unsafe characters is escaped, not put in a code span.
        assert!(md.contains(r"| user.x\|y |"), "{md}");
        assert!(md.contains(r"help with \`backticks\`"));
        insta::assert_snapshot!(md);
    }

    #[test]
    fn a_huge_plan_is_cut_to_the_comment_limit() {
        let plan = samples::large_plan(20_000);
        let md = to_markdown(&plan);
        assert!(md.len() <= MAX_MARKDOWN_CHARS, "{} bytes", md.len());
        assert!(md.chars().count() <= MAX_MARKDOWN_CHARS);
        assert!(md.contains("| Create | Update | Delete | Errors | Warnings | Rejected | Actor |"));
        assert!(md.contains("| 20000 | 0 | 0 | 2 | 0 | **yes** |"));
        assert!(md.contains("| `mass-deletion` |"), "error table kept");
        assert!(md.contains("| `max-api-keys` |"), "error table kept");
        assert!(md.contains("<details><summary>20000 changes, in apply order</summary>"));
        let shown = md.lines().filter(|l| l.contains(" | `+` | ")).count();
        assert!(shown > 100, "{shown} rows shown");
        let note = format!(
            "… {} more changes not shown (comment size limit); see the plan JSON artifact for the full plan.",
            20_000 - shown
        );
        assert!(md.contains(&note), "{note}");
        assert!(
            md.contains("1 | `+` | create_user | `user.user-00000`"),
            "first rows kept"
        );
        assert!(!md.contains("`user.user-19998`"), "last rows dropped");
        assert!(md.ends_with("</sub>\n"), "footer kept");
        assert_tables_are_intact(&md);
    }

    #[test]
    fn every_section_is_cut_when_all_are_huge() {
        use crate::model::UserName;
        use crate::rules::Rule;
        let mut plan = samples::large_plan(20_000);
        for i in 0..5_000 {
            plan.diagnostics.push(
                Diagnostic::new(
                    Rule::MaxApiKeys,
                    format!("user.user-{i:05}"),
                    "x".repeat(300),
                    "y".repeat(300),
                )
                .at_step(1),
            );
            plan.diagnostics
                .push(Diagnostic::new(Rule::Unmanaged, "user.z", "m", "h"));
            plan.key_slots.push(KeySlots {
                user: UserName::new(format!("user-{i:05}")),
                before: 3,
                peak: 4,
                after: 3,
            });
        }
        plan.summary = Plan::summarize(&plan.changes, &plan.diagnostics);
        let md = to_markdown(&plan);
        assert!(md.len() <= MAX_MARKDOWN_CHARS, "{} bytes", md.len());
        assert!(md.contains("more errors not shown"));
        assert!(md.contains("more changes not shown"));
        assert!(md.contains("more users' key slots not shown"));
        assert!(md.contains("more warnings and notes not shown"));
        assert_tables_are_intact(&md);
    }

    #[test]
    fn a_plan_that_fits_is_not_cut() {
        for plan in [samples::sample_plan(), samples::sample_rejected_plan()] {
            let md = to_markdown(&plan);
            assert!(!md.contains("not shown"));
            for c in &plan.changes {
                assert!(md.contains(&format!("\n| {} | ", c.seq)));
            }
        }
    }

    #[test]
    fn sections_respect_tiny_budgets() {
        let plan = samples::sample_rejected_plan();
        for limit in [0, 10, 500, 1_000, 2_000, 3_000] {
            let md = build(&plan, limit, Links::default());
            let head = head(&plan).len() + footer(&plan).len();
            assert!(
                md.len() <= limit.max(head),
                "limit {limit}: {} bytes",
                md.len()
            );
        }
    }

    #[test]
    fn a_change_says_where_in_the_manifest_and_links_there_under_a_base() {
        let plan = samples::sample_plan();
        let md = to_markdown(&plan);
        assert!(
            md.contains("| `user.alice`<br>at `iam/manifest.yaml:14` |"),
            "{md}"
        );
        let linked = to_markdown_with(&plan, Some("https://github.com/acme/iam/blob/0123abc"));
        assert_tables_are_intact(&linked);
        assert!(
            linked.contains(
                "| `user.alice`<br>at [iam/manifest.yaml:14](https://github.com/acme/iam/blob/0123abc/iam/manifest.yaml#L14) |"
            ),
            "{linked}"
        );
        // A finding's location links too, still naming its column.
        assert!(
            linked.contains(
                "at [iam/manifest.yaml:31:11](https://github.com/acme/iam/blob/0123abc/iam/manifest.yaml#L31)"
            ),
            "{linked}"
        );
        // The pruned group has no entry to point at.
        let pruned = linked
            .lines()
            .find(|l| l.contains("`group.legacy-admins`"))
            .unwrap();
        assert!(!pruned.contains("<br>at "), "{pruned}");
        // A base that could break the comment links nothing.
        let unsafe_base = to_markdown_with(&plan, Some("https://x.example/a)b"));
        assert!(!unsafe_base.contains("](https://"), "{unsafe_base}");
    }

    #[test]
    fn a_long_or_multi_line_text_change_is_a_word_diff() {
        let md = to_markdown(&samples::word_diff_plan());
        assert_tables_are_intact(&md);
        assert!(
            md.contains(
                "description (word diff): \"Platform engineering owns the build runners ~~and~~ **,** the artifact registry **and the deploy pipeline**\""
            ),
            "{md}"
        );
        assert!(
            md.contains("description (word diff): \"Carol<br>SRE, ~~on call~~ **payments**\""),
            "{md}"
        );
        assert!(
            md.contains("email: \"carol@old.example\" → \"carol@example.com\""),
            "{md}"
        );
    }

    #[test]
    fn a_word_diff_keeps_only_the_ends_of_a_long_unchanged_stretch() {
        let kept = "k".repeat(MAX_KEPT + 20);
        let words = [
            Words::Kept(kept.clone()),
            Words::Removed("old".into()),
            Words::Added("new".into()),
            Words::Kept(format!(" {kept} ")),
            Words::Added("end".into()),
        ];
        let half = "k".repeat(MAX_KEPT / 2);
        let inner = "k".repeat(MAX_KEPT / 2 - 1);
        assert_eq!(
            marked(&words),
            format!("\"…{half}~~old~~ **new** {inner} … {inner} **end**\"")
        );
    }

    #[test]
    fn code_spans_only_hold_safe_text() {
        assert_eq!(code("user.alice"), "`user.alice`");
        assert_eq!(code("a`b"), r"a\`b");
        assert_eq!(code(""), "");
    }
}
