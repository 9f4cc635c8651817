//! Annotations: ociam's findings as the documents review tools read, so they show on the
//! manifest's own lines in a pull request. [`Finding`] is the neutral list every command builds
//! ([`from_plan`] for `plan`, [`from_manifest_errors`] and [`from_diagnostics`] for `validate`
//! and manifest load errors, [`from_drift`] for `drift`); the renderers turn one list into
//! GitHub workflow commands ([`github`]), SARIF 2.1.0 ([`sarif`]) or a GitLab code-quality
//! report ([`gitlab`]). A renderer knows nothing of plans or drift, so new kinds of findings
//! (e.g. a change with its manifest line) are one more builder, not a new format.
//!
//! Rule ids are those of [`crate::rules::RULES`] plus the few of [`EXTRA_RULES`]: `manifest`
//! for load errors and one `drift-*` id per drift category.
//!
//! Pure: writes only to the given writer.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::io::{self, Write};
use std::str::FromStr;

use crate::drift;
use crate::manifest::ManifestError;
use crate::model::Location;
use crate::plan::Plan;
use crate::rules::{Diagnostic, RULES, Severity};

pub mod github;
pub mod gitlab;
pub mod sarif;

/// How bad a finding is: a rule's [`Severity`], in the words review tools use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Rejects (a plan, a manifest).
    Error,
    /// Worth a reviewer's attention.
    Warning,
    /// Information.
    Note,
}

impl From<Severity> for Level {
    fn from(s: Severity) -> Self {
        match s {
            Severity::Error => Self::Error,
            Severity::Warning => Self::Warning,
            Severity::Note => Self::Note,
        }
    }
}

impl Level {
    /// `error`, `warning` or `note` (also SARIF's names).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Note => "note",
        }
    }
}

/// One finding, wherever it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The rule id (`max-api-keys`, `manifest`, `drift-missing`, …).
    pub rule: String,
    /// How bad it is.
    pub level: Level,
    /// What is wrong, in one sentence.
    pub message: String,
    /// How to fix it (may be empty).
    pub help: String,
    /// Where in the manifest, when known.
    pub location: Option<Location>,
}

impl Finding {
    /// The message and the help as one text: `message — help`.
    #[must_use]
    pub fn text(&self) -> String {
        if self.help.is_empty() {
            self.message.clone()
        } else {
            format!("{} — {}", self.message, self.help)
        }
    }
}

/// A rule id that is not in [`RULES`]: findings that no named rule produces.
#[derive(Clone, Copy, Debug)]
pub struct ExtraRule {
    /// Its id.
    pub id: &'static str,
    /// The level its findings have by default.
    pub level: Level,
    /// What it says, in one line.
    pub summary: &'static str,
}

/// The id of manifest load errors (YAML, schema, key files).
pub const MANIFEST: &str = "manifest";
/// Drift: in the manifest, not live.
pub const DRIFT_MISSING: &str = "drift-missing";
/// Drift: live but different.
pub const DRIFT_CHANGED: &str = "drift-changed";
/// Drift: API keys on managed users that the manifest does not list.
pub const DRIFT_UNMANAGED_CREDENTIALS: &str = "drift-unmanaged-credentials";
/// Drift: live users and groups the manifest does not list.
pub const DRIFT_UNMANAGED_OBJECTS: &str = "drift-unmanaged-objects";
/// Drift: old or expired keys.
pub const DRIFT_KEY_AGE: &str = "drift-key-age";

/// The rule ids besides [`RULES`], in documentation order.
pub const EXTRA_RULES: &[ExtraRule] = &[
    ExtraRule {
        id: MANIFEST,
        level: Level::Error,
        summary: "the manifest must be valid YAML that matches the schema, with readable public-key files",
    },
    ExtraRule {
        id: DRIFT_MISSING,
        level: Level::Warning,
        summary: "drift: in the manifest, not live",
    },
    ExtraRule {
        id: DRIFT_CHANGED,
        level: Level::Warning,
        summary: "drift: live, but different from the manifest",
    },
    ExtraRule {
        id: DRIFT_UNMANAGED_CREDENTIALS,
        level: Level::Warning,
        summary: "drift: API keys on managed users that the manifest does not list",
    },
    ExtraRule {
        id: DRIFT_UNMANAGED_OBJECTS,
        level: Level::Warning,
        summary: "drift: live users and groups the manifest does not list",
    },
    ExtraRule {
        id: DRIFT_KEY_AGE,
        level: Level::Warning,
        summary: "drift: live API keys older than limits.max_key_age or past their expires date",
    },
];

/// Every rule id a finding can carry, with its default level and summary: [`RULES`] then
/// [`EXTRA_RULES`].
#[must_use]
pub fn all_rules() -> Vec<ExtraRule> {
    RULES
        .iter()
        .map(|r| ExtraRule {
            id: r.id,
            level: r.severity.into(),
            summary: r.summary,
        })
        .chain(EXTRA_RULES.iter().copied())
        .collect()
}

/// One finding per diagnostic, in their order.
#[must_use]
pub fn from_diagnostics(diags: &[Diagnostic]) -> Vec<Finding> {
    diags
        .iter()
        .map(|d| Finding {
            rule: d.rule.id().to_owned(),
            level: d.severity.into(),
            message: d.message.clone(),
            help: d.help.clone(),
            location: d.location.clone(),
        })
        .collect()
}

/// The findings of a plan: its diagnostics (the manifest's own included), errors first.
// Once `plan::Change` carries the manifest line it derives from, changes can become notes
// here too.
#[must_use]
pub fn from_plan(plan: &Plan) -> Vec<Finding> {
    from_diagnostics(&plan.diagnostics)
}

/// One `manifest` error per load error, in source order.
#[must_use]
pub fn from_manifest_errors(errors: &[ManifestError]) -> Vec<Finding> {
    errors
        .iter()
        .map(|e| Finding {
            rule: MANIFEST.to_owned(),
            level: Level::Error,
            message: e.message.clone(),
            help: e.help.clone(),
            location: Some(e.location.clone()),
        })
        .collect()
}

/// One warning per drift item, by category; unmanaged objects the report counts as
/// information only (no `prune` would delete them) are notes.
#[must_use]
pub fn from_drift(report: &drift::Report) -> Vec<Finding> {
    let c = &report.categories;
    let mut out = Vec::new();
    for (rule, items, help) in [
        (
            DRIFT_MISSING,
            &c.missing,
            "run `ociam apply` to create it, or remove it from the manifest",
        ),
        (
            DRIFT_CHANGED,
            &c.changed,
            "run `ociam apply` to restore the manifest's version, or change the manifest to match the tenancy",
        ),
        (
            DRIFT_UNMANAGED_CREDENTIALS,
            &c.unmanaged_credentials,
            "list the key in the manifest to keep it, or run `ociam apply` to delete it",
        ),
        (
            DRIFT_UNMANAGED_OBJECTS,
            &c.unmanaged_objects,
            "list them in the manifest to manage them, or set `prune` to delete those ociam created",
        ),
        (
            DRIFT_KEY_AGE,
            &c.key_age,
            "rotate the key: add a new key in one change, remove the old one in the next",
        ),
    ] {
        for item in items {
            let informational = rule == DRIFT_UNMANAGED_OBJECTS && item.action.is_none();
            let action = item.action.map(|a| format!("{a}: ")).unwrap_or_default();
            out.push(Finding {
                rule: rule.to_owned(),
                level: if informational {
                    Level::Note
                } else {
                    Level::Warning
                },
                message: format!("{}: {action}{}", item.subject, item.detail),
                help: help.to_owned(),
                location: item.location.clone(),
            });
        }
    }
    out
}

/// The annotation documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// GitHub Actions workflow commands, one line per finding.
    Github,
    /// SARIF 2.1.0 (GitHub code scanning, other SARIF viewers).
    Sarif,
    /// A GitLab code-quality report.
    Gitlab,
}

impl Format {
    /// Every format.
    pub const ALL: [Self; 3] = [Self::Github, Self::Sarif, Self::Gitlab];

    /// The name used on the command line.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Github => "github",
            Self::Sarif => "sarif",
            Self::Gitlab => "gitlab",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not `github`, `sarif` or `gitlab`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown annotation format {0:?}: expected github, sarif or gitlab")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "github" => Ok(Self::Github),
            "sarif" => Ok(Self::Sarif),
            "gitlab" => Ok(Self::Gitlab),
            _ => Err(UnknownFormat(s.to_owned())),
        }
    }
}

/// Writes `findings` as `format`. `manifest` is the manifest's path as given: GitLab and
/// GitHub code scanning need a file for every finding, so the JSON formats put findings
/// without a location on its line 1 (GitHub's workflow commands show them on the run).
///
/// # Errors
/// Only the writer's errors.
pub fn render(
    findings: &[Finding],
    format: Format,
    manifest: &str,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Github => github::render(findings, out),
        Format::Sarif => sarif::render(findings, manifest, out),
        Format::Gitlab => gitlab::render(findings, manifest, out),
    }
}

/// `s` with control characters (but line breaks) and bidirectional overrides written as
/// `\u{1b}`…, so text from the manifest or the tenancy cannot colour a log or reorder a line
/// where the annotation is shown. Line breaks are each format's own business.
pub(crate) fn neutralise(s: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| super::is_unsafe(c) && !matches!(c, '\n' | '\r');
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::drift::{Categories, Item, Report};
    use crate::plan::Action;
    use crate::rules::Rule;

    /// A location in `iam/manifest.yaml`.
    pub fn loc(line: u64, column: u64) -> Location {
        Location {
            file: "iam/manifest.yaml".into(),
            line,
            column,
        }
    }

    /// One finding of each level, one without a location, and hostile text.
    pub fn sample() -> Vec<Finding> {
        vec![
            Finding {
                rule: "max-api-keys".into(),
                level: Level::Error,
                message: "user carol declares 4 API keys; OCI allows at most 3".into(),
                help: "remove keys".into(),
                location: Some(loc(14, 11)),
            },
            Finding {
                rule: "key-age".into(),
                level: Level::Warning,
                message: "key 3c:1f of user carol is 91 days old (limit 90)".into(),
                help: String::new(),
                location: Some(loc(17, 9)),
            },
            Finding {
                rule: "unmanaged".into(),
                level: Level::Note,
                message: "users: 1 live user not in the manifest is left alone: bob".into(),
                help: "list them".into(),
                location: None,
            },
        ]
    }

    #[test]
    fn diagnostics_keep_rule_level_text_and_location() {
        let d = Diagnostic::new(Rule::MaxApiKeys, "user.carol", "four keys", "remove one")
            .at(&loc(4, 11));
        let note = Diagnostic::new(Rule::Unmanaged, "users", "bob is unmanaged", "list him");
        let f = from_diagnostics(&[d, note]);
        assert_eq!(
            f,
            [
                Finding {
                    rule: "max-api-keys".into(),
                    level: Level::Error,
                    message: "four keys".into(),
                    help: "remove one".into(),
                    location: Some(loc(4, 11)),
                },
                Finding {
                    rule: "unmanaged".into(),
                    level: Level::Note,
                    message: "bob is unmanaged".into(),
                    help: "list him".into(),
                    location: None,
                },
            ]
        );
        assert_eq!(f[0].text(), "four keys — remove one");
    }

    #[test]
    fn manifest_errors_are_manifest_errors_at_their_location() {
        let e = ManifestError {
            location: loc(5, 5),
            message: "unknown field `emial`".into(),
            help: "check the spelling".into(),
            snippet: Some("  5 | emial: x".into()),
        };
        let f = from_manifest_errors(&[e]);
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].rule.as_str(), f[0].level, f[0].location.clone()),
            (MANIFEST, Level::Error, Some(loc(5, 5)))
        );
        assert_eq!(f[0].text(), "unknown field `emial` — check the spelling");
    }

    #[test]
    fn drift_items_are_warnings_by_category_and_informational_unmanaged_objects_notes() {
        let item = |subject: &str, action, location| Item {
            subject: subject.into(),
            action,
            detail: "why".into(),
            location,
        };
        let report = Report {
            format_version: drift::FORMAT_VERSION,
            tenancy: "t".into(),
            drift: true,
            categories: Categories {
                missing: vec![item("user.carol", Some(Action::CreateUser), None)],
                changed: vec![item("user.bob", Some(Action::UpdateUser), None)],
                unmanaged_credentials: vec![item(
                    "api_key.bob/x",
                    Some(Action::DeleteApiKey),
                    None,
                )],
                unmanaged_objects: vec![
                    item("users", None, None),
                    item("user.eve", Some(Action::DeleteUser), None),
                ],
                key_age: vec![item("api_key.carol/y", None, Some(loc(9, 11)))],
            },
        };
        let f = from_drift(&report);
        let got: Vec<(&str, Level, &str)> = f
            .iter()
            .map(|f| (f.rule.as_str(), f.level, f.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    DRIFT_MISSING,
                    Level::Warning,
                    "user.carol: create_user: why"
                ),
                (DRIFT_CHANGED, Level::Warning, "user.bob: update_user: why"),
                (
                    DRIFT_UNMANAGED_CREDENTIALS,
                    Level::Warning,
                    "api_key.bob/x: delete_api_key: why"
                ),
                (DRIFT_UNMANAGED_OBJECTS, Level::Note, "users: why"),
                (
                    DRIFT_UNMANAGED_OBJECTS,
                    Level::Warning,
                    "user.eve: delete_user: why"
                ),
                (DRIFT_KEY_AGE, Level::Warning, "api_key.carol/y: why"),
            ]
        );
        assert_eq!(f[5].location, Some(loc(9, 11)));
        assert!(f[..5].iter().all(|f| f.location.is_none()));
    }

    #[test]
    fn every_rule_id_is_listed_once() {
        let rules = all_rules();
        let mut ids: Vec<&str> = rules.iter().map(|r| r.id).collect();
        assert_eq!(ids.len(), RULES.len() + EXTRA_RULES.len());
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), rules.len(), "a rule id is listed twice");
    }

    #[test]
    fn format_parses_and_displays_its_names() {
        for f in Format::ALL {
            assert_eq!(f.to_string().parse::<Format>(), Ok(f));
        }
        assert!("markdown".parse::<Format>().is_err());
    }

    #[test]
    fn neutralise_keeps_line_breaks_and_writes_other_controls_out() {
        assert_eq!(neutralise("a\r\nb"), "a\r\nb");
        assert_eq!(neutralise("a\u{1b}[31mb\u{202e}"), "a\\u{1b}[31mb\\u{202e}");
    }
}
