//! Puts changes into apply order: fixed phases from IAM's dependencies, a deterministic order
//! inside each phase, and one exception for the three-key cap.
//!
//! 1. create groups, create users
//! 2. update users, groups, capabilities
//! 3. per user: add memberships, upload keys, reset the console password
//! 4. per user: remove memberships, delete keys
//! 5. delete users, delete groups
//!
//! Exception: when a user's uploads would take it past three keys, that user's key deletions
//! move into phase 3, before its uploads. Pure.

use std::collections::{BTreeMap, BTreeSet};

use super::change::{Action, Change};
use crate::model::{MAX_API_KEYS, State, UserName};

type SortKey<'a> = (u8, &'a str, u8, &'a str);

fn sort_key<'a>(c: &'a Change, early_deletes: &BTreeSet<UserName>) -> SortKey<'a> {
    let user = c.user.as_ref().map(UserName::as_str);
    let group = c.group.as_ref().map(|g| g.as_str());
    let fingerprint = c.fingerprint.as_ref().map(|f| f.as_str());
    let early = c.user.as_ref().is_some_and(|u| early_deletes.contains(u));
    let (phase, rank) = match c.action {
        Action::CreateGroup => (1, 0),
        Action::CreateUser => (1, 1),
        Action::UpdateUser => (2, 0),
        Action::UpdateGroup => (2, 1),
        Action::UpdateCapabilities => (2, 2),
        Action::DeleteApiKey if early => (3, 0),
        Action::AddToGroup => (3, 1),
        Action::UploadApiKey => (3, 2),
        Action::ResetConsolePassword => (3, 3),
        Action::RemoveFromGroup => (4, 0),
        Action::DeleteApiKey => (4, 1),
        Action::DeleteUser => (5, 0),
        Action::DeleteGroup => (5, 1),
    };
    let first = user.or(group).unwrap_or("");
    let second = if user.is_some() {
        group.or(fingerprint).unwrap_or("")
    } else {
        ""
    };
    // Phases 3 and 4 keep each user's steps together; the others order by kind, then name.
    match phase {
        3 | 4 => (phase, first, rank, second),
        _ => (phase, "", rank, first),
    }
}

/// Orders `changes` for apply and numbers them from 1.
#[must_use]
pub fn order(changes: Vec<Change>, live: &State) -> Vec<Change> {
    let mut uploads: BTreeMap<UserName, usize> = BTreeMap::new();
    for c in &changes {
        if c.action == Action::UploadApiKey
            && let Some(u) = &c.user
        {
            *uploads.entry(u.clone()).or_default() += 1;
        }
    }
    let early: BTreeSet<UserName> = uploads
        .into_iter()
        .filter(|(u, n)| live.key_count(u) + n > MAX_API_KEYS)
        .map(|(u, _)| u)
        .collect();
    let mut indexed: Vec<(usize, &Change)> = changes.iter().enumerate().collect();
    indexed.sort_by(|a, b| sort_key(a.1, &early).cmp(&sort_key(b.1, &early)));
    let order: Vec<usize> = indexed.into_iter().map(|(i, _)| i).collect();
    let mut slots: Vec<Option<Change>> = changes
        .into_iter()
        .map(|mut c| {
            if c.action == Action::DeleteApiKey && c.user.as_ref().is_some_and(|u| early.contains(u)) {
                c.reason = format!(
                    "{}; deleted before the upload, as the user would otherwise exceed {MAX_API_KEYS} keys",
                    c.reason
                );
            }
            Some(c)
        })
        .collect();
    order
        .into_iter()
        .zip(1..)
        .filter_map(|(i, seq)| {
            let mut c = slots[i].take()?;
            c.seq = seq;
            Some(c)
        })
        .collect()
}
