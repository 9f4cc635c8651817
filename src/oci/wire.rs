//! The OCI Identity API's JSON objects (camelCase, API version 20160918) as ociam reads and
//! writes them: users, groups, memberships, API keys, policies, and their request bodies.
//!
//! Fields ociam does not model are kept in `extra`, so an object read from the service (or a
//! snapshot) is written back unchanged. Unknown enum values are kept as strings. Pure data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Fields not modelled here, kept verbatim.
pub type Extra = BTreeMap<String, Value>;

/// `User`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// OCID.
    pub id: String,
    /// The tenancy OCID.
    pub compartment_id: String,
    /// Unique, immutable name.
    pub name: String,
    /// Description (required by the service; may be empty).
    #[serde(default)]
    pub description: String,
    /// Email, if any.
    #[serde(default)]
    pub email: Option<String>,
    /// Set for federated users.
    #[serde(default)]
    pub identity_provider_id: Option<String>,
    /// Set for SCIM-provisioned users.
    #[serde(default)]
    pub external_identifier: Option<String>,
    /// RFC 3339 creation time.
    #[serde(default)]
    pub time_created: Option<String>,
    /// `CREATING`, `ACTIVE`, `INACTIVE`, `DELETING`, `DELETED` (others kept as is).
    #[serde(default)]
    pub lifecycle_state: Option<String>,
    /// Freeform tags (ociam's ownership and reset tags live here).
    #[serde(default)]
    pub freeform_tags: BTreeMap<String, String>,
    /// Defined tags, verbatim.
    #[serde(default)]
    pub defined_tags: BTreeMap<String, BTreeMap<String, Value>>,
    /// Credential capabilities.
    #[serde(default)]
    pub capabilities: Option<UserCapabilities>,
    /// Everything else the service sent.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `UserCapabilities` (response spelling: `canUseDbCredentials`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserCapabilities {
    /// May use a console password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_use_console_password: Option<bool>,
    /// May use API keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_use_api_keys: Option<bool>,
    /// Everything else (auth tokens, SMTP, DB, customer secret keys, OAuth2).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// `Group`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// OCID.
    pub id: String,
    /// The tenancy OCID.
    pub compartment_id: String,
    /// Unique, immutable name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// RFC 3339 creation time.
    #[serde(default)]
    pub time_created: Option<String>,
    /// Lifecycle state.
    #[serde(default)]
    pub lifecycle_state: Option<String>,
    /// Freeform tags.
    #[serde(default)]
    pub freeform_tags: BTreeMap<String, String>,
    /// Defined tags, verbatim.
    #[serde(default)]
    pub defined_tags: BTreeMap<String, BTreeMap<String, Value>>,
    /// Everything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `UserGroupMembership`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserGroupMembership {
    /// OCID.
    pub id: String,
    /// The tenancy OCID.
    #[serde(default)]
    pub compartment_id: String,
    /// The group's OCID.
    pub group_id: String,
    /// The user's OCID.
    pub user_id: String,
    /// RFC 3339 creation time.
    #[serde(default)]
    pub time_created: Option<String>,
    /// Lifecycle state.
    #[serde(default)]
    pub lifecycle_state: Option<String>,
    /// Everything else (the service adds an undocumented `description`).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `ApiKey`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    /// `<tenancy>/<user>/<fingerprint>`.
    #[serde(default)]
    pub key_id: Option<String>,
    /// The PEM, as uploaded.
    #[serde(default)]
    pub key_value: Option<String>,
    /// `aa:bb:…`.
    pub fingerprint: String,
    /// The owner's OCID.
    #[serde(default)]
    pub user_id: Option<String>,
    /// RFC 3339 upload time.
    #[serde(default)]
    pub time_created: Option<String>,
    /// Lifecycle state.
    #[serde(default)]
    pub lifecycle_state: Option<String>,
    /// Everything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `Policy`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// OCID.
    #[serde(default)]
    pub id: String,
    /// The compartment it is attached to.
    pub compartment_id: String,
    /// Name.
    pub name: String,
    /// Statements, verbatim.
    #[serde(default)]
    pub statements: Vec<String>,
    /// Lifecycle state.
    #[serde(default)]
    pub lifecycle_state: Option<String>,
    /// Everything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Whether a lifecycle state means the object exists (not `DELETING`/`DELETED`).
#[must_use]
pub fn is_live(lifecycle_state: Option<&str>) -> bool {
    !matches!(lifecycle_state, Some("DELETED" | "DELETING"))
}
