//! Per-object preconditions: what each step of a saved plan requires of the live objects it
//! reads or changes, and [`moved`], which names every object that no longer meets them (how
//! `ociam apply plan.json` refuses a stale plan). A user or group is summarized by a digest of
//! the fields ociam reads; a user's API keys by the list of their fingerprints.
//!
//! Pure: states and plans in, descriptions out.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use super::change::{Action, Plan, Precondition};
use crate::hex;
use crate::model::{Fingerprint, Group, GroupName, Membership, State, User, UserName};

fn digest(text: &str) -> String {
    format!("sha256:{}", hex::lower(&Sha256::digest(text.as_bytes())))
}

fn user_digest(u: &User) -> String {
    digest(&format!(
        "{:?}|{:?}|{}|{}|{:?}|{}",
        u.description,
        u.email,
        u.capabilities.api_keys,
        u.capabilities.console_password,
        u.password_reset,
        u.federated
    ))
}

fn group_digest(g: &Group) -> String {
    digest(&g.description)
}

/// The precondition of a step on user `user` (absent = it must not exist yet).
#[must_use]
pub fn of_user(user: Option<&User>) -> Precondition {
    Precondition {
        exists: user.is_some(),
        id: user.and_then(|u| u.id.clone()),
        digest: user.map(user_digest),
        keys: None,
    }
}

/// The precondition of a step on group `group`.
#[must_use]
pub fn of_group(group: Option<&Group>) -> Precondition {
    Precondition {
        exists: group.is_some(),
        id: group.and_then(|g| g.id.clone()),
        digest: group.map(group_digest),
        keys: None,
    }
}

/// The precondition of a membership step.
#[must_use]
pub fn of_membership(m: &Membership, live: &State) -> Precondition {
    Precondition {
        exists: live.memberships.contains_key(m),
        id: live.memberships.get(m).cloned().flatten(),
        digest: None,
        keys: None,
    }
}

/// The precondition of a key step: whether the key exists, and every key the user holds.
#[must_use]
pub fn of_key(user: &UserName, fingerprint: &Fingerprint, live: &State) -> Precondition {
    let keys = live.api_keys.get(user);
    Precondition {
        exists: keys.is_some_and(|k| k.contains_key(fingerprint)),
        id: None,
        digest: None,
        keys: Some(
            keys.map(|k| k.keys().cloned().collect())
                .unwrap_or_default(),
        ),
    }
}

/// The object a step's subject is about (`password.x` and `capabilities.x` are user `x`).
fn object_of(subject: &str) -> String {
    match subject.split_once('.') {
        Some(("password" | "capabilities", user)) => format!("user.{user}"),
        _ => subject.to_owned(),
    }
}

/// [`moved`], leaving out the objects of `ours`: the subjects of steps an interrupted apply of
/// this same plan already wrote (or may have written). Those moved because of us.
#[must_use]
pub fn moved_except<'a>(
    plan: &Plan,
    live: &State,
    ours: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let ours: BTreeSet<String> = ours.into_iter().map(object_of).collect();
    moved(plan, live)
        .into_iter()
        .filter(|line| {
            !line
                .split_once(": ")
                .is_some_and(|(subject, _)| ours.contains(subject))
        })
        .collect()
}

/// Every object a step of `plan` reads or changes that no longer is as the plan saw it, each
/// as `subject: how it moved`. Empty when the plan may be applied.
#[must_use]
pub fn moved(plan: &Plan, live: &State) -> Vec<String> {
    let created_users: BTreeSet<&UserName> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::CreateUser)
        .filter_map(|c| c.user.as_ref())
        .collect();
    let created_groups: BTreeSet<&GroupName> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::CreateGroup)
        .filter_map(|c| c.group.as_ref())
        .collect();
    let mut out = Vec::new();
    let mut say = |line: String| {
        if !out.contains(&line) {
            out.push(line);
        }
    };
    for change in &plan.changes {
        let pre = change.precondition.as_ref();
        if let Some(user) = &change.user {
            let live_user = live.users.get(user);
            match change.action {
                Action::CreateUser if live_user.is_some() => {
                    say(format!("user.{user}: created since the plan"));
                }
                _ if live_user.is_none() && !created_users.contains(user) => {
                    say(format!("user.{user}: deleted since the plan"));
                }
                _ => {}
            }
            if let (Some(u), Some(expected)) = (live_user, pre.and_then(|p| p.digest.as_ref()))
                && change.group.is_none()
                && &user_digest(u) != expected
            {
                say(format!(
                    "user.{user}: changed since the plan (description, email, capabilities or password-reset tag)"
                ));
            }
        }
        if let Some(group) = &change.group {
            let live_group = live.groups.get(group);
            match change.action {
                Action::CreateGroup if live_group.is_some() => {
                    say(format!("group.{group}: created since the plan"));
                }
                _ if live_group.is_none() && !created_groups.contains(group) => {
                    say(format!("group.{group}: deleted since the plan"));
                }
                _ => {}
            }
            if let (Some(g), Some(expected)) = (live_group, pre.and_then(|p| p.digest.as_ref()))
                && change.user.is_none()
                && &group_digest(g) != expected
            {
                say(format!(
                    "group.{group}: changed since the plan (description)"
                ));
            }
        }
        if let (Some(user), Some(group)) = (&change.user, &change.group) {
            let present = live.memberships.contains_key(&Membership {
                user: user.clone(),
                group: group.clone(),
            });
            match change.action {
                Action::AddToGroup if present => {
                    say(format!("membership.{group}/{user}: added since the plan"));
                }
                Action::RemoveFromGroup if !present => {
                    say(format!("membership.{group}/{user}: removed since the plan"));
                }
                _ => {}
            }
        }
        if let (Some(user), Some(expected)) = (&change.user, pre.and_then(|p| p.keys.as_ref())) {
            let now: BTreeSet<&Fingerprint> = live
                .api_keys
                .get(user)
                .map(|k| k.keys().collect())
                .unwrap_or_default();
            let then: BTreeSet<&Fingerprint> = expected.iter().collect();
            for fp in now.difference(&then) {
                say(format!("api_key.{user}/{fp}: added since the plan"));
            }
            for fp in then.difference(&now) {
                say(format!("api_key.{user}/{fp}: deleted since the plan"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ApiKey, Ocid};
    use crate::plan::change::{Actor, Change, FORMAT_VERSION, Summary};

    fn fp(n: u8) -> Fingerprint {
        Fingerprint::parse(&format!(
            "{n:02x}:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00"
        ))
        .unwrap()
    }

    fn key_plan(before: &State) -> Plan {
        let mut upload = Change::new(Action::UploadApiKey, "new");
        upload.seq = 1;
        upload.user = Some("kate".into());
        upload.fingerprint = Some(fp(2));
        upload.precondition = Some(of_key(&"kate".into(), &fp(2), before));
        let mut reset = Change::new(Action::ResetConsolePassword, "reset");
        reset.seq = 2;
        reset.user = Some("kate".into());
        reset.precondition = Some(of_user(before.users.get(&"kate".into())));
        Plan {
            format_version: FORMAT_VERSION,
            tenancy: Ocid::new("t"),
            actor: Actor {
                user: "admin".into(),
                authority: crate::plan::ActorAuthority {
                    admin: true,
                    ..crate::plan::ActorAuthority::default()
                },
                fingerprint: None,
            },
            manifest_digest: String::new(),
            live_digest: String::new(),
            changes: vec![upload, reset],
            diagnostics: Vec::new(),
            key_slots: Vec::new(),
            deletion_budget: 5,
            summary: Summary::default(),
        }
    }

    #[test]
    fn objects_an_interrupted_run_changed_do_not_make_its_plan_stale() {
        let mut before = State::default();
        before.users.insert(
            "kate".into(),
            User {
                id: Some(Ocid::new("u")),
                description: String::new(),
                email: None,
                capabilities: crate::model::Capabilities::default(),
                federated: false,
                managed: true,
                password_reset: None,
            },
        );
        before.api_keys.entry("kate".into()).or_default().insert(
            fp(1),
            ApiKey {
                created: None,
                pem: None,
            },
        );
        let plan = key_plan(&before);
        assert!(moved(&plan, &before).is_empty());

        // Our own run uploaded key 2 and reset the password (the reset tag moved).
        let mut after = before.clone();
        after.api_keys.get_mut(&"kate".into()).unwrap().insert(
            fp(2),
            ApiKey {
                created: None,
                pem: None,
            },
        );
        after.users.get_mut(&"kate".into()).unwrap().password_reset = Some(1);
        assert_eq!(moved(&plan, &after).len(), 2, "{:?}", moved(&plan, &after));
        let ours = [
            "api_key.kate/02:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00",
            "password.kate",
        ];
        assert!(moved_except(&plan, &after, ours).is_empty());

        // Someone else's key on the same user still makes it stale, and says so.
        after.api_keys.get_mut(&"kate".into()).unwrap().insert(
            fp(3),
            ApiKey {
                created: None,
                pem: None,
            },
        );
        assert_eq!(
            moved_except(&plan, &after, ours),
            ["api_key.kate/03:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00: added since the plan"]
        );
    }
}
