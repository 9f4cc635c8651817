//! Saved plans (`ociam plan --out plan.json`) on their way back in: telling one from a
//! manifest, parsing it, and the checks `ociam apply plan.json` makes before it writes
//! anything — the plan's format, its tenancy and actor, every object it reads or changes
//! still as it was planned ([`super::precondition`]), and its deletion budget.
//!
//! Pure: text, plans and states in, a typed verdict out; the caller adds the file name.

use super::change::{FORMAT_VERSION, Plan};
use super::precondition;
use crate::model::{Ocid, State, UserName};

/// Why a saved plan may not be applied here.
#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    /// The text is JSON that looks like a plan but does not parse as one.
    #[error("is not a plan this ociam can apply: {0}")]
    Unreadable(serde_json::Error),
    /// The plan was written in another format version.
    #[error("has plan format_version {found}; this ociam applies {FORMAT_VERSION}")]
    FormatVersion {
        /// The plan's `format_version`.
        found: u32,
    },
    /// The plan was made against another tenancy.
    #[error("was made for tenancy {planned}, but {source_name} is tenancy {live}")]
    Tenancy {
        /// The plan's tenancy.
        planned: Ocid,
        /// The tenancy the credentials reach.
        live: Ocid,
        /// Where the live state came from.
        source_name: String,
    },
    /// The plan was made for another actor.
    #[error("was made for actor {planned}, but these credentials are {live}'s; re-plan with them")]
    Actor {
        /// The plan's actor.
        planned: UserName,
        /// The user the credentials belong to.
        live: UserName,
    },
    /// The plan's preconditions were written by another ociam, in a digest format this one
    /// does not read: re-plan rather than report every object as moved.
    #[error("cannot be applied: {0}")]
    OldDigests(precondition::OldDigestFormat),
    /// Objects the plan reads or changes moved since it was made.
    #[error(
        "is stale: {} object(s) it reads or changes moved since it was made:\n  {}\nrun `ociam plan` again and review the new plan",
        .moved.len(),
        .moved.join("\n  ")
    )]
    Stale {
        /// Each moved object, as `subject: how it moved`.
        moved: Vec<String>,
    },
}

/// Whether `text` is a saved plan (JSON with a `format_version` and `changes`) rather than a
/// manifest.
#[must_use]
pub fn is_saved_plan(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .is_ok_and(|v| v.get("format_version").is_some() && v.get("changes").is_some())
}

/// Parses a saved plan of this ociam's format version.
///
/// # Errors
/// [`SavedPlanError::Unreadable`] or [`SavedPlanError::FormatVersion`].
pub fn parse(text: &str) -> Result<Plan, SavedPlanError> {
    let plan: Plan = serde_json::from_str(text).map_err(SavedPlanError::Unreadable)?;
    if plan.format_version != FORMAT_VERSION {
        return Err(SavedPlanError::FormatVersion {
            found: plan.format_version,
        });
    }
    Ok(plan)
}

/// Where a saved plan is about to be applied: the live state, who applies it, and what an
/// interrupted apply of this same plan already changed.
pub struct Here<'a> {
    /// The live state read just now.
    pub live: &'a State,
    /// Where it came from (for messages).
    pub source_name: &'a str,
    /// The user whose credentials apply the plan.
    pub actor: &'a UserName,
    /// Subjects of steps an interrupted apply of this plan wrote or may have written (they
    /// moved because of us).
    pub ours: &'a [String],
}

/// A saved plan applies only to the tenancy, actor and objects it was made against.
///
/// # Errors
/// The first of [`SavedPlanError::Tenancy`], [`SavedPlanError::Actor`],
/// [`SavedPlanError::OldDigests`], [`SavedPlanError::Stale`] that holds.
pub fn check(plan: &Plan, here: &Here<'_>) -> Result<(), SavedPlanError> {
    if plan.tenancy != here.live.tenancy {
        return Err(SavedPlanError::Tenancy {
            planned: plan.tenancy.clone(),
            live: here.live.tenancy.clone(),
            source_name: here.source_name.to_owned(),
        });
    }
    if plan.actor.user != *here.actor {
        return Err(SavedPlanError::Actor {
            planned: plan.actor.user.clone(),
            live: here.actor.clone(),
        });
    }
    let moved = precondition::moved_except(plan, here.live, here.ours.iter().map(String::as_str))
        .map_err(SavedPlanError::OldDigests)?;
    if !moved.is_empty() {
        return Err(SavedPlanError::Stale { moved });
    }
    Ok(())
}

/// The deletions a saved plan makes beyond what it was planned with and what apply allows
/// (`--allow-deletions`): `Some(n)` when apply must be given `--allow-deletions n`.
#[must_use]
pub fn deletions_over_budget(plan: &Plan, allow_deletions: Option<u32>) -> Option<u32> {
    let deletions = super::deletions(&plan.changes);
    let budget = plan.deletion_budget.max(allow_deletions.unwrap_or(0));
    (deletions > budget).then_some(deletions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::User;
    use crate::plan::change::{Action, Actor, ActorAuthority, Change, Summary};

    fn user() -> User {
        User {
            id: Some(Ocid::new("ocid1.user.oc1..kate")),
            description: "Kate".into(),
            email: None,
            capabilities: crate::model::Capabilities::default(),
            federated: false,
            managed: true,
            password_reset: None,
        }
    }

    fn live() -> State {
        let mut state = State {
            tenancy: Ocid::new("ocid1.tenancy.oc1..t"),
            ..State::default()
        };
        state.users.insert("kate".into(), user());
        state.users.insert("admin".into(), user());
        state
    }

    /// A plan that updates kate, made against [`live`], with `deletes` user deletions.
    fn plan(deletes: u32, budget: u32) -> Plan {
        let live = live();
        let mut changes = Vec::new();
        let mut update = Change::new(Action::UpdateUser, "describe kate");
        update.seq = 1;
        update.user = Some("kate".into());
        update.precondition = Some(precondition::of_user(live.users.get(&"kate".into())));
        changes.push(update);
        for i in 0..deletes {
            let mut delete = Change::new(Action::DeleteUser, "prune");
            delete.seq = 2 + i;
            delete.user = Some(UserName::new(format!("gone{i}")));
            changes.push(delete);
        }
        Plan {
            format_version: FORMAT_VERSION,
            tenancy: live.tenancy.clone(),
            actor: Actor {
                user: "admin".into(),
                authority: ActorAuthority {
                    admin: true,
                    ..ActorAuthority::default()
                },
                fingerprint: None,
            },
            manifest_digest: String::new(),
            live_digest: String::new(),
            changes,
            diagnostics: Vec::new(),
            key_slots: Vec::new(),
            deletion_budget: budget,
            summary: Summary::default(),
        }
    }

    fn here<'a>(live: &'a State, actor: &'a UserName, ours: &'a [String]) -> Here<'a> {
        Here {
            live,
            source_name: "the emulator",
            actor,
            ours,
        }
    }

    #[test]
    fn a_plan_round_trips_and_is_told_from_a_manifest() {
        let text = serde_json::to_string(&plan(0, 5)).unwrap();
        assert!(is_saved_plan(&text));
        assert!(!is_saved_plan("users:\n  - name: kate\n"));
        assert!(!is_saved_plan(r#"{"format_version": 1}"#), "no changes");
        let parsed = parse(&text).unwrap();
        assert_eq!(parsed.changes.len(), 1);
    }

    #[test]
    fn another_format_version_or_a_broken_plan_is_refused() {
        let mut old = serde_json::to_value(plan(0, 5)).unwrap();
        old["format_version"] = serde_json::json!(FORMAT_VERSION + 1);
        let err = parse(&old.to_string()).unwrap_err();
        assert!(
            matches!(err, SavedPlanError::FormatVersion { found } if found == FORMAT_VERSION + 1)
        );
        assert!(
            err.to_string()
                .contains(&format!("this ociam applies {FORMAT_VERSION}"))
        );

        let mut broken = serde_json::to_value(plan(0, 5)).unwrap();
        broken["changes"][0]["action"] = serde_json::json!("launch_rockets");
        assert!(matches!(
            parse(&broken.to_string()),
            Err(SavedPlanError::Unreadable(_))
        ));
    }

    #[test]
    fn the_plan_must_match_the_tenancy_and_the_actor() {
        let plan = plan(0, 5);
        let admin = UserName::new("admin");
        let mut elsewhere = live();
        elsewhere.tenancy = Ocid::new("ocid1.tenancy.oc1..other");
        let err = check(&plan, &here(&elsewhere, &admin, &[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "was made for tenancy ocid1.tenancy.oc1..t, but the emulator is tenancy ocid1.tenancy.oc1..other"
        );

        let live = live();
        let kate = UserName::new("kate");
        let err = check(&plan, &here(&live, &kate, &[])).unwrap_err();
        assert!(matches!(err, SavedPlanError::Actor { .. }), "{err}");
        assert!(check(&plan, &here(&live, &admin, &[])).is_ok());
    }

    #[test]
    fn an_object_that_moved_makes_the_plan_stale_unless_we_moved_it() {
        let plan = plan(0, 5);
        let admin = UserName::new("admin");
        let mut moved = live();
        moved.users.get_mut(&"kate".into()).unwrap().description = "changed by hand".into();
        let err = check(&plan, &here(&moved, &admin, &[])).unwrap_err();
        let SavedPlanError::Stale { moved: lines } = &err else {
            panic!("{err}");
        };
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].starts_with("user.kate: changed since the plan"),
            "{lines:?}"
        );
        assert!(err.to_string().contains("run `ociam plan` again"));

        let ours = ["user.kate".to_owned()];
        assert!(check(&plan, &here(&moved, &admin, &ours)).is_ok());
    }

    #[test]
    fn a_plan_with_digests_of_another_format_is_old_not_stale() {
        let mut plan = plan(0, 5);
        let pre = plan.changes[0].precondition.as_mut().unwrap();
        pre.digest = Some(format!("sha256:{}", "0".repeat(64)));
        let admin = UserName::new("admin");
        let live = live();
        let err = check(&plan, &here(&live, &admin, &[])).unwrap_err();
        assert!(matches!(err, SavedPlanError::OldDigests(_)), "{err}");
        assert!(
            err.to_string()
                .starts_with("cannot be applied: the plan was made by an older ociam"),
            "{err}"
        );
    }

    #[test]
    fn deletions_beyond_the_budget_need_the_flag_again() {
        assert_eq!(deletions_over_budget(&plan(3, 5), None), None);
        assert_eq!(deletions_over_budget(&plan(6, 5), None), Some(6));
        assert_eq!(deletions_over_budget(&plan(6, 5), Some(5)), Some(6));
        assert_eq!(deletions_over_budget(&plan(6, 5), Some(6)), None);
        assert_eq!(deletions_over_budget(&plan(6, 6), None), None);
    }
}
