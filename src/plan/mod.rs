//! The planner: `plan(desired, live, actor, options) -> Plan`, the single entry point.
//!
//! diff ([`diff`]) → deterministic order ([`order`]) → step-by-step simulation as the actor
//! ([`simulate`]), checking every rule of [`crate::rules`] at every step ([`step`]) with OCI's
//! per-operation permission model ([`authority`]). Rule violations are diagnostics inside the
//! plan, never `Err`. [`graph`] turns the ordered plan into the dependency graph apply runs
//! independent steps of in parallel.
//!
//! Pure and synchronous: no I/O; "today" comes in through [`Options`].

pub mod authority;
pub mod change;
pub mod diff;
pub mod graph;
pub mod order;
pub mod precondition;
pub mod saved;
pub mod simulate;
pub mod step;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

pub use change::{
    Action, Actor, ActorAuthority, Attributes, Authority, Change, FORMAT_VERSION, KeySlotCount,
    KeySlots, Kind, Plan, Precondition, Summary,
};
pub use step::StepChecker;

use crate::model::{Desired, Fingerprint, GroupName, State, UserName};
use crate::rules::{Diagnostic, Rule};
use authority::{Policies, Principal};

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
    let mut checker = StepChecker::new(Some(desired), live.clone(), actor);
    diagnostics.extend(policy_findings(checker.policies()));
    let actor_info = Actor {
        user: actor.user.clone(),
        authority: actor_authority(checker.policies(), &Principal::of(live, &actor.user)),
        fingerprint: actor.fingerprint.clone(),
    };
    let key_slots = check_steps(&mut checker, &mut changes, &mut diagnostics);
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
                "{user} may not read the whole tenancy, so it can neither read nor change these \
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
                    format!("{user} may not read the whole tenancy, so it cannot read or change its group memberships"),
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

/// What `who` may do, for the plan's header.
fn actor_authority(policies: &Policies, who: &Principal) -> ActorAuthority {
    ActorAuthority {
        admin: policies.is_admin(who),
        grants: policies.unconditional(who).as_policy_terms(),
        conditional: policies.conditional(who),
        self_service: true,
    }
}

/// One `policy-statement` warning per statement that does not parse.
fn policy_findings(policies: &Policies) -> Vec<Diagnostic> {
    policies
        .problems
        .iter()
        .map(|p| {
            Diagnostic::new(
                Rule::PolicyStatement,
                format!("policy.{}", p.statement.policy),
                format!(
                    "{} does not parse ({}), so it grants nothing in this plan",
                    p.statement, p.reason
                ),
                "fix the statement (OCI's syntax: Allow <subject> to <verb> <resource-type> in tenancy [where <conditions>]); until then ociam assumes it grants nothing",
            )
        })
        .collect()
}

/// Walks the ordered plan with `checker` (which starts at the live state, as the actor), checking
/// the per-step rules, and fills in each step's authority and key slots. Returns the key slots of every user whose keys change.
fn check_steps(
    checker: &mut StepChecker<'_>,
    changes: &mut [Change],
    out: &mut Vec<Diagnostic>,
) -> Vec<KeySlots> {
    let mut slots: BTreeMap<UserName, KeySlots> = BTreeMap::new();
    for i in 0..changes.len() {
        let (head, later) = changes.split_at_mut(i + 1);
        let change = &mut head[i];
        let before = change
            .user
            .as_ref()
            .map_or(0, |u| checker.state.key_count(u));
        out.extend(checker.check_then_advance(change, later));
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

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
