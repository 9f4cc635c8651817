//! Per-object preconditions: what each step of a saved plan requires of the live objects it
//! reads or changes, and [`moved`], which names every object that no longer meets them (how
//! `ociam apply plan.json` refuses a stale plan). A user or group is summarized by a digest of
//! the fields ociam reads; a user's API keys by the list of their fingerprints.
//!
//! The digest is over an explicit, versioned encoding (see [`canonical_user`]) and carries
//! its version in the string itself (`ociam-v2:sha256:<hex>`), so a plan saved by an ociam
//! with another encoding is told apart from an object that changed ([`OldDigestFormat`]).
//!
//! Pure: states and plans in, descriptions out.

use std::collections::BTreeSet;
use std::fmt;

use sha2::{Digest, Sha256};

use super::change::{Action, Plan, Precondition};
use crate::hex;
use crate::model::{Fingerprint, Group, GroupName, Membership, State, User, UserName};

/// The version of the canonical encoding the digests of this build are over.
const DIGEST_VERSION: u32 = 2;

/// How a digest of this build starts.
const DIGEST_PREFIX: &str = "ociam-v2:sha256:";

/// How a digest written before the encoding was versioned (format v1) starts.
const V1_PREFIX: &str = "sha256:";

/// The canonical encoding of an object's fields: a header naming the version and the kind,
/// then one line per field in a fixed order, `name=-` when absent or `name=<byte length>:<value>`
/// when present. The length prefix makes it unambiguous whatever the value holds (`|`, `=`,
/// newlines).
struct Canonical(String);

impl Canonical {
    fn new(kind: &str) -> Self {
        Self(format!(
            "ociam-precondition v{DIGEST_VERSION}\nkind={kind}\n"
        ))
    }

    fn field(mut self, name: &str, value: Option<&str>) -> Self {
        match value {
            None => self.0.push_str(&format!("{name}=-\n")),
            Some(v) => self.0.push_str(&format!("{name}={}:{v}\n", v.len())),
        }
        self
    }

    fn digest(&self) -> String {
        format!(
            "{DIGEST_PREFIX}{}",
            hex::lower(&Sha256::digest(self.0.as_bytes()))
        )
    }
}

/// The canonical encoding of the user fields ociam reads (the id is compared on its own).
fn canonical_user(u: &User) -> Canonical {
    let reset = u.password_reset.map(|n| n.to_string());
    Canonical::new("user")
        .field("description", Some(&u.description))
        .field("email", u.email.as_deref())
        .field("api_keys", Some(bool_str(u.capabilities.api_keys)))
        .field(
            "console_password",
            Some(bool_str(u.capabilities.console_password)),
        )
        .field("password_reset", reset.as_deref())
        .field("federated", Some(bool_str(u.federated)))
}

/// The canonical encoding of the group fields ociam reads.
fn canonical_group(g: &Group) -> Canonical {
    Canonical::new("group").field("description", Some(&g.description))
}

fn bool_str(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

fn user_digest(u: &User) -> String {
    canonical_user(u).digest()
}

fn group_digest(g: &Group) -> String {
    canonical_group(g).digest()
}

/// A saved plan whose precondition digests are not in this build's format: made by an older
/// (or newer) ociam. Its objects cannot be compared, so it must be made again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OldDigestFormat {
    /// The subject of the first step whose digest is in another format.
    pub subject: String,
    /// `v1` for the format before versioning, else the digest's prefix, as found.
    pub found: String,
}

impl fmt::Display for OldDigestFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.found == "v1" {
            write!(
                f,
                "the plan was made by an older ociam (precondition digest format v1, this ociam \
                 reads v{DIGEST_VERSION}); run `ociam plan` again and review the new plan"
            )
        } else {
            write!(
                f,
                "the plan's precondition digest for {} is in a format this ociam does not read \
                 ({:?}, this ociam reads v{DIGEST_VERSION}); run `ociam plan` again and review the \
                 new plan",
                self.subject, self.found
            )
        }
    }
}

impl std::error::Error for OldDigestFormat {}

/// The first precondition digest of `plan` not in this build's format, if any.
fn digest_format(plan: &Plan) -> Result<(), OldDigestFormat> {
    for change in &plan.changes {
        let Some(digest) = change.precondition.as_ref().and_then(|p| p.digest.as_ref()) else {
            continue;
        };
        if digest.starts_with(DIGEST_PREFIX) {
            continue;
        }
        let found = if digest.starts_with(V1_PREFIX) {
            "v1".to_owned()
        } else {
            digest
                .rsplit_once(':')
                .map_or("", |(prefix, _)| prefix)
                .chars()
                .take(40)
                .collect()
        };
        return Err(OldDigestFormat {
            subject: change.subject(),
            found,
        });
    }
    Ok(())
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
///
/// # Errors
///
/// [`OldDigestFormat`] when the plan's digests are in another format (as [`moved`]).
pub fn moved_except<'a>(
    plan: &Plan,
    live: &State,
    ours: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<String>, OldDigestFormat> {
    let ours: BTreeSet<String> = ours.into_iter().map(object_of).collect();
    Ok(moved(plan, live)?
        .into_iter()
        .filter(|line| {
            !line
                .split_once(": ")
                .is_some_and(|(subject, _)| ours.contains(subject))
        })
        .collect())
}

/// Every object a step of `plan` reads or changes that no longer is as the plan saw it, each
/// as `subject: how it moved`. Empty when the plan may be applied.
///
/// # Errors
///
/// [`OldDigestFormat`] when a precondition digest of the plan is not in this build's format
/// (a plan saved by another ociam): its objects cannot be compared, and none is reported as
/// moved.
pub fn moved(plan: &Plan, live: &State) -> Result<Vec<String>, OldDigestFormat> {
    digest_format(plan)?;
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
    Ok(out)
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

    fn kate() -> User {
        User {
            id: Some(Ocid::new("u")),
            description: "Kate Keller".to_owned(),
            email: Some("kate@example.com".to_owned()),
            capabilities: crate::model::Capabilities {
                api_keys: true,
                console_password: false,
            },
            federated: false,
            managed: true,
            password_reset: Some(3),
        }
    }

    /// A plan with one step on user kate whose precondition carries `digest`.
    fn user_plan(digest: &str) -> Plan {
        let mut state = State::default();
        state.users.insert("kate".into(), kate());
        let mut plan = key_plan(&state);
        plan.changes[1].precondition.as_mut().unwrap().digest = Some(digest.to_owned());
        plan
    }

    #[test]
    fn digests_are_pinned_to_the_v2_encoding() {
        // Computed independently from the documented encoding; if this fails, the encoding
        // changed and every saved plan would read as stale: bump DIGEST_VERSION instead.
        assert_eq!(
            user_digest(&kate()),
            "ociam-v2:sha256:2d2c29d1e25bda9f35bc428fcbea923dfa350d6cee3cca4658d2a214a0ef05af"
        );
        let devs = Group {
            id: Some(Ocid::new("g")),
            description: "Developers".to_owned(),
            managed: true,
        };
        assert_eq!(
            group_digest(&devs),
            "ociam-v2:sha256:7a381ae52ff555e5a1b6dc13421374940d3c5bf547e865d6b010ae4870711747"
        );
    }

    #[test]
    fn every_field_read_changes_the_user_digest_and_the_rest_do_not() {
        let base = user_digest(&kate());
        type Edit = (&'static str, fn(&mut User));
        let edits: [Edit; 7] = [
            ("description", |u| u.description.push('!')),
            ("email", |u| u.email = None),
            ("api_keys", |u| u.capabilities.api_keys = false),
            ("console_password", |u| {
                u.capabilities.console_password = true
            }),
            ("password_reset", |u| u.password_reset = Some(4)),
            ("password_reset absent", |u| u.password_reset = None),
            ("federated", |u| u.federated = true),
        ];
        for (field, edit) in edits {
            let mut u = kate();
            edit(&mut u);
            assert_ne!(user_digest(&u), base, "{field}");
        }
        // The id is compared on its own; `managed` is not part of what a step reads.
        let mut u = kate();
        u.id = Some(Ocid::new("other"));
        u.managed = false;
        assert_eq!(user_digest(&u), base);
    }

    #[test]
    fn the_encoding_is_unambiguous() {
        let split = |description: &str, email: Option<&str>| {
            let mut u = kate();
            u.description = description.to_owned();
            u.email = email.map(str::to_owned);
            user_digest(&u)
        };
        assert_ne!(split("a|b", None), split("a", Some("b")));
        assert_ne!(split("a\nemail=1:b", None), split("a", Some("b")));
        assert_ne!(split("", Some("")), split("", None));
        assert_ne!(split("-", None), split("", None));
        // A user and a group with the same description differ too.
        let group = Group {
            id: None,
            description: "Kate Keller".to_owned(),
            managed: true,
        };
        assert_ne!(group_digest(&group), user_digest(&kate()));
    }

    #[test]
    fn a_plan_with_v1_digests_is_an_old_plan_not_a_moved_object() {
        let v1 = "sha256:6e07680f39b2f20940a1b457156d0306c32a9340b608a339562d824535e80396";
        let plan = user_plan(v1);
        let mut live = State::default();
        live.users.insert("kate".into(), kate());
        let err = moved(&plan, &live).unwrap_err();
        assert_eq!(err.found, "v1");
        assert_eq!(err.subject, "password.kate");
        let text = err.to_string();
        assert!(text.contains("older ociam"), "{text}");
        assert!(text.contains("format v1"), "{text}");
        assert!(text.contains("run `ociam plan` again"), "{text}");
        assert_eq!(moved_except(&plan, &live, ["password.kate"]), Err(err));

        let plan = user_plan("ociam-v9:sha256:00");
        let err = moved(&plan, &live).unwrap_err();
        assert_eq!(err.found, "ociam-v9:sha256");
        assert!(err.to_string().contains("does not read"), "{err}");

        // The same plan with this build's digest is fresh, and moves when kate changes.
        let plan = user_plan(&user_digest(&kate()));
        assert_eq!(moved(&plan, &live), Ok(Vec::new()));
        live.users.get_mut(&"kate".into()).unwrap().email = None;
        assert_eq!(
            moved(&plan, &live).unwrap(),
            [
                "user.kate: changed since the plan (description, email, capabilities or password-reset tag)"
            ]
        );
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
        assert!(moved(&plan, &before).unwrap().is_empty());

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
        let all = moved(&plan, &after).unwrap();
        assert_eq!(all.len(), 2, "{all:?}");
        let ours = [
            "api_key.kate/02:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00",
            "password.kate",
        ];
        assert!(moved_except(&plan, &after, ours).unwrap().is_empty());

        // Someone else's key on the same user still makes it stale, and says so.
        after.api_keys.get_mut(&"kate".into()).unwrap().insert(
            fp(3),
            ApiKey {
                created: None,
                pem: None,
            },
        );
        assert_eq!(
            moved_except(&plan, &after, ours).unwrap(),
            ["api_key.kate/03:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00: added since the plan"]
        );
    }
}
