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
//! unknown OCIDs are errors (a snapshot that contradicts itself would make a wrong plan), and so
//! is what OCI never returns: two objects with one OCID, two live users (or groups) whose names
//! are one name ignoring case (see `model`), a user holding more than three API keys, or a key
//! whose `timeCreated` is not an RFC 3339 time (the key-age rule would silently skip it). Such
//! errors name both objects by their JSON path (`users[3]`), name and OCID.
//! A snapshot with private-key material in any string is refused before anything reads it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::hex;
use crate::model::{
    ApiKey, Capabilities, Fingerprint, Group, GroupName, MAX_API_KEYS, Membership, OWNERSHIP_TAG,
    Ocid, Policy, RESET_TAG, State, User, UserName,
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
    /// A string in the snapshot holds private-key material (a snapshot holds public keys only).
    #[error(
        "{file}: {path} holds a private key (its contents are not shown); a snapshot holds \
         public keys only: treat that key as leaked, rotate it, and re-export the snapshot"
    )]
    PrivateKey {
        /// File name.
        file: String,
        /// JSON path of the string, e.g. `api_keys.<ocid>[0].keyValue`.
        path: String,
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
/// Malformed JSON, a wrong shape, an unsupported version, or private-key material in any
/// string.
pub fn parse(text: &str, file: &str) -> Result<Snapshot, SnapshotError> {
    let json_error = |e: serde_json::Error| SnapshotError::Json {
        file: file.to_owned(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    };
    // Every string, known field or not, before the typed parse (whose errors may quote text);
    // streamed, so a large snapshot is not held twice as a JSON tree and as typed objects.
    if let Some(path) = crate::keys::find_private_key_in_json_text(text).map_err(json_error)? {
        return Err(SnapshotError::PrivateKey {
            file: file.to_owned(),
            path,
        });
    }
    let snapshot: Snapshot = serde_json::from_str(text).map_err(json_error)?;
    if snapshot.format_version != FORMAT_VERSION {
        return Err(SnapshotError::Version {
            file: file.to_owned(),
            version: snapshot.format_version,
        });
    }
    Ok(snapshot)
}

/// Parses an RFC 3339 time to seconds since the epoch: `Ok(None)` when absent, `Err(())` when
/// present but not a time.
fn epoch_seconds(time: Option<&str>) -> Result<Option<i64>, ()> {
    time.map(|t| {
        t.parse::<jiff::Timestamp>()
            .map(jiff::Timestamp::as_second)
            .map_err(|_| ())
    })
    .transpose()
}

/// How an object is named in an error: `users[3] \`alice\` (ocid1.user…)`.
fn describe(path: &str, name: &str, id: &str) -> String {
    if id.is_empty() {
        format!("{path} `{name}`")
    } else {
        format!("{path} `{name}` ({id})")
    }
}

/// The planner's view of a user as the service returns it (also how apply reads a user back
/// right before writing it).
#[must_use]
pub fn user_of(u: &wire::User) -> User {
    let caps = u.capabilities.clone().unwrap_or_default();
    User {
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
    }
}

/// The planner's view of a group as the service returns it.
#[must_use]
pub fn group_of(g: &wire::Group) -> Group {
    Group {
        id: Some(Ocid::new(&g.id)),
        description: g.description.clone(),
        managed: g.freeform_tags.contains_key(OWNERSHIP_TAG),
    }
}

impl Snapshot {
    /// Every object OCID that appears twice (empty ids are skipped: hand-written snapshots may
    /// leave them out), as an error naming both objects.
    fn check_unique_ids(&self) -> Result<(), String> {
        let objects = (self.users.iter().enumerate())
            .map(|(i, u)| (format!("users[{i}]"), u.name.as_str(), u.id.as_str()))
            .chain(
                (self.groups.iter().enumerate())
                    .map(|(i, g)| (format!("groups[{i}]"), g.name.as_str(), g.id.as_str())),
            )
            .chain(
                (self.memberships.iter().enumerate())
                    .map(|(i, m)| (format!("memberships[{i}]"), "", m.id.as_str())),
            )
            .chain(
                (self.policies.iter().enumerate())
                    .map(|(i, p)| (format!("policies[{i}]"), p.name.as_str(), p.id.as_str())),
            );
        let mut seen: BTreeMap<&str, (String, &str)> = BTreeMap::new();
        for (path, name, id) in objects {
            if id.is_empty() {
                continue;
            }
            if let Some((first, first_name)) = seen.get(id) {
                let who = |path: &str, name: &str| {
                    if name.is_empty() {
                        path.to_owned()
                    } else {
                        format!("{path} `{name}`")
                    }
                };
                return Err(format!(
                    "{} and {} have the same OCID {id}; every OCI object has its own — \
                     remove the duplicate or correct its `id`",
                    who(first, first_name),
                    who(&path, name)
                ));
            }
            seen.insert(id, (path, name));
        }
        Ok(())
    }
}

/// The error for two live objects of `kind` whose names are one name ignoring case.
fn same_name(kind: &str, first: &str, again: &str) -> String {
    format!(
        "{first} and {again} are two {kind}s with one name (OCI {kind} names are unique \
         ignoring case) — keep one of them, or mark the other `\"lifecycleState\": \"DELETED\"`"
    )
}

impl Snapshot {
    /// Refuses a snapshot (read from a tenancy rather than a file) that holds private-key
    /// material in any string, as [`parse`] does for files.
    ///
    /// # Errors
    /// [`SnapshotError::PrivateKey`] naming the JSON path, never the text.
    pub fn check_no_private_key(&self, file: &str) -> Result<(), SnapshotError> {
        let value = serde_json::to_value(self).unwrap_or_default();
        match crate::keys::find_private_key_in_json(&value) {
            None => Ok(()),
            Some(path) => Err(SnapshotError::PrivateKey {
                file: file.to_owned(),
                path,
            }),
        }
    }

    /// The live state this snapshot describes.
    ///
    /// # Errors
    /// Memberships or keys that point at users or groups the snapshot does not hold, two
    /// objects with one OCID, two live users (or groups) of one name in any case, more than
    /// three live keys for a user, or an unparseable key `timeCreated`.
    pub fn to_state(&self, file: &str) -> Result<State, SnapshotError> {
        let bad = |message: String| SnapshotError::Inconsistent {
            file: file.to_owned(),
            message,
        };
        self.check_unique_ids().map_err(bad)?;
        let mut state = State {
            tenancy: Ocid::new(&self.tenancy),
            identity_domains: self.identity_domains,
            ..State::default()
        };
        let mut user_names: BTreeMap<&str, UserName> = BTreeMap::new();
        let mut user_paths: BTreeMap<UserName, String> = BTreeMap::new();
        for (i, u) in (self.users.iter().enumerate())
            .filter(|(_, u)| wire::is_live(u.lifecycle_state.as_deref()))
        {
            let name = UserName::new(&u.name);
            let user = user_of(u);
            let path = describe(&format!("users[{i}]"), &u.name, &u.id);
            if let Some(first) = user_paths.get(&name) {
                return Err(bad(same_name("user", first, &path)));
            }
            state.users.insert(name.clone(), user);
            user_paths.insert(name.clone(), path);
            user_names.insert(&u.id, name);
        }
        let mut group_names: BTreeMap<&str, GroupName> = BTreeMap::new();
        let mut group_paths: BTreeMap<GroupName, String> = BTreeMap::new();
        for (i, g) in (self.groups.iter().enumerate())
            .filter(|(_, g)| wire::is_live(g.lifecycle_state.as_deref()))
        {
            let name = GroupName::new(&g.name);
            let group = group_of(g);
            let path = describe(&format!("groups[{i}]"), &g.name, &g.id);
            if let Some(first) = group_paths.get(&name) {
                return Err(bad(same_name("group", first, &path)));
            }
            state.groups.insert(name.clone(), group);
            group_paths.insert(name.clone(), path);
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
            for (i, k) in (keys.iter().enumerate())
                .filter(|(_, k)| wire::is_live(k.lifecycle_state.as_deref()))
            {
                let fingerprint = Fingerprint::parse(&k.fingerprint).ok_or_else(|| {
                    bad(format!(
                        "`{}` (a key of user {user}) is not a fingerprint",
                        k.fingerprint
                    ))
                })?;
                let created = epoch_seconds(k.time_created.as_deref()).map_err(|()| {
                    bad(format!(
                        "api_keys[\"{owner}\"][{i}] (key {fingerprint} of user `{user}`): \
                         timeCreated `{}` is not an RFC 3339 time, so its age cannot be checked \
                         — write it like 2026-01-02T03:04:05Z, or leave the field out",
                        k.time_created.as_deref().unwrap_or_default()
                    ))
                })?;
                entry.insert(
                    fingerprint,
                    ApiKey {
                        created,
                        pem: k.key_value.clone(),
                    },
                );
            }
            if entry.len() > MAX_API_KEYS {
                return Err(bad(format!(
                    "api_keys[\"{owner}\"] gives user `{user}` {} API keys (not deleted), but \
                     OCI lets a user hold at most {MAX_API_KEYS} — this is not what OCI returns; remove \
                     the extra keys or mark them `\"lifecycleState\": \"DELETED\"`",
                    entry.len()
                )));
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
    /// digests regardless of list order. The canonical form is the snapshot's own JSON with
    /// its lists sorted by OCID (keys by fingerprint); it is streamed into the hash from
    /// borrowed, sorted views, so a large snapshot is neither cloned nor serialized whole.
    #[must_use]
    pub fn digest(&self) -> String {
        fn by<T>(items: &[T], key: impl Fn(&T) -> &str) -> Vec<&T> {
            let mut sorted: Vec<&T> = items.iter().collect();
            sorted.sort_by(|a, b| key(a).cmp(key(b)));
            sorted
        }
        /// [`Snapshot`]'s serialized shape, field for field.
        #[derive(Serialize)]
        struct Canonical<'a> {
            format_version: u32,
            tenancy: &'a str,
            users: Vec<&'a wire::User>,
            groups: Vec<&'a wire::Group>,
            memberships: Vec<&'a wire::UserGroupMembership>,
            api_keys: BTreeMap<&'a str, Vec<&'a wire::ApiKey>>,
            policies: Vec<&'a wire::Policy>,
            #[serde(skip_serializing_if = "std::ops::Not::not")]
            identity_domains: bool,
        }
        /// Feeds what serde_json writes into the hash.
        struct Hashing(Sha256);
        impl std::io::Write for Hashing {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.update(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let canonical = Canonical {
            format_version: self.format_version,
            tenancy: &self.tenancy,
            users: by(&self.users, |u| &u.id),
            groups: by(&self.groups, |g| &g.id),
            memberships: by(&self.memberships, |m| &m.id),
            api_keys: (self.api_keys.iter())
                .map(|(owner, keys)| (owner.as_str(), by(keys, |k| &k.fingerprint)))
                .collect(),
            policies: by(&self.policies, |p| &p.id),
            identity_domains: self.identity_domains,
        };
        let mut hashing = Hashing(Sha256::new());
        // Writing into a hash cannot fail, and these types always serialize.
        let _ = serde_json::to_writer(std::io::BufWriter::new(&mut hashing), &canonical);
        format!("sha256:{}", hex::lower(&hashing.0.finalize()))
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
    fn private_key_material_is_refused_by_path_from_a_file_or_a_tenancy() {
        let private = crate::keygen::generate_rsa_2048()
            .unwrap()
            .private_pkcs8_pem;
        let body_line = private.lines().nth(1).unwrap().to_owned();
        let mut v: serde_json::Value = serde_json::from_str(&sample()).unwrap();
        v["api_keys"]["ocid1.user.oc1..a"][0]["keyValue"] = private.as_str().into();
        let err = parse(&v.to_string(), "s.json").unwrap_err().to_string();
        assert!(
            err.contains("s.json: api_keys.ocid1.user.oc1..a[0].keyValue holds a private key"),
            "{err}"
        );
        assert!(!err.contains(&body_line), "{err}");
        // The same check for a snapshot fetched from a tenancy.
        let mut snap = parse(&sample(), "s.json").unwrap();
        assert!(snap.check_no_private_key("tenancy").is_ok());
        snap.users[0].description = private.to_string();
        let err = snap
            .check_no_private_key("tenancy")
            .unwrap_err()
            .to_string();
        assert!(err.contains("users[0].description"), "{err}");
        assert!(!err.contains(&body_line), "{err}");
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
            !state.users.contains_key(&UserName::from("gone")),
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

    /// The streamed digest is the hash of the sorted snapshot's JSON, byte for byte (saved
    /// plans carry it, so it must not change with how it is computed).
    #[test]
    fn digest_is_the_hash_of_the_sorted_snapshots_json() {
        for domains in [false, true] {
            let mut snapshot = parse(&sample(), "x").unwrap();
            snapshot.identity_domains = domains;
            snapshot.users.reverse();
            snapshot.memberships.reverse();
            for keys in snapshot.api_keys.values_mut() {
                keys.reverse();
            }
            let mut sorted = snapshot.clone();
            sorted.users.sort_by(|a, b| a.id.cmp(&b.id));
            sorted.groups.sort_by(|a, b| a.id.cmp(&b.id));
            sorted.memberships.sort_by(|a, b| a.id.cmp(&b.id));
            sorted.policies.sort_by(|a, b| a.id.cmp(&b.id));
            for keys in sorted.api_keys.values_mut() {
                keys.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
            }
            assert_ne!(sorted, snapshot, "the sample has lists to sort");
            let json = serde_json::to_vec(&sorted).unwrap();
            let expected = format!("sha256:{}", hex::lower(&Sha256::digest(&json)));
            assert_eq!(snapshot.digest(), expected);
        }
    }

    /// `sample()` with `f` applied to its JSON, converted.
    fn state_of(f: impl FnOnce(&mut serde_json::Value)) -> Result<State, SnapshotError> {
        let mut v: serde_json::Value = serde_json::from_str(&sample()).unwrap();
        f(&mut v);
        parse(&v.to_string(), "live.json")?.to_state("live.json")
    }

    fn user(id: &str, name: &str) -> serde_json::Value {
        serde_json::json!({"id": id, "compartmentId": TENANCY, "name": name, "description": ""})
    }

    fn key(n: u8, created: &str) -> serde_json::Value {
        serde_json::json!({"fingerprint": format!("aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:{n:02x}"),
                           "timeCreated": created})
    }

    #[test]
    fn two_users_or_groups_of_one_name_in_any_case_are_refused_naming_both() {
        let err = state_of(|v| {
            v["users"]
                .as_array_mut()
                .unwrap()
                .push(user("ocid1.user.oc1..b", "ALICE"));
        })
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("live.json: users[0] `alice` (ocid1.user.oc1..a) and users[3] `ALICE` (ocid1.user.oc1..b) are two users with one name"),
            "{text}"
        );
        let err = state_of(|v| {
            v["groups"].as_array_mut().unwrap().push(serde_json::json!(
                {"id": "ocid1.group.oc1..g2", "compartmentId": TENANCY, "name": "Devs", "description": ""}));
        })
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("groups[0] `devs` (ocid1.group.oc1..g) and groups[1] `Devs` (ocid1.group.oc1..g2) are two groups"), "{text}");
        // A deleted user's name may be taken again (OCI keeps deleted users listed for a while).
        let state = state_of(|v| {
            v["users"]
                .as_array_mut()
                .unwrap()
                .push(user("ocid1.user.oc1..b", "Gone"));
        })
        .unwrap();
        assert!(state.users.contains_key(&UserName::from("gone")));
    }

    #[test]
    fn two_objects_with_one_ocid_are_refused_naming_both() {
        let err = state_of(|v| {
            v["users"]
                .as_array_mut()
                .unwrap()
                .push(user("ocid1.user.oc1..a", "bob"));
        })
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(
                "users[0] `alice` and users[3] `bob` have the same OCID ocid1.user.oc1..a"
            ),
            "{text}"
        );
        let err = state_of(|v| {
            v["groups"][0]["id"] = "ocid1.groupmembership.oc1..m".into();
            v["memberships"][0]["groupId"] = "ocid1.groupmembership.oc1..m".into();
        })
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("groups[0] `devs` and memberships[0] have the same OCID"),
            "{err}"
        );
    }

    #[test]
    fn more_than_three_keys_for_a_user_are_refused() {
        let keys = |n: u8| {
            (0..n)
                .map(|i| key(i, "2026-01-02T03:04:05Z"))
                .collect::<Vec<_>>()
        };
        let err = state_of(|v| v["api_keys"]["ocid1.user.oc1..a"] = keys(4).into()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("gives user `alice` 4 API keys"), "{text}");
        assert!(text.contains("at most 3"), "{text}");
        // Three are fine, and so is a fourth that is deleted.
        let state = state_of(|v| {
            let mut list = keys(4);
            list[3]["lifecycleState"] = "DELETED".into();
            v["api_keys"]["ocid1.user.oc1..a"] = list.into();
        })
        .unwrap();
        assert_eq!(state.key_count(&UserName::from("alice")), 3);
    }

    #[test]
    fn an_unparseable_key_time_is_refused_and_a_missing_one_is_not() {
        let err =
            state_of(|v| v["api_keys"]["ocid1.user.oc1..a"] = vec![key(1, "yesterday")].into())
                .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("api_keys[\"ocid1.user.oc1..a\"][0] (key aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:01 of user `alice`): timeCreated `yesterday` is not an RFC 3339 time"),
            "{text}"
        );
        let state = state_of(|v| {
            v["api_keys"]["ocid1.user.oc1..a"][0]
                .as_object_mut()
                .unwrap()
                .remove("timeCreated");
        })
        .unwrap();
        let keys = &state.api_keys[&UserName::from("alice")];
        assert_eq!(keys.values().next().unwrap().created, None);
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
