//! The OCI Identity API's JSON objects (camelCase, API version 20160918) as ociam reads and
//! writes them: users, groups, memberships, API keys, policies, tenancy, region subscriptions,
//! the one-time console password, the error body, and the request bodies.
//!
//! Fields ociam does not model are kept in `extra`, so an object read from the service (or a
//! snapshot) is written back unchanged. Unknown enum values are kept as strings. Pure data.

use std::collections::BTreeMap;
use std::fmt;

use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Fields not modelled here, kept verbatim: a map ordered by name (so an object serializes
/// the same however its fields came in), stored as a sorted list sized to fit. A snapshot of
/// a large tenancy holds hundreds of thousands of these, mostly with one to five entries, and
/// a `BTreeMap` would allocate a whole node (about a kilobyte) for each.
#[derive(Clone, Default, PartialEq)]
pub struct Extra(Vec<(String, Value)>);

impl Extra {
    /// No fields.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// The value of field `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.position(key).ok().map(|i| &self.0[i].1)
    }

    /// Whether field `key` is present.
    #[must_use]
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_ok()
    }

    /// Sets field `key`, returning its previous value.
    pub fn insert(&mut self, key: String, value: Value) -> Option<Value> {
        match self.position(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    /// Removes field `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.position(key).ok().map(|i| self.0.remove(i).1)
    }

    /// The fields, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// How many fields.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::ops::Index<&str> for Extra {
    type Output = Value;
    /// The value of field `key`; panics when it is absent, as a map's index does.
    fn index(&self, key: &str) -> &Value {
        self.get(key).expect("no such field in `extra`")
    }
}

impl fmt::Debug for Extra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Extra {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Extra {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Extra;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Extra, A::Error> {
                let mut extra = Extra::new();
                // A name given twice keeps its last value, as a map would.
                while let Some((key, value)) = a.next_entry::<String, Value>()? {
                    extra.insert(key, value);
                }
                extra.0.shrink_to_fit();
                Ok(extra)
            }
        }
        d.deserialize_map(V)
    }
}

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
    pub extra: Extra,
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

// ---------------------------------------------------------------------------------------------
// Request bodies. Optional fields are left out of the JSON when `None`, so an update changes
// only what it names.

/// `CreateUserDetails`, the body of `POST /users`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateUserDetails {
    /// The tenancy OCID.
    pub compartment_id: String,
    /// Unique, immutable name.
    pub name: String,
    /// Required by the service; may be empty.
    pub description: String,
    /// Email (required by identity-domain tenancies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Freeform tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeform_tags: Option<BTreeMap<String, String>>,
    /// Defined tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defined_tags: Option<BTreeMap<String, BTreeMap<String, Value>>>,
}

/// `UpdateUserDetails`, the body of `PUT /users/{userId}` (the name cannot change).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateUserDetails {
    /// New description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// New email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Replaces all freeform tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeform_tags: Option<BTreeMap<String, String>>,
    /// Replaces all defined tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defined_tags: Option<BTreeMap<String, BTreeMap<String, Value>>>,
}

/// `UpdateUserCapabilitiesDetails`, the body of `PUT /users/{userId}/capabilities`. Note the
/// request spelling `canUseDBCredentials` (the response says `canUseDbCredentials`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateUserCapabilitiesDetails {
    /// May use a console password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_use_console_password: Option<bool>,
    /// May use API keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_use_api_keys: Option<bool>,
    /// May use auth tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_use_auth_tokens: Option<bool>,
    /// May use SMTP credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_use_smtp_credentials: Option<bool>,
    /// May use customer secret keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_use_customer_secret_keys: Option<bool>,
    /// May use DB credentials (request spelling `canUseDBCredentials`).
    #[serde(
        default,
        rename = "canUseDBCredentials",
        skip_serializing_if = "Option::is_none"
    )]
    pub can_use_db_credentials: Option<bool>,
    /// May use OAuth 2.0 client credentials.
    #[serde(
        default,
        rename = "canUseOAuth2ClientCredentials",
        skip_serializing_if = "Option::is_none"
    )]
    pub can_use_oauth2_client_credentials: Option<bool>,
}

/// `CreateGroupDetails`, the body of `POST /groups`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateGroupDetails {
    /// The tenancy OCID.
    pub compartment_id: String,
    /// Unique, immutable name.
    pub name: String,
    /// Required by the service; may be empty.
    pub description: String,
    /// Freeform tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeform_tags: Option<BTreeMap<String, String>>,
    /// Defined tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defined_tags: Option<BTreeMap<String, BTreeMap<String, Value>>>,
}

/// `UpdateGroupDetails`, the body of `PUT /groups/{groupId}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateGroupDetails {
    /// New description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Replaces all freeform tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeform_tags: Option<BTreeMap<String, String>>,
    /// Replaces all defined tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defined_tags: Option<BTreeMap<String, BTreeMap<String, Value>>>,
}

/// `AddUserToGroupDetails`, the body of `POST /userGroupMemberships`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddUserToGroupDetails {
    /// The user's OCID.
    pub user_id: String,
    /// The group's OCID.
    pub group_id: String,
}

/// `CreateApiKeyDetails`, the body of `POST /users/{userId}/apiKeys`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateApiKeyDetails {
    /// The RSA public key, PEM (`-----BEGIN PUBLIC KEY-----`).
    pub key: String,
}

// ---------------------------------------------------------------------------------------------
// Other responses

/// `UIPassword`, the answer of `POST /users/{userId}/uiPassword`: a one-time console password.
///
/// The password is held in a [`SecretString`]; `Debug` shows `[REDACTED]`. `Serialize` does
/// write it (the emulator must send it), so never serialize this value into a log.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UIPassword {
    /// The one-time password (absent in identity-domain tenancies, which email a link instead).
    #[serde(
        default,
        deserialize_with = "deserialize_secret",
        serialize_with = "serialize_secret",
        skip_serializing_if = "Option::is_none"
    )]
    pub password: Option<SecretString>,
    /// The user's OCID.
    #[serde(default)]
    pub user_id: Option<String>,
    /// RFC 3339 creation time.
    #[serde(default)]
    pub time_created: Option<String>,
    /// Lifecycle state.
    #[serde(default)]
    pub lifecycle_state: Option<String>,
    /// Everything else.
    #[serde(flatten)]
    pub extra: Extra,
}

impl fmt::Debug for UIPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UIPassword")
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .field("user_id", &self.user_id)
            .field("time_created", &self.time_created)
            .field("lifecycle_state", &self.lifecycle_state)
            .field("extra", &self.extra)
            .finish()
    }
}

fn deserialize_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(SecretString::from))
}

fn serialize_secret<S: Serializer>(value: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(secret) => s.serialize_str(secret.expose_secret()),
        None => s.serialize_none(),
    }
}

/// `Tenancy`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenancy {
    /// The tenancy OCID.
    pub id: String,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Home region key, e.g. `PHX`.
    #[serde(default)]
    pub home_region_key: Option<String>,
    /// Everything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `DomainSummary` (ListDomains, tenancies with identity domains only): the fields ociam reads;
/// the rest (`url`, `homeRegion`, `licenseType`, …) is kept in `extra`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainSummary {
    /// The domain's OCID.
    pub id: String,
    /// Display name, e.g. `Default`.
    #[serde(default)]
    pub display_name: Option<String>,
    /// `DEFAULT` or `SECONDARY`.
    #[serde(default, rename = "type")]
    pub domain_type: Option<String>,
    /// Lifecycle state.
    #[serde(default)]
    pub lifecycle_state: Option<String>,
    /// Everything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `RegionSubscription`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegionSubscription {
    /// Region key, e.g. `IAD`.
    #[serde(default)]
    pub region_key: Option<String>,
    /// Region name, e.g. `us-ashburn-1`.
    pub region_name: String,
    /// `READY` or `IN_PROGRESS`.
    #[serde(default)]
    pub status: Option<String>,
    /// Whether this is the tenancy's home region.
    #[serde(default)]
    pub is_home_region: bool,
    /// Everything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The error body every OCI service answers with: `{"code": "...", "message": "..."}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The service code, e.g. `NotAuthorizedOrNotFound`.
    #[serde(default)]
    pub code: String,
    /// Human-readable text.
    #[serde(default)]
    pub message: String,
}

/// Whether a lifecycle state means the object exists (not `DELETING`/`DELETED`).
#[must_use]
pub fn is_live(lifecycle_state: Option<&str>) -> bool {
    !matches!(lifecycle_state, Some("DELETED" | "DELETING"))
}

#[cfg(test)]
mod tests {
    use serde::de::DeserializeOwned;
    use serde_json::Value;

    use super::*;

    /// `Extra` reads and writes as the map it stands for: fields sorted by name, a name given
    /// twice keeping its last value, the same JSON a `BTreeMap` writes, and map-like access.
    #[test]
    fn extra_is_a_sorted_map() {
        let text = r#"{"id":"ocid1.key","fingerprint":"f","zeta":1,"alpha":{"b":[true]},"mid":null,"zeta":2}"#;
        let key: ApiKey = serde_json::from_str(text).unwrap();
        let names: Vec<&str> = key.extra.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["alpha", "id", "mid", "zeta"]);
        assert_eq!(key.extra["zeta"], 2);
        assert_eq!(key.extra.get("mid"), Some(&Value::Null));
        assert!(!key.extra.contains_key("absent"));
        let as_map: BTreeMap<String, Value> = key
            .extra
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(
            serde_json::to_string(&key.extra).unwrap(),
            serde_json::to_string(&as_map).unwrap()
        );
        let back: ApiKey = serde_json::from_str(&serde_json::to_string(&key).unwrap()).unwrap();
        assert_eq!(back, key);
        let mut extra = key.extra.clone();
        assert_eq!(extra.insert("beta".into(), Value::Bool(true)), None);
        assert_eq!(
            extra.insert("zeta".into(), Value::from(3)),
            Some(Value::from(2))
        );
        assert_eq!(
            extra.remove("alpha"),
            Some(serde_json::json!({"b": [true]}))
        );
        assert_eq!(extra.remove("alpha"), None);
        let names: Vec<&str> = extra.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["beta", "id", "mid", "zeta"]);
        assert_eq!((extra.len(), Extra::new().is_empty()), (4, true));
        assert_eq!(format!("{:?}", Extra::new()), "{}");
    }

    const RECORDED: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/oci/recorded-exchanges.json"
    ));

    /// `value` without null members (an absent optional field and a null one mean the same).
    fn without_nulls(value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k.clone(), without_nulls(v)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
            other => other.clone(),
        }
    }

    /// Decodes `body` as `T` and checks that writing it back gives the same JSON (nothing
    /// dropped, nothing invented; null and absent count as the same).
    fn round_trip<T: DeserializeOwned + Serialize>(label: &str, body: &Value) -> T {
        let value: T = serde_json::from_value(body.clone())
            .unwrap_or_else(|e| panic!("{label}: {e}\n{body:#}"));
        let written = serde_json::to_value(&value).unwrap();
        assert_eq!(without_nulls(&written), without_nulls(body), "{label}");
        value
    }

    #[test]
    fn every_recorded_exchange_decodes_with_the_wire_types() {
        let recorded: Value = serde_json::from_str(RECORDED).unwrap();
        let mut decoded = 0;
        for exchange in recorded["exchanges"].as_array().unwrap() {
            let label = exchange["label"].as_str().unwrap();
            let response = &exchange["response"];
            let body = &response["body"];
            if body.is_null() {
                assert_eq!(response["status"], 204, "{label}: only 204s have no body");
                continue;
            }
            let status = response["status"].as_u64().unwrap();
            if status >= 400 {
                let error: ErrorBody = serde_json::from_value(body.clone()).unwrap();
                assert!(
                    !error.code.is_empty() && !error.message.is_empty(),
                    "{label}"
                );
            } else if label.starts_with("ListUsers") {
                for u in round_trip::<Vec<User>>(label, body) {
                    assert!(u.id.starts_with("ocid1.user."), "{label}");
                }
            } else if label.starts_with("ListUserGroupMemberships") {
                round_trip::<Vec<UserGroupMembership>>(label, body);
            } else if label.starts_with("ListApiKeys") {
                round_trip::<Vec<ApiKey>>(label, body);
            } else if label.starts_with("ListPolicies") {
                let policies = round_trip::<Vec<Policy>>(label, body);
                assert!(policies.iter().all(|p| !p.statements.is_empty()), "{label}");
            } else if label.starts_with("CreateGroup") || body.get("matchingRule").is_some() {
                round_trip::<Group>(label, body);
            } else if label.starts_with("AddUserToGroup") {
                let m = round_trip::<UserGroupMembership>(label, body);
                assert!(m.group_id.starts_with("ocid1.group."), "{label}");
            } else if label.starts_with("UploadApiKey") {
                let key = round_trip::<ApiKey>(label, body);
                assert_eq!(key.fingerprint.len(), 47, "{label}");
            } else if label.starts_with("CreateOrResetUIPassword") {
                let password: UIPassword = serde_json::from_value(body.clone()).unwrap();
                assert!(!format!("{password:?}").contains(body["password"].as_str().unwrap()));
            } else if label.starts_with("GetUserUIPasswordInformation") {
                let info: UIPassword = serde_json::from_value(body.clone()).unwrap();
                assert!(format!("{info:?}").contains("userId") || body.get("password").is_none());
            } else {
                let user = round_trip::<User>(label, body);
                assert!(user.id.starts_with("ocid1.user."), "{label}");
            }
            decoded += 1;
        }
        assert!(decoded >= 20, "decoded {decoded} bodies");
    }
}
