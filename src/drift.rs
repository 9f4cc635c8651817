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

use crate::model::Location;
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
    /// The manifest line it comes from, when the finding carries one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
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
            // The manifest entry the change derives from (none for pruned objects).
            location: change.source.clone(),
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
            location: d.location.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        ADMINISTRATORS, ApiKey, Capabilities, Desired, DesiredKey, DesiredUser, Fingerprint, Group,
        Location, Membership, Ocid, State, User, UserName,
    };
    use crate::plan::{ActorSpec, Options, plan};

    const TENANCY: &str = "ocid1.tenancy.oc1..drift";
    /// 2024-10-04, as days since the Unix epoch.
    const TODAY: i64 = 20_000;

    fn fp(n: u8) -> Fingerprint {
        Fingerprint::parse(&format!(
            "00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:{n:02x}"
        ))
        .expect("well-formed fake fingerprint")
    }

    fn pem(n: u8) -> String {
        format!("-----BEGIN PUBLIC KEY-----\nkey-{n}\n-----END PUBLIC KEY-----\n")
    }

    fn loc() -> Location {
        Location {
            file: "ociam.yaml".into(),
            line: 1,
            column: 1,
        }
    }

    /// A live tenancy: `admin` in `Administrators` signing with key 1 (created `age` days
    /// ago), plus user `bob` (owned by ociam) in group `devs`.
    fn tenancy(age: i64) -> State {
        let mut s = State {
            tenancy: Ocid::new(TENANCY),
            ..State::default()
        };
        for group in [ADMINISTRATORS, "devs"] {
            s.groups.insert(
                group.into(),
                Group {
                    id: Some(Ocid::new(format!("ocid1.group.oc1..{group}"))),
                    description: group.to_owned(),
                    managed: group == "devs",
                },
            );
        }
        for (user, group) in [("admin", ADMINISTRATORS), ("bob", "devs")] {
            s.users.insert(
                user.into(),
                User {
                    id: Some(Ocid::new(format!("ocid1.user.oc1..{user}"))),
                    description: user.to_owned(),
                    email: None,
                    capabilities: Capabilities::default(),
                    federated: false,
                    managed: user == "bob",
                    password_reset: None,
                },
            );
            s.memberships.insert(
                Membership {
                    user: user.into(),
                    group: group.into(),
                },
                Some(Ocid::new(format!("ocid1.membership.oc1..{user}"))),
            );
        }
        s.api_keys.entry("admin".into()).or_default().insert(
            fp(1),
            ApiKey {
                created: Some((TODAY - age) * 86_400),
                pem: Some(pem(1)),
            },
        );
        s
    }

    fn drift_of(desired: &Desired, live: &State) -> Report {
        let actor = ActorSpec {
            user: "admin".into(),
            fingerprint: Some(fp(1)),
        };
        let options = Options {
            today: TODAY,
            manifest_diagnostics: crate::rules::check_manifest(desired),
            ..Options::default()
        };
        report(&plan(desired, live, &actor, &options))
    }

    fn subjects(items: &[Item]) -> Vec<(&str, Option<Action>)> {
        items
            .iter()
            .map(|i| (i.subject.as_str(), i.action))
            .collect()
    }

    fn user_mut<'a>(d: &'a mut Desired, name: &str) -> &'a mut DesiredUser {
        d.users.get_mut(&UserName::from(name)).expect("listed")
    }

    #[test]
    fn a_tenancy_that_matches_its_manifest_has_no_drift() {
        let live = tenancy(10);
        let r = drift_of(&Desired::mirror(&live), &live);
        assert!(!r.drift);
        assert_eq!(r.categories, Categories::default());
        assert_eq!((r.format_version, r.tenancy.as_str()), (1, TENANCY));
        assert_eq!(
            to_text(&r),
            format!("No drift: tenancy {TENANCY} matches the manifest.\n")
        );
    }

    #[test]
    fn what_the_manifest_lists_and_the_tenancy_lacks_is_missing() {
        let live = tenancy(10);
        let mut desired = Desired::mirror(&live);
        let mut carol = DesiredUser::leave_as_is(loc());
        carol.groups = Some([("devs".into(), loc())].into_iter().collect());
        carol.api_keys = Some(vec![DesiredKey {
            fingerprint: fp(7),
            pem: Some(pem(7)),
            expires: None,
            weakness: None,
            location: loc(),
        }]);
        desired.users.insert("carol".into(), carol);
        let r = drift_of(&desired, &live);
        assert!(r.drift);
        let c = &r.categories;
        assert_eq!(
            subjects(&c.missing),
            [
                ("user.carol", Some(Action::CreateUser)),
                ("membership.devs/carol", Some(Action::AddToGroup)),
                (
                    "api_key.carol/00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:07",
                    Some(Action::UploadApiKey)
                ),
            ]
        );
        assert!(
            c.changed.is_empty() && c.unmanaged_credentials.is_empty(),
            "{c:#?}"
        );
        let text = to_text(&r);
        assert!(
            text.contains("Missing (in the manifest, not live): 3\n"),
            "{text}"
        );
        assert!(text.contains("  user.carol — create_user: "), "{text}");
        assert!(
            text.ends_with(&format!("Drift detected in tenancy {TENANCY}.\n")),
            "{text}"
        );
    }

    #[test]
    fn live_objects_unlike_the_manifest_are_changed() {
        let live = tenancy(10);
        let mut desired = Desired::mirror(&live);
        let bob = user_mut(&mut desired, "bob");
        bob.description = Some("Bob, renamed".into());
        bob.groups = Some(std::collections::BTreeMap::new());
        let r = drift_of(&desired, &live);
        assert!(r.drift);
        assert_eq!(
            subjects(&r.categories.changed),
            [
                ("user.bob", Some(Action::UpdateUser)),
                ("membership.devs/bob", Some(Action::RemoveFromGroup)),
            ]
        );
        assert!(r.categories.missing.is_empty(), "{:#?}", r.categories);

        // A tombstone for a user still live is a change too, not an unmanaged object.
        let mut desired = Desired::mirror(&live);
        let bob = user_mut(&mut desired, "bob");
        *bob = DesiredUser {
            present: false,
            ..DesiredUser::leave_as_is(loc())
        };
        let r = drift_of(&desired, &live);
        assert!(r.drift);
        let changed = subjects(&r.categories.changed);
        assert!(
            changed.contains(&("user.bob", Some(Action::DeleteUser))),
            "{changed:?}"
        );
        assert!(
            r.categories.unmanaged_objects.is_empty(),
            "{:#?}",
            r.categories
        );
    }

    #[test]
    fn a_live_key_the_manifest_does_not_list_is_an_unmanaged_credential() {
        let mut live = tenancy(10);
        live.api_keys.entry("bob".into()).or_default().insert(
            fp(9),
            ApiKey {
                created: None,
                pem: Some(pem(9)),
            },
        );
        let mut desired = Desired::mirror(&live);
        user_mut(&mut desired, "bob").api_keys = Some(Vec::new());
        let r = drift_of(&desired, &live);
        assert!(r.drift);
        assert_eq!(
            subjects(&r.categories.unmanaged_credentials),
            [(
                "api_key.bob/00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:09",
                Some(Action::DeleteApiKey)
            )]
        );
        assert!(r.categories.changed.is_empty(), "{:#?}", r.categories);
        let text = to_text(&r);
        assert!(
            text.contains("Unmanaged credentials (API keys the manifest does not list): 1\n"),
            "{text}"
        );
    }

    #[test]
    fn unlisted_users_are_drift_only_when_prune_would_delete_them() {
        let live = tenancy(10);
        // bob (owned) unlisted, no prune: a note, reported but not drift.
        let mut desired = Desired::mirror(&live);
        desired.users.remove(&UserName::from("bob"));
        let r = drift_of(&desired, &live);
        assert!(!r.drift, "{:#?}", r.categories);
        assert_eq!(subjects(&r.categories.unmanaged_objects), [("users", None)]);
        assert!(r.categories.unmanaged_objects[0].detail.contains("bob"));
        assert!(to_text(&r).contains("Unmanaged users and groups: 1\n"));
        assert!(to_text(&r).contains("No drift"));

        // With prune, ociam would delete it: drift.
        desired.prune.users = true;
        let r = drift_of(&desired, &live);
        assert!(r.drift, "{:#?}", r.categories);
        let unmanaged = subjects(&r.categories.unmanaged_objects);
        assert!(
            unmanaged.contains(&("user.bob", Some(Action::DeleteUser))),
            "{unmanaged:?}"
        );
        // Its membership goes first, as a change.
        assert_eq!(
            subjects(&r.categories.changed),
            [("membership.devs/bob", Some(Action::RemoveFromGroup))]
        );
    }

    #[test]
    fn an_old_key_is_key_age_drift_with_its_age() {
        let live = tenancy(91);
        let r = drift_of(&Desired::mirror(&live), &live);
        assert!(r.drift);
        let ages = &r.categories.key_age;
        assert_eq!(
            subjects(ages),
            [(
                "api_key.admin/00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:01",
                None
            )]
        );
        assert!(ages[0].detail.contains("91 days"), "{}", ages[0].detail);
        let text = to_text(&r);
        assert!(text.contains("Old or expired API keys: 1\n"), "{text}");
        assert!(text.contains("91 days"), "{text}");

        // 90 days is within the default limit.
        let live = tenancy(90);
        let r = drift_of(&Desired::mirror(&live), &live);
        assert!(
            !r.drift && r.categories.key_age.is_empty(),
            "{:#?}",
            r.categories
        );
    }
}
