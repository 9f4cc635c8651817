//! The normalized IAM vocabulary that the desired side (from the manifest) and the live side
//! (from a snapshot or the API) share: identifier newtypes, [`State`] (what a tenancy holds),
//! [`Desired`] (what the manifest asks for), and source locations for diagnostics.
//!
//! Names: [`UserName`] and [`GroupName`] are equal, ordered and hashed ignoring ASCII case (OCI
//! does not document whether `Alice` and `alice` are one name; the emulator stores names
//! `COLLATE NOCASE`, and `oci/PERMISSIONS.md` §6 asks the tool to be safe either way). So every
//! map keyed by names — manifest, snapshot, planner, drift, import — matches `Bob` with `bob`,
//! and the one place that cares about the spelling asks [`UserName::same_spelling`] (the
//! planner's `name-case` rule). Display keeps the spelling given. Fingerprints and OCIDs
//! compare byte for byte.
//!
//! Pure data: no I/O, no clock, no parsing of files. `desired` / `live` name states;
//! `before` / `after` are reserved for the two sides of one change (see `plan`).

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What every identifier newtype has: construction, `as_str`, `Display`, `From<&str>`.
macro_rules! newtype_common {
    ($name:ident) => {
        impl $name {
            /// Wraps a string without checking it (callers validate where input enters).
            pub fn new(s: impl Into<String>) -> Self {
                Self(s.into())
            }
            /// The identifier as a string slice, spelled as given.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }
    };
}

/// An identifier compared byte for byte.
macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
            JsonSchema,
        )]
        #[serde(transparent)]
        pub struct $name(String);

        newtype_common!($name);

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

/// A user or group name: equal, ordered and hashed by its ASCII-lowercased bytes, displayed as
/// spelled. No `Borrow<str>`: a `str` compares byte for byte, which would disagree.
macro_rules! name_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
        #[serde(transparent)]
        pub struct $name(String);

        newtype_common!($name);

        impl $name {
            /// Whether `other` is the same name spelled the same way (the equality of this type
            /// ignores ASCII case; this does not).
            #[must_use]
            pub fn same_spelling(&self, other: &Self) -> bool {
                self.0 == other.0
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.0.eq_ignore_ascii_case(&other.0)
            }
        }

        impl Eq for $name {}

        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl Ord for $name {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                fold(&self.0).cmp(fold(&other.0))
            }
        }

        impl std::hash::Hash for $name {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                for b in fold(&self.0) {
                    state.write_u8(b);
                }
                state.write_u8(0xff);
            }
        }
    };
}

/// The bytes names are compared by: ASCII letters lowercased, everything else as is (the same
/// folding as SQLite's `COLLATE NOCASE`, which the emulator stores names with).
fn fold(s: &str) -> impl Iterator<Item = u8> + '_ {
    s.bytes().map(|b| b.to_ascii_lowercase())
}

name_newtype!(
    /// A user's name: unique in a tenancy ignoring case, immutable, the manifest's key for users.
    UserName
);
name_newtype!(
    /// A group's name: unique in a tenancy ignoring case, immutable, the manifest's key for groups.
    GroupName
);
string_newtype!(
    /// An OCI API-key fingerprint: 16 lowercase hex bytes joined by `:` (47 characters).
    Fingerprint
);
string_newtype!(
    /// An Oracle Cloud ID (`ocid1.<type>.<realm>..<id>`).
    Ocid
);

/// The name of the group OCI makes every tenancy's built-in administrators group.
pub const ADMINISTRATORS: &str = "Administrators";
/// Freeform tag marking users and groups that ociam created (and so may prune).
pub const OWNERSHIP_TAG: &str = "ociam-managed";
/// Freeform tag holding the last `console_password.reset` number applied to a user.
pub const RESET_TAG: &str = "ociam-password-reset";
/// OCI's limit of API keys a user may hold at a time.
pub const MAX_API_KEYS: usize = 3;

impl Fingerprint {
    /// Parses a fingerprint written by a person: hex pairs joined by `:`, any case.
    /// Returns the canonical lowercase form, or `None` when the shape is wrong.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let parts: Vec<&str> = s.split(':').collect();
        let ok = parts.len() == 16
            && parts
                .iter()
                .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
        ok.then(|| Self(s.to_ascii_lowercase()))
    }

    /// The first four bytes, for compact display (`aa:bb:cc:dd`).
    #[must_use]
    pub fn short(&self) -> &str {
        self.0.get(..11).unwrap_or(&self.0)
    }
}

/// Whether `name` is a valid OCI user name: ASCII letters, digits, `-`, `.`, `_`, `+`, `@`;
/// no spaces; 1 to 100 characters ([`crate::limits::USER_NAME`]).
#[must_use]
pub fn valid_user_name(name: &str) -> bool {
    crate::limits::USER_NAME.accepts(name)
}

/// Whether `name` is a valid OCI group name: 1 to 100 characters from `[A-Za-z0-9._-]`
/// ([`crate::limits::GROUP_NAME`]).
#[must_use]
pub fn valid_group_name(name: &str) -> bool {
    crate::limits::GROUP_NAME.accepts(name)
}

/// A user's membership of a group. Ordered by user first, so all of one user's memberships
/// form a contiguous range.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Membership {
    /// The member.
    pub user: UserName,
    /// The group.
    pub group: GroupName,
}

/// The two credential capabilities ociam manages (OCI has more; they are left alone).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Capabilities {
    /// `canUseApiKeys`.
    pub api_keys: bool,
    /// `canUseConsolePassword`.
    pub console_password: bool,
}

impl Default for Capabilities {
    fn default() -> Self {
        Self {
            api_keys: true,
            console_password: true,
        }
    }
}

/// A live user, as far as ociam cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The user's OCID; `None` for a user a plan will create.
    pub id: Option<Ocid>,
    /// Free text, required by OCI (may be empty).
    pub description: String,
    /// Email address, if any.
    pub email: Option<String>,
    /// Credential capabilities.
    pub capabilities: Capabilities,
    /// Federated (identity provider or SCIM provisioned).
    pub federated: bool,
    /// Carries ociam's ownership tag.
    pub managed: bool,
    /// The value of the reset tag, when present and a number.
    pub password_reset: Option<u32>,
}

/// A live group, as far as ociam cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// The group's OCID; `None` for a group a plan will create.
    pub id: Option<Ocid>,
    /// Free text, required by OCI (may be empty).
    pub description: String,
    /// Carries ociam's ownership tag.
    pub managed: bool,
}

/// A live API key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKey {
    /// When the key was uploaded (seconds since the Unix epoch), if known.
    pub created: Option<i64>,
    /// The public key PEM as OCI stores it, if known.
    pub pem: Option<String>,
}

/// A live policy: only its statements matter, for the authority model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Policy name.
    pub name: String,
    /// The compartment the policy is attached to.
    pub compartment_id: Ocid,
    /// Policy statements, verbatim.
    pub statements: Vec<String>,
}

/// The state of a tenancy's IAM objects. Used for the live side and for every intermediate
/// state of a simulated plan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// The tenancy OCID.
    pub tenancy: Ocid,
    /// Users by name.
    pub users: BTreeMap<UserName, User>,
    /// Groups by name.
    pub groups: BTreeMap<GroupName, Group>,
    /// Memberships, each with its OCID when known.
    pub memberships: BTreeMap<Membership, Option<Ocid>>,
    /// API keys per user, by fingerprint. A user without keys may be absent from the map.
    pub api_keys: BTreeMap<UserName, BTreeMap<Fingerprint, ApiKey>>,
    /// Policies (read only; ociam never changes them).
    pub policies: Vec<Policy>,
    /// The tenancy has identity domains (ListDomains answers; a classic tenancy answers 404):
    /// the classic API reaches only the Default domain, CreateUser needs an email, and a
    /// password reset emails the user a link instead of returning a one-time password.
    pub identity_domains: bool,
}

impl State {
    /// The groups `user` is a member of.
    pub fn groups_of<'a>(&'a self, user: &'a UserName) -> impl Iterator<Item = &'a GroupName> + 'a {
        let start = Membership {
            user: user.clone(),
            group: GroupName::new(""),
        };
        self.memberships
            .range(start..)
            .take_while(move |(m, _)| &m.user == user)
            .map(|(m, _)| &m.group)
    }

    /// How many API keys `user` holds.
    #[must_use]
    pub fn key_count(&self, user: &UserName) -> usize {
        self.api_keys.get(user).map_or(0, BTreeMap::len)
    }

    /// Whether `group` has any member (a linear scan; used only on the steps that need it).
    #[must_use]
    pub fn group_has_members(&self, group: &GroupName) -> bool {
        self.memberships.keys().any(|m| &m.group == group)
    }
}

/// A position in a source file, 1-based.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub struct Location {
    /// File name as the user gave it.
    pub file: String,
    /// Line, 1-based.
    pub line: u64,
    /// Column, 1-based.
    pub column: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// What the manifest asks for, normalized. A field that is `None` means "leave as is".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Desired {
    /// The tenancy the manifest is for.
    pub tenancy: Ocid,
    /// Safety limits.
    pub limits: Limits,
    /// Which kinds of unlisted, ociam-owned live objects to delete.
    pub prune: Prune,
    /// Groups by name.
    pub groups: BTreeMap<GroupName, DesiredGroup>,
    /// Users by name.
    pub users: BTreeMap<UserName, DesiredUser>,
}

/// `limits:` in the manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most user and group deletions one plan may hold without `--allow-deletions`.
    pub max_deletions: u32,
    /// Age in days after which a live key draws a `key-age` warning.
    pub max_key_age_days: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_deletions: 5,
            max_key_age_days: 90,
        }
    }
}

/// `prune:` in the manifest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prune {
    /// Delete owned live users the manifest does not list.
    pub users: bool,
    /// Delete owned live groups the manifest does not list.
    pub groups: bool,
}

/// A group entry of the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredGroup {
    /// `false` for a `state: absent` tombstone.
    pub present: bool,
    /// Description, or `None` to leave it as is.
    pub description: Option<String>,
    /// Where the entry's name is written.
    pub location: Location,
}

/// A user entry of the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredUser {
    /// `false` for a `state: absent` tombstone.
    pub present: bool,
    /// Description, or `None` to leave it as is.
    pub description: Option<String>,
    /// Email, or `None` to leave it as is.
    pub email: Option<String>,
    /// Exactly these groups, or `None` to leave memberships as they are.
    pub groups: Option<BTreeMap<GroupName, Location>>,
    /// Capabilities to set; each `None` leaves that one as is.
    pub capabilities: DesiredCapabilities,
    /// Console password reset request.
    pub console_password: Option<PasswordReset>,
    /// Exactly these API keys, or `None` to leave keys as they are.
    pub api_keys: Option<Vec<DesiredKey>>,
    /// `federated_api_keys: acknowledged`.
    pub federated_ack: bool,
    /// Where the entry's name is written.
    pub location: Location,
}

/// Capabilities as the manifest states them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DesiredCapabilities {
    /// `api_keys`.
    pub api_keys: Option<bool>,
    /// `console_password`.
    pub console_password: Option<bool>,
}

/// `console_password:` of a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordReset {
    /// Bump to issue a new one-time password.
    pub reset: u32,
    /// Optional age recipient the one-time password is sealed to.
    pub deliver_to: Option<String>,
    /// Where `reset` is written.
    pub location: Location,
}

/// One API key the manifest lists for a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredKey {
    /// The key's OCI fingerprint.
    pub fingerprint: Fingerprint,
    /// The public key as SPKI PEM, when the manifest gave one (fingerprint-only keys have none).
    pub pem: Option<String>,
    /// Planned retirement date (`YYYY-MM-DD`).
    pub expires: Option<jiff::civil::Date>,
    /// Why the key is too weak for OCI (not RSA, or under 2048 bits), if it is.
    pub weakness: Option<String>,
    /// Where the entry is written.
    pub location: Location,
}

impl DesiredUser {
    /// A present user entry with every field left as is.
    #[must_use]
    pub fn leave_as_is(location: Location) -> Self {
        Self {
            present: true,
            description: None,
            email: None,
            groups: None,
            capabilities: DesiredCapabilities::default(),
            console_password: None,
            api_keys: None,
            federated_ack: false,
            location,
        }
    }
}

impl Desired {
    /// The manifest that describes `live` exactly: every user and group with every field, every
    /// membership and key (by PEM when known, else by fingerprint). Planning it against `live`
    /// gives no change; `import` writes it.
    #[must_use]
    pub fn mirror(live: &State) -> Self {
        let location = Location::default();
        let groups = live
            .groups
            .iter()
            .map(|(name, g)| {
                let entry = DesiredGroup {
                    present: true,
                    description: Some(g.description.clone()),
                    location: location.clone(),
                };
                (name.clone(), entry)
            })
            .collect();
        let users = live
            .users
            .iter()
            .map(|(name, u)| {
                let mut d = DesiredUser::leave_as_is(location.clone());
                d.description = Some(u.description.clone());
                d.email.clone_from(&u.email);
                d.groups = Some(
                    live.groups_of(name)
                        .map(|g| (g.clone(), location.clone()))
                        .collect(),
                );
                d.capabilities = DesiredCapabilities {
                    api_keys: Some(u.capabilities.api_keys),
                    console_password: Some(u.capabilities.console_password),
                };
                d.federated_ack = u.federated;
                d.api_keys = Some(
                    live.api_keys
                        .get(name)
                        .into_iter()
                        .flatten()
                        .map(|(fp, k)| DesiredKey {
                            fingerprint: fp.clone(),
                            pem: k.pem.clone(),
                            expires: None,
                            weakness: None,
                            location: location.clone(),
                        })
                        .collect(),
                );
                (name.clone(), d)
            })
            .collect();
        Self {
            tenancy: live.tenancy.clone(),
            limits: Limits::default(),
            prune: Prune::default(),
            groups,
            users,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_parse_normalizes_case_and_rejects_bad_shapes() {
        let fp = Fingerprint::parse("9C:4C:E2:DD:65:73:C9:1D:C7:A4:F0:BA:C8:09:44:B0").unwrap();
        assert_eq!(
            fp.as_str(),
            "9c:4c:e2:dd:65:73:c9:1d:c7:a4:f0:ba:c8:09:44:b0"
        );
        assert_eq!(fp.short(), "9c:4c:e2:dd");
        assert!(Fingerprint::parse("9c:4c").is_none());
        assert!(Fingerprint::parse("zz:4c:e2:dd:65:73:c9:1d:c7:a4:f0:ba:c8:09:44:b0").is_none());
    }

    #[test]
    fn names_compare_order_and_hash_ignoring_ascii_case_but_keep_their_spelling() {
        use std::collections::{BTreeSet, HashSet};
        use std::hash::BuildHasher;
        let (upper, lower) = (UserName::from("Bob"), UserName::from("bob"));
        assert_eq!(upper, lower);
        assert_eq!(upper.cmp(&lower), std::cmp::Ordering::Equal);
        let hasher = std::hash::RandomState::new();
        assert_eq!(hasher.hash_one(&upper), hasher.hash_one(&lower));
        assert!(!upper.same_spelling(&lower));
        assert!(upper.same_spelling(&UserName::from("Bob")));
        assert_eq!(upper.to_string(), "Bob");
        assert_eq!(upper.as_str(), "Bob");
        assert_ne!(UserName::from("bob"), UserName::from("bobby"));
        // Ordered as lowercase: `B` (0x42) sorts after `a`, not before it.
        let sorted: Vec<String> = ["bob", "Carol", "alice", "Dave"]
            .into_iter()
            .map(GroupName::from)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(|g| g.to_string())
            .collect();
        assert_eq!(sorted, ["alice", "bob", "Carol", "Dave"]);
        // One set entry per name whatever the case; the first spelling is kept.
        let mut set = BTreeSet::new();
        for name in ["Devs", "devs", "DEVS"] {
            set.insert(GroupName::from(name));
        }
        assert_eq!(set.len(), 1);
        assert_eq!(set.first().map(GroupName::as_str), Some("Devs"));
        let hashed: HashSet<UserName> = ["x", "X"].into_iter().map(UserName::from).collect();
        assert_eq!(hashed.len(), 1);
        // Only ASCII folds (as SQLite's NOCASE): other letters compare as bytes.
        assert_ne!(UserName::from("\u{e9}"), UserName::from("\u{c9}"));
        // Fingerprints and OCIDs stay byte for byte.
        assert_ne!(
            Ocid::from("ocid1.user.oc1..A"),
            Ocid::from("ocid1.user.oc1..a")
        );
    }

    #[test]
    fn memberships_of_one_user_stay_contiguous_across_spellings() {
        let mut s = State::default();
        for (u, g) in [
            ("Bob", "g1"),
            ("alice", "g1"),
            ("bob", "G2"),
            ("carol", "g3"),
        ] {
            s.memberships.insert(
                Membership {
                    user: u.into(),
                    group: g.into(),
                },
                None,
            );
        }
        let bob = UserName::from("BOB");
        let groups: Vec<_> = s.groups_of(&bob).map(GroupName::as_str).collect();
        assert_eq!(groups, ["g1", "G2"]);
    }

    #[test]
    fn names_follow_oci_character_rules() {
        assert!(valid_user_name("alice.liddell+ci@example.com"));
        assert!(!valid_user_name("alice liddell"));
        assert!(!valid_user_name(""));
        assert!(valid_group_name("dev-ops_2.x"));
        assert!(!valid_group_name("dev@ops"));
    }

    #[test]
    fn groups_of_returns_only_that_users_memberships() {
        let mut s = State::default();
        for (u, g) in [("a", "g1"), ("b", "g1"), ("b", "g2"), ("c", "g2")] {
            s.memberships.insert(
                Membership {
                    user: u.into(),
                    group: g.into(),
                },
                None,
            );
        }
        let b = UserName::from("b");
        let groups: Vec<_> = s.groups_of(&b).map(GroupName::as_str).collect();
        assert_eq!(groups, ["g1", "g2"]);
    }
}
