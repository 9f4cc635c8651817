//! Annotations end to end: `--format github|sarif|gitlab` of `validate`, `plan` and `drift`
//! name the manifest file and the exact line of the offending entry; the SARIF output
//! validates against the official SARIF 2.1.0 schema (`tests/fixtures/sarif/`) and carries the
//! same location; exit codes are those of the text formats.

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::util::{Outcome, root, run_in};

const TENANCY: &str = "ocid1.tenancy.oc1..aaaaaaaaexampletenancy";

fn write(dir: &Path, name: &str, text: &str) {
    fs::write(dir.join(name), text).unwrap();
}

fn manifest(body: &str) -> String {
    format!("version: 1\ntenancy: {TENANCY}\n{body}")
}

/// A tenancy with `admin` in `Administrators` and nothing else.
fn admin_only_snapshot() -> String {
    serde_json::json!({
        "format_version": 1, "tenancy": TENANCY,
        "users": [{"id": "ocid1.user.oc1..admin", "compartmentId": TENANCY, "name": "admin",
                   "description": "", "freeformTags": {}}],
        "groups": [{"id": "ocid1.group.oc1..admins", "compartmentId": TENANCY,
                    "name": "Administrators", "description": ""}],
        "memberships": [{"id": "ocid1.groupmembership.oc1..m", "compartmentId": TENANCY,
                         "groupId": "ocid1.group.oc1..admins", "userId": "ocid1.user.oc1..admin"}],
        "api_keys": {}, "policies": []
    })
    .to_string()
}

/// The `language` pattern of the OASIS schema: a stray `]` that Rust's regex (and so
/// `jsonschema`'s check of the schema itself) refuses. SARIF never uses it for what ociam writes.
const BROKEN_LANGUAGE_PATTERN: &str = "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$";
/// The pattern as Microsoft's sarif-sdk copy of the schema fixes it.
const FIXED_LANGUAGE_PATTERN: &str = "^[a-zA-Z]{2}(-[a-zA-Z]{2})?$";

/// Replaces every `"pattern": BROKEN_LANGUAGE_PATTERN` in `v`; returns how many.
fn fix_language_patterns(v: &mut Value) -> usize {
    match v {
        Value::Object(map) => {
            let mut fixed = 0;
            for (key, value) in map.iter_mut() {
                if key == "pattern" && value == BROKEN_LANGUAGE_PATTERN {
                    *value = Value::from(FIXED_LANGUAGE_PATTERN);
                    fixed += 1;
                } else {
                    fixed += fix_language_patterns(value);
                }
            }
            fixed
        }
        Value::Array(items) => items.iter_mut().map(fix_language_patterns).sum(),
        _ => 0,
    }
}

/// The SARIF 2.1.0 schema validator: the packaged copy under `tests/fixtures/sarif/`, with
/// its two `language` patterns fixed (see [`BROKEN_LANGUAGE_PATTERN`]).
fn sarif_validator() -> jsonschema::Validator {
    let path = root().join("tests/fixtures/sarif/sarif-schema-2.1.0.json");
    let mut schema: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        schema["$schema"], "http://json-schema.org/draft-07/schema#",
        "the fixture is the draft-07 OASIS schema"
    );
    assert_eq!(fix_language_patterns(&mut schema), 2, "the fixture changed");
    jsonschema::validator_for(&schema).unwrap()
}

/// `out`'s stdout parsed as SARIF, after checking it against the schema.
#[track_caller]
fn valid_sarif(out: &Outcome) -> Value {
    let log: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON: {e}\n{}", out.transcript()));
    let errors: Vec<String> = sarif_validator()
        .iter_errors(&log)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{log:#}");
    log
}

/// The (uri, line, column) of every SARIF result of `rule`.
fn sarif_locations(log: &Value, rule: &str) -> Vec<(String, u64, Option<u64>)> {
    log["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["ruleId"] == rule)
        .map(|r| {
            let at = &r["locations"][0]["physicalLocation"];
            (
                at["artifactLocation"]["uri"].as_str().unwrap().to_owned(),
                at["region"]["startLine"].as_u64().unwrap(),
                at["region"]["startColumn"].as_u64(),
            )
        })
        .collect()
}

#[test]
fn the_sarif_schema_rejects_what_is_not_sarif() {
    // The check below is only worth something if the schema can fail.
    let validator = sarif_validator();
    let ok = serde_json::json!({"version": "2.1.0", "runs": []});
    assert!(validator.is_valid(&ok));
    for bad in [
        serde_json::json!({"version": "2.0.0", "runs": []}),
        serde_json::json!({"version": "2.1.0"}),
        serde_json::json!({"version": "2.1.0", "runs": [{"tool": {}}]}),
        serde_json::json!({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}},
            "results": [{"message": {"text": "m"}, "level": "fatal"}]}]}),
    ] {
        assert!(!validator.is_valid(&bad), "{bad}");
    }
}

/// An unknown field: every annotation format names `m.yaml` line 5 (exit 1, as in text).
#[test]
fn an_unknown_field_is_annotated_on_its_line_by_validate_and_plan() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "m.yaml",
        &manifest("users:\n  - name: a\n    emial: a@example.com\n"),
    );
    write(dir.path(), "live.json", &admin_only_snapshot());
    let plan = ["m.yaml", "--live", "live.json", "--actor", "admin"];
    for args in [vec!["validate", "m.yaml"], [&["plan"][..], &plan].concat()] {
        let run = |format: &str| run_in(dir.path(), &[&args[..], &["--format", format]].concat());

        let out = run("github");
        assert_eq!(out.code, 1, "{}", out.transcript());
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), 1, "{}", out.transcript());
        assert!(
            lines[0].starts_with(
                "::error file=m.yaml,line=5,col=5,title=manifest::unknown field `emial`"
            ),
            "{}",
            out.transcript()
        );
        // The people's version stays on stderr.
        assert!(out.stderr.contains("m.yaml:5:5"), "{}", out.transcript());

        let out = run("sarif");
        assert_eq!(out.code, 1, "{}", out.transcript());
        let log = valid_sarif(&out);
        assert_eq!(
            sarif_locations(&log, "manifest"),
            [("m.yaml".to_owned(), 5, Some(5))]
        );
        assert_eq!(log["runs"][0]["results"][0]["level"], "error");

        let out = run("gitlab");
        assert_eq!(out.code, 1, "{}", out.transcript());
        let report: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(report.as_array().unwrap().len(), 1, "{report:#}");
        assert_eq!(report[0]["check_name"], "manifest");
        assert_eq!(report[0]["severity"], "critical");
        assert_eq!(report[0]["location"]["path"], "m.yaml");
        assert_eq!(report[0]["location"]["lines"]["begin"], 5);
    }
}

/// A user with four keys (line 4 of `m.yaml`): rejected (exit 3), and `max-api-keys` names the
/// user's entry in every annotation format; `--out` still writes the JSON plan.
#[test]
fn four_keys_for_one_user_are_annotated_on_the_users_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut body = String::from("users:\n  - name: carol\n    api_keys:\n");
    for i in 0..4 {
        let key = ociam::keygen::generate_rsa_2048().unwrap().public_spki_pem;
        write(dir.path(), &format!("k{i}.pem"), &key);
        body.push_str(&format!("      - file: k{i}.pem\n"));
    }
    write(dir.path(), "m.yaml", &manifest(&body));
    write(dir.path(), "live.json", &admin_only_snapshot());
    let plan = ["plan", "m.yaml", "--live", "live.json", "--actor", "admin"];
    let run = |format: &str| run_in(dir.path(), &[&plan[..], &["--format", format]].concat());

    let out = run_in(
        dir.path(),
        &[&plan[..], &["--format", "github", "--out", "plan.json"]].concat(),
    );
    assert_eq!(out.code, 3, "{}", out.transcript());
    let expected = "::error file=m.yaml,line=4,col=11,title=max-api-keys::user carol declares 4 API keys; OCI allows at most 3 — remove keys from the list until at most three remain (rotate in two changes if needed)";
    assert!(
        out.stdout.lines().any(|l| l == expected),
        "{}",
        out.transcript()
    );
    // Every line is a workflow command, and nothing else is on stdout.
    assert!(
        out.stdout.lines().all(|l| l.starts_with("::error ")
            || l.starts_with("::warning ")
            || l.starts_with("::notice ")),
        "{}",
        out.transcript()
    );
    // One annotation per diagnostic: the error above and the `unmanaged` notes (no location).
    // Step findings (`not-authorized`, `lockout`) are located too: see
    // `not_authorized_and_lockout_steps_are_annotated_on_their_entries`.
    let plan_json: Value =
        serde_json::from_str(&fs::read_to_string(dir.path().join("plan.json")).unwrap()).unwrap();
    assert_eq!(plan_json["format_version"], 1);
    assert_eq!(
        plan_json["diagnostics"].as_array().unwrap().len(),
        out.stdout.lines().count(),
        "one annotation per diagnostic\n{}",
        out.transcript()
    );

    let out = run("sarif");
    assert_eq!(out.code, 3, "{}", out.transcript());
    let log = valid_sarif(&out);
    assert!(
        sarif_locations(&log, "max-api-keys").contains(&("m.yaml".to_owned(), 4, Some(11))),
        "{log:#}"
    );

    let out = run("gitlab");
    assert_eq!(out.code, 3, "{}", out.transcript());
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(
        report
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["check_name"] == "max-api-keys"
                && i["location"]["path"] == "m.yaml"
                && i["location"]["lines"]["begin"] == 4),
        "{report:#}"
    );

    // `validate` says the same, with its own exit code (3: rejected by a rule).
    let out = run_in(dir.path(), &["validate", "m.yaml", "--format", "github"]);
    assert_eq!(out.code, 3, "{}", out.transcript());
    assert_eq!(out.stdout, format!("{expected}\n"), "{}", out.transcript());
}

/// A valid manifest: `validate --format github` prints nothing on stdout (the verdict goes to
/// stderr), SARIF has no results, GitLab an empty array; exit 0.
#[test]
fn a_valid_manifest_has_empty_annotation_documents() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "m.yaml", &manifest("users:\n  - name: alice\n"));
    let out = run_in(dir.path(), &["validate", "m.yaml", "--format", "github"]);
    assert_eq!(out.code, 0, "{}", out.transcript());
    assert_eq!(out.stdout, "", "{}", out.transcript());
    assert!(
        out.stderr.contains("m.yaml is valid: 1 user(s)"),
        "{}",
        out.transcript()
    );

    let out = run_in(dir.path(), &["validate", "m.yaml", "--format", "sarif"]);
    assert_eq!(out.code, 0, "{}", out.transcript());
    let log = valid_sarif(&out);
    assert_eq!(log["runs"][0]["results"], serde_json::json!([]));
    assert_eq!(log["runs"][0]["tool"]["driver"]["name"], "ociam");

    let out = run_in(dir.path(), &["validate", "m.yaml", "--format", "gitlab"]);
    assert_eq!(out.code, 0, "{}", out.transcript());
    assert_eq!(out.stdout, "[]\n");

    // `text` is today's behaviour: the verdict on stdout.
    let out = run_in(dir.path(), &["validate", "m.yaml", "--format", "text"]);
    assert_eq!(out.code, 0, "{}", out.transcript());
    assert!(
        out.stdout.contains("m.yaml is valid"),
        "{}",
        out.transcript()
    );
}

/// Drift items are warnings (exit 2 as with text); a name-case finding carries its line.
#[test]
fn drift_items_are_annotated_as_warnings() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "live.json", &admin_only_snapshot());
    // `Admin` matches live `admin` only ignoring case (line 4); `carol` is missing (line 5).
    write(
        dir.path(),
        "m.yaml",
        &manifest("users:\n  - name: Admin\n  - name: carol\n"),
    );
    let drift = ["drift", "m.yaml", "--live", "live.json", "--actor", "admin"];
    let run = |format: &str| run_in(dir.path(), &[&drift[..], &["--format", format]].concat());

    let out = run_in(
        dir.path(),
        &[&drift[..], &["--format", "github", "--out", "drift.json"]].concat(),
    );
    assert_eq!(out.code, 2, "{}", out.transcript());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines.iter().any(|l| l.starts_with(
            "::warning file=m.yaml,line=5,col=11,title=drift-missing::user.carol: create_user: "
        )),
        "{}",
        out.transcript()
    );
    assert!(
        lines.iter().any(|l| l
            .starts_with("::warning file=m.yaml,line=4,col=11,title=drift-changed::user.Admin: ")),
        "{}",
        out.transcript()
    );
    // --out still writes the JSON report.
    let report: Value =
        serde_json::from_str(&fs::read_to_string(dir.path().join("drift.json")).unwrap()).unwrap();
    assert_eq!(report["drift"], true);

    let out = run("sarif");
    assert_eq!(out.code, 2, "{}", out.transcript());
    let log = valid_sarif(&out);
    assert!(
        sarif_locations(&log, "drift-changed").contains(&("m.yaml".to_owned(), 4, Some(11))),
        "{log:#}"
    );
    // A missing user points at its manifest entry.
    assert_eq!(
        sarif_locations(&log, "drift-missing")[0],
        ("m.yaml".to_owned(), 5, Some(11))
    );

    let out = run("gitlab");
    assert_eq!(out.code, 2, "{}", out.transcript());
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(
        report
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["severity"] == "minor" || i["severity"] == "info"),
        "{report:#}"
    );
}

/// The plan case `name` (`tests/fixtures/plan/NAME`) as `format`, with its actor arguments.
fn plan_case(name: &str, format: &str) -> Outcome {
    let dir = root().join("tests/fixtures/plan").join(name);
    let mut args = vec![
        "plan",
        "manifest.yaml",
        "--live",
        "live.json",
        "--format",
        format,
    ];
    let extra = crate::util::extra_args(&dir);
    args.extend(extra.iter().map(String::as_str));
    run_in(&dir, &args)
}

/// Step findings land on the manifest line of the step's entry: a not-authorized upload on
/// its key item, a not-authorized deletion of an unlisted key and a lockout on the user's
/// entry. The SARIF output validates and carries the same locations.
#[test]
fn not_authorized_and_lockout_steps_are_annotated_on_their_entries() {
    for (case, expected) in [
        (
            "manage-groups-only",
            vec![
                ("not-authorized", 6, 15, "olga may not upload_api_key: "),
                ("not-authorized", 4, 11, "olga may not delete_api_key: "),
            ],
        ),
        (
            "lockout-signing-key",
            vec![("lockout", 4, 11, "step deletes the key deploy-bot signs")],
        ),
    ] {
        let out = plan_case(case, "github");
        assert_eq!(out.code, 3, "{case}: {}", out.transcript());
        for (rule, line, col, message) in &expected {
            let prefix =
                format!("::error file=manifest.yaml,line={line},col={col},title={rule}::{message}");
            assert!(
                out.stdout.lines().any(|l| l.starts_with(&prefix)),
                "{case}: no `{prefix}`\n{}",
                out.transcript()
            );
        }
        let out = plan_case(case, "sarif");
        assert_eq!(out.code, 3, "{case}: {}", out.transcript());
        let log = valid_sarif(&out);
        for (rule, line, col, _) in &expected {
            assert!(
                sarif_locations(&log, rule).contains(&(
                    "manifest.yaml".to_owned(),
                    *line,
                    Some(*col)
                )),
                "{case}: {rule} at {line}:{col}\n{log:#}"
            );
        }
    }
}
