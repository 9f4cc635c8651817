//! Who may do what: OCI's per-operation permission model, the one authority module that both
//! the planner and the emulator use, so they cannot disagree (`oci/PERMISSIONS.md`).
//!
//! Policies are parsed once ([`Policies::parse`]); a statement that does not parse is kept as
//! a [`PolicyProblem`] and grants nothing. A request is an [`Operation`] by a [`Principal`] on
//! a [`Target`]; [`Policies::decide`] checks every permission the operation needs, each against
//! every statement: the subject must include the principal (`group NAME`, `group id OCID`,
//! `any-user`), the location must be `in tenancy` (a compartment policy never reaches users or
//! groups), and the condition must hold for this request and this permission. A condition
//! ociam cannot evaluate is unknown and never grants (a `Deny` whose condition is unknown
//! does block). The members of `Administrators` hold OCI's built-in
//! `manage all-resources in tenancy`. Without any policy, every user may read their own user
//! and keys and manage their own API keys and console password (self-service, §5).
//!
//! Group names are compared like every other name in ociam ([`GroupName`]'s own comparison);
//! condition values without regard to case, as OCI does.
//!
//! Pure: reads policies and a state, decides, touches nothing.

pub mod permission;
pub mod statement;
#[cfg(test)]
mod tests;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use permission::{Operation, Permission, Permissions, Resource, Verb};
use statement::{Condition, Effect, GroupRef, Parsed, Statement, Subject, Value, Var};

use crate::model::{ADMINISTRATORS, GroupName, Ocid, Policy, State, UserName};

/// The name and text of OCI's built-in administrators statement, which every tenancy has.
pub const BUILT_IN_POLICY: &str = "Tenant Admin Policy";
const BUILT_IN_STATEMENT: &str = "Allow group Administrators to manage all-resources in tenancy";

/// A statement, by its policy's name and its text.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct StatementRef {
    /// The policy's name.
    pub policy: String,
    /// The statement as written (whitespace collapsed).
    pub statement: String,
}

impl std::fmt::Display for StatementRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "policy {}: `{}`", self.policy, self.statement)
    }
}

/// A statement that does not parse: it grants nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyProblem {
    /// Where it is.
    pub statement: StatementRef,
    /// What is wrong with it.
    pub reason: String,
}

/// The tenancy's policies, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policies {
    statements: Vec<Statement>,
    /// Statements that do not parse (they grant nothing).
    pub problems: Vec<PolicyProblem>,
}

/// The user making a request: its name, OCID and groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The user's name.
    pub user: UserName,
    /// Its OCID, when it exists.
    pub id: Option<Ocid>,
    /// The groups it is a member of, with their OCIDs when known.
    pub groups: Vec<(GroupName, Option<Ocid>)>,
}

impl Principal {
    /// `user` as it stands in `state`.
    #[must_use]
    pub fn of(state: &State, user: &UserName) -> Self {
        Self {
            user: user.clone(),
            id: state.users.get(user).and_then(|u| u.id.clone()),
            groups: state
                .groups_of(user)
                .map(|g| (g.clone(), state.groups.get(g).and_then(|g| g.id.clone())))
                .collect(),
        }
    }

    /// The same principal without membership of `group`.
    #[must_use]
    pub fn without_group(&self, group: &GroupName) -> Self {
        let mut p = self.clone();
        p.groups.retain(|(g, _)| g != group);
        p
    }
}

/// What a request acts on: the user and the group it changes, as far as they exist.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    /// The user being read or changed (name, and OCID once it exists).
    pub user: Option<(UserName, Option<Ocid>)>,
    /// The group being changed (name, and OCID once it exists).
    pub group: Option<(GroupName, Option<Ocid>)>,
}

impl Target {
    /// No target object (lists, creates of users).
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// User `name`, with its OCID from `state` when it exists.
    #[must_use]
    pub fn user(state: &State, name: &UserName) -> Self {
        Self {
            user: Some((
                name.clone(),
                state.users.get(name).and_then(|u| u.id.clone()),
            )),
            group: None,
        }
    }

    /// Group `name`, with its OCID from `state` when it exists.
    #[must_use]
    pub fn group(state: &State, name: &GroupName) -> Self {
        Self {
            user: None,
            group: Some((
                name.clone(),
                state.groups.get(name).and_then(|g| g.id.clone()),
            )),
        }
    }

    /// User `user`'s membership of `group`.
    #[must_use]
    pub fn membership(state: &State, user: &UserName, group: &GroupName) -> Self {
        Self {
            user: Self::user(state, user).user,
            group: Self::group(state, group).group,
        }
    }

    /// How a message names it: `user bob`, `group ops`, `bob's membership of ops`.
    #[must_use]
    pub fn describe(&self) -> String {
        match (&self.user, &self.group) {
            (Some((u, _)), Some((g, _))) => format!("{u}'s membership of group {g}"),
            (Some((u, _)), None) => format!("user {u}"),
            (None, Some((g, _))) => format!("group {g}"),
            (None, None) => "the tenancy".to_owned(),
        }
    }
}

/// On what basis a request is allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Basis {
    /// The principal holds every IAM permission in tenancy without condition.
    Admin,
    /// Statements that grant exactly what the operation needs.
    Policy,
    /// The principal's own user, no policy needed (PERMISSIONS.md §5).
    SelfService,
    /// Not allowed.
    Refused,
}

/// The decision on one request, with what it rests on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The operation.
    pub operation: Operation,
    /// On what basis it is allowed, or [`Basis::Refused`].
    pub basis: Basis,
    /// Every permission the operation needs on its target.
    pub needs: Permissions,
    /// The needed permissions that no statement grants (empty when allowed).
    pub missing: Permissions,
    /// The statements that grant the needed permissions.
    pub granted_by: Vec<StatementRef>,
    /// Statements that would apply but whose condition ociam cannot evaluate.
    pub unevaluable: Vec<StatementRef>,
    /// `Deny` statements that block a needed permission.
    pub denied_by: Vec<StatementRef>,
    /// Statements that would grant a needed permission but whose condition does not hold for
    /// this request (shown to say why a conditional grant does not apply).
    pub conditions_unmet: Vec<StatementRef>,
}

impl Decision {
    /// Whether the request is allowed.
    #[must_use]
    pub fn allowed(&self) -> bool {
        self.basis != Basis::Refused
    }

    /// Why a refused request is refused: `needs USER_UPDATE and GROUP_UPDATE on group ops
    /// (use users, use groups in tenancy); no statement grants GROUP_UPDATE`, plus the
    /// statements it could not evaluate or that deny it.
    #[must_use]
    pub fn explain(&self, target: &Target) -> String {
        let mut s = format!(
            "{} needs {} on {} ({} in tenancy)",
            self.operation,
            self.needs,
            target.describe(),
            self.needs.verb_hint()
        );
        if !self.missing.is_empty() {
            s.push_str(&format!(
                "; nothing grants {} for this request",
                self.missing
            ));
        }
        for r in &self.denied_by {
            s.push_str(&format!("; denied by {r}"));
        }
        for r in &self.unevaluable {
            s.push_str(&format!(
                "; {r} has a condition ociam cannot evaluate, so it grants nothing here"
            ));
        }
        for r in &self.conditions_unmet {
            s.push_str(&format!("; the condition of {r} does not hold here"));
        }
        s
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tri {
    True,
    False,
    Unknown,
}

impl Policies {
    /// Parses every statement of the policies attached to the tenancy (policies of other
    /// compartments never reach users or groups), plus OCI's built-in administrators policy.
    #[must_use]
    pub fn parse(policies: &[Policy], tenancy: &Ocid) -> Self {
        let mut out = Self::default();
        let built_in = std::iter::once((BUILT_IN_POLICY, BUILT_IN_STATEMENT));
        let attached = policies
            .iter()
            .filter(|p| &p.compartment_id == tenancy)
            .flat_map(|p| p.statements.iter().map(|s| (p.name.as_str(), s.as_str())));
        for (policy, text) in built_in.chain(attached) {
            match statement::parse(policy, text) {
                Parsed::Statement(s) => out.statements.push(s),
                Parsed::Other => {}
                Parsed::Invalid(reason) => out.problems.push(PolicyProblem {
                    statement: StatementRef {
                        policy: policy.to_owned(),
                        statement: text.split_whitespace().collect::<Vec<_>>().join(" "),
                    },
                    reason,
                }),
            }
        }
        out
    }

    /// Decides whether `who` may call `op` on `target`.
    #[must_use]
    pub fn decide(&self, who: &Principal, op: Operation, target: &Target) -> Decision {
        let needs = op.needs();
        let mut decision = Decision {
            operation: op,
            basis: Basis::Refused,
            needs,
            missing: Permissions::NONE,
            granted_by: Vec::new(),
            unevaluable: Vec::new(),
            denied_by: Vec::new(),
            conditions_unmet: Vec::new(),
        };
        for perm in needs.iter() {
            let mut granted = false;
            for s in self.applicable(who) {
                if !s.permissions.contains(perm) {
                    continue;
                }
                let holds = s
                    .condition
                    .as_ref()
                    .map_or(Tri::True, |c| evaluate(c, who, target, perm));
                let r = || StatementRef {
                    policy: s.policy.clone(),
                    statement: s.text.clone(),
                };
                match (s.effect, holds) {
                    (Effect::Allow, Tri::False) => {
                        push_once(&mut decision.conditions_unmet, r());
                    }
                    (Effect::Deny, Tri::False) => {}
                    (Effect::Deny, _) => push_once(&mut decision.denied_by, r()),
                    (Effect::Allow, Tri::True) => {
                        granted = true;
                        push_once(&mut decision.granted_by, r());
                    }
                    (Effect::Allow, Tri::Unknown) => push_once(&mut decision.unevaluable, r()),
                }
            }
            if !granted {
                decision.missing = decision.missing.with(perm);
            }
        }
        let own = target
            .user
            .as_ref()
            .is_some_and(|(u, id)| is_self(who, u, id.as_ref()));
        decision.basis = if !decision.denied_by.is_empty() {
            Basis::Refused
        } else if decision.missing.is_empty() {
            if self.is_admin(who) {
                Basis::Admin
            } else {
                Basis::Policy
            }
        } else if own && op.is_self_service() {
            Basis::SelfService
        } else {
            Basis::Refused
        };
        if decision.allowed() {
            decision.missing = Permissions::NONE;
            decision.unevaluable.clear();
            decision.conditions_unmet.clear();
        }
        decision
    }

    /// Whether `who` holds every IAM permission in tenancy without condition (a member of
    /// `Administrators`, or of a group granted `manage all-resources in tenancy`).
    #[must_use]
    pub fn is_admin(&self, who: &Principal) -> bool {
        self.unconditional(who).covers(permission::everything())
    }

    /// The permissions `who` holds in tenancy whatever the target.
    #[must_use]
    pub fn unconditional(&self, who: &Principal) -> Permissions {
        let (mut allowed, mut denied) = (Permissions::NONE, Permissions::NONE);
        for s in self.applicable(who) {
            match s.effect {
                Effect::Allow if s.condition.is_none() => allowed = allowed.union(s.permissions),
                Effect::Allow => {}
                Effect::Deny => denied = denied.union(s.permissions),
            }
        }
        allowed.minus(denied)
    }

    /// The conditional statements that may grant `who` something.
    #[must_use]
    pub fn conditional(&self, who: &Principal) -> Vec<StatementRef> {
        self.applicable(who)
            .filter(|s| s.condition.is_some() && !s.permissions.is_empty())
            .map(|s| StatementRef {
                policy: s.policy.clone(),
                statement: s.text.clone(),
            })
            .collect()
    }

    /// The in-tenancy statements whose subject includes `who`.
    fn applicable<'a>(&'a self, who: &'a Principal) -> impl Iterator<Item = &'a Statement> + 'a {
        self.statements
            .iter()
            .filter(move |s| s.in_tenancy && subject_includes(&s.subject, who))
    }
}

fn push_once(list: &mut Vec<StatementRef>, r: StatementRef) {
    if !list.contains(&r) {
        list.push(r);
    }
}

fn is_self(who: &Principal, user: &UserName, id: Option<&Ocid>) -> bool {
    match (&who.id, id) {
        (Some(a), Some(b)) => a == b,
        _ => &who.user == user,
    }
}

fn subject_includes(subject: &Subject, who: &Principal) -> bool {
    match subject {
        Subject::Everyone => true,
        Subject::Nobody => false,
        Subject::Groups(refs) => refs.iter().any(|r| {
            who.groups.iter().any(|(name, id)| match r {
                GroupRef::Name(n) => n == name,
                GroupRef::Id(i) => id.as_ref() == Some(i),
            })
        }),
    }
}

/// What a variable is for this request: `None` when it does not apply (which makes any
/// comparison with it false), `Err` when ociam cannot evaluate it.
fn resolve(
    var: &Var,
    who: &Principal,
    target: &Target,
    perm: Permission,
) -> Result<Option<String>, ()> {
    Ok(match var {
        Var::TargetGroupName => target.group.as_ref().map(|(g, _)| g.to_string()),
        Var::TargetGroupId => target
            .group
            .as_ref()
            .and_then(|(_, id)| id.as_ref().map(ToString::to_string)),
        Var::TargetUserId => match &target.user {
            // A user not created yet has no OCID; it cannot be the principal either.
            Some((_, Some(id))) => Some(id.to_string()),
            Some((name, None)) if *name == who.user => who.id.as_ref().map(ToString::to_string),
            _ => None,
        },
        Var::PrincipalId => who.id.as_ref().map(ToString::to_string),
        Var::Permission => Some(perm.name().to_owned()),
        Var::Unknown(_) => return Err(()),
    })
}

fn evaluate(c: &Condition, who: &Principal, target: &Target, perm: Permission) -> Tri {
    match c {
        Condition::Any(list) => {
            let all: Vec<Tri> = list
                .iter()
                .map(|c| evaluate(c, who, target, perm))
                .collect();
            if all.contains(&Tri::True) {
                Tri::True
            } else if all.contains(&Tri::Unknown) {
                Tri::Unknown
            } else {
                Tri::False
            }
        }
        Condition::All(list) => {
            let all: Vec<Tri> = list
                .iter()
                .map(|c| evaluate(c, who, target, perm))
                .collect();
            if all.contains(&Tri::False) {
                Tri::False
            } else if all.contains(&Tri::Unknown) {
                Tri::Unknown
            } else {
                Tri::True
            }
        }
        Condition::Compare {
            var,
            negated,
            value,
        } => {
            let Ok(left) = resolve(var, who, target, perm) else {
                return Tri::Unknown;
            };
            let right = match value {
                Value::Var(v) => match resolve(v, who, target, perm) {
                    Ok(r) => r.map(Value::Text),
                    Err(()) => return Tri::Unknown,
                },
                other => Some(other.clone()),
            };
            // A variable that does not apply makes the condition false, `!=` included.
            let (Some(left), Some(right)) = (left, right) else {
                return Tri::False;
            };
            if matches_value(&left, &right) != *negated {
                Tri::True
            } else {
                Tri::False
            }
        }
    }
}

fn matches_value(actual: &str, value: &Value) -> bool {
    let actual = actual.to_ascii_lowercase();
    match value {
        Value::Text(t) => actual == t.to_ascii_lowercase(),
        Value::Pattern {
            text,
            any_before,
            any_after,
        } => {
            let text = text.to_ascii_lowercase();
            match (any_before, any_after) {
                (true, true) => actual.contains(&text),
                (true, false) => actual.ends_with(&text),
                (false, true) => actual.starts_with(&text),
                (false, false) => actual == text,
            }
        }
        Value::Var(_) => false,
    }
}

/// Whether `group` is OCI's built-in administrators group.
#[must_use]
pub fn is_administrators(group: &GroupName) -> bool {
    *group == GroupName::from(ADMINISTRATORS)
}
