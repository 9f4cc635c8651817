//! The snapshot file (format version 1): a tenancy's IAM objects as the OCI API's own JSON,
//! and its conversion into the live [`State`] the planner reads.
//!
//! ```json
//! {"format_version": 1, "tenancy": "ocid1.tenancy.oc1..x",
//!  "users": [User...], "groups": [Group...], "memberships": [UserGroupMembership...],
//!  "api_keys": {"<user ocid>": [ApiKey...]}, "policies": [Policy...],
//!  "identity_domains": true}
//! ```
//!
//! `identity_domains` (optional, default `false`: a classic tenancy) records what ListDomains
//! said when the snapshot was read.
//!
//! Pure: text in, values out. Objects in `DELETED`/`DELETING` state are ignored; references to
//! unknown OCIDs are errors (a snapshot that contradicts itself would make a wrong plan).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::manifest::hex;
use crate::model::{
    ApiKey, Capabilities, Fingerprint, Group, GroupName, Membership, OWNERSHIP_TAG, Ocid, Policy,
    RESET_TAG, State, User, UserName,
};
use crate::oci::wire;

/// The snapshot format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// A snapshot file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// Must be 1.
    pub format_version: u32,
    /// The tenancy OCID.
    pub tenancy: String,
    /// `User` objects.
    #[serde(default)]
    pub users: Vec<wire::User>,
    /// `Group` objects.
    #[serde(default)]
    pub groups: Vec<wire::Group>,
    /// `UserGroupMembership` objects.
    #[serde(default)]
    pub memberships: Vec<wire::UserGroupMembership>,
    /// `ApiKey` objects by the owner's OCID.
    #[serde(default)]
    pub api_keys: BTreeMap<String, Vec<wire::ApiKey>>,
    /// `Policy` objects.
    #[serde(default)]
    pub policies: Vec<wire::Policy>,
    /// The tenancy has identity domains (ListDomains answered); absent or `false`: classic.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub identity_domains: bool,
}

/// Why a snapshot cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Not valid JSON, or not the snapshot's shape.
    #[error("{file}:{line}:{column}: {message}")]
    Json {
        /// File name.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// serde_json's message.
        message: String,
    },
    /// A format version this build does not read.
    #[error("{file}: unsupported snapshot format_version {version} (this ociam reads 1)")]
    Version {
        /// File name.
        file: String,
        /// The version found.
        version: u32,
    },
    /// The snapshot contradicts itself.
    #[error("{file}: {message}")]
    Inconsistent {
        /// File name.
        file: String,
        /// What is wrong.
        message: String,
    },
}

/// Parses snapshot JSON.
///
/// # Errors
/// Malformed JSON, a wrong shape, or an unsupported version.
pub fn parse(text: &str, file: &str) -> Result<Snapshot, SnapshotError> {
    let snapshot: Snapshot = serde_json::from_str(text).map_err(|e| SnapshotError::Json {
        file: file.to_owned(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    if snapshot.format_version != FORMAT_VERSION {
        return Err(SnapshotError::Version {
            file: file.to_owned(),
            version: snapshot.format_version,
        });
    }
    Ok(snapshot)
}

/// Parses an RFC 3339 time to seconds since the epoch.
fn epoch_seconds(time: Option<&str>) -> Option<i64> {
    time?
        .parse::<jiff::Timestamp>()
        .ok()
        .map(jiff::Timestamp::as_second)
}

impl Snapshot {
    /// The live state this snapshot describes.
    ///
    /// # Errors
    /// Memberships or keys that point at users or groups the snapshot does not hold.
    pub fn to_state(&self, file: &str) -> Result<State, SnapshotError> {
        let bad = |message: String| SnapshotError::Inconsistent {
            file: file.to_owned(),
            message,
        };
        let mut state = State {
            tenancy: Ocid::new(&self.tenancy),
            identity_domains: self.identity_domains,
            ..State::default()
        };
        let mut user_names: BTreeMap<&str, UserName> = BTreeMap::new();
        for u in self
            .users
            .iter()
            .filter(|u| wire::is_live(u.lifecycle_state.as_deref()))
        {
            let name = UserName::new(&u.name);
            let caps = u.capabilities.clone().unwrap_or_default();
            let user = User {
                id: Some(Ocid::new(&u.id)),
                description: u.description.clone(),
                email: u.email.clone(),
                capabilities: Capabilities {
                    api_keys: caps.can_use_api_keys.unwrap_or(true),
                    console_password: caps.can_use_console_password.unwrap_or(true),
                },
                federated: u
                    .identity_provider_id
                    .as_deref()
                    .is_some_and(|s| !s.is_empty())
                    || u.external_identifier
                        .as_deref()
                        .is_some_and(|s| !s.is_empty()),
                managed: u.freeform_tags.contains_key(OWNERSHIP_TAG),
                password_reset: u.freeform_tags.get(RESET_TAG).and_then(|v| v.parse().ok()),
            };
            if state.users.insert(name.clone(), user).is_some() {
                return Err(bad(format!("user name `{}` appears twice", u.name)));
            }
            user_names.insert(&u.id, name);
        }
        let mut group_names: BTreeMap<&str, GroupName> = BTreeMap::new();
        for g in self
            .groups
            .iter()
            .filter(|g| wire::is_live(g.lifecycle_state.as_deref()))
        {
            let name = GroupName::new(&g.name);
            let group = Group {
                id: Some(Ocid::new(&g.id)),
                description: g.description.clone(),
                managed: g.freeform_tags.contains_key(OWNERSHIP_TAG),
            };
            if state.groups.insert(name.clone(), group).is_some() {
                return Err(bad(format!("group name `{}` appears twice", g.name)));
            }
            group_names.insert(&g.id, name);
        }
        for m in self
            .memberships
            .iter()
            .filter(|m| wire::is_live(m.lifecycle_state.as_deref()))
        {
            let user = user_names.get(m.user_id.as_str()).ok_or_else(|| {
                bad(format!(
                    "membership {} names unknown user {}",
                    m.id, m.user_id
                ))
            })?;
            let group = group_names.get(m.group_id.as_str()).ok_or_else(|| {
                bad(format!(
                    "membership {} names unknown group {}",
                    m.id, m.group_id
                ))
            })?;
            state.memberships.insert(
                Membership {
                    user: user.clone(),
                    group: group.clone(),
                },
                Some(Ocid::new(&m.id)),
            );
        }
        for (owner, keys) in &self.api_keys {
            let user = user_names
                .get(owner.as_str())
                .ok_or_else(|| bad(format!("api_keys lists keys of unknown user {owner}")))?;
            let entry = state.api_keys.entry(user.clone()).or_default();
            for k in keys
                .iter()
                .filter(|k| wire::is_live(k.lifecycle_state.as_deref()))
            {
                let fingerprint = Fingerprint::parse(&k.fingerprint).ok_or_else(|| {
                    bad(format!(
                        "`{}` (a key of user {user}) is not a fingerprint",
                        k.fingerprint
                    ))
                })?;
                entry.insert(
                    fingerprint,
                    ApiKey {
                        created: epoch_seconds(k.time_created.as_deref()),
                        pem: k.key_value.clone(),
                    },
                );
            }
        }
        state.api_keys.retain(|_, keys| !keys.is_empty());
        state.policies = self
            .policies
            .iter()
            .filter(|p| wire::is_live(p.lifecycle_state.as_deref()))
            .map(|p| Policy {
                name: p.name.clone(),
                compartment_id: Ocid::new(&p.compartment_id),
                statements: p.statements.clone(),
            })
            .collect();
        Ok(state)
    }

    /// `sha256:<hex>` over the snapshot's canonical JSON: identical tenancies give identical
    /// digests regardless of list order.
    #[must_use]
    pub fn digest(&self) -> String {
        let mut canonical = self.clone();
        canonical.users.sort_by(|a, b| a.id.cmp(&b.id));
        canonical.groups.sort_by(|a, b| a.id.cmp(&b.id));
        canonical.memberships.sort_by(|a, b| a.id.cmp(&b.id));
        canonical.policies.sort_by(|a, b| a.id.cmp(&b.id));
        for keys in canonical.api_keys.values_mut() {
            keys.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
        }
        let json = serde_json::to_vec(&canonical).unwrap_or_default();
        format!("sha256:{}", hex(&Sha256::digest(&json)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANCY: &str = "ocid1.tenancy.oc1..t";

    fn sample() -> String {
        serde_json::json!({
            "format_version": 1,
            "tenancy": TENANCY,
            "users": [
                {"id": "ocid1.user.oc1..a", "compartmentId": TENANCY, "name": "alice",
                 "description": "Alice", "freeformTags": {"ociam-managed": "true", "ociam-password-reset": "2"},
                 "capabilities": {"canUseApiKeys": false, "canUseConsolePassword": true, "canUseAuthTokens": true},
                 "lifecycleState": "ACTIVE", "isMfaActivated": false},
                {"id": "ocid1.user.oc1..gone", "compartmentId": TENANCY, "name": "gone",
                 "description": "", "lifecycleState": "DELETED"},
                {"id": "ocid1.user.oc1..f", "compartmentId": TENANCY, "name": "fed",
                 "description": "", "identityProviderId": "ocid1.saml2idp.oc1..x"}
            ],
            "groups": [{"id": "ocid1.group.oc1..g", "compartmentId": TENANCY, "name": "devs", "description": "d"}],
            "memberships": [{"id": "ocid1.groupmembership.oc1..m", "compartmentId": TENANCY,
                             "groupId": "ocid1.group.oc1..g", "userId": "ocid1.user.oc1..a"}],
            "api_keys": {"ocid1.user.oc1..a": [{"fingerprint": "AA:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99",
                                                 "timeCreated": "2026-01-02T03:04:05.678Z"}]},
            "policies": []
        })
        .to_string()
    }

    #[test]
    fn converts_api_objects_to_live_state() {
        let snap = parse(&sample(), "live.json").unwrap();
        let state = snap.to_state("live.json").unwrap();
        let alice = &state.users[&UserName::from("alice")];
        assert!(alice.managed);
        assert_eq!(alice.password_reset, Some(2));
        assert!(!alice.capabilities.api_keys);
        assert!(
            !state.users.contains_key("gone"),
            "DELETED users are not live"
        );
        assert!(state.users[&UserName::from("fed")].federated);
        assert_eq!(state.key_count(&UserName::from("alice")), 1);
        let fp = state.api_keys[&UserName::from("alice")]
            .keys()
            .next()
            .unwrap();
        assert_eq!(
            fp.as_str(),
            "aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99"
        );
        assert_eq!(state.groups_of(&UserName::from("alice")).count(), 1);
    }

    #[test]
    fn unknown_fields_are_kept_on_round_trip() {
        let snap = parse(&sample(), "live.json").unwrap();
        let again: Snapshot = serde_json::from_str(&serde_json::to_string(&snap).unwrap()).unwrap();
        assert_eq!(snap, again);
        assert!(
            serde_json::to_string(&snap)
                .unwrap()
                .contains("isMfaActivated")
        );
    }

    #[test]
    fn the_tenancy_kind_round_trips_and_defaults_to_classic() {
        let classic = parse(&sample(), "x").unwrap();
        assert!(!classic.identity_domains);
        assert!(!classic.to_state("x").unwrap().identity_domains);
        let text = serde_json::to_string(&classic).unwrap();
        assert!(
            !text.contains("identity_domains"),
            "classic stays as it was: {text}"
        );
        let mut domains = classic.clone();
        domains.identity_domains = true;
        let text = serde_json::to_string(&domains).unwrap();
        let back = parse(&text, "x").unwrap();
        assert_eq!(back, domains);
        assert!(back.to_state("x").unwrap().identity_domains);
        assert_ne!(back.digest(), classic.digest());
    }

    #[test]
    fn digest_ignores_list_order() {
        let mut a = parse(&sample(), "x").unwrap();
        let b = a.clone();
        a.users.reverse();
        assert_eq!(a.digest(), b.digest());
        a.users[0].description.push('!');
        assert_ne!(a.digest(), b.digest());
    }

    #[test]
    fn dangling_references_and_bad_json_are_errors() {
        let text = sample().replace(
            "\"groupId\": \"ocid1.group.oc1..g\"",
            "\"groupId\": \"ocid1.group.oc1..nope\"",
        );
        let text = text.replace(
            "\"groupId\":\"ocid1.group.oc1..g\"",
            "\"groupId\":\"ocid1.group.oc1..nope\"",
        );
        let err = parse(&text, "x").unwrap().to_state("x").unwrap_err();
        assert!(err.to_string().contains("unknown group"), "{err}");
        let err = parse("{\"format_version\": 1,\n \"tenancy\": 3}", "live.json").unwrap_err();
        assert!(err.to_string().starts_with("live.json:2:"), "{err}");
        let err = parse("{\"format_version\": 2, \"tenancy\": \"t\"}", "live.json").unwrap_err();
        assert!(matches!(err, SnapshotError::Version { version: 2, .. }));
    }
}
