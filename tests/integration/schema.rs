//! The committed schemas are exactly what the code generates, and real plans conform to the
//! plan schema. Regenerate with `ociam schema > schemas/manifest.schema.json` and
//! `ociam schema --plan > schemas/plan.schema.json` and
//! `ociam schema --apply-report > schemas/apply-report.schema.json`.

use std::fs;

use crate::util::{root, run_in};

#[test]
fn committed_schemas_are_not_stale() {
    for (file, args) in [
        ("schemas/manifest.schema.json", vec!["schema"]),
        ("schemas/plan.schema.json", vec!["schema", "--plan"]),
        (
            "schemas/apply-report.schema.json",
            vec!["schema", "--apply-report"],
        ),
    ] {
        let out = run_in(&root(), &args);
        assert_eq!(out.code, 0);
        let committed = fs::read_to_string(root().join(file)).unwrap();
        assert!(
            committed == out.stdout,
            "{file} is stale: run `cargo run -- {}  > {file}`",
            args.join(" ")
        );
        let schema: serde_json::Value = serde_json::from_str(&committed).unwrap();
        assert_eq!(
            schema["$schema"], "http://json-schema.org/draft-07/schema#",
            "{file}"
        );
    }
}

#[test]
fn plans_conform_to_the_plan_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(root().join("schemas/plan.schema.json")).unwrap())
            .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut checked = 0;
    for dir in crate::util::subdirs(&root().join("tests/fixtures/plan")) {
        let out = crate::util::plan_fixture(&dir, "json");
        let plan: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&plan)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", dir.display());
        checked += 1;
    }
    assert!(checked >= 8);
}
