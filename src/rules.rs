//! The named rules ociam enforces, their stable ids, and the diagnostics they produce.
//!
//! [`RULES`] is the one table of rule ids (they appear in every rendering and never change
//! once released). The checks that need only the manifest live here ([`check_manifest`], run
//! by the manifest loader); the checks that need a step of the simulated plan are called from
//! the planner (`plan::diff`, `plan::step`) through the small `check_*` functions below, so
//! every rule has one home. It sits below both `manifest` and `plan`, which share it.
//!
//! Pure core: no I/O, no clock (the planner passes "today" in).

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{Desired, Fingerprint, Location, MAX_API_KEYS, UserName};

/// How bad a diagnostic is. Errors reject a plan; warnings and notes only inform.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Rejects the plan (exit 3).
    Error,
    /// Worth a reviewer's attention; does not reject.
    Warning,
    /// Information (e.g. unmanaged objects left alone).
    Note,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Note => "note",
        })
    }
}

/// A rule id. Serialized as its stable kebab-case id.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// At most three API keys per user, in the manifest and at every step.
    MaxApiKeys,
    /// Every step needs the OCI permissions of its operations on its target, granted in tenancy.
    NotAuthorized,
    /// Everyone may manage their own password and API keys (allows; shown as authority).
    SelfService,
    /// A non-admin cannot use the API on its own credentials before it has a first key.
    NoApiKeyYet,
    /// API-key changes for federated users need `federated_api_keys: acknowledged`.
    FederatedUser,
    /// The plan must not lock its own actor out or empty `Administrators`.
    Lockout,
    /// More user/group deletions than `limits.max_deletions` need `--allow-deletions N`.
    MassDeletion,
    /// Credentials declared for a user whose matching capability is off.
    CapabilityDisabled,
    /// A public key that is not RSA or is under 2048 bits.
    WeakKey,
    /// The same public key declared twice.
    DuplicateKey,
    /// A live key older than `limits.max_key_age` or past its `expires` date.
    KeyAge,
    /// Live users/groups the manifest does not list, left alone.
    Unmanaged,
    /// A membership names a group that is neither in the manifest nor live.
    UnknownGroup,
    /// A fingerprint-only key that the user does not hold live, so it cannot be kept.
    MissingKey,
    /// A manifest name that equals a live one only when case is ignored.
    NameCase,
    /// A policy statement ociam cannot parse: it grants nothing.
    PolicyStatement,
    /// In a tenancy with identity domains, creating a user or resetting its console password
    /// needs the user's email.
    EmailRequired,
}

/// One row of the rule table.
#[derive(Clone, Copy, Debug)]
pub struct RuleInfo {
    /// The rule.
    pub rule: Rule,
    /// Its stable id.
    pub id: &'static str,
    /// The severity it reports with (federated-user drops to warning when acknowledged).
    pub severity: Severity,
    /// What the rule says, in one line.
    pub summary: &'static str,
}

/// Every rule, in documentation order.
pub const RULES: &[RuleInfo] = &[
    RuleInfo {
        rule: Rule::MaxApiKeys,
        id: "max-api-keys",
        severity: Severity::Error,
        summary: "a user holds at most three API keys, in the manifest and at every step",
    },
    RuleInfo {
        rule: Rule::NotAuthorized,
        id: "not-authorized",
        severity: Severity::Error,
        summary: "every step needs OCI's permissions for its operations, granted in tenancy",
    },
    RuleInfo {
        rule: Rule::SelfService,
        id: "self-service",
        severity: Severity::Note,
        summary: "everyone may manage their own console password and API keys",
    },
    RuleInfo {
        rule: Rule::NoApiKeyYet,
        id: "no-api-key-yet",
        severity: Severity::Error,
        summary: "a non-admin cannot use the API on its own credentials before a first key exists",
    },
    RuleInfo {
        rule: Rule::FederatedUser,
        id: "federated-user",
        severity: Severity::Error,
        summary: "API-key changes for federated users must be acknowledged in the manifest",
    },
    RuleInfo {
        rule: Rule::Lockout,
        id: "lockout",
        severity: Severity::Error,
        summary: "no step may leave the actor unable to finish the plan or run the next one",
    },
    RuleInfo {
        rule: Rule::MassDeletion,
        id: "mass-deletion",
        severity: Severity::Error,
        summary: "more user/group deletions than limits.max_deletions need --allow-deletions N",
    },
    RuleInfo {
        rule: Rule::CapabilityDisabled,
        id: "capability-disabled",
        severity: Severity::Error,
        summary: "credentials declared for a user whose capability is off",
    },
    RuleInfo {
        rule: Rule::WeakKey,
        id: "weak-key",
        severity: Severity::Error,
        summary: "public keys must be RSA of at least 2048 bits",
    },
    RuleInfo {
        rule: Rule::DuplicateKey,
        id: "duplicate-key",
        severity: Severity::Error,
        summary: "the same public key declared twice",
    },
    RuleInfo {
        rule: Rule::KeyAge,
        id: "key-age",
        severity: Severity::Warning,
        summary: "a live key older than limits.max_key_age or past its expires date",
    },
    RuleInfo {
        rule: Rule::Unmanaged,
        id: "unmanaged",
        severity: Severity::Note,
        summary: "live users and groups the manifest does not list are left alone",
    },
    RuleInfo {
        rule: Rule::UnknownGroup,
        id: "unknown-group",
        severity: Severity::Error,
        summary: "a membership names a group that is neither in the manifest nor live",
    },
    RuleInfo {
        rule: Rule::MissingKey,
        id: "missing-key",
        severity: Severity::Error,
        summary: "a fingerprint-only key must already exist live (it cannot be uploaded)",
    },
    RuleInfo {
        rule: Rule::NameCase,
        id: "name-case",
        severity: Severity::Error,
        summary: "user and group names match ignoring case; a manifest name must be spelled as the tenancy spells it",
    },
    RuleInfo {
        rule: Rule::PolicyStatement,
        id: "policy-statement",
        severity: Severity::Warning,
        summary: "a policy statement ociam cannot parse grants nothing in its plans",
    },
    RuleInfo {
        rule: Rule::EmailRequired,
        id: "email-required",
        severity: Severity::Error,
        summary: "with identity domains, creating a user or resetting its password needs an email",
    },
];

impl Rule {
    /// The table row of this rule.
    #[must_use]
    pub fn info(self) -> &'static RuleInfo {
        let index = match self {
            Self::MaxApiKeys => 0,
            Self::NotAuthorized => 1,
            Self::SelfService => 2,
            Self::NoApiKeyYet => 3,
            Self::FederatedUser => 4,
            Self::Lockout => 5,
            Self::MassDeletion => 6,
            Self::CapabilityDisabled => 7,
            Self::WeakKey => 8,
            Self::DuplicateKey => 9,
            Self::KeyAge => 10,
            Self::Unmanaged => 11,
            Self::UnknownGroup => 12,
            Self::MissingKey => 13,
            Self::NameCase => 14,
            Self::PolicyStatement => 15,
            Self::EmailRequired => 16,
        };
        &RULES[index]
    }

    /// The stable id, e.g. `max-api-keys`.
    #[must_use]
    pub fn id(self) -> &'static str {
        self.info().id
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// A rule's finding about the manifest or one step of the plan. Carried in the plan; never an
/// `Err`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Diagnostic {
    /// The rule that fired.
    pub rule: Rule,
    /// How bad it is.
    pub severity: Severity,
    /// What it is about: `user.alice`, `group.developers`, `api_key.alice/<fp>`, `plan`.
    pub subject: String,
    /// The plan step (`seq`) it concerns, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u32>,
    /// What is wrong, in one sentence.
    pub message: String,
    /// How to fix it.
    pub help: String,
    /// Where in the manifest, when the finding points at a manifest entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

impl Diagnostic {
    /// A diagnostic with the rule's default severity.
    pub fn new(
        rule: Rule,
        subject: impl Into<String>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> Self {
        Self {
            rule,
            severity: rule.info().severity,
            subject: subject.into(),
            step: None,
            message: message.into(),
            help: help.into(),
            location: None,
        }
    }

    /// Sets the step.
    #[must_use]
    pub fn at_step(mut self, step: u32) -> Self {
        self.step = Some(step);
        self
    }

    /// Sets the manifest location.
    #[must_use]
    pub fn at(mut self, location: &Location) -> Self {
        self.location = Some(location.clone());
        self
    }

    /// Sets the severity.
    #[must_use]
    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }
}

/// The checks that need only the manifest: `max-api-keys`, `weak-key`, `duplicate-key`, and
/// `capability-disabled` for capabilities the manifest itself turns off.
#[must_use]
pub fn check_manifest(desired: &Desired) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut seen: BTreeMap<&Fingerprint, (&UserName, &Location)> = BTreeMap::new();
    for (name, user) in &desired.users {
        if let Some(reset) = &user.console_password
            && user.present
            && user.capabilities.console_password == Some(false)
        {
            out.push(capability_disabled(name, "console_password").at(&reset.location));
        }
        let Some(keys) = user.api_keys.as_ref().filter(|_| user.present) else {
            continue;
        };
        if keys.len() > MAX_API_KEYS {
            out.push(max_keys_declared(name, keys.len()).at(&user.location));
        }
        if !keys.is_empty() && user.capabilities.api_keys == Some(false) {
            out.push(capability_disabled(name, "api_keys").at(&user.location));
        }
        for key in keys {
            if let Some(why) = &key.weakness {
                out.push(
                    Diagnostic::new(
                        Rule::WeakKey,
                        format!("api_key.{name}/{}", key.fingerprint),
                        format!("user {name}: {why}"),
                        "generate an RSA key of 2048 bits or more: \
                         openssl genrsa -out key.pem 2048 && openssl rsa -pubout -in key.pem",
                    )
                    .at(&key.location),
                );
            }
            if let Some((other, at)) = seen.get(&key.fingerprint) {
                out.push(
                    Diagnostic::new(
                        Rule::DuplicateKey,
                        format!("api_key.{name}/{}", key.fingerprint),
                        format!(
                            "key {} is declared for user {name} and already for user {other} at {at}",
                            key.fingerprint
                        ),
                        "every API key must be unique: give each user (and each slot) its own key pair",
                    )
                    .at(&key.location),
                );
            } else {
                seen.insert(&key.fingerprint, (name, &key.location));
            }
        }
    }
    out
}

/// `max-api-keys` for a manifest entry declaring `count` keys.
#[must_use]
pub fn max_keys_declared(user: &UserName, count: usize) -> Diagnostic {
    Diagnostic::new(
        Rule::MaxApiKeys,
        format!("user.{user}"),
        format!("user {user} declares {count} API keys; OCI allows at most {MAX_API_KEYS}"),
        "remove keys from the list until at most three remain (rotate in two changes if needed)",
    )
}

/// `max-api-keys` at a step that leaves `user` holding `count` keys.
#[must_use]
pub fn max_keys_at_step(user: &UserName, count: usize, step: u32) -> Diagnostic {
    Diagnostic::new(
        Rule::MaxApiKeys,
        format!("user.{user}"),
        format!(
            "user {user} would hold {count} API keys after this step; OCI allows {MAX_API_KEYS}"
        ),
        "delete one of the user's keys first: list fewer keys, or rotate in two changes",
    )
    .at_step(step)
}

/// `email-required` for `user`, which has no email, in a tenancy with identity domains:
/// `reset` for a console-password reset (OCI emails a reset link there), else for CreateUser
/// (OCI answers 400 `IdcsConversionError` without an email).
#[must_use]
pub fn email_required(user: &UserName, reset: bool) -> Diagnostic {
    if reset {
        Diagnostic::new(
            Rule::EmailRequired,
            format!("password.{user}"),
            format!(
                "user {user} has no email: in this tenancy (identity domains) OCI resets a console \
                 password by emailing the user a reset link, and returns no one-time password"
            ),
            format!(
                "give {user} an `email:` in the manifest (or live) before resetting its password"
            ),
        )
    } else {
        Diagnostic::new(
            Rule::EmailRequired,
            format!("user.{user}"),
            format!(
                "user {user} has no email: in this tenancy (identity domains) OCI refuses \
                 CreateUser without one (400 IdcsConversionError, \"The primary email must be \
                 specified.\")"
            ),
            format!("add `email:` to {user}'s entry in the manifest"),
        )
    }
}

/// `capability-disabled` for `capability` (`api_keys` or `console_password`).
#[must_use]
pub fn capability_disabled(user: &UserName, capability: &str) -> Diagnostic {
    Diagnostic::new(
        Rule::CapabilityDisabled,
        format!("user.{user}"),
        format!(
            "user {user} declares {capability} credentials but its {capability} capability is off"
        ),
        format!("set capabilities.{capability}: true for {user}, or remove the {capability} entry"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_has_its_own_row_and_the_id_matches_its_wire_name() {
        for (i, info) in RULES.iter().enumerate() {
            assert_eq!(info.rule.info().rule, RULES[i].rule, "{}", info.id);
            assert_eq!(info.rule.id(), info.id);
            let wire = serde_json::to_string(&info.rule).unwrap();
            assert_eq!(wire, format!("\"{}\"", info.id));
        }
    }
}
