//! The decision engine against the table of decisions written from Oracle's policy reference
//! (`tests/fixtures/authority/table.json`, the independent oracle), through the authority
//! module directly and through the whole planner; the same table runs against the emulator
//! over HTTP in the integration tests. Plus the cases the table cannot express (deny
//! statements, explanations, summaries).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::*;
use crate::model::{
    ApiKey, Desired, DesiredGroup, DesiredKey, DesiredUser, Fingerprint, Location, Membership,
};
use crate::plan::{self, Action, ActorSpec, Authority, Options};

const WORLD: &str = include_str!("../../../tests/fixtures/authority/world.json");
const TABLE: &str = include_str!("../../../tests/fixtures/authority/table.json");

#[derive(Deserialize)]
struct Table {
    rows: Vec<Row>,
}

#[derive(Deserialize)]
struct Row {
    row: u32,
    source: String,
    statements: Vec<String>,
    actor_groups: Option<Vec<String>>,
    operation: String,
    target: TargetSpec,
    allowed: bool,
}

#[derive(Deserialize, Default)]
struct TargetSpec {
    user: Option<String>,
    group: Option<String>,
    new_user: Option<String>,
    new_group: Option<String>,
}

fn fingerprint(n: u8) -> Fingerprint {
    Fingerprint::parse(&format!(
        "{n:02x}:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00"
    ))
    .unwrap()
}

/// The table's world with the row's policy, and dana's groups as the row says.
fn world(row: &Row) -> State {
    let snapshot = crate::snapshot::parse(WORLD, "world.json").unwrap();
    let mut state = snapshot.to_state("world.json").unwrap();
    for (user, n) in [("dana", 1), ("bob", 2)] {
        state.api_keys.insert(
            user.into(),
            BTreeMap::from([(
                fingerprint(n),
                ApiKey {
                    created: None,
                    pem: None,
                },
            )]),
        );
    }
    if let Some(groups) = &row.actor_groups {
        state.memberships.retain(|m, _| m.user.as_str() != "dana");
        for g in groups {
            state.memberships.insert(
                Membership {
                    user: "dana".into(),
                    group: g.as_str().into(),
                },
                None,
            );
        }
    }
    state.policies.push(Policy {
        name: format!("row-{}", row.row),
        compartment_id: state.tenancy.clone(),
        statements: row.statements.clone(),
    });
    state
}

fn operation(name: &str) -> Operation {
    *Operation::ALL
        .iter()
        .find(|op| op.name() == name)
        .unwrap_or_else(|| panic!("unknown operation {name}"))
}

fn target(state: &State, spec: &TargetSpec) -> Target {
    let user = spec.user.as_ref().or(spec.new_user.as_ref());
    let group = spec.group.as_ref().or(spec.new_group.as_ref());
    Target {
        user: user.map(|u| Target::user(state, &u.as_str().into()).user.unwrap()),
        group: group.map(|g| Target::group(state, &g.as_str().into()).group.unwrap()),
    }
}

fn rows() -> Vec<Row> {
    serde_json::from_str::<Table>(TABLE).unwrap().rows
}

#[test]
fn the_table_has_at_least_forty_rows_each_with_a_source() {
    let rows = rows();
    assert!(rows.len() >= 40, "{} rows", rows.len());
    assert!(rows.iter().all(|r| r.source.starts_with('§')));
    assert!(rows.iter().any(|r| r.allowed) && rows.iter().any(|r| !r.allowed));
}

#[test]
fn every_table_row_decides_as_oracles_reference_says() {
    let mut wrong = Vec::new();
    for row in rows() {
        let state = world(&row);
        let policies = Policies::parse(&state.policies, &state.tenancy);
        let who = Principal::of(&state, &"dana".into());
        let target = target(&state, &row.target);
        let d = policies.decide(&who, operation(&row.operation), &target);
        if d.allowed() != row.allowed {
            wrong.push(format!(
                "row {} ({}): {} expected {}, got {:?}: {}",
                row.row,
                row.source,
                row.operation,
                row.allowed,
                d.basis,
                d.explain(&target)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The manifest change whose plan step makes `row`'s operation, if a plan step does it alone.
fn desired_for(row: &Row, state: &State) -> Option<(Desired, Action)> {
    let mut d = Desired::mirror(state);
    let spec = &row.target;
    let user =
        |d: &mut Desired, name: &str| d.users.get_mut(&UserName::from(name)).unwrap().clone();
    let at = Location::default();
    let action = match row.operation.as_str() {
        "CreateUser" => {
            let name = spec.new_user.as_deref()?;
            d.users
                .insert(name.into(), DesiredUser::leave_as_is(at.clone()));
            Action::CreateUser
        }
        "UpdateUser" => {
            let mut u = user(&mut d, spec.user.as_deref()?);
            u.description = Some("changed by the table".into());
            d.users.insert(spec.user.as_deref()?.into(), u);
            Action::UpdateUser
        }
        "DeleteUser" => {
            let mut u = user(&mut d, spec.user.as_deref()?);
            u.present = false;
            d.users.insert(spec.user.as_deref()?.into(), u);
            Action::DeleteUser
        }
        "UpdateUserCapabilities" => {
            let mut u = user(&mut d, spec.user.as_deref()?);
            u.capabilities.console_password = Some(false);
            d.users.insert(spec.user.as_deref()?.into(), u);
            Action::UpdateCapabilities
        }
        "UploadApiKey" => {
            let mut u = user(&mut d, spec.user.as_deref()?);
            u.api_keys.get_or_insert_with(Vec::new).push(DesiredKey {
                fingerprint: fingerprint(9),
                pem: Some("(public key)".into()),
                expires: None,
                weakness: None,
                location: at.clone(),
            });
            d.users.insert(spec.user.as_deref()?.into(), u);
            Action::UploadApiKey
        }
        "DeleteApiKey" => {
            let mut u = user(&mut d, spec.user.as_deref()?);
            u.api_keys = Some(Vec::new());
            d.users.insert(spec.user.as_deref()?.into(), u);
            Action::DeleteApiKey
        }
        "CreateGroup" => {
            d.groups.insert(
                spec.new_group.as_deref()?.into(),
                DesiredGroup {
                    present: true,
                    description: None,
                    location: at.clone(),
                },
            );
            Action::CreateGroup
        }
        "UpdateGroup" | "DeleteGroup" => {
            let name = GroupName::from(spec.group.as_deref()?);
            let g = d.groups.get_mut(&name)?;
            if row.operation == "UpdateGroup" {
                g.description = Some("changed by the table".into());
                Action::UpdateGroup
            } else {
                g.present = false;
                Action::DeleteGroup
            }
        }
        "AddUserToGroup" | "RemoveUserFromGroup" => {
            let mut u = user(&mut d, spec.user.as_deref()?);
            let groups = u.groups.get_or_insert_with(BTreeMap::new);
            let group = GroupName::from(spec.group.as_deref()?);
            if row.operation == "AddUserToGroup" {
                groups.insert(group, at.clone());
            } else {
                groups.remove(&group);
            }
            d.users.insert(spec.user.as_deref()?.into(), u);
            if row.operation == "AddUserToGroup" {
                Action::AddToGroup
            } else {
                Action::RemoveFromGroup
            }
        }
        _ => return None,
    };
    Some((d, action))
}

#[test]
fn every_table_row_that_is_one_plan_step_plans_as_oracles_reference_says() {
    let mut wrong = Vec::new();
    let mut checked = 0;
    for row in rows() {
        let state = world(&row);
        let Some((desired, action)) = desired_for(&row, &state) else {
            continue;
        };
        let actor = ActorSpec {
            user: "dana".into(),
            fingerprint: Some(fingerprint(1)),
        };
        let p = plan::plan(&desired, &state, &actor, &Options::default());
        let Some(step) = p.changes.iter().find(|c| c.action == action) else {
            wrong.push(format!(
                "row {}: no {action} step in {:?}",
                row.row, p.changes
            ));
            continue;
        };
        checked += 1;
        let refused = p
            .diagnostics
            .iter()
            .any(|d| d.rule == crate::rules::Rule::NotAuthorized && d.step == Some(step.seq));
        if (step.authority != Authority::None) != row.allowed || refused == row.allowed {
            wrong.push(format!(
                "row {} ({}): {action} expected {}, planned {:?}: {:?}",
                row.row, row.source, row.allowed, step.authority, p.diagnostics
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(checked >= 40, "only {checked} rows are plan steps");
}

// ---------------------------------------------------------------------------------------------
// What the table cannot express
// ---------------------------------------------------------------------------------------------

fn decide_in(statements: &[&str], op: Operation, target_user: &str) -> Decision {
    let row = Row {
        row: 0,
        source: String::new(),
        statements: statements.iter().map(|s| (*s).to_owned()).collect(),
        actor_groups: None,
        operation: op.name().to_owned(),
        target: TargetSpec::default(),
        allowed: false,
    };
    let state = world(&row);
    let policies = Policies::parse(&state.policies, &state.tenancy);
    let who = Principal::of(&state, &"dana".into());
    policies.decide(&who, op, &Target::user(&state, &target_user.into()))
}

#[test]
fn a_deny_statement_blocks_what_an_allow_grants_even_when_its_condition_is_unknown() {
    let d = decide_in(
        &[
            "Allow group Actors to manage users in tenancy",
            "Deny group Actors to {USER_APIKEY_ADD} in tenancy",
        ],
        Operation::UploadApiKey,
        "bob",
    );
    assert!(!d.allowed());
    assert_eq!(d.denied_by.len(), 1);
    let d = decide_in(
        &[
            "Allow group Actors to manage users in tenancy",
            "Deny group Actors to manage users in tenancy where request.region = 'iad'",
        ],
        Operation::UpdateUser,
        "bob",
    );
    assert!(!d.allowed(), "{d:?}");
}

#[test]
fn a_refusal_names_the_operation_the_permissions_the_target_and_the_unevaluable_statement() {
    let d = decide_in(
        &[
            "Allow group Actors to manage users in tenancy where request.utc-timestamp.hour-of-day = '10'",
        ],
        Operation::UploadApiKey,
        "bob",
    );
    let state = world(&Row {
        row: 0,
        source: String::new(),
        statements: Vec::new(),
        actor_groups: None,
        operation: String::new(),
        target: TargetSpec::default(),
        allowed: false,
    });
    let text = d.explain(&Target::user(&state, &"bob".into()));
    assert_eq!(
        text,
        "UploadApiKey needs USER_UPDATE and USER_APIKEY_ADD on user bob (manage users in tenancy); \
         nothing grants USER_UPDATE and USER_APIKEY_ADD for this request; policy row-0: \
         `Allow group Actors to manage users in tenancy where request.utc-timestamp.hour-of-day = '10'` \
         has a condition ociam cannot evaluate, so it grants nothing here"
    );
}

#[test]
fn administrators_are_admin_and_a_manage_users_group_is_policy() {
    let admin = decide_in(&[], Operation::UploadApiKey, "bob");
    assert!(!admin.allowed());
    let d = decide_in(
        &["Allow group Actors to manage users in tenancy"],
        Operation::UploadApiKey,
        "bob",
    );
    assert_eq!(d.basis, Basis::Policy);
    assert_eq!(d.granted_by.len(), 1);
    assert_eq!(d.granted_by[0].policy, "row-0");
    let d = decide_in(
        &["Allow group Actors to manage all-resources in tenancy"],
        Operation::UploadApiKey,
        "bob",
    );
    assert_eq!(d.basis, Basis::Admin);
    let own = decide_in(&[], Operation::UploadApiKey, "dana");
    assert_eq!(own.basis, Basis::SelfService);
}

#[test]
fn unparsable_statements_are_reported_with_their_policy_and_grant_nothing() {
    let policies = Policies::parse(
        &[Policy {
            name: "broken".into(),
            compartment_id: Ocid::new("t"),
            statements: vec![
                "Allow grop ops to manage users in tenancy".into(),
                "Allow group ops to manage users in tenancy".into(),
            ],
        }],
        &Ocid::new("t"),
    );
    assert_eq!(policies.problems.len(), 1);
    assert_eq!(policies.problems[0].statement.policy, "broken");
    assert!(
        policies.problems[0].reason.contains("grop"),
        "{:?}",
        policies.problems
    );
}

#[test]
fn policies_attached_to_another_compartment_never_reach_users() {
    let policies = Policies::parse(
        &[Policy {
            name: "elsewhere".into(),
            compartment_id: Ocid::new("ocid1.compartment.oc1..c"),
            statements: vec!["Allow any-user to manage all-resources in tenancy".into()],
        }],
        &Ocid::new("t"),
    );
    let who = Principal {
        user: "x".into(),
        id: None,
        groups: Vec::new(),
    };
    assert!(!policies.is_admin(&who));
    assert!(policies.unconditional(&who).is_empty());
}
