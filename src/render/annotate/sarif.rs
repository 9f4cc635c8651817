//! SARIF 2.1.0 (OASIS), the log GitHub code scanning and other viewers read: one run whose
//! tool is `ociam`, every rule id ([`super::all_rules`]) a reporting descriptor with its
//! summary, and one result per finding with its rule, level, text and manifest location.
//!
//! Hand-built serde types for the subset ociam writes rather than a full SARIF object model:
//! a few dozen lines, no dependency, and a test validates the output against the official
//! schema (`tests/fixtures/sarif/`).
//!
//! GitHub code scanning refuses results without a location, so a finding without one is put
//! on line 1 of the manifest.
//!
//! Pure: writes only to the given writer.

use std::fmt::Write as _;
use std::io::{self, Write};

use serde::Serialize;

use super::{Finding, all_rules, neutralise};

/// The schema the log names (the OASIS 2.1.0 schema, as `json.schemastore.org` serves it).
pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Where to read about ociam's rules: the package's repository, when Cargo.toml names one.
const INFORMATION_URI: &str = env!("CARGO_PKG_REPOSITORY");

#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run<'a> {
    tool: Tool,
    column_kind: &'static str,
    results: Vec<SarifResult<'a>>,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: &'static str,
    version: &'static str,
    semantic_version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    information_uri: Option<&'static str>,
    rules: Vec<Rule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    id: &'static str,
    short_description: Text,
    help: Text,
    default_configuration: Configuration,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
struct Text {
    text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule_index: Option<usize>,
    level: &'static str,
    message: Text,
    locations: [ResultLocation; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResultLocation {
    physical_location: PhysicalLocation,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    region: Region,
}

#[derive(Serialize)]
struct ArtifactLocation {
    uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_column: Option<u64>,
}

/// Writes `findings` as a pretty-printed SARIF 2.1.0 log and a newline; findings without a
/// location point at line 1 of `manifest`.
///
/// # Errors
/// Only the writer's errors.
pub fn render(findings: &[Finding], manifest: &str, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &log(findings, manifest))?;
    out.write_all(b"\n")
}

fn log<'a>(findings: &'a [Finding], manifest: &str) -> Log<'a> {
    let rules = all_rules();
    let results = findings
        .iter()
        .map(|f| {
            let (file, line, column) = match &f.location {
                Some(at) => (at.file.as_str(), at.line, Some(at.column)),
                None => (manifest, 1, None),
            };
            SarifResult {
                rule_id: &f.rule,
                rule_index: rules.iter().position(|r| r.id == f.rule),
                level: f.level.as_str(),
                message: Text {
                    text: neutralise(&f.text()).into_owned(),
                },
                locations: [ResultLocation {
                    physical_location: PhysicalLocation {
                        artifact_location: ArtifactLocation { uri: uri(file) },
                        region: Region {
                            start_line: line.max(1),
                            start_column: column.filter(|c| *c >= 1),
                        },
                    },
                }],
            }
        })
        .collect();
    let rules = rules
        .iter()
        .map(|r| Rule {
            id: r.id,
            short_description: Text {
                text: r.summary.to_owned(),
            },
            help: Text {
                text: format!(
                    "{}. ociam rule `{}`, {} by default; the finding's message says how to fix it.",
                    capitalised(r.summary),
                    r.id,
                    r.level.as_str()
                ),
            },
            default_configuration: Configuration {
                level: r.level.as_str(),
            },
        })
        .collect();
    Log {
        schema: SCHEMA,
        version: "2.1.0",
        runs: [Run {
            tool: Tool {
                driver: Driver {
                    name: "ociam",
                    version: env!("CARGO_PKG_VERSION"),
                    semantic_version: env!("CARGO_PKG_VERSION"),
                    information_uri: Some(INFORMATION_URI).filter(|u| !u.is_empty()),
                    rules,
                },
            },
            column_kind: "unicodeCodePoints",
            results,
        }],
    }
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// A file path as a relative URI reference: `/` kept, every byte outside RFC 3986's
/// unreserved characters percent-encoded (a space, `%`, `#`, or a `:` that would read as a
/// scheme).
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::sample;
    use super::*;
    use crate::rules::RULES;

    fn value(findings: &[Finding]) -> serde_json::Value {
        let mut buf = Vec::new();
        render(findings, "iam/manifest.yaml", &mut buf).unwrap();
        assert!(buf.ends_with(b"}\n"));
        serde_json::from_slice(&buf).unwrap()
    }

    #[test]
    fn one_run_by_ociam_with_every_rule_and_one_result_per_finding() {
        let v = value(&sample());
        assert_eq!(v["version"], "2.1.0");
        assert_eq!(v["$schema"], SCHEMA);
        let runs = v["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 1);
        let driver = &runs[0]["tool"]["driver"];
        assert_eq!(driver["name"], "ociam");
        assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
        let rules = driver["rules"].as_array().unwrap();
        for info in RULES {
            let rule = rules
                .iter()
                .find(|r| r["id"] == info.id)
                .unwrap_or_else(|| panic!("no rule {}", info.id));
            assert_eq!(rule["shortDescription"]["text"], info.summary);
            assert!(
                rule["help"]["text"].as_str().unwrap().contains(info.id),
                "{rule}"
            );
        }
        let results = runs[0]["results"].as_array().unwrap();
        assert_eq!(results.len(), 3);
        let first = &results[0];
        assert_eq!(first["ruleId"], "max-api-keys");
        let index = usize::try_from(first["ruleIndex"].as_u64().unwrap()).unwrap();
        assert_eq!(rules[index]["id"], "max-api-keys");
        assert_eq!(first["level"], "error");
        assert_eq!(
            first["message"]["text"],
            "user carol declares 4 API keys; OCI allows at most 3 — remove keys"
        );
        let at = &first["locations"][0]["physicalLocation"];
        assert_eq!(at["artifactLocation"]["uri"], "iam/manifest.yaml");
        assert_eq!(at["region"]["startLine"], 14);
        assert_eq!(at["region"]["startColumn"], 11);
        assert_eq!(results[1]["level"], "warning");
        assert_eq!(results[2]["level"], "note");
    }

    #[test]
    fn a_finding_without_a_location_points_at_the_manifests_first_line() {
        let v = value(&sample());
        let at = &v["runs"][0]["results"][2]["locations"][0]["physicalLocation"];
        assert_eq!(at["artifactLocation"]["uri"], "iam/manifest.yaml");
        assert_eq!(at["region"]["startLine"], 1);
        assert!(at["region"].get("startColumn").is_none(), "{at}");
    }

    #[test]
    fn no_findings_is_a_run_with_no_results() {
        let v = value(&[]);
        assert_eq!(v["runs"][0]["results"], serde_json::json!([]));
    }

    #[test]
    fn paths_become_uri_references() {
        assert_eq!(uri("iam/manifest.yaml"), "iam/manifest.yaml");
        assert_eq!(uri("my iam/c:50%#.yaml"), "my%20iam/c%3A50%25%23.yaml");
        assert_eq!(uri("é"), "%C3%A9");
    }
}
