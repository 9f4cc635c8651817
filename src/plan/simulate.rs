//! The pure transition function of a plan step: `apply(state, change)` makes `state` what the
//! tenancy looks like after the step. The planner uses it to check every rule at every step;
//! tests use it to prove that re-planning an applied plan is empty, and apply (through
//! [`expected_after`]) to verify a saved plan's outcome. Pure.

use super::change::{Action, Change};
use crate::model::{ApiKey, Capabilities, Desired, Group, Membership, State, User};

/// What the tenancy should hold once every step of `changes` has been applied to `before`, as
/// a desired state: how apply verifies a saved plan, which comes without its manifest.
#[must_use]
pub fn expected_after(before: &State, changes: &[Change]) -> Desired {
    let mut expected = before.clone();
    for change in changes {
        apply(&mut expected, change);
    }
    Desired::mirror(&expected)
}

/// Applies one step to `state`. Steps whose subject is missing change nothing (the planner
/// reports those through its rules; this function never fails).
pub fn apply(state: &mut State, change: &Change) {
    let after = change.after.clone().unwrap_or_default();
    match change.action {
        Action::CreateGroup => {
            if let Some(g) = &change.group {
                state.groups.insert(
                    g.clone(),
                    Group {
                        id: None,
                        description: after.description.unwrap_or_default(),
                        managed: true,
                    },
                );
            }
        }
        Action::CreateUser => {
            if let Some(u) = &change.user {
                state.users.insert(
                    u.clone(),
                    User {
                        id: None,
                        description: after.description.unwrap_or_default(),
                        email: after.email,
                        capabilities: Capabilities::default(),
                        federated: false,
                        managed: true,
                        password_reset: None,
                    },
                );
            }
        }
        Action::UpdateUser => {
            if let Some(u) = change.user.as_ref().and_then(|u| state.users.get_mut(u)) {
                if let Some(d) = after.description {
                    u.description = d;
                }
                if let Some(e) = after.email {
                    u.email = Some(e);
                }
            }
        }
        Action::UpdateGroup => {
            if let Some(g) = change.group.as_ref().and_then(|g| state.groups.get_mut(g))
                && let Some(d) = after.description
            {
                g.description = d;
            }
        }
        Action::UpdateCapabilities => {
            if let Some(u) = change.user.as_ref().and_then(|u| state.users.get_mut(u)) {
                if let Some(v) = after.api_keys {
                    u.capabilities.api_keys = v;
                }
                if let Some(v) = after.console_password {
                    u.capabilities.console_password = v;
                }
            }
        }
        Action::AddToGroup | Action::RemoveFromGroup => {
            if let (Some(user), Some(group)) = (&change.user, &change.group) {
                let m = Membership {
                    user: user.clone(),
                    group: group.clone(),
                };
                if change.action == Action::AddToGroup {
                    state.memberships.entry(m).or_insert(None);
                } else {
                    state.memberships.remove(&m);
                }
            }
        }
        Action::UploadApiKey => {
            if let (Some(user), Some(fp)) = (&change.user, &change.fingerprint) {
                state.api_keys.entry(user.clone()).or_default().insert(
                    fp.clone(),
                    ApiKey {
                        created: None,
                        pem: change.public_key.clone(),
                    },
                );
            }
        }
        Action::DeleteApiKey => {
            if let (Some(user), Some(fp)) = (&change.user, &change.fingerprint)
                && let Some(keys) = state.api_keys.get_mut(user)
            {
                keys.remove(fp);
                if keys.is_empty() {
                    state.api_keys.remove(user);
                }
            }
        }
        Action::ResetConsolePassword => {
            if let Some(u) = change.user.as_ref().and_then(|u| state.users.get_mut(u)) {
                u.password_reset = after.reset;
            }
        }
        Action::DeleteUser => {
            if let Some(user) = &change.user {
                state.users.remove(user);
                state.api_keys.remove(user);
                let groups: Vec<_> = state.groups_of(user).cloned().collect();
                for group in groups {
                    state.memberships.remove(&Membership {
                        user: user.clone(),
                        group,
                    });
                }
            }
        }
        Action::DeleteGroup => {
            if let Some(group) = &change.group {
                state.groups.remove(group);
                state.memberships.retain(|m, _| &m.group != group);
            }
        }
    }
}
