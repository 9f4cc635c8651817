//! Plan cases: each directory under `tests/fixtures/plan/` holds `manifest.yaml`, `live.json`
//! and `args` (the actor and any flags). The text and JSON renderings and the exit code are
//! snapshot-tested (`cargo insta review` to bless a deliberate change).

use crate::util::{plan_fixture, root, subdirs};

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
        for format in ["text", "json"] {
            let outcome = plan_fixture(&dir, format);
            insta::assert_snapshot!(format!("plan_{name}_{format}"), outcome.transcript());
        }
    }
}

/// `plan --format json` of a fixture directory (under the repository root), parsed.
fn plan_json(dir: &str) -> (i32, serde_json::Value) {
    let dir = root().join(dir);
    let out = plan_fixture(&dir, "json");
    let plan = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", dir.display(), out.transcript()));
    (out.code, plan)
}

/// The change of `plan` with `subject`, and the not-authorized messages at its step.
fn change_and_refusals<'a>(
    plan: &'a serde_json::Value,
    subject: &str,
) -> (&'a serde_json::Value, Vec<&'a str>) {
    let change = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            let user = c["user"].as_str().unwrap_or_default();
            let group = c["group"].as_str().unwrap_or_default();
            let fp = c["fingerprint"].as_str().unwrap_or_default();
            [
                format!("membership.{group}/{user}"),
                format!("api_key.{user}/{fp}"),
            ]
            .contains(&subject.to_owned())
        })
        .unwrap_or_else(|| panic!("no change {subject} in {plan:#}"));
    let refusals = plan["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["rule"] == "not-authorized" && d["step"] == change["seq"])
        .map(|d| d["message"].as_str().unwrap())
        .collect();
    (change, refusals)
}

/// Exactly one refusal, containing `needle`.
#[track_caller]
fn assert_one_refusal(refusals: &[&str], needle: &str) {
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert!(refusals[0].contains(needle), "{}", refusals[0]);
}

#[test]
fn a_manage_groups_only_actor_cannot_upload_another_users_key_and_is_told_what_it_lacks() {
    let (code, plan) = plan_json("tests/fixtures/plan/manage-groups-only");
    assert_eq!(code, 3);
    let (upload, refusals) = change_and_refusals(
        &plan,
        "api_key.bob/0b:92:88:1b:54:25:fd:03:ca:72:ce:75:eb:91:1e:8a",
    );
    assert_eq!(upload["authority"], "none");
    assert_one_refusal(
        &refusals,
        "UploadApiKey needs USER_UPDATE and USER_APIKEY_ADD on user bob (manage users in tenancy)",
    );
    assert_eq!(
        plan["actor"]["authority"]["grants"],
        serde_json::json!(["manage groups"])
    );
}

#[test]
fn the_delegated_helpdesk_adds_people_to_developers_but_not_to_administrators() {
    let (code, plan) = plan_json("examples/delegated-helpdesk");
    assert_eq!(code, 0, "{plan:#}");
    for subject in [
        "membership.developers/carol",
        "membership.qa/bob",
        "membership.developers/bob",
    ] {
        let (change, refusals) = change_and_refusals(&plan, subject);
        assert_eq!(change["authority"], "policy", "{subject}");
        assert_eq!(change["granted_by"][0]["policy"], "helpdesk");
        assert!(refusals.is_empty());
    }
    let (code, plan) = plan_json("tests/fixtures/plan/helpdesk-administrators");
    assert_eq!(code, 3);
    let (admins, refusals) = change_and_refusals(&plan, "membership.Administrators/carol");
    assert_eq!(admins["authority"], "none");
    assert_one_refusal(
        &refusals,
        "needs USER_UPDATE and GROUP_UPDATE on carol's membership of group Administrators (use users, use groups in tenancy)",
    );
    assert!(refusals[0].contains("target.group.name != 'Administrators'` does not hold here"));
    let (developers, refusals) = change_and_refusals(&plan, "membership.developers/carol");
    assert_eq!(developers["authority"], "policy");
    assert!(refusals.is_empty());
}

#[test]
fn a_permission_list_with_apikey_add_but_not_apikey_remove_uploads_and_does_not_delete() {
    let (code, plan) = plan_json("tests/fixtures/plan/permission-list");
    assert_eq!(code, 3);
    let (upload, refusals) = change_and_refusals(
        &plan,
        "api_key.bob/0b:92:88:1b:54:25:fd:03:ca:72:ce:75:eb:91:1e:8a",
    );
    assert_eq!(upload["authority"], "policy");
    assert!(refusals.is_empty());
    let (delete, refusals) = change_and_refusals(
        &plan,
        "api_key.bob/2d:11:bb:3a:5a:c7:8d:86:33:fa:2d:bf:3a:e9:b4:7f",
    );
    assert_eq!(delete["authority"], "none");
    assert_one_refusal(
        &refusals,
        "nothing grants USER_APIKEY_REMOVE for this request",
    );
}
