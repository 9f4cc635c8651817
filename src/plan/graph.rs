//! The ordered plan as a dependency graph, so apply can run independent steps at once.
//!
//! Each step reads or writes a few *resources*; a step depends on the earlier steps it
//! conflicts with (a write after a read or a write, a read after a write), the classic
//! read/write rule, so running the graph in any order it allows gives the state the plan
//! order gives:
//!
//! - a user (`user.NAME`): written by every step on the user itself, its keys and its
//!   memberships, so one user's steps keep their plan order (the cap-aware key order:
//!   deletions before an upload at the three-key cap, make-before-break otherwise);
//! - a group (`group.NAME`): written by its create, update and delete, read by memberships
//!   into it, so a group is created before members are added and deleted after they are
//!   removed, while memberships of different users into one group run together;
//! - the actor's authority: written by every step that may change what the actor may do —
//!   a step on the actor itself (its keys, capabilities, memberships, deletion), a
//!   membership change in `Administrators`, deleting a group the actor is (or becomes) a
//!   member of — and read by every other step. Such a step waits for everything before it and
//!   everything after it waits for it: the order the per-step and lockout checks rely on.
//!
//! Pure: no I/O.

use std::collections::{BTreeMap, BTreeSet};

use super::change::{Action, Change};
use crate::model::{ADMINISTRATORS, GroupName, State, UserName};

/// What a step touches.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Resource {
    User(UserName),
    Group(GroupName),
    Authority,
}

/// How a step touches a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

/// The dependencies of each step of an ordered plan, by index into its changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Graph {
    /// `dependencies[i]`: the earlier steps step `i` waits for (ascending, no duplicates).
    dependencies: Vec<Vec<usize>>,
    /// `dependents[i]`: the later steps that wait for step `i` (ascending).
    dependents: Vec<Vec<usize>>,
}

/// Where a resource stands while the plan is walked: its last writer and the readers since.
#[derive(Default)]
struct Holders {
    writer: Option<usize>,
    readers: Vec<usize>,
}

impl Graph {
    /// The graph of `changes` (in plan order) against the `live` state they were planned from,
    /// run by `actor`.
    #[must_use]
    pub fn of(changes: &[Change], live: &State, actor: &UserName) -> Self {
        let mut actor_groups: BTreeSet<GroupName> = live.groups_of(actor).cloned().collect();
        actor_groups.extend(
            changes
                .iter()
                .filter(|c| c.action == Action::AddToGroup && c.user.as_ref() == Some(actor))
                .filter_map(|c| c.group.clone()),
        );
        let mut holders: BTreeMap<Resource, Holders> = BTreeMap::new();
        let mut dependencies = Vec::with_capacity(changes.len());
        for (i, change) in changes.iter().enumerate() {
            let mut deps = BTreeSet::new();
            for (resource, access) in touches(change, actor, &actor_groups) {
                let held = holders.entry(resource).or_default();
                match access {
                    Access::Read => {
                        deps.extend(held.writer);
                        held.readers.push(i);
                    }
                    // The readers since the last writer each wait for it already.
                    Access::Write if held.readers.is_empty() => {
                        deps.extend(held.writer);
                        held.writer = Some(i);
                    }
                    Access::Write => {
                        deps.extend(held.readers.drain(..));
                        held.writer = Some(i);
                    }
                }
            }
            deps.remove(&i);
            dependencies.push(deps.into_iter().collect::<Vec<_>>());
        }
        let mut dependents = vec![Vec::new(); changes.len()];
        for (i, deps) in dependencies.iter().enumerate() {
            for &d in deps {
                dependents[d].push(i);
            }
        }
        Self {
            dependencies,
            dependents,
        }
    }

    /// The number of steps.
    #[must_use]
    pub fn len(&self) -> usize {
        self.dependencies.len()
    }

    /// Whether the plan has no step.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.dependencies.is_empty()
    }

    /// The earlier steps step `i` waits for.
    #[must_use]
    pub fn dependencies(&self, i: usize) -> &[usize] {
        &self.dependencies[i]
    }

    /// The later steps that wait for step `i`.
    #[must_use]
    pub fn dependents(&self, i: usize) -> &[usize] {
        &self.dependents[i]
    }

    /// The steps that wait, directly or through others, for any of `failed`: the steps
    /// `--keep-going` skips. Ascending.
    #[must_use]
    pub fn downstream(&self, failed: &[usize]) -> Vec<usize> {
        let mut seen = BTreeSet::new();
        let mut queue: Vec<usize> = failed.to_vec();
        while let Some(i) = queue.pop() {
            for &d in &self.dependents[i] {
                if seen.insert(d) {
                    queue.push(d);
                }
            }
        }
        seen.into_iter().collect()
    }

    /// The length of the longest chain of steps (each waiting for the one before): the fewest
    /// rounds of writes the plan needs however many run at once.
    #[must_use]
    pub fn depth(&self) -> usize {
        let mut level = vec![0usize; self.len()];
        for i in 0..self.len() {
            level[i] = self.dependencies[i]
                .iter()
                .map(|&d| level[d])
                .max()
                .unwrap_or(0)
                + 1;
        }
        level.into_iter().max().unwrap_or(0)
    }
}

/// The resources `change` touches, and how.
fn touches(
    change: &Change,
    actor: &UserName,
    actor_groups: &BTreeSet<GroupName>,
) -> Vec<(Resource, Access)> {
    use Access::{Read, Write};
    let mut out = Vec::with_capacity(3);
    if let Some(user) = &change.user {
        out.push((Resource::User(user.clone()), Write));
    }
    if let Some(group) = &change.group {
        let access = match change.action {
            Action::AddToGroup | Action::RemoveFromGroup => Read,
            _ => Write,
        };
        out.push((Resource::Group(group.clone()), access));
    }
    let on_actor = change.user.as_ref() == Some(actor);
    let on_administrators = change.group.as_ref().is_some_and(|g| {
        g == &GroupName::new(ADMINISTRATORS)
            && matches!(
                change.action,
                Action::AddToGroup | Action::RemoveFromGroup | Action::DeleteGroup
            )
    });
    let deletes_actor_group = change.action == Action::DeleteGroup
        && change
            .group
            .as_ref()
            .is_some_and(|g| actor_groups.contains(g));
    let authority = if on_actor || on_administrators || deletes_actor_group {
        Write
    } else {
        Read
    };
    out.push((Resource::Authority, authority));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Fingerprint, Membership};

    fn step(action: Action, user: Option<&str>, group: Option<&str>) -> Change {
        Change {
            user: user.map(UserName::new),
            group: group.map(GroupName::new),
            ..Change::new(action, String::new())
        }
    }

    fn key(action: Action, user: &str, fp: &str) -> Change {
        Change {
            fingerprint: Fingerprint::parse(fp),
            ..step(action, Some(user), None)
        }
    }

    fn graph(changes: &[Change], live: &State) -> Graph {
        Graph::of(changes, live, &UserName::new("admin"))
    }

    const FP1: &str = "11:11:11:11:11:11:11:11:11:11:11:11:11:11:11:11";
    const FP2: &str = "22:22:22:22:22:22:22:22:22:22:22:22:22:22:22:22";

    #[test]
    fn different_users_do_not_wait_for_each_other() {
        let changes = [
            step(Action::UpdateUser, Some("amy"), None),
            step(Action::UpdateUser, Some("bob"), None),
            key(Action::DeleteApiKey, "carl", FP1),
        ];
        let g = graph(&changes, &State::default());
        assert!((0..3).all(|i| g.dependencies(i).is_empty()), "{g:?}");
        assert_eq!(g.depth(), 1);
    }

    #[test]
    fn one_users_steps_keep_their_order() {
        // The cap-aware order: the deletion before the upload, the reset after both.
        let changes = [
            key(Action::DeleteApiKey, "amy", FP1),
            key(Action::UploadApiKey, "amy", FP2),
            step(Action::ResetConsolePassword, Some("amy"), None),
        ];
        let g = graph(&changes, &State::default());
        assert_eq!(g.dependencies(1), &[0]);
        assert_eq!(g.dependencies(2), &[1]);
        assert_eq!(g.depth(), 3);
    }

    #[test]
    fn memberships_wait_for_their_user_and_group_but_not_for_each_other() {
        let changes = [
            step(Action::CreateGroup, None, Some("ops")),
            step(Action::CreateUser, Some("amy"), None),
            step(Action::CreateUser, Some("bob"), None),
            step(Action::AddToGroup, Some("amy"), Some("ops")),
            step(Action::AddToGroup, Some("bob"), Some("ops")),
        ];
        let g = graph(&changes, &State::default());
        assert_eq!(g.dependencies(3), &[0, 1]);
        assert_eq!(g.dependencies(4), &[0, 2]);
        assert_eq!(g.dependents(0), &[3, 4]);
    }

    #[test]
    fn a_group_is_deleted_after_every_removal_from_it() {
        let changes = [
            step(Action::RemoveFromGroup, Some("amy"), Some("old")),
            step(Action::RemoveFromGroup, Some("bob"), Some("old")),
            step(Action::DeleteUser, Some("amy"), None),
            step(Action::DeleteGroup, None, Some("old")),
        ];
        let g = graph(&changes, &State::default());
        assert_eq!(g.dependencies(3), &[0, 1]);
        assert_eq!(g.dependencies(2), &[0]);
    }

    #[test]
    fn steps_on_the_actor_or_administrators_are_barriers() {
        let changes = [
            step(Action::UpdateUser, Some("amy"), None),
            step(Action::AddToGroup, Some("bob"), Some(ADMINISTRATORS)),
            step(Action::UpdateUser, Some("carl"), None),
            key(Action::UploadApiKey, "admin", FP1),
            step(Action::UpdateUser, Some("dora"), None),
        ];
        let g = graph(&changes, &State::default());
        assert_eq!(g.dependencies(1), &[0], "waits for what came before");
        assert_eq!(g.dependencies(2), &[1], "what comes after waits for it");
        assert_eq!(g.dependencies(3), &[2]);
        assert_eq!(g.dependencies(4), &[3]);
        assert_eq!(g.depth(), 5);
    }

    #[test]
    fn deleting_a_group_the_actor_is_in_is_a_barrier() {
        let mut live = State::default();
        live.memberships.insert(
            Membership {
                user: UserName::new("Admin"),
                group: GroupName::new("helpdesk"),
            },
            Default::default(),
        );
        let changes = [
            step(Action::UpdateUser, Some("amy"), None),
            step(Action::DeleteGroup, None, Some("HelpDesk")),
            step(Action::UpdateUser, Some("bob"), None),
        ];
        let g = graph(&changes, &live);
        assert_eq!(g.dependencies(1), &[0]);
        assert_eq!(g.dependencies(2), &[1]);
    }

    #[test]
    fn names_that_differ_only_in_case_are_one_resource() {
        let changes = [
            step(Action::UpdateUser, Some("amy"), None),
            step(Action::UpdateCapabilities, Some("AMY"), None),
        ];
        assert_eq!(graph(&changes, &State::default()).dependencies(1), &[0]);
    }

    #[test]
    fn downstream_is_transitive() {
        let changes = [
            step(Action::CreateGroup, None, Some("ops")),
            step(Action::AddToGroup, Some("amy"), Some("ops")),
            key(Action::UploadApiKey, "amy", FP1),
            step(Action::UpdateUser, Some("bob"), None),
        ];
        let g = graph(&changes, &State::default());
        assert_eq!(g.downstream(&[0]), vec![1, 2]);
        assert!(g.downstream(&[3]).is_empty());
    }

    #[test]
    fn every_dependency_points_backwards() {
        let changes = [
            step(Action::CreateGroup, None, Some("ops")),
            step(Action::CreateUser, Some("amy"), None),
            step(Action::AddToGroup, Some("amy"), Some("ops")),
            key(Action::UploadApiKey, "amy", FP1),
            step(Action::RemoveFromGroup, Some("admin"), Some("ops")),
            step(Action::DeleteGroup, None, Some("ops")),
        ];
        let g = graph(&changes, &State::default());
        for i in 0..g.len() {
            assert!(g.dependencies(i).iter().all(|&d| d < i), "{i}: {g:?}");
        }
        // The actor's removal from a group it was added to by the plan is a barrier, and the
        // group's deletion (the actor was in it) is one too.
        assert_eq!(g.dependencies(4), &[0, 1, 2, 3]);
        assert_eq!(g.dependencies(5), &[2, 4]);
    }
}
