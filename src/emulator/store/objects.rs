//! The response objects the emulator serves that ociam's `oci::wire` does not model the same
//! way (the client reads them into its own types): `UIPassword`, `UIPasswordInformation`,
//! `Tenancy` and `RegionSubscription`, in the service's camelCase JSON shape. Pure data.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{DefinedTags, FreeformTags};

/// `UIPassword`: the answer to CreateOrResetUIPassword. `password` is a one-time secret:
/// `Debug` redacts it; it is serialized only into the response (and its retry record).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UiPassword {
    /// The one-time password.
    pub password: Option<String>,
    /// The user's OCID.
    pub user_id: String,
    /// RFC 3339 time the password was created.
    pub time_created: String,
    /// Always `ACTIVE`.
    pub lifecycle_state: String,
    /// Always `null`.
    pub inactive_status: Option<i64>,
}

impl fmt::Debug for UiPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UiPassword")
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .field("user_id", &self.user_id)
            .field("time_created", &self.time_created)
            .finish_non_exhaustive()
    }
}

/// `UIPasswordInformation`: GetUserUIPasswordInformation (never the password).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UiPasswordInformation {
    /// The user's OCID.
    pub user_id: String,
    /// RFC 3339 time the current password was created.
    pub time_created: String,
    /// Always `ACTIVE`.
    pub lifecycle_state: String,
}

/// `Tenancy`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenancy {
    /// The tenancy OCID.
    pub id: String,
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Home region key (`IAD`).
    pub home_region_key: String,
    /// Always `null` here.
    pub upi_idcs_compatibility_layer_endpoint: Option<String>,
    /// Freeform tags (none).
    pub freeform_tags: FreeformTags,
    /// Defined tags (none).
    pub defined_tags: DefinedTags,
}

/// `RegionSubscription`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegionSubscription {
    /// Region key (`IAD`).
    pub region_key: String,
    /// Region name (`us-ashburn-1`).
    pub region_name: String,
    /// `READY`.
    pub status: String,
    /// Whether this is the home region.
    pub is_home_region: bool,
}
