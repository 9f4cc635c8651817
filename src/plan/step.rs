//! The per-step rules: [`StepChecker`] walks the ordered plan as the actor, one step at a
//! time, against a state that follows the steps. At each step it decides the step's OCI
//! operations with the permission model ([`authority`]) and checks `not-authorized`,
//! `no-api-key-yet`, `federated-user`, `capability-disabled`, `lockout` and `max-api-keys`.
//! The planner walks the simulated plan with it; the apply executor re-checks each step
//! against the state it has just read before writing.
//!
//! Pure: no I/O.

use super::authority::{self, Basis, Decision, Operation, Policies, Principal, Target};
use super::change::{Action, Authority, Change, KeySlotCount};
use super::{ActorSpec, simulate};
use crate::model::{ADMINISTRATORS, Desired, GroupName, MAX_API_KEYS, Membership, State};
use crate::rules::{self, Diagnostic, Rule, Severity};

/// The OCI operations a step makes, each with its target, in the order apply makes them. A
/// password reset also writes the user's reset tag (UpdateUser).
#[must_use]
pub fn operations(change: &Change, state: &State) -> Vec<(Operation, Target)> {
    let user = || {
        change
            .user
            .as_ref()
            .map_or_else(Target::none, |u| Target::user(state, u))
    };
    let group = || {
        change
            .group
            .as_ref()
            .map_or_else(Target::none, |g| Target::group(state, g))
    };
    let membership = || match (&change.user, &change.group) {
        (Some(u), Some(g)) => Target::membership(state, u, g),
        _ => Target::none(),
    };
    match change.action {
        Action::CreateGroup => vec![(Operation::CreateGroup, group())],
        Action::CreateUser => vec![(Operation::CreateUser, user())],
        Action::UpdateUser => vec![(Operation::UpdateUser, user())],
        Action::UpdateGroup => vec![(Operation::UpdateGroup, group())],
        Action::UpdateCapabilities => vec![(Operation::UpdateUserCapabilities, user())],
        Action::AddToGroup => vec![(Operation::AddUserToGroup, membership())],
        Action::RemoveFromGroup => vec![(Operation::RemoveUserFromGroup, membership())],
        Action::UploadApiKey => vec![(Operation::UploadApiKey, user())],
        Action::DeleteApiKey => vec![(Operation::DeleteApiKey, user())],
        Action::ResetConsolePassword => vec![
            (Operation::CreateOrResetUIPassword, user()),
            (Operation::UpdateUser, user()),
        ],
        Action::DeleteUser => vec![(Operation::DeleteUser, user())],
        Action::DeleteGroup => vec![(Operation::DeleteGroup, group())],
    }
}

/// The reads a plan starts with: what the actor needs to plan the next change.
const READS: [Operation; 4] = [
    Operation::ListUsers,
    Operation::ListGroups,
    Operation::ListPolicies,
    Operation::ListUserGroupMemberships,
];

/// Checks the per-step rules one step at a time against a state that follows the steps.
pub struct StepChecker<'a> {
    /// The manifest, for `federated-user` acknowledgements; `None` when applying a saved plan
    /// (its own diagnostics already carry that rule).
    desired: Option<&'a Desired>,
    actor: &'a ActorSpec,
    policies: Policies,
    /// The state before the next step.
    pub state: State,
}

impl<'a> StepChecker<'a> {
    /// A checker starting from `state`; its policies are parsed once, here.
    #[must_use]
    pub fn new(desired: Option<&'a Desired>, state: State, actor: &'a ActorSpec) -> Self {
        Self {
            desired,
            actor,
            policies: Policies::parse(&state.policies, &state.tenancy),
            state,
        }
    }

    /// The tenancy's parsed policies.
    #[must_use]
    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    /// Two things, in this order: checks `change` against the current state (recording its
    /// authority, permissions and key slots into `change`), then advances `self.state` past it
    /// as if the step had run, whatever the findings. `later` are the steps after it (for
    /// `lockout`). Returns the step's findings, each located at the step's `source` when the
    /// rule gave no location of its own. Call it once per step, in plan order.
    pub fn check_then_advance(&mut self, change: &mut Change, later: &[Change]) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let step = change.seq;
        let subject = change.subject();
        let actor = self.actor;
        let who = Principal::of(&self.state, &actor.user);
        let decisions: Vec<(Decision, Target)> = operations(change, &self.state)
            .into_iter()
            .map(|(op, target)| (self.policies.decide(&who, op, &target), target))
            .collect();
        record_authority(change, &decisions);
        let refused: Vec<&(Decision, Target)> =
            decisions.iter().filter(|(d, _)| !d.allowed()).collect();
        if !refused.is_empty() {
            out.push(not_authorized(actor, change, &refused).at_step(step));
        }
        let self_service = decisions.iter().any(|(d, _)| d.basis == Basis::SelfService);
        if self_service && self.state.key_count(&actor.user) == 0 {
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
            check_federated(desired, &self.state, change, &subject, &mut out);
        }
        check_capability(&self.state, change, &mut out);
        check_lockout(self, &who, change, later, &subject, &mut out);

        let administrators = GroupName::from(ADMINISTRATORS);
        let state = &mut self.state;
        let user = change.user.clone();
        let key_step = matches!(change.action, Action::UploadApiKey | Action::DeleteApiKey);
        let before = user.as_ref().map_or(0, |u| state.key_count(u));
        let removes_an_admin = removes_member_of(change, state, &administrators);
        simulate::apply(state, change);
        if removes_an_admin
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
            change.key_slots = Some(KeySlotCount::new(before, after));
            if after > MAX_API_KEYS {
                out.push(rules::max_keys_at_step(&user, after, step));
            }
        }
        // A finding about this step points at the manifest entry the step derives from,
        // unless the rule named a more precise place.
        if let Some(source) = &change.source {
            for d in out.iter_mut().filter(|d| d.location.is_none()) {
                d.location = Some(source.clone());
            }
        }
        out
    }
}

/// Sets the step's authority, the permissions it needs and the statements that grant them.
fn record_authority(change: &mut Change, decisions: &[(Decision, Target)]) {
    let bases: Vec<Basis> = decisions.iter().map(|(d, _)| d.basis).collect();
    change.authority = if bases.contains(&Basis::Refused) {
        Authority::None
    } else if bases.iter().all(|b| *b == Basis::Admin) {
        Authority::Admin
    } else if bases.contains(&Basis::SelfService) {
        Authority::SelfService
    } else {
        Authority::Policy
    };
    let needs = decisions
        .iter()
        .fold(authority::Permissions::NONE, |s, (d, _)| s.union(d.needs));
    change.permissions = needs.iter().map(|p| p.name().to_owned()).collect();
    let mut granted: Vec<_> = decisions
        .iter()
        .flat_map(|(d, _)| d.granted_by.iter().cloned())
        .collect();
    granted.sort();
    granted.dedup();
    change.granted_by = if change.authority == Authority::Admin {
        Vec::new()
    } else {
        granted
    };
}

/// One `not-authorized` finding for a step, naming every refused operation, the permissions it
/// needs and what it lacks.
fn not_authorized(
    actor: &ActorSpec,
    change: &Change,
    refused: &[&(Decision, Target)],
) -> Diagnostic {
    let reasons: Vec<String> = refused
        .iter()
        .map(|(d, target)| {
            let why = if change.action == Action::ResetConsolePassword
                && d.operation == Operation::UpdateUser
            {
                " (ociam records each reset in the user's `ociam-password-reset` tag, so the next plan does not reset again)"
            } else {
                ""
            };
            format!("{}{why}", d.explain(target))
        })
        .collect();
    let needs = refused
        .iter()
        .fold(authority::Permissions::NONE, |s, (d, _)| s.union(d.needs));
    let own = refused
        .iter()
        .all(|(_, t)| t.user.as_ref().is_some_and(|(u, _)| *u == actor.user));
    let help = if own {
        format!(
            "let users change themselves: `Allow any-user to {{{}}} in tenancy where request.principal.id = target.user.id`, or run this step as an administrator",
            needs
                .iter()
                .map(|p| p.name())
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        format!(
            "grant `{} in tenancy` to a group {} is in (a compartment policy is not enough), or run this step as an administrator",
            needs.verb_hint(),
            actor.user
        )
    };
    Diagnostic::new(
        Rule::NotAuthorized,
        change.subject(),
        format!(
            "{} may not {}: {}",
            actor.user,
            change.action,
            reasons.join("; and ")
        ),
        help,
    )
}

/// Whether the step removes a member of `group` (deleting the user or its membership).
fn removes_member_of(change: &Change, state: &State, group: &GroupName) -> bool {
    let Some(user) = &change.user else {
        return false;
    };
    let member = state.memberships.contains_key(&Membership {
        user: user.clone(),
        group: group.clone(),
    });
    member
        && (change.action == Action::DeleteUser
            || change.action == Action::RemoveFromGroup && change.group.as_ref() == Some(group))
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
    out.push(rules::capability_disabled(user, capability).at_step(change.seq));
}

/// `lockout`: no step may leave the actor unable to run the rest of the plan or the next one.
/// Decided from the permission model: a step that removes the actor from a group is a lockout
/// when a later step, a read the next plan needs, or any permission the actor holds depends on
/// that membership.
fn check_lockout(
    checker: &StepChecker<'_>,
    who: &Principal,
    change: &Change,
    later: &[Change],
    subject: &str,
    out: &mut Vec<Diagnostic>,
) {
    let (state, actor) = (&checker.state, checker.actor);
    let lockout = |message: String, help: &str| {
        Diagnostic::new(Rule::Lockout, subject.to_owned(), message, help.to_owned())
            .at_step(change.seq)
    };
    if change.action == Action::DeleteGroup
        && change
            .group
            .as_ref()
            .is_some_and(authority::is_administrators)
    {
        out.push(lockout(
            "the plan deletes the Administrators group".to_owned(),
            "Administrators is OCI's built-in admin group; keep it in the manifest",
        ));
    }
    if change.user.as_ref() != Some(&actor.user) {
        return;
    }
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
        Action::UpdateCapabilities
            if change.after.as_ref().and_then(|a| a.api_keys) == Some(false) =>
        {
            out.push(lockout(
                format!(
                    "step turns off {}'s own API-key capability: every request it signs after this step, and the next plan's, would fail with 401",
                    actor.user
                ),
                "turn this capability off from another administrator's pipeline",
            ));
        }
        Action::RemoveFromGroup => {
            if let Some(group) = &change.group
                && let Some(message) = demotion(checker, who, group, later)
            {
                out.push(lockout(
                    message,
                    "remove this membership from another administrator's pipeline, or keep it",
                ));
            }
        }
        _ => {}
    }
}

/// What removing the actor from `group` would break, if anything: a later step of this plan,
/// a read the next plan needs, or a permission the actor holds only through that group.
fn demotion(
    checker: &StepChecker<'_>,
    who: &Principal,
    group: &GroupName,
    later: &[Change],
) -> Option<String> {
    let (policies, state, user) = (&checker.policies, &checker.state, &checker.actor.user);
    let after = who.without_group(group);
    let breaks = |op: Operation, target: &Target| {
        policies.decide(who, op, target).allowed() && !policies.decide(&after, op, target).allowed()
    };
    for next in later {
        for (op, target) in operations(next, state) {
            if breaks(op, &target) {
                return Some(format!(
                    "step removes {user} from group {group}, which step {} ({op} on {}) still needs",
                    next.seq,
                    target.describe()
                ));
            }
        }
    }
    if policies.is_admin(who) && !policies.is_admin(&after) {
        return Some(format!(
            "step removes {user} from group {group}, which makes it a tenancy administrator: the next plan would run without that authority"
        ));
    }
    if let Some(op) = READS.into_iter().find(|op| breaks(*op, &Target::none())) {
        return Some(format!(
            "step removes {user} from group {group}: without it {user} could not call {op}, so the next plan could not read the tenancy"
        ));
    }
    let lost = policies
        .unconditional(who)
        .minus(policies.unconditional(&after));
    if !lost.is_empty() {
        return Some(format!(
            "step removes {user} from group {group}, through which it holds {} in tenancy: the next plan would run with less authority than this one",
            lost.as_policy_terms().join(", ")
        ));
    }
    let kept = policies.conditional(&after);
    let lost_conditional: Vec<String> = policies
        .conditional(who)
        .into_iter()
        .filter(|s| !kept.contains(s))
        .map(|s| s.to_string())
        .collect();
    if !lost_conditional.is_empty() {
        return Some(format!(
            "step removes {user} from group {group}, and with it the grants of {}",
            lost_conditional.join("; ")
        ));
    }
    None
}
