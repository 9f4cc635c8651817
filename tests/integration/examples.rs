//! Every example runs: it validates, matches the manifest schema, plans against its live
//! snapshot as its actor without being rejected (snapshot-tested), and every key file in it is
//! used by its manifest, so no example can rot.

use std::fs;

use crate::util::{extra_args, root, run_in, subdirs};

fn manifest_validator() -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(root().join("schemas/manifest.schema.json")).unwrap(),
    )
    .unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn examples() -> Vec<std::path::PathBuf> {
    subdirs(&root().join("examples"))
        .into_iter()
        .filter(|d| d.join("manifest.yaml").exists())
        .collect()
}

#[test]
fn there_are_at_least_three_examples() {
    assert!(examples().len() >= 3, "{:?}", examples());
}

#[test]
fn every_example_validates_and_matches_the_schema() {
    let validator = manifest_validator();
    for dir in examples() {
        let out = run_in(&dir, &["validate", "manifest.yaml"]);
        assert_eq!(out.code, 0, "{}: {}", dir.display(), out.transcript());
        let text = fs::read_to_string(dir.join("manifest.yaml")).unwrap();
        let value: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", dir.display());
    }
}

#[test]
fn every_example_plans_cleanly_against_its_live_snapshot() {
    for dir in examples()
        .into_iter()
        .filter(|d| d.join("live.json").exists())
    {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut args = vec![
            "plan",
            "manifest.yaml",
            "--live",
            "live.json",
            "--detailed-exitcode",
        ];
        let extra = extra_args(&dir);
        args.extend(extra.iter().map(String::as_str));
        let out = run_in(&dir, &args);
        assert_eq!(
            out.code,
            2,
            "{name} should plan changes: {}",
            out.transcript()
        );
        insta::assert_snapshot!(format!("example_{name}"), out.transcript());
    }
}

#[test]
fn every_key_file_of_an_example_is_used_by_its_manifest() {
    for dir in examples() {
        let manifest = fs::read_to_string(dir.join("manifest.yaml")).unwrap();
        let Ok(keys) = fs::read_dir(dir.join("keys")) else {
            continue;
        };
        for key in keys {
            let name = key.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                manifest.contains(&format!("keys/{name}")),
                "{}: keys/{name} is not used by the manifest",
                dir.display()
            );
        }
    }
}

/// Every `ociam` command line in the CI recipes names a real subcommand, real flags and real
/// `--format` values; together they use the Markdown, GitHub, SARIF and GitLab formats, and
/// both call the forge script (tested in `forge.rs`) for the sticky comment and drift issue.
#[test]
fn ci_recipes_use_real_commands_and_flags() {
    let mut checked = 0;
    let mut formats = std::collections::BTreeSet::new();
    for recipe in [
        "examples/ci/github-actions.yml",
        "examples/ci/gitlab-ci.yml",
    ] {
        let text = fs::read_to_string(root().join(recipe)).unwrap();
        let _: serde_json::Value =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{recipe}: {e}"));
        for line in text.lines() {
            let Some(start) = line.find("ociam ").filter(|i| !line[..*i].contains('#')) else {
                continue;
            };
            let words: Vec<&str> = line[start..].split_whitespace().collect();
            if words.len() < 2 || words[1].starts_with('-') || line.contains("cargo install") {
                continue;
            }
            let help = run_in(&root(), &[words[1], "--help"]);
            assert_eq!(help.code, 0, "{recipe}: `{}` is not a subcommand", words[1]);
            for flag in words.iter().filter(|w| w.starts_with("--")) {
                assert!(
                    help.stdout.contains(flag),
                    "{recipe}: `ociam {}` has no {flag}",
                    words[1]
                );
            }
            // `--format X`: X is one of the values the command's help lists.
            for pair in words.windows(2).filter(|p| p[0] == "--format") {
                assert!(
                    help.stdout.contains(pair[1]),
                    "{recipe}: `ociam {}` has no --format {}",
                    words[1],
                    pair[1]
                );
                formats.insert(pair[1].to_owned());
            }
            checked += 1;
        }
        // The forge script is called with one of its two commands and a Markdown body that
        // ociam wrote with its marker.
        let forge_calls: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("ociam_forge.py ") && !l.trim_start().starts_with('#'))
            .collect();
        assert_eq!(forge_calls.len(), 2, "{recipe}: {forge_calls:?}");
        assert!(
            forge_calls
                .iter()
                .any(|l| l.contains("ociam_forge.py comment plan.md"))
        );
        assert!(
            forge_calls
                .iter()
                .any(|l| l.contains("ociam_forge.py drift "))
        );
    }
    assert!(
        checked >= 10,
        "found {checked} ociam commands in the recipes"
    );
    for format in ["markdown", "github", "sarif", "gitlab"] {
        assert!(formats.contains(format), "no recipe uses --format {format}");
    }
}
