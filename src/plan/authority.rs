//! Who may do what: the one authority model that both the planner and the emulator use, so
//! they cannot disagree.
//!
//! A user is a **tenancy-level administrator** when it is a member of `Administrators`, or of
//! a group that a policy attached to the tenancy grants `manage users`, `manage groups` or
//! `manage all-resources` **in tenancy**. A statement scoped to a compartment does not count,
//! and neither does a conditional one (`... where ...`): ociam cannot evaluate conditions, so
//! it assumes the narrower grant. Everyone else may only manage their **own** console password
//! and API keys (self-service) and read their own user.
//!
//! Pure: reads a [`State`], decides, touches nothing.

use std::collections::BTreeSet;

use super::change::Authority;
use crate::model::{ADMINISTRATORS, GroupName, Ocid, Policy, State, UserName};

/// The groups whose members are tenancy administrators.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdminGroups {
    /// Group names, lowercased (OCI names are case-insensitive).
    names: BTreeSet<String>,
    /// Groups named by OCID (`group id ocid1.group...`).
    ids: BTreeSet<Ocid>,
    /// `Allow any-user to manage ... in tenancy`.
    any_user: bool,
}

/// What an operation touches, for deciding authority.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation<'a> {
    /// A credential (API key, console password) of `owner`.
    Credential {
        /// Whose credential.
        owner: &'a UserName,
    },
    /// Creating, changing or deleting users, groups, memberships or capabilities.
    Administer,
    /// Reading `user` (and its keys).
    ReadUser {
        /// Whose record.
        user: &'a UserName,
    },
    /// Listing every user, group, membership or policy.
    ReadAll,
}

impl AdminGroups {
    /// Reads every policy attached to the tenancy for statements that make a group admin.
    #[must_use]
    pub fn from_policies(policies: &[Policy], tenancy: &Ocid) -> Self {
        let mut out = Self::default();
        out.names.insert(ADMINISTRATORS.to_ascii_lowercase());
        for policy in policies.iter().filter(|p| &p.compartment_id == tenancy) {
            for statement in &policy.statements {
                if let Some(subject) = tenancy_admin_subject(statement) {
                    out.add_subject(&subject);
                }
            }
        }
        out
    }

    fn add_subject(&mut self, subject: &str) {
        let subject = subject.trim();
        if subject.eq_ignore_ascii_case("any-user") {
            self.any_user = true;
            return;
        }
        let Some(rest) = strip_prefix_ci(subject, "group ") else {
            return;
        };
        let rest = rest.trim();
        if let Some(ids) = strip_prefix_ci(rest, "id ") {
            for id in ids.split(',') {
                self.ids.insert(Ocid::new(id.trim()));
            }
            return;
        }
        for name in rest.split(',') {
            // `'Default'/'admins'` (identity domains) or `admins` or `'admins'`.
            let name = name.trim();
            let name = name.rsplit('/').next().unwrap_or(name);
            let name = name.trim().trim_matches(['\'', '"']);
            if !name.is_empty() {
                self.names.insert(name.to_ascii_lowercase());
            }
        }
    }

    /// Whether membership of `group` (with OCID `id`, when known) makes a user admin.
    #[must_use]
    pub fn grants(&self, group: &GroupName, id: Option<&Ocid>) -> bool {
        self.names.contains(&group.as_str().to_ascii_lowercase())
            || id.is_some_and(|id| self.ids.contains(id))
    }

    /// Whether `user` is a tenancy administrator in `state`.
    #[must_use]
    pub fn is_admin(&self, state: &State, user: &UserName) -> bool {
        if !state.users.contains_key(user) {
            return false;
        }
        self.any_user
            || state.groups_of(user).any(|g| {
                let id = state.groups.get(g).and_then(|g| g.id.as_ref());
                self.grants(g, id)
            })
    }
}

/// Decides on what basis `actor` may perform `op`.
#[must_use]
pub fn decide(actor_is_admin: bool, actor: &UserName, op: Operation<'_>) -> Authority {
    if actor_is_admin {
        return Authority::Admin;
    }
    match op {
        Operation::Credential { owner } | Operation::ReadUser { user: owner } if owner == actor => {
            Authority::SelfService
        }
        _ => Authority::None,
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// For `Allow <subject> to manage users|groups|all-resources in tenancy` (no `where`), the
/// subject; `None` for any other statement.
fn tenancy_admin_subject(statement: &str) -> Option<String> {
    let words: Vec<&str> = statement.split_whitespace().collect();
    let lower: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
    if lower.first().map(String::as_str) != Some("allow") {
        return None;
    }
    let to = lower.iter().position(|w| w == "to")?;
    let verb = lower.get(to + 1)?;
    let resource = lower.get(to + 2)?;
    let location = lower.get(to + 3..)?;
    if verb != "manage" || !matches!(resource.as_str(), "users" | "groups" | "all-resources") {
        return None;
    }
    if location != ["in", "tenancy"] {
        return None;
    }
    Some(words[1..to].join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Group, Membership, User};

    const T: &str = "ocid1.tenancy.oc1..t";

    fn state(policies: &[(&str, &str)]) -> State {
        let mut s = State {
            tenancy: Ocid::new(T),
            ..State::default()
        };
        for name in ["Administrators", "ops", "devs"] {
            s.groups.insert(
                name.into(),
                Group {
                    id: Some(Ocid::new(format!("ocid1.group.oc1..{name}"))),
                    description: String::new(),
                    managed: false,
                },
            );
        }
        for (user, group) in [("root", "Administrators"), ("olga", "ops"), ("dev", "devs")] {
            s.users.insert(
                user.into(),
                User {
                    id: Some(Ocid::new(format!("ocid1.user.oc1..{user}"))),
                    description: String::new(),
                    email: None,
                    capabilities: crate::model::Capabilities::default(),
                    federated: false,
                    managed: false,
                    password_reset: None,
                },
            );
            s.memberships.insert(
                Membership {
                    user: user.into(),
                    group: group.into(),
                },
                None,
            );
        }
        s.policies = policies
            .iter()
            .map(|(compartment, statement)| Policy {
                name: "p".into(),
                compartment_id: Ocid::new(*compartment),
                statements: vec![(*statement).to_owned()],
            })
            .collect();
        s
    }

    fn admin(s: &State, user: &str) -> bool {
        AdminGroups::from_policies(&s.policies, &s.tenancy).is_admin(s, &UserName::from(user))
    }

    #[test]
    fn administrators_members_are_admins_and_others_are_not() {
        let s = state(&[]);
        assert!(admin(&s, "root"));
        assert!(!admin(&s, "olga"));
        assert!(!admin(&s, "nobody"));
    }

    #[test]
    fn manage_users_in_tenancy_makes_a_group_admin() {
        for statement in [
            "Allow group ops to manage users in tenancy",
            "allow group OPS to MANAGE groups in TENANCY",
            "Allow group 'Default'/'ops' to manage all-resources in tenancy",
            "Allow group devs, ops to manage users in tenancy",
            "Allow group id ocid1.group.oc1..ops to manage users in tenancy",
        ] {
            assert!(admin(&state(&[(T, statement)]), "olga"), "{statement}");
        }
    }

    #[test]
    fn compartment_conditional_and_weaker_grants_do_not_make_admins() {
        for (compartment, statement) in [
            (T, "Allow group ops to manage users in compartment prod"),
            (T, "Allow group ops to use users in tenancy"),
            (T, "Allow group ops to manage buckets in tenancy"),
            (
                T,
                "Allow group ops to manage users in tenancy where request.user.name = 'x'",
            ),
            (
                "ocid1.compartment.oc1..c",
                "Allow group ops to manage users in tenancy",
            ),
            (T, "Deny group ops to manage users in tenancy"),
        ] {
            assert!(
                !admin(&state(&[(compartment, statement)]), "olga"),
                "{statement}"
            );
        }
    }

    #[test]
    fn any_user_grant_makes_everyone_admin() {
        let s = state(&[(T, "Allow any-user to manage all-resources in tenancy")]);
        assert!(admin(&s, "dev"));
    }

    #[test]
    fn decide_allows_self_service_on_own_credentials_only() {
        let me = UserName::from("me");
        let other = UserName::from("other");
        assert_eq!(
            decide(false, &me, Operation::Credential { owner: &me }),
            Authority::SelfService
        );
        assert_eq!(
            decide(false, &me, Operation::Credential { owner: &other }),
            Authority::None
        );
        assert_eq!(decide(false, &me, Operation::Administer), Authority::None);
        assert_eq!(
            decide(false, &me, Operation::ReadUser { user: &me }),
            Authority::SelfService
        );
        assert_eq!(decide(false, &me, Operation::ReadAll), Authority::None);
        assert_eq!(
            decide(true, &me, Operation::Credential { owner: &other }),
            Authority::Admin
        );
    }
}
