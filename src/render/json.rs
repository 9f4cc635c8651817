//! The machine contract: the plan as pretty-printed JSON (`format_version: 1`, see DESIGN §4),
//! exactly the serde form of [`Plan`], followed by a newline. `ociam apply PLANFILE` reads it
//! back; fields may be added but never renamed or removed without bumping the version.
//!
//! The wire shape is owned by `plan::change` (its serde attributes); this file must not
//! reshape, filter or reorder anything.
//!
//! Pure: writes only to the given writer.

use std::io::{self, Write};

use crate::plan::Plan;

/// Writes `plan` as pretty-printed JSON and a trailing newline.
///
/// # Errors
/// The writer's errors (serialization of a [`Plan`] itself cannot fail).
pub fn render(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, plan)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::super::samples;
    use super::*;
    use crate::plan::FORMAT_VERSION;

    fn json(plan: &Plan) -> String {
        let mut buf = Vec::new();
        render(plan, &mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn round_trips_to_an_equal_plan() {
        for plan in [
            samples::sample_plan(),
            samples::sample_rejected_plan(),
            samples::empty_plan(),
            samples::hostile_plan(),
        ] {
            let s = json(&plan);
            assert!(s.ends_with("}\n"));
            let back: Plan = serde_json::from_str(&s).unwrap();
            assert_eq!(back, plan);
            let value: serde_json::Value = serde_json::from_str(&s).unwrap();
            assert_eq!(value["format_version"], FORMAT_VERSION);
            assert_eq!(value["format_version"], 1);
        }
    }

    #[test]
    fn field_names_follow_the_contract() {
        let value: serde_json::Value =
            serde_json::from_str(&json(&samples::sample_rejected_plan())).unwrap();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "format_version",
                "tenancy",
                "actor",
                "manifest_digest",
                "live_digest",
                "changes",
                "diagnostics",
                "key_slots",
                "deletion_budget",
                "summary"
            ]
        );
        assert_eq!(value["actor"]["authority"]["admin"], false);
        assert_eq!(value["actor"]["authority"]["self_service"], true);
        assert_eq!(value["changes"][2]["action"], "upload_api_key");
        assert_eq!(value["changes"][2]["key_slots"], "3/3 -> 4/3");
        assert_eq!(value["diagnostics"][2]["rule"], "max-api-keys");
        assert_eq!(value["diagnostics"][2]["step"], 3);
        assert_eq!(value["summary"]["rejected"], true);
    }

    #[test]
    fn a_plan_saved_before_the_permission_model_still_reads() {
        let mut value: serde_json::Value =
            serde_json::from_str(&json(&samples::sample_plan())).unwrap();
        value["actor"]["authority"] = "admin".into();
        let plan: crate::plan::Plan = serde_json::from_value(value).unwrap();
        assert!(plan.actor.authority.admin);
        value = serde_json::from_str(&json(&samples::sample_rejected_plan())).unwrap();
        value["actor"]["authority"] = "self-service".into();
        let plan: crate::plan::Plan = serde_json::from_value(value).unwrap();
        assert!(!plan.actor.authority.admin);
        assert!(plan.actor.authority.self_service);
    }

    #[test]
    fn sample_plan() {
        insta::assert_snapshot!(json(&samples::sample_plan()));
    }

    #[test]
    fn rejected_plan() {
        insta::assert_snapshot!(json(&samples::sample_rejected_plan()));
    }

    #[test]
    fn empty_plan() {
        insta::assert_snapshot!(json(&samples::empty_plan()));
    }
}
