//! Plan cases: each directory under `tests/fixtures/plan/` holds `manifest.yaml`, `live.json`
//! and `args` (the actor and any flags). The text and JSON renderings and the exit code are
//! snapshot-tested (`cargo insta review` to bless a deliberate change).

use crate::util::{extra_args, root, run_in, subdirs};

#[test]
fn every_plan_case_matches_its_snapshots() {
    let cases = subdirs(&root().join("tests/fixtures/plan"));
    assert!(
        cases.len() >= 8,
        "expected the plan fixture cases, found {}",
        cases.len()
    );
    for dir in cases {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let extra = extra_args(&dir);
        for format in ["text", "json"] {
            let mut args = vec![
                "plan",
                "manifest.yaml",
                "--live",
                "live.json",
                "--format",
                format,
            ];
            args.extend(extra.iter().map(String::as_str));
            let outcome = run_in(&dir, &args);
            insta::assert_snapshot!(format!("plan_{name}_{format}"), outcome.transcript());
        }
    }
}
