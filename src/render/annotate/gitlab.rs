//! GitLab's code-quality report: a JSON array of issues, each with `description`,
//! `check_name`, `fingerprint`, `severity` and `location.path` + `location.lines.begin`, which
//! GitLab shows in the merge request's code-quality widget and on the changed lines.
//!
//! - `severity`: an error (it rejects the plan or the manifest) is `critical`, a warning
//!   `minor`, a note `info`.
//! - `fingerprint`: hex SHA-256 of the rule, path, line and message (NUL-separated), so the
//!   same finding keeps its fingerprint from one pipeline to the next and GitLab can tell new
//!   findings from old ones. It moves when the finding's line moves.
//! - GitLab requires a path for every issue: a finding without a location is put on line 1 of
//!   the manifest.
//!
//! Pure: writes only to the given writer.

use std::io::{self, Write};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Finding, Level, neutralise};
use crate::hex;

#[derive(Serialize)]
struct Issue<'a> {
    description: String,
    check_name: &'a str,
    fingerprint: String,
    severity: &'static str,
    location: IssueLocation<'a>,
}

#[derive(Serialize)]
struct IssueLocation<'a> {
    path: &'a str,
    lines: Lines,
}

#[derive(Serialize)]
struct Lines {
    begin: u64,
}

/// GitLab's severity of a level.
#[must_use]
pub fn severity(level: Level) -> &'static str {
    match level {
        Level::Error => "critical",
        Level::Warning => "minor",
        Level::Note => "info",
    }
}

/// The stable fingerprint of a finding of `rule` at `path`:`line` saying `message`.
#[must_use]
pub fn fingerprint(rule: &str, path: &str, line: u64, message: &str) -> String {
    let line = line.to_string();
    let mut h = Sha256::new();
    for part in [rule, path, line.as_str(), message] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::lower(&h.finalize())
}

/// Writes `findings` as a pretty-printed code-quality report and a newline; findings without a
/// location are put on line 1 of `manifest`.
///
/// # Errors
/// Only the writer's errors.
pub fn render(findings: &[Finding], manifest: &str, out: &mut dyn Write) -> io::Result<()> {
    let issues: Vec<Issue<'_>> = findings
        .iter()
        .map(|f| {
            let (path, line) = f
                .location
                .as_ref()
                .map_or((manifest, 1), |at| (at.file.as_str(), at.line.max(1)));
            Issue {
                description: neutralise(&f.text()).into_owned(),
                check_name: &f.rule,
                fingerprint: fingerprint(&f.rule, path, line, &f.message),
                severity: severity(f.level),
                location: IssueLocation {
                    path,
                    lines: Lines { begin: line },
                },
            }
        })
        .collect();
    serde_json::to_writer_pretty(&mut *out, &issues)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::super::tests::sample;
    use super::*;

    fn value(findings: &[Finding]) -> serde_json::Value {
        let mut buf = Vec::new();
        render(findings, "iam/manifest.yaml", &mut buf).unwrap();
        assert!(buf.ends_with(b"\n"));
        serde_json::from_slice(&buf).unwrap()
    }

    #[test]
    fn one_issue_per_finding_with_gitlabs_fields() {
        let v = value(&sample());
        let issues = v.as_array().unwrap();
        assert_eq!(issues.len(), 3);
        let first = &issues[0];
        assert_eq!(
            first["description"],
            "user carol declares 4 API keys; OCI allows at most 3 — remove keys"
        );
        assert_eq!(first["check_name"], "max-api-keys");
        assert_eq!(first["location"]["path"], "iam/manifest.yaml");
        assert_eq!(first["location"]["lines"]["begin"], 14);
        let fp = first["fingerprint"].as_str().unwrap();
        assert_eq!(fp.len(), 64);
        assert!(
            fp.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        // Without a location: the manifest's first line.
        assert_eq!(issues[2]["location"]["path"], "iam/manifest.yaml");
        assert_eq!(issues[2]["location"]["lines"]["begin"], 1);
        assert_eq!(value(&[]), serde_json::json!([]));
    }

    #[test]
    fn severities_map_error_warning_note_to_critical_minor_info() {
        let v = value(&sample());
        let got: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["severity"].as_str().unwrap())
            .collect();
        assert_eq!(got, ["critical", "minor", "info"]);
    }

    #[test]
    fn fingerprints_are_stable_and_differ_by_rule_path_line_and_message() {
        let a = fingerprint("max-api-keys", "iam/m.yaml", 4, "four keys");
        // Pinned (sha256 of `max-api-keys\0iam/m.yaml\04\0four keys\0`): a change here makes
        // every finding look new to GitLab.
        assert_eq!(
            a,
            "6b0d538d70bc449de7bc8023b46472ece1868040b9b3ac4feac4386b1c52137a"
        );
        for other in [
            fingerprint("weak-key", "iam/m.yaml", 4, "four keys"),
            fingerprint("max-api-keys", "iam/n.yaml", 4, "four keys"),
            fingerprint("max-api-keys", "iam/m.yaml", 5, "four keys"),
            fingerprint("max-api-keys", "iam/m.yaml", 4, "five keys"),
        ] {
            assert_ne!(a, other);
        }
        // The same findings rendered twice carry the same fingerprints.
        assert_eq!(value(&sample()), value(&sample()));
    }
}
