//! Who is asking: the actor of a request, loaded inside its transaction, and the one
//! authorization check every store operation makes: the planner's permission model
//! ([`Policies::decide`]) for the OCI operation on its target, with the actor as a
//! [`Principal`] (its user, groups and their OCIDs) and the tenancy's policies parsed once per
//! request. A refusal is 404 `NotAuthorizedOrNotFound`, as OCI answers.

use rusqlite::OptionalExtension as _;

use super::{StoreError, Table, Tx};
use crate::model::{self, GroupName, Ocid, State, UserName};
use crate::oci::wire;
use crate::plan::authority::{Basis, Operation, Policies, Principal, Target};

/// The user a request is made by, and the policies that decide what it may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The user's OCID.
    pub id: Ocid,
    /// The user's name.
    pub name: UserName,
    /// The user with its groups, as the permission model sees it.
    pub principal: Principal,
    /// The tenancy's policies, parsed.
    pub policies: Policies,
}
impl Tx<'_> {
    /// Loads `user` as the actor: its groups (names and OCIDs) and the tenancy's live policies.
    pub(super) fn load_actor(&self, user: &Ocid) -> Result<Actor, StoreError> {
        let name: Option<String> = self
            .tx
            .query_row(
                "SELECT name FROM iam_users WHERE id = ?1",
                [user.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        let name = UserName::new(name.ok_or(StoreError::NotAuthenticated)?);
        let mut state = State {
            tenancy: self.tenancy.clone(),
            ..State::default()
        };
        state.users.insert(
            name.clone(),
            model::User {
                id: Some(user.clone()),
                description: String::new(),
                email: None,
                capabilities: model::Capabilities::default(),
                federated: false,
                managed: false,
                password_reset: None,
            },
        );
        let mut stmt = self.tx.prepare(
            "SELECT g.id, g.name, m.id FROM iam_memberships m JOIN iam_groups g ON g.id = m.group_id
             WHERE m.user_id = ?1",
        )?;
        let rows = stmt.query_map([user.as_str()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (group_id, group_name, membership_id) = row?;
            let group = model::GroupName::new(group_name);
            state.groups.insert(
                group.clone(),
                model::Group {
                    id: Some(Ocid::new(group_id)),
                    description: String::new(),
                    managed: false,
                },
            );
            state.memberships.insert(
                model::Membership {
                    user: name.clone(),
                    group,
                },
                Some(Ocid::new(membership_id)),
            );
        }
        state.policies = self
            .all_docs::<wire::Policy>(Table::Policies)?
            .into_iter()
            .filter(|p| wire::is_live(p.doc.lifecycle_state.as_deref()))
            .map(|p| model::Policy {
                name: p.doc.name,
                compartment_id: Ocid::new(p.doc.compartment_id),
                statements: p.doc.statements,
            })
            .collect();
        Ok(Actor {
            id: user.clone(),
            principal: Principal::of(&state, &name),
            policies: Policies::parse(&state.policies, &state.tenancy),
            name,
        })
    }

    /// Decides `op` on `target` for the actor with [`Policies::decide`]; a refusal is
    /// [`StoreError::NotFound`] (OCI does not reveal what exists).
    pub(super) fn authorize(&self, op: Operation, target: &Target) -> Result<Basis, StoreError> {
        let actor = self.actor()?;
        let decision = actor.policies.decide(&actor.principal, op, target);
        if decision.allowed() {
            Ok(decision.basis)
        } else {
            tracing::debug!(
                "refused {op} by {}: {}",
                actor.name,
                decision.explain(target)
            );
            Err(StoreError::NotFound)
        }
    }
}

/// The target of a request on user `user`.
pub(super) fn user_target(user: &wire::User) -> Target {
    Target {
        user: Some((UserName::new(&user.name), Some(Ocid::new(&user.id)))),
        group: None,
    }
}

/// The target of a request on group `group`.
pub(super) fn group_target(group: &wire::Group) -> Target {
    Target {
        user: None,
        group: Some((GroupName::new(&group.name), Some(Ocid::new(&group.id)))),
    }
}

/// The target of a request on `user`'s membership of `group`.
pub(super) fn membership_target(user: &wire::User, group: &wire::Group) -> Target {
    Target {
        user: user_target(user).user,
        group: group_target(group).group,
    }
}
