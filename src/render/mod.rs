//! Renderings of a [`Plan`]: the terminal view ([`text`]), the machine contract ([`json`]) and
//! the pull-request comment ([`markdown`]). All three are views of the same value; none adds
//! information the plan does not carry, and none drops a change or a diagnostic (except the
//! Markdown comment, which must fit GitHub's comment size and says so when it cuts).
//! [`annotate`] writes the findings of a plan, a manifest or a drift report as the documents
//! review tools read (GitHub workflow commands, SARIF, GitLab code quality); [`drift`] writes
//! the drift report as the body of the issue a nightly job keeps open.
//!
//! This module owns [`Format`], the [`render`] entry point (and [`render_with`] for the
//! [`Options`] beyond colour), and the small helpers the views share: which fields of a change
//! to show, how to neutralise control characters in text that came from the manifest or the
//! tenancy, the short forms of OCIDs, manifest lines and their links, and word diffs.
//!
//! **Sources.** A change or finding that derives from a manifest entry carries its location;
//! the views show it as `file:line` (text: a `source:` line under the change; Markdown: `at`
//! under the subject, a link `BASE/file#Lline` when [`Options::source_url_base`] is given).
//!
//! **Word diffs.** A changed text field (description, email) whose before or after is long
//! (over [`WORD_DIFF_MIN_CHARS`] characters) or spans lines, and that shares words with the
//! other side, is shown as one value with the changed words marked instead of both values
//! (the field labelled `description (word diff)`):
//! text writes `"kept [-removed-]{+added+} kept"` (git's `--word-diff=plain` markers, red and
//! green when coloured), Markdown writes `"kept ~~removed~~ **added** kept"`. Short
//! single-line values, and two values with no word in common (where a diff would only be both
//! values again), keep `before → after`.
//!
//! Pure: writes only to the given writer. No files, environment, clock or terminal detection:
//! whether to colour is the caller's decision (TTY and `NO_COLOR` are the shell's business).

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::io::{self, Write};
use std::str::FromStr;

use crate::model::Location;
use crate::plan::Plan;
use crate::plan::{Attributes, Change};
use crate::rules::{Diagnostic, Severity};

pub mod annotate;
pub mod drift;
pub mod json;
pub mod markdown;
pub mod text;

pub use markdown::MAX_MARKDOWN_CHARS;
pub use text::render_diagnostics;

/// How to render a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Terraform-like terminal view for people.
    Text,
    /// The versioned JSON contract (`format_version: 1`) for machines and `ociam apply`.
    Json,
    /// A GitHub-flavoured Markdown pull-request comment, at most [`MAX_MARKDOWN_CHARS`].
    Markdown,
}

impl Format {
    /// Every format, in the order `--help` lists them.
    pub const ALL: [Self; 3] = [Self::Text, Self::Json, Self::Markdown];

    /// The name used on the command line: `text`, `json` or `markdown`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Json => "json",
            Self::Markdown => "markdown",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A format name that is not `text`, `json` or `markdown` (or `md`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown output format {0:?}: expected text, json or markdown")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            "markdown" | "md" => Ok(Self::Markdown),
            _ => Err(UnknownFormat(s.to_owned())),
        }
    }
}

/// Renders `plan` as `format` to `out`. `color` only affects [`Format::Text`]; the caller
/// decides it (TTY, `NO_COLOR`, `--color`).
///
/// # Errors
/// Only the writer's errors.
pub fn render(plan: &Plan, format: Format, color: bool, out: &mut dyn Write) -> io::Result<()> {
    let options = Options {
        color,
        ..Options::default()
    };
    render_with(plan, format, &options, out)
}

/// How to render, beyond the format.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// ANSI colours ([`Format::Text`] only); the caller decides (TTY, `NO_COLOR`, `--color`).
    pub color: bool,
    /// `--source-url-base`: the `http(s)` URL of the directory the manifest's file names are
    /// relative to (e.g. a pull request's blob URL). Markdown then links each manifest
    /// location to `BASE/file#Lline`. See [`check_source_url_base`].
    pub source_url_base: Option<String>,
}

/// Renders `plan` as `format` to `out` with `options`.
///
/// # Errors
/// Only the writer's errors.
pub fn render_with(
    plan: &Plan,
    format: Format,
    options: &Options,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Text => text::render(plan, options.color, out),
        Format::Json => json::render(plan, out),
        Format::Markdown => markdown::render_with(plan, options.source_url_base.as_deref(), out),
    }
}

/// Whether `base` can prefix links in a comment: an `http://` or `https://` URL without
/// whitespace, quotes, brackets, parentheses, `|`, backticks or control characters (anything
/// that could end a Markdown link or table cell).
///
/// # Errors
/// Why it cannot, in one sentence.
pub fn check_source_url_base(base: &str) -> Result<(), String> {
    let lower = base.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    if rest.is_none_or(str::is_empty) {
        return Err(format!(
            "{:?} is not an http(s) URL (e.g. https://github.com/OWNER/REPO/blob/COMMIT)",
            clip(base, 80)
        ));
    }
    if let Some(c) = base
        .chars()
        .find(|c| c.is_whitespace() || is_unsafe(*c) || "\"'<>()[]{}|`\\".contains(*c))
    {
        return Err(format!(
            "{:?} holds {c:?}, which cannot stand in a Markdown link (percent-encode it)",
            clip(base, 80)
        ));
    }
    Ok(())
}

/// A manifest location as the views name it: `file:line`.
pub(crate) fn line_ref(at: &Location) -> String {
    format!("{}:{}", at.file, at.line)
}

/// The link to `at` under `base` (`BASE/file#Lline`): `None` when `base` fails
/// [`check_source_url_base`] or the file name is absolute (not relative to any base). A
/// leading `./` is dropped and every byte of the file name outside `A-Z a-z 0-9 - . _ ~ /`
/// is percent-encoded.
pub(crate) fn source_url(base: &str, at: &Location) -> Option<String> {
    check_source_url_base(base).ok()?;
    let mut file = at.file.as_str();
    while let Some(rest) = file.strip_prefix("./") {
        file = rest;
    }
    let absolute =
        file.starts_with(['/', '\\']) || file.as_bytes().get(1) == Some(&b':') || file.is_empty();
    if absolute {
        return None;
    }
    let mut url = base.trim_end_matches('/').to_owned();
    url.push('/');
    for b in file.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            url.push(char::from(b));
        } else {
            let _ = write!(url, "%{b:02X}");
        }
    }
    let _ = write!(url, "#L{}", at.line);
    Some(url)
}

/// The longest before or after (in characters) that is still shown whole, `before → after`.
pub const WORD_DIFF_MIN_CHARS: usize = 60;

/// One run of a word diff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Words {
    /// On both sides.
    Kept(String),
    /// Only before.
    Removed(String),
    /// Only after.
    Added(String),
}

/// The word diff of a changed text field, when one reads better than both values (see the
/// module header): runs in order, each removal before the addition that replaces it, and a
/// lone space between two changes folded into both. `None` for short single-line values and
/// for values with no word in common.
pub(crate) fn word_diff(before: &str, after: &str) -> Option<Vec<Words>> {
    let long = |s: &str| s.chars().count() > WORD_DIFF_MIN_CHARS || s.contains('\n');
    if !(long(before) || long(after)) {
        return None;
    }
    let (old, new) = (tokens(before), tokens(after));
    let diff = similar::TextDiff::from_slices(&old, &new);
    // Consecutive tokens of one tag, joined.
    let mut runs: Vec<(similar::ChangeTag, String)> = Vec::new();
    for change in diff.iter_all_changes() {
        match runs.last_mut() {
            Some((tag, text)) if *tag == change.tag() => text.push_str(change.value()),
            _ => runs.push((change.tag(), change.value().to_owned())),
        }
    }
    let shares_words = runs.iter().any(|(tag, text)| {
        *tag == similar::ChangeTag::Equal && text.chars().any(|c| !c.is_whitespace())
    });
    if !shares_words {
        return None;
    }
    let mut out = Vec::new();
    let (mut removed, mut added) = (String::new(), String::new());
    for (i, (tag, text)) in runs.iter().enumerate() {
        match tag {
            similar::ChangeTag::Delete => removed.push_str(text),
            similar::ChangeTag::Insert => added.push_str(text),
            similar::ChangeTag::Equal => {
                let between_changes = (removed.len() + added.len()) > 0
                    && i + 1 < runs.len()
                    && text.chars().all(char::is_whitespace);
                if between_changes {
                    removed.push_str(text);
                    added.push_str(text);
                    continue;
                }
                flush(&mut out, &mut removed, &mut added);
                out.push(Words::Kept(text.clone()));
            }
        }
    }
    flush(&mut out, &mut removed, &mut added);
    Some(out)
}

/// `s` cut into words (runs of letters and digits), runs of whitespace and single other
/// characters, so `runners,` is the word `runners` and a comma.
fn tokens(s: &str) -> Vec<&str> {
    #[derive(PartialEq)]
    enum Class {
        Word,
        Space,
        Other,
    }
    let class = |c: char| {
        if c.is_alphanumeric() {
            Class::Word
        } else if c.is_whitespace() {
            Class::Space
        } else {
            Class::Other
        }
    };
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let joins = |next: char| class(c) != Class::Other && class(next) == class(c);
        if !chars.peek().is_some_and(|&(_, next)| joins(next)) {
            out.push(&s[start..i + c.len_utf8()]);
            start = i + c.len_utf8();
        }
    }
    out
}

fn flush(out: &mut Vec<Words>, removed: &mut String, added: &mut String) {
    if !removed.is_empty() {
        out.push(Words::Removed(std::mem::take(removed)));
    }
    if !added.is_empty() {
        out.push(Words::Added(std::mem::take(added)));
    }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers (crate-private).

/// One field of a change as the views show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Val<'a> {
    /// Free text from the manifest or the tenancy (must be sanitised or escaped).
    Text(&'a str),
    /// A capability switch.
    Flag(bool),
    /// The password reset counter.
    Num(u32),
    /// The field is unset on this side.
    Unset,
}

/// A field the change shows: both sides for updates, one side for creations and deletions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FieldView<'a> {
    /// The manifest's name of the field, e.g. `capabilities.api_keys`.
    pub name: &'static str,
    /// Before the step; `None` when the change has no `before` side (a creation).
    pub before: Option<Val<'a>>,
    /// After the step; `None` when the change has no `after` side (a deletion).
    pub after: Option<Val<'a>>,
}

fn field_vals(a: &Attributes) -> [(&'static str, Val<'_>); 5] {
    fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> Val<'static>) -> Val<'static> {
        v.map_or(Val::Unset, f)
    }
    [
        (
            "description",
            a.description.as_deref().map_or(Val::Unset, Val::Text),
        ),
        ("email", a.email.as_deref().map_or(Val::Unset, Val::Text)),
        ("capabilities.api_keys", opt(a.api_keys, Val::Flag)),
        (
            "capabilities.console_password",
            opt(a.console_password, Val::Flag),
        ),
        ("console_password.reset", opt(a.reset, Val::Num)),
    ]
}

/// The fields worth showing for `change`: on updates only those that differ, on creations and
/// deletions those that are set. `deliver_to` is not a field here; see [`delivery`].
pub(crate) fn field_views(change: &Change) -> Vec<FieldView<'_>> {
    let empty = [("", Val::Unset); 5];
    let before = change.before.as_ref().map(field_vals);
    let after = change.after.as_ref().map(field_vals);
    if before.is_none() && after.is_none() {
        return Vec::new();
    }
    let b = before.unwrap_or(empty);
    let a = after.unwrap_or(empty);
    let mut out = Vec::new();
    for i in 0..5 {
        let name = if b[i].0.is_empty() { a[i].0 } else { b[i].0 };
        let (bv, av) = (b[i].1, a[i].1);
        if bv == Val::Unset && av == Val::Unset {
            continue;
        }
        if before.is_some() && after.is_some() && bv == av {
            continue;
        }
        out.push(FieldView {
            name,
            before: before.is_some().then_some(bv),
            after: after.is_some().then_some(av),
        });
    }
    out
}

/// Where a reset console password goes, for `reset_console_password` steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Delivery<'a> {
    /// Sealed to this age recipient.
    Age(&'a str),
    /// Written to a `0600` file (no `deliver_to`).
    File,
    /// None: OCI emails a reset link to this address (identity domains).
    Link(&'a str),
}

/// The delivery of the one-time password of a `reset_console_password` step; `None` for other
/// actions.
pub(crate) fn delivery(change: &Change) -> Option<Delivery<'_>> {
    if change.action != crate::plan::Action::ResetConsolePassword {
        return None;
    }
    let after = change.after.as_ref();
    if let Some(email) = after.and_then(|a| a.reset_link_to.as_deref()) {
        return Some(Delivery::Link(email));
    }
    Some(match after.and_then(|a| a.deliver_to.as_deref()) {
        Some(r) => Delivery::Age(r),
        None => Delivery::File,
    })
}

/// How the actor's authority reads in a header: `admin (every IAM permission in tenancy)`,
/// or what it holds (`use users, inspect groups in tenancy; 2 conditional statements;
/// self-service on its own credentials`).
pub(crate) fn actor_authority(a: &crate::plan::ActorAuthority) -> String {
    a.summary()
}

/// The policies that grant a step, by name, once each: `helpdesk, readers`.
pub(crate) fn granting_policies(change: &Change) -> String {
    let mut names: Vec<&str> = change
        .granted_by
        .iter()
        .map(|g| g.policy.as_str())
        .collect();
    names.dedup();
    names.join(", ")
}

/// Whether `change` touches the key the actor signs with.
pub(crate) fn is_signing_key(plan: &Plan, change: &Change) -> bool {
    matches!(
        (&plan.actor.fingerprint, &change.fingerprint, &change.user),
        (Some(signing), Some(fp), Some(user)) if signing == fp && *user == plan.actor.user
    )
}

/// The diagnostics with errors first, then warnings, then notes; otherwise in plan order.
pub(crate) fn by_severity(diags: &[Diagnostic]) -> Vec<&Diagnostic> {
    let mut v: Vec<&Diagnostic> = diags.iter().collect();
    v.sort_by_key(|d| d.severity);
    v
}

/// Counts diagnostics of one severity.
pub(crate) fn count(diags: &[Diagnostic], severity: Severity) -> usize {
    diags.iter().filter(|d| d.severity == severity).count()
}

/// The OCI Console's short form of an OCID: `…` and its last six characters.
pub(crate) fn short_ocid(ocid: &str) -> String {
    let chars: Vec<char> = ocid.chars().collect();
    if chars.len() <= 12 {
        return ocid.to_owned();
    }
    let tail: String = chars[chars.len() - 6..].iter().collect();
    format!("…{tail}")
}

/// Whether `c` must not reach a terminal or a comment verbatim: control characters (ANSI
/// escapes, carriage returns) and bidirectional overrides ("Trojan Source").
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with control characters and bidi overrides written as `\n`, `\u{1b}`…, so text from
/// the manifest or the tenancy cannot move the cursor, colour the terminal or reorder a line.
pub(crate) fn sanitize(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `s` cut to at most `max` characters, with `…` when cut.
pub(crate) fn clip(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some((i, _)) => {
            let cut = s[..i].char_indices().last().map_or(0, |(j, _)| j);
            Cow::Owned(format!("{}…", &s[..cut]))
        }
    }
}

#[cfg(test)]
pub(crate) mod samples {
    //! Sample plans shared by the renderers' tests.

    use crate::model::{Fingerprint, GroupName, Location, Ocid, UserName};
    use crate::plan::{
        Action, Actor, Attributes, Authority, Change, FORMAT_VERSION, KeySlots, Plan, Precondition,
    };
    use crate::rules::{self, Diagnostic, Rule, Severity};

    /// The tenancy of every sample.
    pub const TENANCY: &str = "ocid1.tenancy.oc1..aaaaaaaa3kq7xw2bexample7tenancy5r4e2q";
    /// The key `deploy-bot` signs with.
    pub const DEPLOY_BOT_KEY: &str = "9c:4c:e2:dd:65:73:c9:1d:c7:a4:f0:ba:c8:09:44:b0";
    /// Carol's key rotated out.
    pub const CAROL_OLD: &str = "3c:1f:8a:02:4d:e9:77:b1:0f:6a:c2:91:58:de:13:7e";
    /// Carol's key rotated in.
    pub const CAROL_NEW: &str = "b7:22:09:e4:c1:5a:3f:88:d0:6e:41:9b:af:07:72:c5";
    /// `deploy-bot`'s new key (self-service upload).
    pub const BOT_NEW: &str = "51:0d:ee:34:9a:b2:6c:f1:28:47:e0:13:bd:95:6a:0c";
    /// The key `ci-runner` signs with.
    pub const RUNNER_KEY: &str = "e4:71:3b:9f:02:ac:56:d8:1e:c7:90:2b:64:fa:83:11";
    /// `ci-runner`'s new key.
    pub const RUNNER_NEW: &str = "0a:6f:d2:58:e1:b4:93:27:cc:40:7d:15:a8:e9:36:f2";
    /// Bob's old, weak key.
    pub const BOB_WEAK: &str = "77:e2:19:c0:4b:8d:a5:36:f0:12:6e:db:93:47:2c:a8";

    const PEM: &str = "-----BEGIN PUBLIC KEY-----\n\
        MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAsampleSAMPLEsample\n\
        -----END PUBLIC KEY-----\n";

    /// A fingerprint from a literal.
    pub fn fp(s: &str) -> Fingerprint {
        Fingerprint::new(s)
    }

    /// A location in the sample manifest.
    pub fn loc(line: u64, column: u64) -> Location {
        Location {
            file: "iam/manifest.yaml".into(),
            line,
            column,
        }
    }

    fn user(action: Action, name: &str, reason: &str) -> Change {
        let mut c = Change::new(action, reason);
        c.authority = Authority::Admin;
        c.user = Some(UserName::from(name));
        c
    }

    fn group(action: Action, name: &str, reason: &str) -> Change {
        let mut c = Change::new(action, reason);
        c.authority = Authority::Admin;
        c.group = Some(GroupName::from(name));
        c
    }

    fn key(action: Action, name: &str, f: &str, slots: &str, reason: &str) -> Change {
        let mut c = user(action, name, reason);
        c.fingerprint = Some(fp(f));
        c.key_slots = Some(slots.parse().unwrap());
        if action == Action::UploadApiKey {
            c.public_key = Some(PEM.into());
        }
        c
    }

    fn existing(id: &str) -> Option<Precondition> {
        Some(Precondition {
            exists: true,
            id: Some(Ocid::from(id)),
            digest: Some(format!("sha256:{:0>64}", id.len())),
            keys: None,
        })
    }

    fn number(mut changes: Vec<Change>) -> Vec<Change> {
        for (i, c) in changes.iter_mut().enumerate() {
            c.seq = u32::try_from(i + 1).unwrap();
        }
        changes
    }

    /// Numbers `changes` and wraps them in a plan with a computed summary.
    pub fn plan(actor: Actor, changes: Vec<Change>, diagnostics: Vec<Diagnostic>) -> Plan {
        let changes = number(changes);
        let summary = Plan::summarize(&changes, &diagnostics);
        Plan {
            format_version: FORMAT_VERSION,
            tenancy: Ocid::from(TENANCY),
            actor,
            manifest_digest:
                "sha256:5e1f0c2a9b7d4e3f8a6c1b0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f".into(),
            live_digest: "sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
                .into(),
            changes,
            diagnostics,
            key_slots: Vec::new(),
            deletion_budget: 5,
            summary,
        }
    }

    fn deploy_bot() -> Actor {
        Actor {
            user: UserName::from("deploy-bot"),
            authority: crate::plan::ActorAuthority {
                admin: true,
                self_service: true,
                ..crate::plan::ActorAuthority::default()
            },
            fingerprint: Some(fp(DEPLOY_BOT_KEY)),
        }
    }

    /// An accepted plan with every action, a key rotation at the cap, a password reset sealed
    /// to an age recipient, a self-service step, a warning and a note.
    pub fn sample_plan() -> Plan {
        let mut create_alice = user(Action::CreateUser, "alice", "in manifest, not live");
        create_alice.after = Some(Attributes {
            description: Some("Alice Liddell".into()),
            email: Some("alice@example.com".into()),
            ..Attributes::default()
        });

        let mut update_bob = user(Action::UpdateUser, "bob", "description and email differ");
        update_bob.before = Some(Attributes {
            description: Some("Bob".into()),
            email: None,
            ..Attributes::default()
        });
        update_bob.after = Some(Attributes {
            description: Some("Bob Builder, platform team".into()),
            email: Some("bob@example.com".into()),
            ..Attributes::default()
        });
        update_bob.precondition = existing("ocid1.user.oc1..bob");

        let mut create_devs = group(Action::CreateGroup, "developers", "in manifest, not live");
        create_devs.after = Some(Attributes {
            description: Some("Application developers".into()),
            ..Attributes::default()
        });

        let mut update_ops = group(Action::UpdateGroup, "ops", "description differs");
        update_ops.before = Some(Attributes {
            description: Some("ops".into()),
            ..Attributes::default()
        });
        update_ops.after = Some(Attributes {
            description: Some("Operations on-call".into()),
            ..Attributes::default()
        });

        let mut caps = user(
            Action::UpdateCapabilities,
            "dave",
            "manifest turns API keys off",
        );
        caps.before = Some(Attributes {
            api_keys: Some(true),
            console_password: Some(true),
            ..Attributes::default()
        });
        caps.after = Some(Attributes {
            api_keys: Some(false),
            console_password: Some(true),
            ..Attributes::default()
        });

        let mut add = group(Action::AddToGroup, "developers", "listed in alice's groups");
        add.user = Some(UserName::from("alice"));

        let delete_old = key(
            Action::DeleteApiKey,
            "carol",
            CAROL_OLD,
            "3/3 -> 2/3",
            "not in manifest; moved before the upload: carol holds 3 keys",
        );
        let upload_new = key(
            Action::UploadApiKey,
            "carol",
            CAROL_NEW,
            "2/3 -> 3/3",
            "in manifest (keys/carol-2026.pem), not live",
        );
        let mut bot_new = key(
            Action::UploadApiKey,
            "deploy-bot",
            BOT_NEW,
            "1/3 -> 2/3",
            "in manifest (keys/deploy-bot-2026.pem), not live",
        );
        bot_new.authority = Authority::SelfService;

        let mut reset = user(
            Action::ResetConsolePassword,
            "alice",
            "console_password.reset is 2, live tag is 1",
        );
        reset.before = Some(Attributes {
            reset: Some(1),
            ..Attributes::default()
        });
        reset.after = Some(Attributes {
            reset: Some(2),
            deliver_to: Some("age1qz3ylm5c4yq2h9x0v6n8w7t5r3e2d1f0g9h8j7k6l5m4n3p2q1rs8xyz".into()),
            ..Attributes::default()
        });

        let mut remove = group(
            Action::RemoveFromGroup,
            "developers",
            "not in erin's groups",
        );
        remove.user = Some(UserName::from("erin"));

        let mut delete_user = user(
            Action::DeleteUser,
            "old-contractor",
            "state: absent in manifest",
        );
        delete_user.before = Some(Attributes {
            description: Some("Contractor, left 2025-12".into()),
            email: Some("contractor@example.net".into()),
            ..Attributes::default()
        });
        delete_user.precondition = existing("ocid1.user.oc1..oldcontractor");

        let mut delete_group = group(
            Action::DeleteGroup,
            "legacy-admins",
            "owned by ociam and not in manifest (prune.groups)",
        );
        delete_group.before = Some(Attributes {
            description: Some("Legacy admins".into()),
            ..Attributes::default()
        });

        let mut changes = vec![
            create_devs,
            create_alice,
            update_bob,
            update_ops,
            caps,
            add,
            delete_old,
            upload_new,
            bot_new,
            reset,
            remove,
            delete_user,
            delete_group,
        ];
        // Where each comes from in the sample manifest (its entry, key item, `groups:` item or
        // tombstone); the pruned group has none.
        let sources = [
            (4, 5),
            (14, 5),
            (20, 5),
            (7, 5),
            (26, 5),
            (16, 15),
            (29, 5),
            (32, 9),
            (38, 9),
            (14, 5),
            (35, 5),
            (44, 5),
        ];
        for (c, (line, column)) in changes.iter_mut().zip(sources) {
            c.source = Some(loc(line, column));
        }
        let diagnostics = vec![
            Diagnostic::new(
                Rule::KeyAge,
                format!("api_key.bob/{BOB_WEAK}"),
                "live key of user bob is 134 days old; limit is 90 days",
                "rotate the key: add a new key for bob, then remove this one in a later change",
            )
            .at(&loc(31, 11)),
            Diagnostic::new(
                Rule::Unmanaged,
                "user.break-glass",
                "live user break-glass is not in the manifest and is left alone",
                "add it to the manifest to manage it, or ignore this note",
            ),
        ];
        let mut p = plan(deploy_bot(), changes, diagnostics);
        p.key_slots = vec![
            KeySlots {
                user: UserName::from("carol"),
                before: 3,
                peak: 3,
                after: 3,
            },
            KeySlots {
                user: UserName::from("deploy-bot"),
                before: 1,
                peak: 2,
                after: 2,
            },
        ];
        p
    }

    /// A plan rejected by several rules: an actor without tenancy-level authority, a step over
    /// the key limit, deleting the actor's own signing key, and a weak key in the manifest.
    pub fn sample_rejected_plan() -> Plan {
        let actor = Actor {
            user: UserName::from("ci-runner"),
            authority: crate::plan::ActorAuthority {
                self_service: true,
                ..crate::plan::ActorAuthority::default()
            },
            fingerprint: Some(fp(RUNNER_KEY)),
        };
        let mut create = user(Action::CreateUser, "frank", "in manifest, not live");
        create.authority = Authority::None;
        create.after = Some(Attributes {
            description: Some("Frank, SRE".into()),
            ..Attributes::default()
        });
        let mut add = group(Action::AddToGroup, "developers", "listed in frank's groups");
        add.user = Some(UserName::from("frank"));
        add.authority = Authority::None;
        let mut upload = key(
            Action::UploadApiKey,
            "ci-runner",
            RUNNER_NEW,
            "3/3 -> 4/3",
            "in manifest (keys/ci-runner-2026.pem), not live",
        );
        upload.authority = Authority::SelfService;
        let mut reset = user(
            Action::ResetConsolePassword,
            "ci-runner",
            "console_password.reset is 1, never reset",
        );
        reset.authority = Authority::SelfService;
        reset.after = Some(Attributes {
            reset: Some(1),
            ..Attributes::default()
        });
        let mut delete = key(
            Action::DeleteApiKey,
            "ci-runner",
            RUNNER_KEY,
            "4/3 -> 3/3",
            "not in manifest",
        );
        delete.authority = Authority::SelfService;

        let changes = vec![create, add, upload, reset, delete];
        let runner = UserName::from("ci-runner");
        let diagnostics = vec![
            Diagnostic::new(
                Rule::NotAuthorized,
                "user.frank",
                "ci-runner cannot create user frank: that needs tenancy-level authority \
                 (Administrators, or manage users in tenancy)",
                "run the plan as an administrator, or grant ci-runner's group \
                 'manage users in tenancy'",
            )
            .at_step(1)
            .at(&loc(40, 5)),
            Diagnostic::new(
                Rule::NotAuthorized,
                "membership.developers/frank",
                "ci-runner cannot add frank to developers: that needs tenancy-level authority",
                "run the plan as an administrator, or grant 'manage groups in tenancy'",
            )
            .at_step(2),
            rules::max_keys_at_step(&runner, 4, 3).at(&loc(12, 9)),
            Diagnostic::new(
                Rule::Lockout,
                format!("api_key.ci-runner/{RUNNER_KEY}"),
                "step 5 deletes the key ci-runner signs this plan with; the plan would lock \
                 itself out",
                "keep the old key in this change, switch the pipeline's secret to the new key, \
                 and remove the old key in a later change",
            )
            .at_step(5),
            Diagnostic::new(
                Rule::WeakKey,
                format!("api_key.bob/{BOB_WEAK}"),
                "user bob: RSA key of 1024 bits; OCI requires at least 2048",
                "generate an RSA key of 2048 bits or more: openssl genrsa -out key.pem 2048",
            )
            .at(&loc(27, 11)),
            Diagnostic::new(
                Rule::FederatedUser,
                "user.svc-sso",
                "user svc-sso is federated; changing its API keys may need a policy",
                "acknowledged in the manifest (federated_api_keys: acknowledged)",
            )
            .with_severity(Severity::Warning)
            .at(&loc(51, 5)),
            Diagnostic::new(
                Rule::Unmanaged,
                "group.NetworkAdmins",
                "live group NetworkAdmins is not in the manifest and is left alone",
                "",
            ),
        ];
        let mut p = plan(actor, changes, diagnostics);
        p.key_slots = vec![KeySlots {
            user: runner,
            before: 3,
            peak: 4,
            after: 3,
        }];
        p
    }

    /// A plan with nothing to do.
    pub fn empty_plan() -> Plan {
        plan(deploy_bot(), Vec::new(), Vec::new())
    }

    /// [`sample_plan`] made against a tenancy with identity domains: alice's reset is a link
    /// OCI emails to her, not a sealed one-time password.
    pub fn reset_link_plan() -> Plan {
        let mut p = sample_plan();
        for c in &mut p.changes {
            if c.action == Action::ResetConsolePassword
                && let Some(after) = c.after.as_mut()
            {
                after.deliver_to = None;
                after.reset_link_to = Some("alice@example.com".into());
            }
        }
        p
    }

    /// A plan whose manifest text tries to break out of tables, inject HTML and colour the
    /// terminal.
    pub fn hostile_plan() -> Plan {
        let mut c = user(
            Action::UpdateUser,
            "mallory",
            "description differs | <img src=x onerror=alert(1)>",
        );
        c.before = Some(Attributes {
            description: Some("plain".into()),
            ..Attributes::default()
        });
        c.after = Some(Attributes {
            description: Some(
                "a | b <script>alert(1)</script> `code`\nsecond line \u{1b}[31mred\u{1b}[0m".into(),
            ),
            ..Attributes::default()
        });
        let d = Diagnostic::new(
            Rule::Unmanaged,
            "user.x|y",
            "message with | pipe and <b>html</b>\nand a newline",
            "help with `backticks`",
        );
        plan(deploy_bot(), vec![c], vec![d])
    }

    /// Text fields that change: a long description (a word diff), a multi-line one (a word
    /// diff), short values (`before → after`) and a long one with no word in common.
    pub fn word_diff_plan() -> Plan {
        let mut platform = group(Action::UpdateGroup, "platform", "description differs");
        platform.before = Some(Attributes {
            description: Some(
                "Platform engineering owns the build runners and the artifact registry".into(),
            ),
            ..Attributes::default()
        });
        platform.after = Some(Attributes {
            description: Some(
                "Platform engineering owns the build runners, the artifact registry and the \
                 deploy pipeline"
                    .into(),
            ),
            ..Attributes::default()
        });
        platform.source = Some(loc(8, 5));
        let mut carol = user(Action::UpdateUser, "carol", "fields differ");
        carol.before = Some(Attributes {
            description: Some("Carol\nSRE, on call".into()),
            email: Some("carol@old.example".into()),
            ..Attributes::default()
        });
        carol.after = Some(Attributes {
            description: Some("Carol\nSRE, payments".into()),
            email: Some("carol@example.com".into()),
            ..Attributes::default()
        });
        let mut ops = group(Action::UpdateGroup, "ops", "description differs");
        ops.before = Some(Attributes {
            description: Some("x".repeat(70)),
            ..Attributes::default()
        });
        ops.after = Some(Attributes {
            description: Some("y".repeat(70)),
            ..Attributes::default()
        });
        plan(deploy_bot(), vec![platform, carol, ops], Vec::new())
    }

    /// A plan of `n` changes (user creations with membership additions) plus two errors.
    pub fn large_plan(n: usize) -> Plan {
        let changes = (0..n)
            .map(|i| {
                let name = format!("user-{i:05}");
                if i % 2 == 0 {
                    let mut c = user(Action::CreateUser, &name, "in manifest, not live");
                    c.after = Some(Attributes {
                        description: Some(format!("Generated user number {i}")),
                        ..Attributes::default()
                    });
                    c
                } else {
                    let mut c = group(Action::AddToGroup, "developers", "listed in groups");
                    c.user = Some(UserName::from(name.as_str()));
                    c
                }
            })
            .collect();
        let diagnostics = vec![
            Diagnostic::new(
                Rule::MassDeletion,
                "plan",
                "the plan deletes 12 users and groups; limits.max_deletions is 5",
                "pass --allow-deletions 12 to plan and apply, or delete in smaller steps",
            ),
            rules::max_keys_declared(&UserName::from("user-00007"), 4).at(&loc(70, 5)),
        ];
        plan(deploy_bot(), changes, diagnostics)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_parses_and_displays_its_names() {
        for f in Format::ALL {
            assert_eq!(f.to_string().parse::<Format>(), Ok(f));
        }
        assert_eq!("MD".parse::<Format>(), Ok(Format::Markdown));
        let err = "yaml".parse::<Format>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown output format \"yaml\": expected text, json or markdown"
        );
    }

    #[test]
    fn render_dispatches_to_each_view() {
        let plan = samples::sample_plan();
        for f in Format::ALL {
            let mut buf = Vec::new();
            render(&plan, f, false, &mut buf).unwrap();
            let s = String::from_utf8(buf).unwrap();
            match f {
                Format::Text => assert!(s.contains("Plan: 5 to create, 4 to update, 4 to delete.")),
                Format::Json => assert!(s.starts_with("{\n  \"format_version\": 1,")),
                Format::Markdown => assert!(s.starts_with("<!-- ociam:plan -->\n### ")),
            }
        }
    }

    #[test]
    fn sanitize_escapes_control_and_bidi_characters() {
        assert_eq!(sanitize("plain"), "plain");
        assert_eq!(
            sanitize("a\nb\u{1b}[0m\u{202e}"),
            "a\\nb\\u{1b}[0m\\u{202e}"
        );
    }

    #[test]
    fn clip_cuts_on_character_boundaries() {
        assert_eq!(clip("héllo", 10), "héllo");
        assert_eq!(clip("héllo wörld", 5), "héll…");
        assert_eq!(clip("héllo wörld", 5).chars().count(), 5);
    }

    #[test]
    fn short_ocid_keeps_the_last_six_characters() {
        assert_eq!(short_ocid(samples::TENANCY), "…5r4e2q");
        assert_eq!(short_ocid("short"), "short");
    }

    fn words(runs: &[(&str, &str)]) -> Vec<Words> {
        runs.iter()
            .map(|(tag, t)| match *tag {
                "=" => Words::Kept((*t).to_owned()),
                "-" => Words::Removed((*t).to_owned()),
                _ => Words::Added((*t).to_owned()),
            })
            .collect()
    }

    #[test]
    fn word_diff_marks_changed_words_of_long_or_multi_line_values_only() {
        assert_eq!(
            word_diff("Bob", "Bob Builder"),
            None,
            "short: before → after"
        );
        let long = "a".repeat(WORD_DIFF_MIN_CHARS + 1);
        assert_eq!(
            word_diff(&long, "b"),
            None,
            "nothing in common: a diff would be both values again"
        );
        assert_eq!(
            word_diff("Carol\nSRE, on call", "Carol\nSRE, payments"),
            Some(words(&[
                ("=", "Carol\nSRE, "),
                ("-", "on call"),
                ("+", "payments")
            ]))
        );
        let before =
            "Payments team: owns the checkout service and the card vault, on call weekdays";
        let after = "Payments team: owns the checkout and refunds services and the card vault, on call weekdays";
        assert_eq!(
            word_diff(before, after),
            Some(words(&[
                ("=", "Payments team: owns the checkout "),
                ("-", "service"),
                ("+", "and refunds services"),
                ("=", " and the card vault, on call weekdays"),
            ]))
        );
    }

    #[test]
    fn tokens_are_words_spaces_and_single_marks() {
        assert_eq!(
            tokens("runners, the  été-2\nx"),
            ["runners", ",", " ", "the", "  ", "été", "-", "2", "\n", "x"]
        );
        assert!(tokens("").is_empty());
    }

    #[test]
    fn source_urls_join_the_base_and_the_relative_file() {
        let at = samples::loc(14, 5);
        let base = "https://github.com/acme/iam/blob/0123abc";
        let want = "https://github.com/acme/iam/blob/0123abc/iam/manifest.yaml#L14";
        assert_eq!(source_url(base, &at).as_deref(), Some(want));
        assert_eq!(source_url(&format!("{base}/"), &at).as_deref(), Some(want));
        let dotted = Location {
            file: "./iam/my manifest(1).yaml".into(),
            ..at.clone()
        };
        assert_eq!(
            source_url(base, &dotted).as_deref(),
            Some("https://github.com/acme/iam/blob/0123abc/iam/my%20manifest%281%29.yaml#L14")
        );
        let absolute = Location {
            file: "/home/ci/iam/manifest.yaml".into(),
            ..at.clone()
        };
        assert_eq!(source_url(base, &absolute), None);
        assert_eq!(source_url("javascript:alert(1)", &at), None);
        assert_eq!(line_ref(&at), "iam/manifest.yaml:14");
    }

    #[test]
    fn a_source_url_base_must_be_a_plain_http_url() {
        assert_eq!(
            check_source_url_base("https://example.com/blob/abc"),
            Ok(())
        );
        assert_eq!(check_source_url_base("HTTP://example.com"), Ok(()));
        for bad in [
            "",
            "https://",
            "ftp://example.com",
            "javascript:alert(1)",
            "https://example.com/a b",
            "https://example.com/)[x](y",
            "https://example.com/a|b",
            "https://example.com/\u{1b}[31m",
        ] {
            assert!(check_source_url_base(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn field_views_show_only_what_changes() {
        let plan = samples::sample_plan();
        let caps = &plan.changes[4];
        assert_eq!(
            field_views(caps),
            [FieldView {
                name: "capabilities.api_keys",
                before: Some(Val::Flag(true)),
                after: Some(Val::Flag(false)),
            }]
        );
        let create = &plan.changes[1];
        assert_eq!(field_views(create).len(), 2);
        assert!(field_views(create).iter().all(|f| f.before.is_none()));
    }
}
