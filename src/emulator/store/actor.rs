//! Who is asking: the actor of a request, loaded inside its transaction, and the one
//! authorization check every store operation makes, through the planner's authority model
//! ([`AdminGroups`] and [`authority::decide`]) over a [`State`] view of the actor (its user,
//! groups and memberships, and the tenancy's policies: everything `is_admin` reads).

use rusqlite::OptionalExtension as _;

use super::{StoreError, Table, Tx};
use crate::model::{self, Ocid, State, UserName};
use crate::oci::wire;
use crate::plan::authority::{self, AdminGroups, Operation};
use crate::plan::change::Authority;

/// The user a request is made by, and whether it is a tenancy administrator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The user's OCID.
    pub id: Ocid,
    /// The user's name.
    pub name: UserName,
    /// Tenancy-level administrator per [`AdminGroups`].
    pub admin: bool,
}
impl Tx<'_> {
    /// Loads `user` as the actor and decides whether it is a tenancy administrator, through
    /// [`AdminGroups`] over a [`State`] holding the actor, its groups and memberships and the
    /// tenancy's policies (all `is_admin` reads).
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
        let admin =
            AdminGroups::from_policies(&state.policies, &state.tenancy).is_admin(&state, &name);
        Ok(Actor {
            id: user.clone(),
            name,
            admin,
        })
    }

    /// Decides `op` for the actor with [`authority::decide`]; anything but admin or
    /// self-service is [`StoreError::NotFound`] (OCI does not reveal what exists).
    pub(super) fn authorize(&self, op: Operation<'_>) -> Result<Authority, StoreError> {
        let actor = self.actor()?;
        match authority::decide(actor.admin, &actor.name, op) {
            Authority::None => Err(StoreError::NotFound),
            granted => Ok(granted),
        }
    }
}
