//! The planner: `plan(desired, live, actor, options) -> Plan`, the single entry point.
//!
//! diff ([`diff`]) → deterministic order ([`order`]) → step-by-step simulation as the actor
//! ([`simulate`]), checking every rule of [`rules`] at every step with the authority model of
//! [`authority`]. Rule violations are diagnostics inside the plan, never `Err`.
//!
//! Pure and synchronous: no I/O; "today" comes in through [`Options`].

pub mod authority;
pub mod change;
pub mod diff;
pub mod order;
pub mod precondition;
pub mod rules;
pub mod simulate;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

pub use change::{
    Action, Actor, Attributes, Authority, Change, FORMAT_VERSION, KeySlots, Kind, Plan,
    Precondition, Summary,
};
use rules::{Diagnostic, Rule, Severity};

use crate::model::{
    ADMINISTRATORS, Desired, Fingerprint, GroupName, MAX_API_KEYS, State, UserName,
};
use authority::{AdminGroups, Operation};

/// The user whose credentials will run the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActorSpec {
    /// The user's name.
    pub user: UserName,
    /// The fingerprint of the key it signs with, when known (a profile says; `--live` may not).
    pub fingerprint: Option<Fingerprint>,
}

/// Everything besides the two states that a plan depends on.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Days since the Unix epoch, for `key-age`.
    pub today: i64,
    /// `--allow-deletions N`: the number of user/group deletions the operator accepts.
    pub allow_deletions: Option<u32>,
    /// Digest of the manifest (from `manifest::load`).
    pub manifest_digest: String,
    /// Digest of the live state (from the snapshot).
    pub live_digest: String,
    /// Findings of the manifest-only rules, carried into the plan.
    pub manifest_diagnostics: Vec<Diagnostic>,
    /// `--allow-empty-prune`: let a manifest that lists no users (or no groups) prune.
    pub allow_empty_prune: bool,
    /// Set when the live state holds only this user (what an actor that is not a tenancy
    /// administrator may read): the plan then covers that user's own credentials only, and
    /// every other manifest entry is `not-authorized`.
    pub scope: Option<UserName>,
}

/// Plans the changes that take `live` to `desired`, as `actor`.
#[must_use]
pub fn plan(desired: &Desired, live: &State, actor: &ActorSpec, options: &Options) -> Plan {
    let mut diagnostics = options.manifest_diagnostics.clone();
    let scoped;
    let desired = match &options.scope {
        Some(user) => {
            let (d, findings) = scope_to(desired, user);
            diagnostics.extend(findings);
            scoped = d;
            &scoped
        }
        None => desired,
    };
    let guarded;
    let desired = match empty_prune_guard(desired, options.allow_empty_prune) {
        Some((d, finding)) => {
            diagnostics.push(finding);
            guarded = d;
            &guarded
        }
        None => desired,
    };
    let diffed = diff::diff(desired, live, options.today);
    let mut changes = order::order(diffed.changes, live);
    diagnostics.extend(diffed.diagnostics);
    let admins = AdminGroups::from_policies(&live.policies, &live.tenancy);
    let actor_info = Actor {
        user: actor.user.clone(),
        authority: if admins.is_admin(live, &actor.user) {
            Authority::Admin
        } else {
            Authority::SelfService
        },
        fingerprint: actor.fingerprint.clone(),
    };
    let key_slots = check_steps(desired, live, actor, &mut changes, &mut diagnostics);
    check_mass_deletion(desired, &changes, options.allow_deletions, &mut diagnostics);
    let diagnostics = tidy(diagnostics);
    let summary = Plan::summarize(&changes, &diagnostics);
    Plan {
        format_version: FORMAT_VERSION,
        tenancy: live.tenancy.clone(),
        actor: actor_info,
        manifest_digest: options.manifest_digest.clone(),
        live_digest: options.live_digest.clone(),
        changes,
        diagnostics,
        key_slots,
        deletion_budget: desired.limits.max_deletions,
        summary,
    }
}

/// How many user and group deletions `changes` hold.
#[must_use]
pub fn deletions(changes: &[Change]) -> u32 {
    let n = changes
        .iter()
        .filter(|c| matches!(c.action, Action::DeleteUser | Action::DeleteGroup))
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A manifest that lists no users (or no groups) but asks to prune them would delete every
/// owned one: an empty or truncated file must never do that unasked. Returns the manifest
/// without that pruning, and the `mass-deletion` finding that rejects the plan.
fn empty_prune_guard(desired: &Desired, allowed: bool) -> Option<(Desired, Diagnostic)> {
    let users = desired.prune.users && desired.users.is_empty();
    let groups = desired.prune.groups && desired.groups.is_empty();
    if allowed || !(users || groups) {
        return None;
    }
    let mut guarded = desired.clone();
    guarded.prune.users &= !users;
    guarded.prune.groups &= !groups;
    let what = match (users, groups) {
        (true, true) => "users or groups",
        (true, false) => "users",
        _ => "groups",
    };
    let finding = Diagnostic::new(
        Rule::MassDeletion,
        "plan",
        format!(
            "the manifest lists no {what} but asks to prune them: that would delete every {what} ociam created"
        ),
        "check that the manifest is complete; if deleting them all is intended, pass --allow-empty-prune to plan and apply",
    );
    Some((guarded, finding))
}

/// The part of `desired` an actor that can read only its own user may plan: that user's entry
/// without `groups:` (memberships cannot be read), nothing else; every other entry becomes a
/// `not-authorized` finding.
fn scope_to(desired: &Desired, user: &UserName) -> (Desired, Vec<Diagnostic>) {
    let mut findings = Vec::new();
    let help = format!(
        "plan this manifest as a tenancy administrator, or give {user}'s pipeline a manifest \
         that lists only {user}"
    );
    let mut list = |kind: &str, names: Vec<&str>| {
        if names.is_empty() {
            return;
        }
        let shown = names
            .iter()
            .take(20)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        let more = names.len().saturating_sub(20);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        findings.push(Diagnostic::new(
            Rule::NotAuthorized,
            kind,
            format!(
                "{user} is not a tenancy administrator, so it can neither read nor change these \
                 {kind}: {shown}{more}"
            ),
            help.clone(),
        ));
    };
    list(
        "users",
        desired
            .users
            .keys()
            .filter(|u| *u != user)
            .map(UserName::as_str)
            .collect(),
    );
    list(
        "groups",
        desired.groups.keys().map(GroupName::as_str).collect(),
    );
    let mut scoped = Desired {
        tenancy: desired.tenancy.clone(),
        limits: desired.limits,
        ..Desired::default()
    };
    if let Some(entry) = desired.users.get(user) {
        let mut entry = entry.clone();
        if let Some(groups) = entry.groups.take() {
            let at = groups.values().next().unwrap_or(&entry.location).clone();
            findings.push(
                Diagnostic::new(
                    Rule::NotAuthorized,
                    format!("user.{user}"),
                    format!("{user} is not a tenancy administrator, so it cannot read or change its group memberships"),
                    format!("remove `groups:` from {user}'s entry in this pipeline's manifest"),
                )
                .at(&at),
            );
        }
        scoped.users.insert(user.clone(), entry);
    }
    (scoped, findings)
}

/// Errors first, then by step and subject; each finding once. A step finding that repeats a
/// manifest finding (same rule, subject and message, or any `max-api-keys` of that subject)
/// is dropped in favour of the one that points at the manifest line.
fn tidy(mut diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    use std::collections::BTreeSet;
    let mut seen = BTreeSet::new();
    diagnostics.retain(|d| seen.insert((d.rule, d.subject.clone(), d.step, d.message.clone())));
    let manifest: BTreeSet<(Rule, String, String)> = diagnostics
        .iter()
        .filter(|d| d.step.is_none())
        .map(|d| (d.rule, d.subject.clone(), d.message.clone()))
        .collect();
    let capped: BTreeSet<String> = diagnostics
        .iter()
        .filter(|d| d.step.is_none() && d.rule == Rule::MaxApiKeys)
        .map(|d| d.subject.clone())
        .collect();
    diagnostics.retain(|d| {
        d.step.is_none()
            || !(manifest.contains(&(d.rule, d.subject.clone(), d.message.clone()))
                || d.rule == Rule::MaxApiKeys && capped.contains(&d.subject))
    });
    diagnostics.sort_by(|a, b| {
        (a.severity, a.step.unwrap_or(0), &a.subject, a.rule).cmp(&(
            b.severity,
            b.step.unwrap_or(0),
            &b.subject,
            b.rule,
        ))
    });
    diagnostics
}

fn check_mass_deletion(
    desired: &Desired,
    changes: &[Change],
    allow: Option<u32>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let deletions = changes
        .iter()
        .filter(|c| matches!(c.action, Action::DeleteUser | Action::DeleteGroup))
        .count();
    let deletions = u32::try_from(deletions).unwrap_or(u32::MAX);
    let limit = desired.limits.max_deletions.max(allow.unwrap_or(0));
    if deletions > limit {
        diagnostics.push(Diagnostic::new(
            Rule::MassDeletion,
            "plan",
            format!(
                "the plan deletes {deletions} users and groups; limits.max_deletions is {}",
                desired.limits.max_deletions
            ),
            format!(
                "if this is intended, pass --allow-deletions {deletions} to both plan and apply"
            ),
        ));
    }
}

/// The credential owner of a step, if it touches a credential.
fn credential_owner(c: &Change) -> Option<&UserName> {
    match c.action {
        Action::UploadApiKey | Action::DeleteApiKey | Action::ResetConsolePassword => {
            c.user.as_ref()
        }
        _ => None,
    }
}

/// Walks the ordered plan as the actor, checking the per-step rules, and fills in each step's
/// authority and key slots. Returns the key slots of every user whose keys change.
fn check_steps(
    desired: &Desired,
    live: &State,
    actor: &ActorSpec,
    changes: &mut [Change],
    out: &mut Vec<Diagnostic>,
) -> Vec<KeySlots> {
    let mut checker = StepChecker::new(Some(desired), live.clone(), actor);
    let mut slots: BTreeMap<UserName, KeySlots> = BTreeMap::new();
    for change in changes.iter_mut() {
        let before = change
            .user
            .as_ref()
            .map_or(0, |u| checker.state.key_count(u));
        out.extend(checker.check(change));
        if let (true, Some(user)) = (change.key_slots.is_some(), &change.user) {
            let after = checker.state.key_count(user);
            let entry = slots.entry(user.clone()).or_insert(KeySlots {
                user: user.clone(),
                before: count(before),
                peak: count(before),
                after: count(before),
            });
            entry.peak = entry.peak.max(count(after));
            entry.after = count(after);
        }
    }
    slots.into_values().collect()
}

/// Checks the per-step rules one step at a time against a state that follows the steps: the
/// planner walks the simulated plan with it, and the apply executor re-checks each step
/// against the state it has just read before writing.
pub struct StepChecker<'a> {
    /// The manifest, for `federated-user` acknowledgements; `None` when applying a saved plan
    /// (its own diagnostics already carry that rule).
    desired: Option<&'a Desired>,
    actor: &'a ActorSpec,
    admins: AdminGroups,
    /// The state before the next step.
    pub state: State,
}

impl<'a> StepChecker<'a> {
    /// A checker starting from `state`.
    #[must_use]
    pub fn new(desired: Option<&'a Desired>, state: State, actor: &'a ActorSpec) -> Self {
        Self {
            desired,
            actor,
            admins: AdminGroups::from_policies(&state.policies, &state.tenancy),
            state,
        }
    }

    /// Checks `change` against the current state, records its authority and key slots, then
    /// advances the state past it. Returns the step's findings.
    pub fn check(&mut self, change: &mut Change) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let (state, actor, admins) = (&mut self.state, self.actor, &self.admins);
        let step = change.seq;
        let subject = change.subject();
        let actor_admin = admins.is_admin(state, &actor.user);
        let op = credential_owner(change).map_or(Operation::Administer, |owner| {
            Operation::Credential { owner }
        });
        change.authority = authority::decide(actor_admin, &actor.user, op);
        if change.authority == Authority::None {
            let message = match credential_owner(change) {
                Some(owner) => format!(
                    "{} is not a tenancy administrator, and may manage only its own credentials, not {owner}'s",
                    actor.user
                ),
                None => format!(
                    "{} is not a tenancy administrator; {} needs tenancy-level authority",
                    actor.user, change.action
                ),
            };
            out.push(
                Diagnostic::new(
                    Rule::NotAuthorized,
                    subject.clone(),
                    message,
                    "run this change as a member of Administrators or of a group granted \
                     `manage users` in tenancy; a compartment policy is not enough",
                )
                .at_step(step),
            );
        }
        if change.authority == Authority::SelfService && state.key_count(&actor.user) == 0 {
            out.push(
                Diagnostic::new(
                    Rule::NoApiKeyYet,
                    subject.clone(),
                    format!("{} has no API key yet, so it cannot call the API on its own credentials", actor.user),
                    "have an administrator upload the first key (or upload it in the Console), then re-plan",
                )
                .at_step(step),
            );
        }
        if let Some(desired) = self.desired {
            check_federated(desired, state, change, &subject, &mut out);
        }
        check_capability(state, change, &mut out);
        check_lockout(state, actor, admins, change, &subject, &mut out);

        let administrators = GroupName::from(ADMINISTRATORS);
        let user = change.user.clone();
        let key_step = matches!(change.action, Action::UploadApiKey | Action::DeleteApiKey);
        let before = user.as_ref().map_or(0, |u| state.key_count(u));
        let admins_before = change.action_empties_admins(state, &administrators);
        simulate::apply(state, change);
        if admins_before
            && !state.group_has_members(&administrators)
            && state.groups.contains_key(&administrators)
        {
            out.push(
                Diagnostic::new(
                    Rule::Lockout,
                    subject.clone(),
                    "this step would leave Administrators with no member".to_owned(),
                    "keep at least one user in Administrators",
                )
                .at_step(step),
            );
        }
        if let (true, Some(user)) = (key_step, user) {
            let after = state.key_count(&user);
            change.key_slots = Some(format!("{before}/{MAX_API_KEYS} -> {after}/{MAX_API_KEYS}"));
            if after > MAX_API_KEYS {
                out.push(rules::check_max_keys_step(&user, after, step));
            }
        }
        out
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Change {
    /// Whether this step could leave `Administrators` empty: it removes a member of it.
    fn action_empties_admins(&self, state: &State, administrators: &GroupName) -> bool {
        let Some(user) = &self.user else {
            return false;
        };
        let member = state.memberships.contains_key(&crate::model::Membership {
            user: user.clone(),
            group: administrators.clone(),
        });
        member
            && (self.action == Action::DeleteUser
                || self.action == Action::RemoveFromGroup
                    && self.group.as_ref() == Some(administrators))
    }
}

fn check_federated(
    desired: &Desired,
    state: &State,
    change: &Change,
    subject: &str,
    out: &mut Vec<Diagnostic>,
) {
    if !matches!(change.action, Action::UploadApiKey | Action::DeleteApiKey) {
        return;
    }
    let Some(user) = &change.user else { return };
    if !state.users.get(user).is_some_and(|u| u.federated) {
        return;
    }
    let acknowledged = desired.users.get(user).is_some_and(|u| u.federated_ack);
    let d = Diagnostic::new(
        Rule::FederatedUser,
        subject.to_owned(),
        format!("{user} is a federated user; changing its API keys may need an identity-provider policy"),
        format!("if its keys are meant to be managed here, add `federated_api_keys: acknowledged` to user {user}"),
    )
    .at_step(change.seq);
    let d = if acknowledged {
        d.with_severity(Severity::Warning)
    } else {
        d
    };
    let d = match desired.users.get(user) {
        Some(u) => d.at(&u.location),
        None => d,
    };
    out.push(d);
}

fn check_capability(state: &State, change: &Change, out: &mut Vec<Diagnostic>) {
    let Some(user) = &change.user else { return };
    let Some(u) = state.users.get(user) else {
        return;
    };
    let capability = match change.action {
        Action::UploadApiKey if !u.capabilities.api_keys => "api_keys",
        Action::ResetConsolePassword if !u.capabilities.console_password => "console_password",
        _ => return,
    };
    out.push(rules::check_capability(user, capability).at_step(change.seq));
}

fn check_lockout(
    state: &State,
    actor: &ActorSpec,
    admins: &AdminGroups,
    change: &Change,
    subject: &str,
    out: &mut Vec<Diagnostic>,
) {
    if change.action == Action::DeleteGroup
        && change.group.as_ref().map(GroupName::as_str) == Some(ADMINISTRATORS)
    {
        out.push(
            Diagnostic::new(
                Rule::Lockout,
                subject.to_owned(),
                "the plan deletes the Administrators group".to_owned(),
                "Administrators is OCI's built-in admin group; keep it in the manifest",
            )
            .at_step(change.seq),
        );
    }
    if change.user.as_ref() != Some(&actor.user) {
        return;
    }
    let lockout = |message: String, help: &str| {
        Diagnostic::new(Rule::Lockout, subject.to_owned(), message, help.to_owned())
            .at_step(change.seq)
    };
    match change.action {
        Action::DeleteApiKey => {
            let signing = match &actor.fingerprint {
                Some(fp) => change.fingerprint.as_ref() == Some(fp),
                None => state.key_count(&actor.user) <= 1,
            };
            if signing {
                out.push(lockout(
                    format!("step deletes the key {} signs this plan with", actor.user),
                    "rotate in two changes: add the new key, switch the pipeline's secret to it, \
                     then remove the old key in a later change",
                ));
            }
        }
        Action::DeleteUser => out.push(lockout(
            format!("step deletes {}, the user running this plan", actor.user),
            "delete this user from another administrator's pipeline",
        )),
        Action::RemoveFromGroup => {
            let mut after = state.clone_memberships_of(&actor.user);
            if let Some(g) = &change.group {
                after.memberships.remove(&crate::model::Membership {
                    user: actor.user.clone(),
                    group: g.clone(),
                });
            }
            if admins.is_admin(state, &actor.user) && !admins.is_admin(&after, &actor.user) {
                out.push(lockout(
                    format!("step removes {} from the group that makes it an administrator", actor.user),
                    "demote this user from another administrator's pipeline, or keep the membership",
                ));
            }
        }
        _ => {}
    }
}

impl State {
    /// A small state holding only `user`, its memberships and the groups it is in: enough to
    /// decide its authority cheaply.
    fn clone_memberships_of(&self, user: &UserName) -> State {
        let mut s = State {
            tenancy: self.tenancy.clone(),
            ..State::default()
        };
        if let Some(u) = self.users.get(user) {
            s.users.insert(user.clone(), u.clone());
        }
        for g in self.groups_of(user) {
            s.memberships.insert(
                crate::model::Membership {
                    user: user.clone(),
                    group: g.clone(),
                },
                None,
            );
            if let Some(group) = self.groups.get(g) {
                s.groups.insert(g.clone(), group.clone());
            }
        }
        s
    }
}
