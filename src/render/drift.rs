//! The drift report as Markdown, for the issue a nightly job keeps open while drift lasts
//! (`ociam drift --format markdown`): a hidden marker the recipes find the issue by
//! ([`DRIFT_MARKER`]), a verdict, a table of counts per category, then one table per
//! non-empty category (each finding with the manifest line it comes from, when it has one; the
//! key-age table carries each key's age). Bounded like the plan
//! comment ([`super::markdown::MAX_MARKDOWN_CHARS`]): rows past the bound are left out and a
//! line says how many, pointing to the JSON report.
//!
//! Pure: a function of the report. Text from the manifest or tenancy is escaped.

use std::fmt::Write as _;

use super::clip;
use super::markdown::{MAX_MARKDOWN_CHARS, code, escape};
use crate::drift::{Item, Report};

/// The first line of every drift report in Markdown; the CI recipes find their issue by it.
pub const DRIFT_MARKER: &str = "<!-- ociam:drift -->";

/// Longest detail shown in a cell, in characters (before escaping).
const MAX_DETAIL: usize = 300;

/// The drift report for an issue body, at most [`MAX_MARKDOWN_CHARS`] bytes.
#[must_use]
pub fn to_markdown(report: &Report) -> String {
    build(report, MAX_MARKDOWN_CHARS)
}

fn sections(report: &Report) -> [(&'static str, &[Item]); 5] {
    let c = &report.categories;
    [
        ("Missing (in the manifest, not live)", &c.missing),
        ("Changed (live, but different)", &c.changed),
        (
            "Unmanaged credentials (API keys the manifest does not list)",
            &c.unmanaged_credentials,
        ),
        ("Unmanaged users and groups", &c.unmanaged_objects),
        ("Old or expired API keys", &c.key_age),
    ]
}

fn row(item: &Item) -> String {
    let action = item.action.map_or_else(String::new, |a| code(a.as_str()));
    let at = item.location.as_ref().map_or_else(String::new, |l| {
        format!("<br>at {}", code(&format!("{}:{}", l.file, l.line)))
    });
    format!(
        "| {}{at} | {action} | {} |\n",
        code(&clip(&item.subject, MAX_DETAIL)),
        escape(&clip(&item.detail, MAX_DETAIL))
    )
}

fn build(report: &Report, limit: usize) -> String {
    let mut head = String::new();
    let _ = writeln!(head, "{DRIFT_MARKER}");
    let verdict = if report.drift {
        "drift detected"
    } else {
        "no drift"
    };
    let _ = writeln!(
        head,
        "### ociam drift: {verdict} in tenancy {}\n",
        code(&report.tenancy)
    );
    head.push_str("| Category | Findings |\n|---|---:|\n");
    for (title, items) in sections(report) {
        let _ = writeln!(head, "| {title} | {} |", items.len());
    }
    head.push('\n');
    let foot = "The full report is the JSON artifact of this job (`ociam drift --format json`).\n";
    let mut room = limit.saturating_sub(head.len() + foot.len() + 200);
    let mut body = String::new();
    let mut left_out = 0usize;
    for (title, items) in sections(report) {
        if items.is_empty() {
            continue;
        }
        let table_head = format!(
            "#### {title}: {}\n\n| Subject | Action | Detail |\n|---|---|---|\n",
            items.len()
        );
        if table_head.len() > room {
            left_out += items.len();
            continue;
        }
        room -= table_head.len();
        body.push_str(&table_head);
        for item in items {
            let line = row(item);
            if line.len() > room {
                left_out += 1;
                continue;
            }
            room -= line.len();
            body.push_str(&line);
        }
        body.push('\n');
    }
    if left_out > 0 {
        let _ = writeln!(
            body,
            "… {left_out} more finding(s) not shown (size limit); see the JSON report artifact.\n"
        );
    }
    let mut out = head;
    out.push_str(&body);
    out.push_str(foot);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::{Categories, FORMAT_VERSION};
    use crate::plan::Action;

    fn item(subject: &str, action: Option<Action>, detail: &str) -> Item {
        Item {
            subject: subject.to_owned(),
            action,
            detail: detail.to_owned(),
            location: None,
        }
    }

    fn report(drift: bool, categories: Categories) -> Report {
        Report {
            format_version: FORMAT_VERSION,
            tenancy: "ocid1.tenancy.oc1..t".to_owned(),
            drift,
            categories,
        }
    }

    #[test]
    fn the_body_starts_with_the_marker_and_counts_every_category() {
        let mut amy = item(
            "user.amy",
            Some(Action::CreateUser),
            "listed in the manifest",
        );
        amy.location = Some(crate::model::Location {
            file: "iam/manifest.yaml".to_owned(),
            line: 14,
            column: 5,
        });
        let md = to_markdown(&report(
            true,
            Categories {
                missing: vec![amy],
                key_age: vec![item(
                    "api_key.ben/aa:bb",
                    None,
                    "API key of ben is 91 days old (limit 90 days)",
                )],
                ..Categories::default()
            },
        ));
        assert!(md.starts_with("<!-- ociam:drift -->\n"), "{md}");
        assert!(md.contains("### ociam drift: drift detected in tenancy `ocid1.tenancy.oc1..t`"));
        assert!(md.contains("| Missing (in the manifest, not live) | 1 |"));
        assert!(md.contains("| Changed (live, but different) | 0 |"));
        assert!(md.contains("#### Old or expired API keys: 1"));
        assert!(md.contains(
            "| `api_key.ben/aa:bb` |  | API key of ben is 91 days old (limit 90 days) |"
        ));
        assert!(
            md.contains(
                "| `user.amy`<br>at `iam/manifest.yaml:14` | `create_user` | listed in the manifest |"
            ),
            "{md}"
        );
        assert!(
            !md.contains("#### Changed"),
            "empty categories have no table"
        );
    }

    #[test]
    fn no_drift_says_so() {
        let md = to_markdown(&report(false, Categories::default()));
        assert!(md.contains("### ociam drift: no drift in tenancy"), "{md}");
        assert!(!md.contains("####"));
    }

    #[test]
    fn text_from_the_tenancy_cannot_break_the_table_or_inject_html() {
        let md = to_markdown(&report(
            true,
            Categories {
                changed: vec![item(
                    "user.eve",
                    Some(Action::UpdateUser),
                    "description | <img src=x onerror=alert(1)>\nnext",
                )],
                ..Categories::default()
            },
        ));
        assert!(
            md.contains("description \\| &lt;img src=x onerror=alert(1)&gt;<br>next"),
            "{md}"
        );
        assert!(!md.contains("<img"));
    }

    #[test]
    fn a_huge_report_stays_within_the_bound_and_says_what_it_left_out() {
        let missing: Vec<Item> = (0..5_000)
            .map(|i| {
                item(
                    &format!("user.user{i:05}"),
                    Some(Action::CreateUser),
                    "listed in the manifest but not live in the tenancy",
                )
            })
            .collect();
        let md = to_markdown(&report(
            true,
            Categories {
                missing,
                ..Categories::default()
            },
        ));
        assert!(md.len() <= MAX_MARKDOWN_CHARS, "{}", md.len());
        let shown = md.matches("| `user.user").count();
        assert!(shown > 100 && shown < 5_000, "{shown}");
        assert!(
            md.contains(&format!("… {} more finding(s) not shown", 5_000 - shown)),
            "{}",
            &md[md.len() - 300..]
        );
        assert!(md.contains("| Missing (in the manifest, not live) | 5000 |"));
    }
}
