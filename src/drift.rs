//! Drift: what a plan says about a tenancy that should already match its manifest, sorted
//! into the categories a nightly job reports.
//!
//! - `missing`: in the manifest, not live (users, groups, memberships, keys to create).
//! - `changed`: live but different (fields, capabilities, memberships to remove, pending
//!   password resets, tombstoned objects still live, names spelled unlike the tenancy's).
//! - `unmanaged_credentials`: API keys on managed users that the manifest does not list.
//! - `unmanaged_objects`: live users and groups the manifest does not list (reported; they
//!   count as drift only when `prune` would delete them).
//! - `key_age`: keys older than `limits.max_key_age` or past their `expires` date.
//!
//! Pure: a function of the plan.

use serde::{Deserialize, Serialize};

use crate::plan::{Action, Plan};
use crate::rules::Rule;

/// The drift report format version.
pub const FORMAT_VERSION: u32 = 1;

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// What it is about (`user.alice`, `api_key.bob/<fp>`, …).
    pub subject: String,
    /// What reconciling it would do (`create_user`, …), when a change would.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    /// In words.
    pub detail: String,
}

/// Findings by category.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Categories {
    /// In the manifest, not live.
    pub missing: Vec<Item>,
    /// Live but different.
    pub changed: Vec<Item>,
    /// Keys on managed users that the manifest does not list.
    pub unmanaged_credentials: Vec<Item>,
    /// Live users and groups the manifest does not list.
    pub unmanaged_objects: Vec<Item>,
    /// Old or expired keys.
    pub key_age: Vec<Item>,
}

/// A drift report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Always [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The tenancy.
    pub tenancy: String,
    /// Whether the tenancy has drifted (exit 2).
    pub drift: bool,
    /// The findings.
    pub categories: Categories,
}

/// Sorts a plan's changes and findings into drift categories.
#[must_use]
pub fn report(plan: &Plan) -> Report {
    let mut c = Categories::default();
    for change in &plan.changes {
        let item = Item {
            subject: change.subject(),
            action: Some(change.action),
            detail: change.reason.clone(),
        };
        match change.action {
            Action::CreateGroup
            | Action::CreateUser
            | Action::AddToGroup
            | Action::UploadApiKey => {
                c.missing.push(item);
            }
            Action::DeleteApiKey => c.unmanaged_credentials.push(item),
            Action::DeleteUser | Action::DeleteGroup if change.reason.starts_with("pruned") => {
                c.unmanaged_objects.push(item);
            }
            _ => c.changed.push(item),
        }
    }
    let mut informational = 0;
    for d in &plan.diagnostics {
        let item = Item {
            subject: d.subject.clone(),
            action: None,
            detail: d.message.clone(),
        };
        match d.rule {
            Rule::KeyAge => c.key_age.push(item),
            // The manifest and the tenancy spell one name differently: the plan holds no step
            // for it, but the tenancy does not match the manifest as written.
            Rule::NameCase => c.changed.push(item),
            Rule::Unmanaged => {
                c.unmanaged_objects.push(item);
                informational += 1;
            }
            _ => {}
        }
    }
    let drift = !(c.missing.is_empty()
        && c.changed.is_empty()
        && c.unmanaged_credentials.is_empty()
        && c.key_age.is_empty()
        && c.unmanaged_objects.len() == informational);
    Report {
        format_version: FORMAT_VERSION,
        tenancy: plan.tenancy.to_string(),
        drift,
        categories: c,
    }
}

/// The report for people: one section per non-empty category, then a verdict line.
#[must_use]
pub fn to_text(report: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let c = &report.categories;
    for (title, items) in [
        ("Missing (in the manifest, not live)", &c.missing),
        ("Changed (live, but different)", &c.changed),
        (
            "Unmanaged credentials (API keys the manifest does not list)",
            &c.unmanaged_credentials,
        ),
        ("Unmanaged users and groups", &c.unmanaged_objects),
        ("Old or expired API keys", &c.key_age),
    ] {
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{title}: {}", items.len());
        for item in items {
            let action = item.action.map(|a| format!("{a}: ")).unwrap_or_default();
            let _ = writeln!(out, "  {} — {action}{}", item.subject, item.detail);
        }
        out.push('\n');
    }
    if report.drift {
        let _ = writeln!(out, "Drift detected in tenancy {}.", report.tenancy);
    } else {
        let _ = writeln!(
            out,
            "No drift: tenancy {} matches the manifest.",
            report.tenancy
        );
    }
    out
}
