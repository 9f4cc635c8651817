//! OCI's Identity permissions as data: the permission names, the verbs that bundle them per
//! resource type, and the permissions each Identity operation needs on its target — the
//! tables of `oci/PERMISSIONS.md` §1 and §2 (Oracle's IAM policy reference), restated.
//!
//! Pure data and lookups; deciding who holds what is [`super`]'s job.

use std::fmt;

macro_rules! permissions {
    ($($variant:ident = $name:literal),+ $(,)?) => {
        /// One OCI IAM permission (`USER_APIKEY_ADD`, …).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[allow(missing_docs)]
        pub enum Permission { $($variant),+ }

        impl Permission {
            /// Every permission ociam knows, in declaration order.
            pub const ALL: &'static [Permission] = &[$(Permission::$variant),+];

            /// The name as it is written in policies (`USER_APIKEY_ADD`).
            #[must_use]
            pub fn name(self) -> &'static str {
                match self { $(Permission::$variant => $name),+ }
            }
        }
    };
}

permissions! {
    UserInspect = "USER_INSPECT",
    UserRead = "USER_READ",
    UserUpdate = "USER_UPDATE",
    UserCreate = "USER_CREATE",
    UserDelete = "USER_DELETE",
    UserUnblock = "USER_UNBLOCK",
    UserApikeyAdd = "USER_APIKEY_ADD",
    UserApikeyRemove = "USER_APIKEY_REMOVE",
    UserUipassSet = "USER_UIPASS_SET",
    UserUipassReset = "USER_UIPASS_RESET",
    UserCapabilitiesUpdate = "USER_CAPABILITIES_UPDATE",
    UserAuthtokenSet = "USER_AUTHTOKEN_SET",
    UserAuthtokenReset = "USER_AUTHTOKEN_RESET",
    UserAuthtokenRemove = "USER_AUTHTOKEN_REMOVE",
    UserSecretkeyAdd = "USER_SECRETKEY_ADD",
    UserSecretkeyUpdate = "USER_SECRETKEY_UPDATE",
    UserSecretkeyRemove = "USER_SECRETKEY_REMOVE",
    UserSwiftpassSet = "USER_SWIFTPASS_SET",
    UserSwiftpassReset = "USER_SWIFTPASS_RESET",
    UserSwiftpassRemove = "USER_SWIFTPASS_REMOVE",
    UserOauth2ClientCredCreate = "USER_OAUTH2_CLIENT_CRED_CREATE",
    UserOauth2ClientCredUpdate = "USER_OAUTH2_CLIENT_CRED_UPDATE",
    UserOauth2ClientCredRemove = "USER_OAUTH2_CLIENT_CRED_REMOVE",
    UserSupportAccountLink = "USER_SUPPORT_ACCOUNT_LINK",
    UserSupportAccountUnlink = "USER_SUPPORT_ACCOUNT_UNLINK",
    UserTotpdeviceAdd = "USER_TOTPDEVICE_ADD",
    UserTotpdeviceRemove = "USER_TOTPDEVICE_REMOVE",
    UserTotpdeviceUpdate = "USER_TOTPDEVICE_UPDATE",
    GroupInspect = "GROUP_INSPECT",
    GroupUpdate = "GROUP_UPDATE",
    GroupCreate = "GROUP_CREATE",
    GroupDelete = "GROUP_DELETE",
    PolicyRead = "POLICY_READ",
    PolicyUpdate = "POLICY_UPDATE",
    PolicyCreate = "POLICY_CREATE",
    PolicyDelete = "POLICY_DELETE",
    TenancyInspect = "TENANCY_INSPECT",
    TenancyUpdate = "TENANCY_UPDATE",
    DomainInspect = "DOMAIN_INSPECT",
}

impl Permission {
    /// The permission named `name` (any case), if it is one of OCI's IAM permissions.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// The resource type the permission belongs to.
    #[must_use]
    pub fn resource(self) -> Resource {
        match self.name().split('_').next() {
            Some("GROUP") => Resource::Groups,
            Some("POLICY") => Resource::Policies,
            Some("TENANCY") => Resource::Tenancies,
            Some("DOMAIN") => Resource::Domains,
            _ => Resource::Users,
        }
    }

    /// The weakest verb on its resource type that includes it (`USER_UPDATE` → `use`).
    #[must_use]
    pub fn least_verb(self) -> Verb {
        Verb::ALL
            .into_iter()
            .find(|v| verb_grants(*v, self.resource()).contains(self))
            .unwrap_or(Verb::Manage)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of permissions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Permissions(u64);

impl Permissions {
    /// No permission.
    pub const NONE: Self = Self(0);

    /// The set of `perms`.
    #[must_use]
    pub fn of(perms: &[Permission]) -> Self {
        perms.iter().fold(Self::NONE, |s, p| s.with(*p))
    }

    /// This set and `p`.
    #[must_use]
    pub const fn with(self, p: Permission) -> Self {
        Self(self.0 | 1 << p as u32)
    }

    /// Whether `p` is in the set.
    #[must_use]
    pub const fn contains(self, p: Permission) -> bool {
        self.0 & (1 << p as u32) != 0
    }

    /// Whether every permission of `other` is in the set.
    #[must_use]
    pub const fn covers(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets together.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The permissions of this set that `other` lacks.
    #[must_use]
    pub const fn minus(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    /// Whether the set is empty.
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The permissions, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .iter()
            .copied()
            .filter(move |p| self.contains(*p))
    }

    /// The smallest policy phrases that grant the set: `use users, use groups`.
    #[must_use]
    pub fn verb_hint(self) -> String {
        let mut phrases = Vec::new();
        for resource in Resource::IAM {
            let verb = self
                .iter()
                .filter(|p| p.resource() == resource)
                .map(Permission::least_verb)
                .max();
            if let Some(verb) = verb {
                phrases.push(format!("{verb} {}", resource.name()));
            }
        }
        phrases.join(", ")
    }

    /// Describes the set the way a policy author would write it: whole verbs where the set
    /// holds one (`manage users`), permission names for the rest.
    #[must_use]
    pub fn as_policy_terms(self) -> Vec<String> {
        let mut out = Vec::new();
        let mut left = self;
        for resource in Resource::IAM {
            // The strongest verb held, written as the weakest verb with the same permissions
            // (`inspect groups`, not `read groups`, which grants nothing more).
            let verb = Verb::ALL
                .into_iter()
                .rev()
                .find(|v| self.covers(verb_grants(*v, resource)))
                .map(|held| {
                    Verb::ALL
                        .into_iter()
                        .find(|v| verb_grants(*v, resource) == verb_grants(held, resource))
                        .unwrap_or(held)
                });
            if let Some(verb) = verb.filter(|v| !verb_grants(*v, resource).is_empty()) {
                out.push(format!("{verb} {}", resource.name()));
                left = left.minus(verb_grants(verb, resource));
            }
        }
        out.extend(left.iter().map(|p| p.name().to_owned()));
        out
    }
}

impl fmt::Display for Permissions {
    /// `USER_UPDATE and GROUP_UPDATE`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Permission::name).collect();
        match names.as_slice() {
            [] => f.write_str("nothing"),
            [one] => f.write_str(one),
            [head @ .., last] => write!(f, "{} and {last}", head.join(", ")),
        }
    }
}

/// A policy verb. Each includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verb {
    /// `inspect`.
    Inspect,
    /// `read`.
    Read,
    /// `use`.
    Use,
    /// `manage`.
    Manage,
}

impl Verb {
    /// Every verb, weakest first.
    pub const ALL: [Self; 4] = [Self::Inspect, Self::Read, Self::Use, Self::Manage];

    /// The verb named `word` (any case).
    #[must_use]
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|v| v.name().eq_ignore_ascii_case(word))
    }

    /// As written in policies.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Inspect => "inspect",
            Self::Read => "read",
            Self::Use => "use",
            Self::Manage => "manage",
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A policy resource type, as far as IAM is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    /// `users`.
    Users,
    /// `groups`.
    Groups,
    /// `policies`.
    Policies,
    /// `tenancies`.
    Tenancies,
    /// `domains` (identity domains; only `DOMAIN_INSPECT`, for ListDomains, is modelled).
    Domains,
    /// `all-resources`: every resource type.
    AllResources,
    /// Any other resource type (`buckets`, `instance-family`, …): no IAM permission.
    Other,
}

impl Resource {
    /// The IAM resource types, in documentation order.
    pub const IAM: [Self; 5] = [
        Self::Users,
        Self::Groups,
        Self::Policies,
        Self::Tenancies,
        Self::Domains,
    ];

    /// The resource type named `word` (any case); [`Resource::Other`] for non-IAM types.
    #[must_use]
    pub fn parse(word: &str) -> Self {
        [
            Self::Users,
            Self::Groups,
            Self::Policies,
            Self::Tenancies,
            Self::Domains,
            Self::AllResources,
        ]
        .into_iter()
        .find(|r| r.name().eq_ignore_ascii_case(word))
        .unwrap_or(Self::Other)
    }

    /// As written in policies.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Groups => "groups",
            Self::Policies => "policies",
            Self::Tenancies => "tenancies",
            Self::Domains => "domains",
            Self::AllResources => "all-resources",
            Self::Other => "(other)",
        }
    }
}

/// The permissions `verb` grants on `resource` (PERMISSIONS.md §1: cumulative).
#[must_use]
pub fn verb_grants(verb: Verb, resource: Resource) -> Permissions {
    use Permission as P;
    let step = |perms: &[&[Permission]]| {
        perms
            .iter()
            .take(verb as usize + 1)
            .fold(Permissions::NONE, |s, more| s.union(Permissions::of(more)))
    };
    match resource {
        Resource::Users => step(&[
            &[P::UserInspect],
            &[P::UserRead],
            &[P::UserUpdate],
            &[
                P::UserCreate,
                P::UserDelete,
                P::UserUnblock,
                P::UserApikeyAdd,
                P::UserApikeyRemove,
                P::UserUipassSet,
                P::UserUipassReset,
                P::UserCapabilitiesUpdate,
                P::UserAuthtokenSet,
                P::UserAuthtokenReset,
                P::UserAuthtokenRemove,
                P::UserSecretkeyAdd,
                P::UserSecretkeyUpdate,
                P::UserSecretkeyRemove,
                P::UserSwiftpassSet,
                P::UserSwiftpassReset,
                P::UserSwiftpassRemove,
                P::UserOauth2ClientCredCreate,
                P::UserOauth2ClientCredUpdate,
                P::UserOauth2ClientCredRemove,
                P::UserSupportAccountLink,
                P::UserSupportAccountUnlink,
                P::UserTotpdeviceAdd,
                P::UserTotpdeviceRemove,
                P::UserTotpdeviceUpdate,
            ],
        ]),
        Resource::Groups => step(&[
            &[P::GroupInspect],
            &[],
            &[P::GroupUpdate],
            &[P::GroupCreate, P::GroupDelete],
        ]),
        Resource::Policies => step(&[
            &[P::PolicyRead],
            &[],
            &[],
            &[P::PolicyUpdate, P::PolicyCreate, P::PolicyDelete],
        ]),
        Resource::Tenancies => step(&[&[P::TenancyInspect], &[], &[P::TenancyUpdate], &[]]),
        Resource::Domains => step(&[&[P::DomainInspect], &[], &[], &[]]),
        Resource::AllResources => Resource::IAM
            .into_iter()
            .fold(Permissions::NONE, |s, r| s.union(verb_grants(verb, r))),
        Resource::Other => Permissions::NONE,
    }
}

/// Every IAM permission: what `manage all-resources in tenancy` grants.
#[must_use]
pub fn everything() -> Permissions {
    verb_grants(Verb::Manage, Resource::AllResources)
}

macro_rules! operations {
    ($($variant:ident => [$($perm:ident),*]),+ $(,)?) => {
        /// An OCI Identity API operation ociam calls (or the emulator serves).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[allow(missing_docs)]
        pub enum Operation { $($variant),+ }

        impl Operation {
            /// Every operation.
            pub const ALL: &'static [Operation] = &[$(Operation::$variant),+];

            /// OCI's name for it (`UploadApiKey`).
            #[must_use]
            pub fn name(self) -> &'static str {
                match self { $(Operation::$variant => stringify!($variant)),+ }
            }

            /// The permissions it needs on its target, all of them (PERMISSIONS.md §2).
            #[must_use]
            pub fn needs(self) -> Permissions {
                match self { $(Operation::$variant => Permissions::of(&[$(Permission::$perm),*])),+ }
            }
        }
    };
}

operations! {
    ListUsers => [UserInspect],
    GetUser => [UserInspect],
    CreateUser => [UserCreate],
    UpdateUser => [UserUpdate],
    DeleteUser => [UserDelete],
    UpdateUserState => [UserUpdate, UserUnblock],
    UpdateUserCapabilities => [UserCapabilitiesUpdate],
    ListApiKeys => [UserRead],
    UploadApiKey => [UserUpdate, UserApikeyAdd],
    DeleteApiKey => [UserUpdate, UserApikeyRemove],
    CreateOrResetUIPassword => [UserUpdate, UserUipassReset],
    GetUserUIPasswordInformation => [UserRead],
    ListGroups => [GroupInspect],
    GetGroup => [GroupInspect],
    CreateGroup => [GroupCreate],
    UpdateGroup => [GroupUpdate],
    DeleteGroup => [GroupDelete],
    AddUserToGroup => [GroupUpdate, UserUpdate],
    RemoveUserFromGroup => [GroupUpdate, UserUpdate],
    ListUserGroupMemberships => [GroupInspect, UserInspect],
    GetUserGroupMembership => [GroupInspect, UserInspect],
    ListPolicies => [PolicyRead],
    GetPolicy => [PolicyRead],
    GetTenancy => [TenancyInspect],
    ListDomains => [DomainInspect],
    ListRegionSubscriptions => [TenancyInspect],
}

impl Operation {
    /// Whether every user may call it on their own user without any policy (PERMISSIONS.md
    /// §5: read their own user and keys, manage their own API keys and console password).
    #[must_use]
    pub fn is_self_service(self) -> bool {
        matches!(
            self,
            Self::GetUser
                | Self::ListApiKeys
                | Self::UploadApiKey
                | Self::DeleteApiKey
                | Self::CreateOrResetUIPassword
                | Self::GetUserUIPasswordInformation
        )
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_are_cumulative_per_resource() {
        use Permission as P;
        assert_eq!(
            verb_grants(Verb::Inspect, Resource::Users),
            Permissions::of(&[P::UserInspect])
        );
        assert!(
            verb_grants(Verb::Use, Resource::Users).covers(Permissions::of(&[
                P::UserInspect,
                P::UserRead,
                P::UserUpdate
            ]))
        );
        assert!(!verb_grants(Verb::Use, Resource::Users).contains(P::UserApikeyAdd));
        assert!(verb_grants(Verb::Manage, Resource::Users).contains(P::UserApikeyAdd));
        assert_eq!(
            verb_grants(Verb::Read, Resource::Groups),
            verb_grants(Verb::Inspect, Resource::Groups)
        );
        assert!(!verb_grants(Verb::Manage, Resource::Groups).contains(P::UserUpdate));
        assert!(verb_grants(Verb::Inspect, Resource::Policies).contains(P::PolicyRead));
        assert_eq!(
            verb_grants(Verb::Manage, Resource::Other),
            Permissions::NONE
        );
        assert_eq!(
            everything(),
            Permission::ALL
                .iter()
                .fold(Permissions::NONE, |s, p| s.with(*p))
        );
    }

    #[test]
    fn names_round_trip_and_parse_any_case() {
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.name()), Some(*p));
            assert_eq!(Permission::parse(&p.name().to_lowercase()), Some(*p));
        }
        assert_eq!(Permission::parse("BUCKET_READ"), None);
    }

    #[test]
    fn hints_name_the_weakest_verbs() {
        assert_eq!(
            Operation::AddUserToGroup.needs().verb_hint(),
            "use users, use groups"
        );
        assert_eq!(Operation::UploadApiKey.needs().verb_hint(), "manage users");
        assert_eq!(Operation::CreateGroup.needs().verb_hint(), "manage groups");
        assert_eq!(
            Operation::AddUserToGroup.needs().to_string(),
            "USER_UPDATE and GROUP_UPDATE"
        );
        assert_eq!(
            verb_grants(Verb::Use, Resource::Users)
                .with(Permission::UserApikeyAdd)
                .as_policy_terms(),
            ["use users", "USER_APIKEY_ADD"]
        );
        assert_eq!(
            verb_grants(Verb::Read, Resource::Groups).as_policy_terms(),
            ["inspect groups"]
        );
        assert_eq!(everything().as_policy_terms().len(), Resource::IAM.len());
    }
}
