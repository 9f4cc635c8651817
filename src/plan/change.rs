//! The plan as plain data: [`Plan`], [`Change`], [`Action`] and their JSON contract
//! (`format_version: 1`; fields may be added, none renamed or removed without a bump).
//!
//! `before` / `after` are the two sides of one change. `Plan::changes` is in apply order and
//! `seq` numbers it from 1. Renderers and the apply executor read this and nothing else.
//! Pure data: no behaviour beyond small accessors.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::authority::StatementRef;
use crate::model::{Fingerprint, GroupName, Location, MAX_API_KEYS, Ocid, UserName};
use crate::rules::{Diagnostic, Severity};

/// The plan format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// What a step does.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Create a group.
    CreateGroup,
    /// Create a user.
    CreateUser,
    /// Change a user's description or email.
    UpdateUser,
    /// Change a group's description.
    UpdateGroup,
    /// Turn a user's API-key or console-password capability on or off.
    UpdateCapabilities,
    /// Add a user to a group.
    AddToGroup,
    /// Upload an API key.
    UploadApiKey,
    /// Create or reset a user's one-time console password.
    ResetConsolePassword,
    /// Remove a user from a group.
    RemoveFromGroup,
    /// Delete an API key.
    DeleteApiKey,
    /// Delete a user.
    DeleteUser,
    /// Delete a group.
    DeleteGroup,
}

/// Whether an action adds, changes or removes something.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Adds.
    Create,
    /// Changes.
    Update,
    /// Removes.
    Delete,
}

impl Action {
    /// Every action, in the order the plan's phases use.
    pub const ALL: [Self; 12] = [
        Self::CreateGroup,
        Self::CreateUser,
        Self::UpdateUser,
        Self::UpdateGroup,
        Self::UpdateCapabilities,
        Self::AddToGroup,
        Self::UploadApiKey,
        Self::ResetConsolePassword,
        Self::RemoveFromGroup,
        Self::DeleteApiKey,
        Self::DeleteUser,
        Self::DeleteGroup,
    ];

    /// Adds, changes or removes.
    #[must_use]
    pub fn kind(self) -> Kind {
        match self {
            Self::CreateGroup | Self::CreateUser | Self::AddToGroup | Self::UploadApiKey => {
                Kind::Create
            }
            Self::UpdateUser
            | Self::UpdateGroup
            | Self::UpdateCapabilities
            | Self::ResetConsolePassword => Kind::Update,
            Self::RemoveFromGroup | Self::DeleteApiKey | Self::DeleteUser | Self::DeleteGroup => {
                Kind::Delete
            }
        }
    }

    /// `+`, `~` or `-`.
    #[must_use]
    pub fn symbol(self) -> char {
        match self.kind() {
            Kind::Create => '+',
            Kind::Update => '~',
            Kind::Delete => '-',
        }
    }

    /// The wire name, e.g. `upload_api_key`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreateGroup => "create_group",
            Self::CreateUser => "create_user",
            Self::UpdateUser => "update_user",
            Self::UpdateGroup => "update_group",
            Self::UpdateCapabilities => "update_capabilities",
            Self::AddToGroup => "add_to_group",
            Self::UploadApiKey => "upload_api_key",
            Self::ResetConsolePassword => "reset_console_password",
            Self::RemoveFromGroup => "remove_from_group",
            Self::DeleteApiKey => "delete_api_key",
            Self::DeleteUser => "delete_user",
            Self::DeleteGroup => "delete_group",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// On what basis the actor may perform a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Authority {
    /// A tenancy administrator: every IAM permission in tenancy, without condition.
    Admin,
    /// Policy statements that grant exactly the permissions the step needs (`granted_by`).
    Policy,
    /// A user acting on its own credentials (no policy needed).
    SelfService,
    /// Neither: the step is rejected by `not-authorized`.
    None,
}

impl fmt::Display for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Admin => "admin",
            Self::Policy => "policy",
            Self::SelfService => "self-service",
            Self::None => "none",
        })
    }
}

/// What the actor may do when the plan starts, from the tenancy's policies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ActorAuthority {
    /// Every IAM permission in tenancy without condition (`Administrators`, or
    /// `manage all-resources in tenancy`).
    pub admin: bool,
    /// What it holds in tenancy whatever the target, as a policy author would write it:
    /// `manage users`, `inspect groups`, `USER_APIKEY_ADD`.
    pub grants: Vec<String>,
    /// Statements that grant it something only where their condition holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditional: Vec<StatementRef>,
    /// Every user may read itself and manage its own API keys and console password.
    pub self_service: bool,
}

impl ActorAuthority {
    /// One line: `admin`, or `inspect users, use groups; 2 conditional statements;
    /// self-service on its own credentials`.
    #[must_use]
    pub fn summary(&self) -> String {
        if self.admin {
            return "admin: every IAM permission in tenancy".to_owned();
        }
        let mut parts = Vec::new();
        if !self.grants.is_empty() {
            parts.push(format!("{} in tenancy", self.grants.join(", ")));
        }
        match self.conditional.len() {
            0 => {}
            1 => parts.push("1 conditional statement".to_owned()),
            n => parts.push(format!("{n} conditional statements")),
        }
        if self.self_service {
            parts.push("self-service on its own credentials".to_owned());
        }
        if parts.is_empty() {
            "nothing".to_owned()
        } else {
            parts.join("; ")
        }
    }
}

impl<'de> Deserialize<'de> for ActorAuthority {
    /// Also reads the one word that plans written before the permission model held
    /// (`admin`, `self-service`).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Full {
            admin: bool,
            #[serde(default)]
            grants: Vec<String>,
            #[serde(default)]
            conditional: Vec<StatementRef>,
            #[serde(default)]
            self_service: bool,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Word(String),
            Full(Full),
        }
        Ok(match Wire::deserialize(d)? {
            Wire::Word(word) => Self {
                admin: word == "admin",
                grants: Vec::new(),
                conditional: Vec::new(),
                self_service: true,
            },
            Wire::Full(f) => Self {
                admin: f.admin,
                grants: f.grants,
                conditional: f.conditional,
                self_service: f.self_service,
            },
        })
    }
}

/// The user whose credentials run the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Actor {
    /// User name.
    pub user: UserName,
    /// What it may do at the start of the plan.
    pub authority: ActorAuthority,
    /// The fingerprint of the key the actor signs with, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
}

/// The fields of a user, group or capability set that a change shows. Absent = not shown.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Attributes {
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// API-key capability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_keys: Option<bool>,
    /// Console-password capability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_password: Option<bool>,
    /// Password reset counter (the reset tag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<u32>,
    /// Where a one-time password is sealed to (an age recipient; absent = a 0600 file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deliver_to: Option<String>,
    /// In a tenancy with identity domains, a reset returns no password: OCI emails a reset
    /// link to this address instead (and nothing is written or sealed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_link_to: Option<String>,
}

/// What must still hold when the step is applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Precondition {
    /// Whether the object existed when the plan was made.
    pub exists: bool,
    /// Its OCID, when it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Ocid>,
    /// `ociam-v2:sha256:` over the fields ociam read, when it existed (the version is that of
    /// the encoding; a plan with another is made again, not compared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// For key steps: the fingerprints of every key the user held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<Fingerprint>>,
}

/// A user's API-key count before and after one key step, out of OCI's limit. On the wire it
/// is the string `2/3 -> 3/3` (`before/max -> after/max`); `after` may exceed `max` in a
/// rejected plan (`3/3 -> 4/3`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySlotCount {
    /// Keys the user held before the step.
    pub before: usize,
    /// Keys the user holds after the step.
    pub after: usize,
    /// The most keys OCI allows a user.
    pub max: usize,
}

impl KeySlotCount {
    /// `before -> after` out of OCI's limit ([`MAX_API_KEYS`]).
    #[must_use]
    pub fn new(before: usize, after: usize) -> Self {
        Self {
            before,
            after,
            max: MAX_API_KEYS,
        }
    }

    /// Whether the step leaves the user with more keys than allowed.
    #[must_use]
    pub fn over_limit(self) -> bool {
        self.after > self.max
    }
}

impl fmt::Display for KeySlotCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { before, after, max } = self;
        write!(f, "{before}/{max} -> {after}/{max}")
    }
}

/// Why a `key_slots` string is not `before/max -> after/max`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySlotCountError(String);

impl fmt::Display for KeySlotCountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "key_slots {:?} is not `before/max -> after/max` (e.g. `2/3 -> 3/3`)",
            self.0
        )
    }
}

impl std::error::Error for KeySlotCountError {}

impl FromStr for KeySlotCount {
    type Err = KeySlotCountError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || KeySlotCountError(s.chars().take(40).collect());
        let count = |side: &str| -> Result<(usize, usize), KeySlotCountError> {
            let (n, max) = side.trim().split_once('/').ok_or_else(bad)?;
            let digits = |t: &str| {
                if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                t.parse::<usize>().map_err(|_| bad())
            };
            Ok((digits(n)?, digits(max)?))
        };
        let (before, after) = s.split_once(" -> ").ok_or_else(bad)?;
        let ((before, max), (after, max_after)) = (count(before)?, count(after)?);
        if max != max_after {
            return Err(bad());
        }
        Ok(Self { before, after, max })
    }
}

impl Serialize for KeySlotCount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KeySlotCount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One step of the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Change {
    /// Position in apply order, from 1.
    pub seq: u32,
    /// What it does.
    pub action: Action,
    /// The user it concerns, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserName>,
    /// The group it concerns, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupName>,
    /// The API key it concerns, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
    /// Why the step is needed.
    pub reason: String,
    /// The manifest entry the step derives from: the user, group, API-key item or `groups:`
    /// item (a `state: absent` tombstone for its deletions). Absent for steps on live objects
    /// the manifest does not list (pruning) and in plans made before sources were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Location>,
    /// On what basis the actor performs it.
    pub authority: Authority,
    /// The OCI permissions the step needs on its target (`USER_UPDATE`, …), every operation
    /// it makes included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<String>,
    /// The policy statements that grant them (authority `policy` or `admin`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub granted_by: Vec<StatementRef>,
    /// The user's API-key slots before and after, e.g. `2/3 -> 3/3` (key steps only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub key_slots: Option<KeySlotCount>,
    /// The fields before the step (updates and deletions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Attributes>,
    /// The fields after the step (creations and updates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Attributes>,
    /// The public key to upload (PEM; public keys are not secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// What the live object looked like when planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precondition: Option<Precondition>,
}

impl Change {
    /// A change with only the identifying fields set; `seq` is assigned when ordered.
    #[must_use]
    pub fn new(action: Action, reason: impl Into<String>) -> Self {
        Self {
            seq: 0,
            action,
            user: None,
            group: None,
            fingerprint: None,
            reason: reason.into(),
            source: None,
            authority: Authority::None,
            permissions: Vec::new(),
            granted_by: Vec::new(),
            key_slots: None,
            before: None,
            after: None,
            public_key: None,
            precondition: None,
        }
    }

    /// Sets the manifest entry the step derives from.
    #[must_use]
    pub fn from_entry(mut self, location: &Location) -> Self {
        self.source = Some(location.clone());
        self
    }

    /// The address of what the change touches: `user.alice`, `group.devs`,
    /// `membership.devs/alice`, `api_key.alice/<fingerprint>`, `password.alice`.
    #[must_use]
    pub fn subject(&self) -> String {
        let user = self.user.as_ref().map_or("", UserName::as_str);
        let group = self.group.as_ref().map_or("", GroupName::as_str);
        match self.action {
            Action::CreateGroup | Action::UpdateGroup | Action::DeleteGroup => {
                format!("group.{group}")
            }
            Action::CreateUser | Action::UpdateUser | Action::DeleteUser => format!("user.{user}"),
            Action::UpdateCapabilities => format!("capabilities.{user}"),
            Action::AddToGroup | Action::RemoveFromGroup => format!("membership.{group}/{user}"),
            Action::UploadApiKey | Action::DeleteApiKey => format!(
                "api_key.{user}/{}",
                self.fingerprint.as_ref().map_or("", Fingerprint::as_str)
            ),
            Action::ResetConsolePassword => format!("password.{user}"),
        }
    }
}

/// A user's API-key slots over the whole plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KeySlots {
    /// The user.
    pub user: UserName,
    /// Keys held before the plan.
    pub before: u32,
    /// The most keys held at any step.
    pub peak: u32,
    /// Keys held after the plan.
    pub after: u32,
}

/// Counts of the plan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// Steps that add something.
    pub create: u32,
    /// Steps that change something.
    pub update: u32,
    /// Steps that remove something.
    pub delete: u32,
    /// Error diagnostics.
    pub errors: u32,
    /// Warning diagnostics.
    pub warnings: u32,
    /// Whether any rule rejected the plan (it must not be applied).
    pub rejected: bool,
}

/// A reviewed, ordered set of changes that takes the live tenancy to the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Plan {
    /// Always [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The tenancy the plan is for.
    pub tenancy: Ocid,
    /// Who runs it.
    pub actor: Actor,
    /// `sha256:` of the manifest and the key files it read.
    pub manifest_digest: String,
    /// `sha256:` of the live state the plan was made against.
    pub live_digest: String,
    /// The steps, in apply order.
    pub changes: Vec<Change>,
    /// Findings of every rule, errors first.
    pub diagnostics: Vec<Diagnostic>,
    /// API-key slots of every user whose keys change.
    pub key_slots: Vec<KeySlots>,
    /// The manifest's `limits.max_deletions`. `apply` re-checks the plan's user and group
    /// deletions against it (or its own `--allow-deletions`, as `plan` needed one too).
    #[serde(default = "default_deletion_budget")]
    pub deletion_budget: u32,
    /// Counts.
    pub summary: Summary,
}

fn default_deletion_budget() -> u32 {
    crate::model::Limits::default().max_deletions
}

impl Plan {
    /// Whether there is nothing to do.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Whether any rule rejected the plan. Recomputed from the diagnostics, so an edited
    /// `summary` cannot make a rejected plan look applicable.
    #[must_use]
    pub fn is_rejected(&self) -> bool {
        self.summary.rejected || Self::summarize(&self.changes, &self.diagnostics).rejected
    }

    /// Computes [`Summary`] from the changes and diagnostics.
    #[must_use]
    pub fn summarize(changes: &[Change], diagnostics: &[Diagnostic]) -> Summary {
        let mut s = Summary::default();
        for c in changes {
            match c.action.kind() {
                Kind::Create => s.create += 1,
                Kind::Update => s.update += 1,
                Kind::Delete => s.delete += 1,
            }
        }
        for d in diagnostics {
            match d.severity {
                Severity::Error => s.errors += 1,
                Severity::Warning => s.warnings += 1,
                Severity::Note => {}
            }
        }
        s.rejected = s.errors > 0;
        s
    }
}

/// The plan JSON Schema (draft-07), pretty-printed.
#[must_use]
pub fn json_schema() -> String {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<Plan>();
    let mut out = serde_json::to_string_pretty(&schema).unwrap_or_default();
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_slot_count_writes_and_reads_the_wire_string() {
        let slots = KeySlotCount::new(2, 3);
        assert_eq!(slots.to_string(), "2/3 -> 3/3");
        assert_eq!("2/3 -> 3/3".parse::<KeySlotCount>(), Ok(slots));
        let over: KeySlotCount = "3/3 -> 4/3".parse().unwrap();
        assert_eq!((over.before, over.after, over.max), (3, 4, 3));
        assert!(over.over_limit());
        assert!(!slots.over_limit());
    }

    #[test]
    fn key_slot_count_is_a_json_string() {
        let slots = KeySlotCount::new(0, 1);
        assert_eq!(serde_json::to_string(&slots).unwrap(), r#""0/3 -> 1/3""#);
        let back: KeySlotCount = serde_json::from_str(r#""0/3 -> 1/3""#).unwrap();
        assert_eq!(back, slots);
    }

    #[test]
    fn a_malformed_key_slot_count_is_refused_with_what_it_expects() {
        for bad in [
            "garbage",
            "",
            "2/3",
            "2/3 -> 3",
            "2/3 -> 3/4",
            "-1/3 -> 0/3",
            "+1/3 -> 2/3",
            "2/3->3/3",
            "x/3 -> 3/3",
            "99999999999999999999999/3 -> 1/3",
        ] {
            let err = bad.parse::<KeySlotCount>().unwrap_err().to_string();
            assert!(err.contains("before/max -> after/max"), "{bad}: {err}");
        }
        let err = serde_json::from_str::<KeySlotCount>(r#""3 keys""#)
            .unwrap_err()
            .to_string();
        assert!(err.contains(r#"key_slots "3 keys" is not"#), "{err}");
    }
}
