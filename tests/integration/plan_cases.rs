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

/// The line of a JSON `source` or `location`, if any.
fn line(at: &serde_json::Value) -> Option<u64> {
    at["line"].as_u64()
}

/// The change of `plan` doing `action` on `subject`-like fields (user, group, fingerprint).
fn change<'a>(
    plan: &'a serde_json::Value,
    action: &str,
    user: Option<&str>,
    group: Option<&str>,
) -> &'a serde_json::Value {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["action"] == action && c["user"].as_str() == user && c["group"].as_str() == group
        })
        .unwrap_or_else(|| panic!("no {action} {user:?} {group:?} in {plan:#}"))
}

/// The findings of `rule` in `plan`.
fn findings<'a>(plan: &'a serde_json::Value, rule: &str) -> Vec<&'a serde_json::Value> {
    plan["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["rule"] == rule)
        .collect()
}

#[test]
fn changes_and_findings_name_the_manifest_line_of_their_entry() {
    let (code, plan) = plan_json("tests/fixtures/plan/source-locations");
    assert_eq!(code, 3, "kim lists four keys: {plan:#}");
    // A four-key user: the finding points at the user's entry, each upload at its key item.
    let four = findings(&plan, "max-api-keys");
    assert!(!four.is_empty());
    for d in &four {
        assert_eq!(d["location"]["file"], "manifest.yaml");
        assert_eq!(line(&d["location"]), Some(16), "{d:#}");
    }
    let uploads: Vec<Option<u64>> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "upload_api_key")
        .map(|c| line(&c["source"]))
        .collect();
    assert_eq!(uploads.len(), 4);
    let mut sorted = uploads.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [Some(18), Some(19), Some(20), Some(21)]);
    // Creations, an update, a membership and a tombstone.
    let source = |action, user, group| line(&change(&plan, action, user, group)["source"]);
    assert_eq!(source("create_group", None, Some("payments")), Some(6));
    assert_eq!(source("update_group", None, Some("platform")), Some(8));
    assert_eq!(source("create_user", Some("ana"), None), Some(13));
    assert_eq!(
        source("add_to_group", Some("ana"), Some("payments")),
        Some(15)
    );
    assert_eq!(
        source("delete_user", Some("old-contractor"), None),
        Some(22)
    );
    // Pruning `leaver` derives from no entry: no `source` at all.
    let pruned = change(&plan, "delete_user", Some("leaver"), None);
    assert!(pruned.get("source").is_none(), "{pruned:#}");
    let left = change(&plan, "remove_from_group", Some("leaver"), Some("platform"));
    assert!(left.get("source").is_none(), "{left:#}");
}

#[test]
fn a_not_authorized_step_and_a_lockout_name_the_manifest_line_of_their_entry() {
    // The actor may upload neither bob's key item (line 6) nor delete the key bob's entry
    // (line 4) no longer lists.
    let (_, plan) = plan_json("tests/fixtures/plan/manage-groups-only");
    let refused: Vec<(u64, Option<u64>)> = findings(&plan, "not-authorized")
        .iter()
        .map(|d| (d["step"].as_u64().unwrap(), line(&d["location"])))
        .collect();
    assert_eq!(refused, [(1, Some(6)), (2, Some(4))], "{plan:#}");
    assert_eq!(change(&plan, "upload_api_key", Some("bob"), None)["seq"], 1);
    // deploy-bot's entry (line 4) drops the key it signs with.
    let (_, plan) = plan_json("tests/fixtures/plan/lockout-signing-key");
    let lockout = findings(&plan, "lockout");
    assert_eq!(lockout.len(), 1, "{plan:#}");
    assert_eq!(line(&lockout[0]["location"]), Some(4));
    let delete = change(&plan, "delete_api_key", Some("deploy-bot"), None);
    assert_eq!(line(&delete["source"]), Some(4));
}

#[test]
fn markdown_links_manifest_lines_under_the_source_url_base() {
    let dir = root().join("tests/fixtures/plan/source-locations");
    let mut args = vec![
        "plan",
        "manifest.yaml",
        "--live",
        "live.json",
        "--format",
        "markdown",
        "--source-url-base",
        "https://github.com/acme/iam/blob/0123abc/",
    ];
    let extra = crate::util::extra_args(&dir);
    args.extend(extra.iter().map(String::as_str));
    let out = crate::util::run_in(&dir, &args);
    assert_eq!(out.code, 3, "{}", out.transcript());
    assert!(
        out.stdout.contains(
            "`user.ana`<br>at [manifest.yaml:13](https://github.com/acme/iam/blob/0123abc/manifest.yaml#L13)"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("at [manifest.yaml:16:"),
        "the four-key finding links too: {}",
        out.stdout
    );

    args[7] = "javascript:alert(1)";
    let bad = crate::util::run_in(&dir, &args);
    assert_ne!(bad.code, 0);
    assert!(
        bad.stderr.contains("not an http(s) URL"),
        "{}",
        bad.transcript()
    );
}
