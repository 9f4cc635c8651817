//! Desired versus live: the unordered set of changes, plus the findings that need no plan
//! step (`name-case`, `unmanaged`, `unknown-group`, `missing-key`, `key-age`, and
//! `email-required` in a tenancy with identity domains, where a password reset becomes an
//! emailed reset link).
//!
//! "Left out means leave as is": a `None` field of [`Desired`] never produces a change.
//! Names match ignoring ASCII case (see `model`); a manifest name spelled differently from the
//! live object it matches is `name-case`, and that entry plans nothing (no create next to the
//! live object, no update, delete or prune of it), so no plan holds two spellings of one name.
//! Ownership is decided here, before ordering: only live objects carrying ociam's ownership tag
//! are ever pruned. Each change records the manifest entry it derives from (`source`: the
//! user, group, key or `groups:` item, or the tombstone of a deletion); pruning steps, which
//! derive from no entry, have none. Pure.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use super::change::{Action, Attributes, Change};
use super::precondition;
use crate::model::{
    Capabilities, Desired, DesiredUser, Fingerprint, GroupName, Location, Membership, State, User,
    UserName,
};
use crate::rules::{self, Diagnostic, Rule};

/// The result of diffing.
#[derive(Debug, Default)]
pub struct Diff {
    /// Changes in no particular order (`seq` is 0).
    pub changes: Vec<Change>,
    /// Findings that belong to no step.
    pub diagnostics: Vec<Diagnostic>,
}

/// How many names an `unmanaged` note lists before it says "and N more".
const NAMES_LISTED: usize = 20;

/// Diffs `desired` against `live`. `today` is days since the Unix epoch (for `key-age`).
#[must_use]
pub fn diff(desired: &Desired, live: &State, today: i64) -> Diff {
    let mut d = Diff::default();
    let desired = &*name_case(desired, live, &mut d);
    diff_groups(desired, live, &mut d);
    diff_users(desired, live, &mut d);
    unmanaged(desired, live, &mut d);
    key_age(desired, live, today, &mut d);
    // A membership can be removed for two reasons (its user and its group are both deleted);
    // the plan holds each step once.
    let mut seen = BTreeSet::new();
    d.changes.retain(|c| {
        seen.insert((
            c.action,
            c.user.clone(),
            c.group.clone(),
            c.fingerprint.clone(),
        ))
    });
    d
}

/// `name-case` for each manifest user and group whose name matches a live one only when case
/// is ignored. Returns the manifest to diff: those entries become "leave as is" (still listed,
/// so never pruned), borrowed unchanged when every name is spelled as live.
fn name_case<'a>(desired: &'a Desired, live: &State, d: &mut Diff) -> Cow<'a, Desired> {
    let mut out = Cow::Borrowed(desired);
    for (name, want) in &desired.users {
        if let Some((spelled, _)) = live.users.get_key_value(name)
            && !spelled.same_spelling(name)
        {
            d.diagnostics.push(
                name_case_finding("user", name, spelled, None, NameSource::Live).at(&want.location),
            );
            // Its memberships plan nothing either; their spellings are reported all the same.
            for (group, location) in want.groups.iter().flatten() {
                spelled_as_one(desired, live, name, group, location, d);
            }
            out.to_mut().users.insert(
                name.clone(),
                DesiredUser::leave_as_is(want.location.clone()),
            );
        }
    }
    for (name, want) in &desired.groups {
        if let Some((spelled, _)) = live.groups.get_key_value(name)
            && !spelled.same_spelling(name)
        {
            d.diagnostics.push(
                name_case_finding("group", name, spelled, None, NameSource::Live)
                    .at(&want.location),
            );
            let entry = out.to_mut().groups.get_mut(name);
            if let Some(entry) = entry {
                entry.present = true;
                entry.description = None;
            }
        }
    }
    out
}

/// The `name-case` diagnostic for `kind` (`user`, `group`) `name`, which `source` (the
/// tenancy, or the manifest's own group entry) spells `spelled`. `subject` defaults to
/// `kind.name`.
fn name_case_finding(
    kind: &str,
    name: &impl std::fmt::Display,
    spelled: &impl std::fmt::Display,
    subject: Option<String>,
    source: NameSource,
) -> Diagnostic {
    let (matches, spells) = match source {
        NameSource::Live => ("live", "the tenancy spells it"),
        NameSource::Manifest => ("the manifest's own", "the manifest's group entry spells it"),
    };
    Diagnostic::new(
        Rule::NameCase,
        subject.unwrap_or_else(|| format!("{kind}.{name}")),
        format!(
            "{kind} `{name}` matches {matches} {kind} `{spelled}` only when case is ignored; {spells} `{spelled}`, so nothing is planned for it"
        ),
        format!(
            "write it `{spelled}` in the manifest (OCI names are unique ignoring case: `{name}` and `{spelled}` cannot both exist)"
        ),
    )
}

/// Where the spelling a `name-case` finding asks for comes from.
#[derive(Clone, Copy)]
enum NameSource {
    Live,
    Manifest,
}

/// A membership step; `source` is the manifest entry it derives from (none when pruning).
fn membership_change(
    action: Action,
    m: &Membership,
    live: &State,
    reason: &str,
    source: Option<&Location>,
) -> Change {
    let mut c = Change::new(action, reason);
    c.user = Some(m.user.clone());
    c.group = Some(m.group.clone());
    c.source = source.cloned();
    c.precondition = Some(precondition::of_membership(m, live));
    c
}

/// Removes every membership of `group` (before the group is deleted).
fn empty_group(
    group: &GroupName,
    live: &State,
    reason: &str,
    source: Option<&Location>,
    d: &mut Diff,
) {
    for m in live.memberships.keys().filter(|m| &m.group == group) {
        d.changes.push(membership_change(
            Action::RemoveFromGroup,
            m,
            live,
            reason,
            source,
        ));
    }
}

/// Deletes group `name` and its memberships; `source` is its tombstone (none when pruning).
fn delete_group(
    name: &GroupName,
    live: &State,
    reason: &str,
    source: Option<&Location>,
    d: &mut Diff,
) {
    empty_group(name, live, "its group is deleted", source, d);
    let mut c = Change::new(Action::DeleteGroup, reason);
    c.group = Some(name.clone());
    c.source = source.cloned();
    let g = live.groups.get(name);
    c.before = g.map(|g| Attributes {
        description: Some(g.description.clone()),
        ..Attributes::default()
    });
    c.precondition = Some(precondition::of_group(g));
    d.changes.push(c);
}

fn diff_groups(desired: &Desired, live: &State, d: &mut Diff) {
    for (name, want) in &desired.groups {
        let have = live.groups.get(name);
        match (want.present, have) {
            (true, None) => {
                let mut c = Change::new(Action::CreateGroup, "in the manifest, not live")
                    .from_entry(&want.location);
                c.group = Some(name.clone());
                c.after = Some(Attributes {
                    description: Some(want.description.clone().unwrap_or_default()),
                    ..Attributes::default()
                });
                c.precondition = Some(precondition::of_group(None));
                d.changes.push(c);
            }
            (true, Some(g)) => {
                if let Some(desc) = &want.description
                    && desc != &g.description
                {
                    let mut c = Change::new(Action::UpdateGroup, "description differs")
                        .from_entry(&want.location);
                    c.group = Some(name.clone());
                    c.before = Some(Attributes {
                        description: Some(g.description.clone()),
                        ..Attributes::default()
                    });
                    c.after = Some(Attributes {
                        description: Some(desc.clone()),
                        ..Attributes::default()
                    });
                    c.precondition = Some(precondition::of_group(Some(g)));
                    d.changes.push(c);
                }
            }
            (false, Some(_)) => delete_group(
                name,
                live,
                "`state: absent` in the manifest",
                Some(&want.location),
                d,
            ),
            (false, None) => {}
        }
    }
}

fn user_change(action: Action, name: &UserName, reason: &str, live: Option<&User>) -> Change {
    let mut c = Change::new(action, reason);
    c.user = Some(name.clone());
    c.precondition = Some(precondition::of_user(live));
    c
}

/// Deletes user `name` after its memberships; `source` is its tombstone (none when pruning).
fn delete_user(
    name: &UserName,
    live: &State,
    reason: &str,
    source: Option<&Location>,
    d: &mut Diff,
) {
    let member_of: Vec<Membership> = live
        .groups_of(name)
        .map(|g| Membership {
            user: name.clone(),
            group: g.clone(),
        })
        .collect();
    for m in &member_of {
        d.changes.push(membership_change(
            Action::RemoveFromGroup,
            m,
            live,
            "its user is deleted (OCI deletes only users in no group)",
            source,
        ));
    }
    let u = live.users.get(name);
    let mut c = user_change(Action::DeleteUser, name, reason, u);
    c.source = source.cloned();
    c.before = u.map(|u| Attributes {
        description: Some(u.description.clone()),
        email: u.email.clone(),
        ..Attributes::default()
    });
    d.changes.push(c);
}

fn diff_users(desired: &Desired, live: &State, d: &mut Diff) {
    for (name, want) in &desired.users {
        let have = live.users.get(name);
        match (want.present, have) {
            (false, Some(_)) => delete_user(
                name,
                live,
                "`state: absent` in the manifest",
                Some(&want.location),
                d,
            ),
            (false, None) => {}
            (true, have) => diff_present_user(desired, live, name, want, have, d),
        }
    }
}

fn diff_present_user(
    desired: &Desired,
    live: &State,
    name: &UserName,
    want: &DesiredUser,
    have: Option<&User>,
    d: &mut Diff,
) {
    let live_caps = have.map_or_else(Capabilities::default, |u| u.capabilities);
    match have {
        None => {
            if live.identity_domains && want.email.as_deref().is_none_or(str::is_empty) {
                d.diagnostics
                    .push(rules::email_required(name, false).at(&want.location));
            }
            let mut c = user_change(Action::CreateUser, name, "in the manifest, not live", None)
                .from_entry(&want.location);
            c.after = Some(Attributes {
                description: Some(want.description.clone().unwrap_or_default()),
                email: want.email.clone(),
                ..Attributes::default()
            });
            d.changes.push(c);
        }
        Some(u) => {
            let mut before = Attributes::default();
            let mut after = Attributes::default();
            if let Some(desc) = &want.description
                && desc != &u.description
            {
                before.description = Some(u.description.clone());
                after.description = Some(desc.clone());
            }
            if let Some(email) = &want.email
                && Some(email) != u.email.as_ref()
            {
                before.email = u.email.clone();
                after.email = Some(email.clone());
            }
            if after != Attributes::default() {
                let mut c = user_change(Action::UpdateUser, name, "fields differ", Some(u))
                    .from_entry(&want.location);
                c.before = Some(before);
                c.after = Some(after);
                d.changes.push(c);
            }
        }
    }
    let want_caps = Capabilities {
        api_keys: want.capabilities.api_keys.unwrap_or(live_caps.api_keys),
        console_password: want
            .capabilities
            .console_password
            .unwrap_or(live_caps.console_password),
    };
    if want_caps != live_caps {
        let mut c = user_change(
            Action::UpdateCapabilities,
            name,
            "capabilities differ",
            have,
        )
        .from_entry(&want.location);
        c.before = Some(Attributes {
            api_keys: Some(live_caps.api_keys),
            console_password: Some(live_caps.console_password),
            ..Attributes::default()
        });
        c.after = Some(Attributes {
            api_keys: Some(want_caps.api_keys),
            console_password: Some(want_caps.console_password),
            ..Attributes::default()
        });
        d.changes.push(c);
    }
    if let Some(groups) = &want.groups {
        diff_memberships(desired, live, name, &want.location, groups, d);
    }
    if let Some(keys) = &want.api_keys {
        diff_keys(live, name, &want.location, keys, d);
    }
    if let Some(reset) = &want.console_password {
        let applied = have.and_then(|u| u.password_reset).unwrap_or(0);
        if reset.reset > applied {
            let mut c = user_change(
                Action::ResetConsolePassword,
                name,
                &format!(
                    "console_password.reset is {} (last applied: {applied})",
                    reset.reset
                ),
                have,
            )
            .from_entry(&want.location);
            c.before = Some(Attributes {
                reset: Some(applied),
                ..Attributes::default()
            });
            c.after = Some(Attributes {
                reset: Some(reset.reset),
                deliver_to: reset.deliver_to.clone(),
                ..Attributes::default()
            });
            if live.identity_domains {
                // OCI emails a reset link to the user's address after the plan.
                let email = want
                    .email
                    .clone()
                    .or_else(|| have.and_then(|u| u.email.clone()))
                    .filter(|e| !e.is_empty());
                if let Some(after) = c.after.as_mut() {
                    after.deliver_to = None;
                    after.reset_link_to.clone_from(&email);
                }
                if email.is_none() {
                    d.diagnostics
                        .push(rules::email_required(name, true).at(&reset.location));
                }
            }
            d.changes.push(c);
        }
    }
}

/// `entry` is the user's entry (the source of removals); each `groups:` item is the source of
/// its addition.
fn diff_memberships(
    desired: &Desired,
    live: &State,
    name: &UserName,
    entry: &Location,
    groups: &BTreeMap<GroupName, Location>,
    d: &mut Diff,
) {
    let live_groups: BTreeSet<&GroupName> = live.groups_of(name).collect();
    for (group, location) in groups {
        if !spelled_as_one(desired, live, name, group, location, d) {
            continue;
        }
        let declared = desired.groups.get(group).map(|g| g.present);
        if declared == Some(false) {
            d.diagnostics.push(
                Diagnostic::new(
                    Rule::UnknownGroup,
                    format!("membership.{group}/{name}"),
                    format!("user {name} is placed in group {group}, which the manifest deletes (`state: absent`)"),
                    format!("remove {group} from the user's groups, or keep the group"),
                )
                .at(location),
            );
            continue;
        }
        if declared.is_none() && !live.groups.contains_key(group) {
            d.diagnostics.push(
                Diagnostic::new(
                    Rule::UnknownGroup,
                    format!("membership.{group}/{name}"),
                    format!("user {name} is placed in group {group}, which is neither in the manifest nor live"),
                    format!("add `- name: {group}` under `groups:`, or fix the group name"),
                )
                .at(location),
            );
            continue;
        }
        if !live_groups.contains(group) {
            let m = Membership {
                user: name.clone(),
                group: group.clone(),
            };
            d.changes.push(membership_change(
                Action::AddToGroup,
                &m,
                live,
                "listed in the user's groups",
                Some(location),
            ));
        }
    }
    for group in live_groups {
        if !groups.contains_key(group) {
            let m = Membership {
                user: name.clone(),
                group: group.clone(),
            };
            d.changes.push(membership_change(
                Action::RemoveFromGroup,
                &m,
                live,
                "not in the user's groups in the manifest",
                Some(entry),
            ));
        }
    }
}

/// Whether `user`'s membership entry `group` (at `location`) is spelled as the manifest's own
/// group entry, else as the live group. When not, it plans nothing: a `name-case` finding
/// (none when the group entry itself is spelled unlike the live group: that entry has its own).
fn spelled_as_one(
    desired: &Desired,
    live: &State,
    user: &UserName,
    group: &GroupName,
    location: &Location,
    d: &mut Diff,
) -> bool {
    let live_spelling = live.groups.get_key_value(group).map(|(g, _)| g);
    let (spelled, source) = match desired.groups.get_key_value(group) {
        Some((declared, _)) if !declared.same_spelling(group) => (declared, NameSource::Manifest),
        Some(_) => return live_spelling.is_none_or(|g| g.same_spelling(group)),
        None => match live_spelling {
            Some(g) if !g.same_spelling(group) => (g, NameSource::Live),
            _ => return true,
        },
    };
    let subject = Some(format!("membership.{group}/{user}"));
    d.diagnostics
        .push(name_case_finding("group", group, spelled, subject, source).at(location));
    false
}

/// `entry` is the user's entry: the source of deleting a key its `api_keys:` does not list.
fn diff_keys(
    live: &State,
    name: &UserName,
    entry: &Location,
    keys: &[crate::model::DesiredKey],
    d: &mut Diff,
) {
    let empty = BTreeMap::new();
    let live_keys = live.api_keys.get(name).unwrap_or(&empty);
    let wanted: BTreeSet<&Fingerprint> = keys.iter().map(|k| &k.fingerprint).collect();
    for key in keys {
        if live_keys.contains_key(&key.fingerprint) {
            continue;
        }
        match &key.pem {
            Some(pem) => {
                let mut c = Change::new(Action::UploadApiKey, "in the manifest, not live")
                    .from_entry(&key.location);
                c.user = Some(name.clone());
                c.fingerprint = Some(key.fingerprint.clone());
                c.public_key = Some(pem.clone());
                c.precondition = Some(precondition::of_key(name, &key.fingerprint, live));
                d.changes.push(c);
            }
            None => d.diagnostics.push(
                Diagnostic::new(
                    Rule::MissingKey,
                    format!("api_key.{name}/{}", key.fingerprint),
                    format!(
                        "user {name} should keep key {}, but it is not live and has no public key to upload",
                        key.fingerprint
                    ),
                    "give the key's public PEM (`file:` or `pem:`) instead of its fingerprint, or remove the entry",
                )
                .at(&key.location),
            ),
        }
    }
    for fingerprint in live_keys.keys() {
        if !wanted.contains(fingerprint) {
            let mut c =
                Change::new(Action::DeleteApiKey, "live, not in the manifest").from_entry(entry);
            c.user = Some(name.clone());
            c.fingerprint = Some(fingerprint.clone());
            c.precondition = Some(precondition::of_key(name, fingerprint, live));
            d.changes.push(c);
        }
    }
}

/// The groups a manifest mentions anywhere (declared or referenced by a user).
fn referenced_groups(desired: &Desired) -> BTreeSet<&GroupName> {
    desired
        .users
        .values()
        .filter_map(|u| u.groups.as_ref())
        .flat_map(BTreeMap::keys)
        .chain(desired.groups.keys())
        .collect()
}

/// Prunes owned objects the manifest does not list, and notes the rest.
fn unmanaged(desired: &Desired, live: &State, d: &mut Diff) {
    let referenced = referenced_groups(desired);
    let mut users = Vec::new();
    for (name, u) in &live.users {
        if desired.users.contains_key(name) {
            continue;
        }
        if desired.prune.users && u.managed {
            delete_user(
                name,
                live,
                "pruned: owned by ociam, not in the manifest",
                None,
                d,
            );
        } else {
            users.push(name.as_str());
        }
    }
    let mut groups = Vec::new();
    for (name, g) in &live.groups {
        if referenced.contains(name) {
            continue;
        }
        if desired.prune.groups && g.managed {
            delete_group(
                name,
                live,
                "pruned: owned by ociam, not in the manifest",
                None,
                d,
            );
        } else {
            groups.push(name.as_str());
        }
    }
    for (kind, names) in [("users", users), ("groups", groups)] {
        if names.is_empty() {
            continue;
        }
        let mut list = names
            .iter()
            .take(NAMES_LISTED)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        if names.len() > NAMES_LISTED {
            list.push_str(&format!(" and {} more", names.len() - NAMES_LISTED));
        }
        d.diagnostics.push(Diagnostic::new(
            Rule::Unmanaged,
            kind,
            format!(
                "{} live {} not in the manifest {} left alone: {list}",
                names.len(),
                if names.len() == 1 { kind.trim_end_matches('s') } else { kind },
                if names.len() == 1 { "is" } else { "are" }
            ),
            format!(
                "list them in the manifest to manage them, or set `prune: {{{kind}: true}}` to delete those ociam created"
            ),
        ));
    }
}

/// Warns about live keys that are old or past their `expires` date and that the plan keeps.
fn key_age(desired: &Desired, live: &State, today: i64, d: &mut Diff) {
    let max_days = i64::from(desired.limits.max_key_age_days);
    for (name, want) in desired.users.iter().filter(|(_, u)| u.present) {
        let Some(live_keys) = live.api_keys.get(name) else {
            continue;
        };
        let expiries: BTreeMap<&Fingerprint, &crate::model::DesiredKey> = want
            .api_keys
            .iter()
            .flatten()
            .map(|k| (&k.fingerprint, k))
            .collect();
        for (fingerprint, key) in live_keys {
            let kept = want.api_keys.is_none() || expiries.contains_key(fingerprint);
            if !kept {
                continue;
            }
            let subject = format!("api_key.{name}/{fingerprint}");
            // The key's own item when the manifest lists it, else the user's entry.
            let at = expiries
                .get(fingerprint)
                .map_or(&want.location, |k| &k.location);
            if let Some(created) = key.created {
                let age = today - created.div_euclid(86_400);
                if age > max_days {
                    d.diagnostics.push(Diagnostic::new(
                        Rule::KeyAge,
                        subject.clone(),
                        format!("key {fingerprint} of user {name} is {age} days old (limit {max_days})"),
                        "rotate it: add a new key in one change, switch its users, remove the old key in the next",
                    ).at(at));
                }
            }
            if let Some(desired_key) = expiries.get(fingerprint)
                && let Some(expires) = desired_key.expires
            {
                let expires_day = expires
                    .since(jiff::civil::Date::constant(1970, 1, 1))
                    .map_or(i64::MAX, |span| i64::from(span.get_days()));
                if today > expires_day {
                    d.diagnostics.push(
                        Diagnostic::new(
                            Rule::KeyAge,
                            subject,
                            format!("key {fingerprint} of user {name} expired on {expires}"),
                            "rotate it: add its replacement and remove this entry",
                        )
                        .at(&desired_key.location),
                    );
                }
            }
        }
    }
}
