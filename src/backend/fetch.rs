//! [`IdentityClient::fetch_snapshot`]: the whole tenancy as a [`Snapshot`], read with bounded
//! concurrency and returned in a deterministic order, objects exactly as the service sent them,
//! plus the tenancy's kind (ListDomains: identity domains or classic).
//!
//! Shell: the network, through the client's list calls. It lives in `backend`, outside `oci`,
//! because it builds the core's [`Snapshot`] while the core snapshot module reads the OCI
//! objects of `oci::wire`: `oci` stays below `snapshot`.
//!
//! Reads only: it must not write, and must not filter or rewrite objects (the snapshot module
//! decides what is live).

use futures_util::{StreamExt as _, TryStreamExt as _};

use crate::model::Ocid;
use crate::oci::client::{ClientError, IdentityClient, MembershipFilter};
use crate::oci::wire::{self, ApiKey, Group, Policy, User, UserGroupMembership};
use crate::snapshot::{self, Snapshot};

impl IdentityClient {
    /// What a user that may not read the whole tenancy may read: its own user and its own API
    /// keys (OCI answers 404 to its tenancy-wide lists). The snapshot holds just those.
    ///
    /// # Errors
    /// The first [`ClientError`].
    pub async fn fetch_own_snapshot(&self, user: &Ocid) -> Result<Snapshot, ClientError> {
        let me = self.get_user(user).await?.value;
        let mut keys = self.list_api_keys(user).await?;
        keys.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
        let mut api_keys = std::collections::BTreeMap::new();
        if !keys.is_empty() {
            api_keys.insert(user.to_string(), keys);
        }
        Ok(Snapshot {
            format_version: snapshot::FORMAT_VERSION,
            tenancy: self.tenancy().to_string(),
            users: vec![me],
            api_keys,
            ..Snapshot::default()
        })
    }

    /// The whole tenancy as a [`Snapshot`]: see [`IdentityClient::fetch_snapshot_with_progress`].
    ///
    /// # Errors
    /// The first [`ClientError`] of any request.
    pub async fn fetch_snapshot(&self) -> Result<Snapshot, ClientError> {
        self.fetch_snapshot_with_progress(&|_, _| {}).await
    }

    /// Lists users, groups and policies (compartment = tenancy) and asks ListDomains whether the
    /// tenancy has identity domains, then each live group's
    /// memberships and each live user's API keys with at most `parallelism` requests in flight,
    /// calling `progress(done, total)` as lists complete. Objects are kept exactly as the
    /// service returned them, sorted by id (keys by fingerprint); users without keys get no
    /// `api_keys` entry. Memberships are listed per group because the service requires a user
    /// or a group filter.
    ///
    /// # Errors
    /// The first [`ClientError`] of any request (the others are cancelled).
    pub async fn fetch_snapshot_with_progress(
        &self,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Snapshot, ClientError> {
        enum Job {
            Users,
            Groups,
            Policies,
            Domains,
            Members(Ocid),
            Keys(Ocid),
        }
        enum Found {
            Users(Vec<User>),
            Groups(Vec<Group>),
            Policies(Vec<Policy>),
            Domains(bool),
            Members(Vec<UserGroupMembership>),
            Keys(Ocid, Vec<ApiKey>),
        }
        let run = |job: Job| async move {
            Ok::<_, ClientError>(match job {
                Job::Users => Found::Users(self.list_users().await?),
                Job::Groups => Found::Groups(self.list_groups().await?),
                Job::Policies => Found::Policies(self.list_policies(self.tenancy()).await?),
                Job::Domains => Found::Domains(self.has_identity_domains().await?),
                Job::Members(group) => Found::Members(
                    self.list_user_group_memberships(MembershipFilter::Group(&group))
                        .await?,
                ),
                Job::Keys(user) => {
                    let keys = self.list_api_keys(&user).await?;
                    Found::Keys(user, keys)
                }
            })
        };
        let parallelism = self.parallelism();

        let mut snapshot = Snapshot {
            format_version: snapshot::FORMAT_VERSION,
            tenancy: self.tenancy().to_string(),
            ..Snapshot::default()
        };
        let mut total = 4;
        progress(0, total);
        let first: Vec<Found> =
            futures_util::stream::iter([Job::Users, Job::Groups, Job::Policies, Job::Domains])
                .map(run)
                .buffer_unordered(parallelism)
                .try_collect()
                .await?;
        for found in first {
            match found {
                Found::Users(users) => snapshot.users = users,
                Found::Groups(groups) => snapshot.groups = groups,
                Found::Policies(policies) => snapshot.policies = policies,
                Found::Domains(domains) => snapshot.identity_domains = domains,
                Found::Members(_) | Found::Keys(..) => {}
            }
        }

        let jobs: Vec<Job> = snapshot
            .groups
            .iter()
            .filter(|g| wire::is_live(g.lifecycle_state.as_deref()))
            .map(|g| Job::Members(Ocid::new(&g.id)))
            .chain(
                snapshot
                    .users
                    .iter()
                    .filter(|u| wire::is_live(u.lifecycle_state.as_deref()))
                    .map(|u| Job::Keys(Ocid::new(&u.id))),
            )
            .collect();
        let mut done = total;
        total += jobs.len();
        progress(done, total);
        let mut second = futures_util::stream::iter(jobs)
            .map(run)
            .buffer_unordered(parallelism);
        while let Some(found) = second.try_next().await? {
            match found {
                Found::Members(members) => snapshot.memberships.extend(members),
                Found::Keys(user, mut keys) if !keys.is_empty() => {
                    keys.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
                    snapshot.api_keys.insert(user.to_string(), keys);
                }
                _ => {}
            }
            done += 1;
            progress(done, total);
        }

        snapshot.users.sort_by(|a, b| a.id.cmp(&b.id));
        snapshot.groups.sort_by(|a, b| a.id.cmp(&b.id));
        snapshot.policies.sort_by(|a, b| a.id.cmp(&b.id));
        snapshot.memberships.sort_by(|a, b| a.id.cmp(&b.id));
        snapshot.memberships.dedup_by(|a, b| a.id == b.id);
        Ok(snapshot)
    }
}
