//! [`IdentityClient::fetch_snapshot`]: the whole tenancy as a [`Snapshot`], read with the
//! per-user key and per-group membership lists started as each users or groups page arrives
//! (under the client's adaptive limiter), returned in a deterministic order, objects exactly
//! as the service sent them, plus the tenancy's kind (ListDomains: identity domains or
//! classic); and [`ReadProgress`], what the read reports as it goes.
//!
//! Shell: the network, through the client's list calls. It lives in `backend`, outside `oci`,
//! because it builds the core's [`Snapshot`] while the core snapshot module reads the OCI
//! objects of `oci::wire`: `oci` stays below `snapshot`.
//!
//! Reads only: it must not write, and must not filter or rewrite objects (the snapshot module
//! decides what is live).

use std::collections::VecDeque;

use futures_util::StreamExt as _;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;

use crate::model::Ocid;
use crate::oci::client::{ClientError, IdentityClient, MembershipFilter, Pages, Throughput};
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
        self.fetch_snapshot_with_progress(&|_| {}).await
    }

    /// Lists users and groups a page at a time, policies (compartment = tenancy), and asks
    /// ListDomains whether the tenancy has identity domains; each live user's API keys are
    /// listed as soon as the users page holding it arrives, and each live group's memberships
    /// as soon as its groups page arrives, so the paged listing overlaps the fan-out. Every
    /// attempt passes the client's one adaptive limiter; this read keeps at most the limiter's
    /// current limit of its own requests started, leaving room for the next page of a listing
    /// so the sequential page chain is not queued behind the fan-out.
    ///
    /// `progress` is told the lists done and known so far (a listing counts once, when its
    /// last page arrives; each user's keys and group's memberships count once) and the
    /// limiter's state. Objects are kept exactly as the service returned them, sorted by id
    /// (keys by fingerprint); users without keys get no `api_keys` entry. Memberships are
    /// listed per group because the service requires a user or a group filter.
    ///
    /// # Errors
    /// The first [`ClientError`] of any request (the others are cancelled).
    pub async fn fetch_snapshot_with_progress(
        &self,
        progress: &(dyn Fn(&ReadProgress) + Sync),
    ) -> Result<Snapshot, ClientError> {
        enum Found {
            Users(Pages<User>, Option<Vec<User>>),
            Groups(Pages<Group>, Option<Vec<Group>>),
            Policies(Vec<Policy>),
            Domains(bool),
            Members(Vec<UserGroupMembership>),
            Keys(Ocid, Vec<ApiKey>),
        }
        enum Job {
            Members(Ocid),
            Keys(Ocid),
        }
        type Task<'a> = BoxFuture<'a, Result<Found, ClientError>>;
        let users_page = |mut pages: Pages<User>| -> Task<'_> {
            Box::pin(async move {
                let page = pages.next_page().await?;
                Ok(Found::Users(pages, page))
            })
        };
        let groups_page = |mut pages: Pages<Group>| -> Task<'_> {
            Box::pin(async move {
                let page = pages.next_page().await?;
                Ok(Found::Groups(pages, page))
            })
        };
        let fan_out = |job: Job| -> Task<'_> {
            Box::pin(async move {
                Ok(match job {
                    Job::Members(group) => Found::Members(
                        self.list_user_group_memberships(MembershipFilter::Group(&group))
                            .await?,
                    ),
                    Job::Keys(user) => {
                        let keys = self.list_api_keys(&user).await?;
                        Found::Keys(user, keys)
                    }
                })
            })
        };

        let mut snapshot = Snapshot {
            format_version: snapshot::FORMAT_VERSION,
            tenancy: self.tenancy().to_string(),
            ..Snapshot::default()
        };
        let mut listings: FuturesUnordered<Task<'_>> = FuturesUnordered::new();
        listings.push(users_page(self.list_users_pages()));
        listings.push(groups_page(self.list_groups_pages()));
        listings.push(Box::pin(async move {
            Ok(Found::Policies(self.list_policies(self.tenancy()).await?))
        }));
        listings.push(Box::pin(async move {
            Ok(Found::Domains(self.has_identity_domains().await?))
        }));
        let mut fan: FuturesUnordered<Task<'_>> = FuturesUnordered::new();
        let mut pending: VecDeque<Job> = VecDeque::new();
        let (mut done, mut total) = (0, 4);
        let report = |done, total| {
            progress(&ReadProgress {
                done,
                total,
                throughput: self.throughput(),
            });
        };
        report(done, total);

        loop {
            // Start fan-out up to the limiter's limit, less the listings in flight.
            let room = self
                .throughput()
                .limit
                .saturating_sub(listings.len())
                .max(1);
            while fan.len() < room {
                let Some(job) = pending.pop_front() else {
                    break;
                };
                fan.push(fan_out(job));
            }
            let found = tokio::select! {
                biased;
                Some(found) = listings.next(), if !listings.is_empty() => found?,
                Some(found) = fan.next(), if !fan.is_empty() => found?,
                else => break,
            };
            match found {
                Found::Users(pages, Some(users)) => {
                    let live = users
                        .iter()
                        .filter(|u| wire::is_live(u.lifecycle_state.as_deref()))
                        .map(|u| Job::Keys(Ocid::new(&u.id)));
                    let before = pending.len();
                    pending.extend(live);
                    total += pending.len() - before;
                    snapshot.users.extend(users);
                    listings.push(users_page(pages));
                    report(done, total);
                    continue;
                }
                Found::Groups(pages, Some(groups)) => {
                    let live = groups
                        .iter()
                        .filter(|g| wire::is_live(g.lifecycle_state.as_deref()))
                        .map(|g| Job::Members(Ocid::new(&g.id)));
                    // Memberships first: a group's list may take several pages.
                    let jobs: Vec<Job> = live.collect();
                    total += jobs.len();
                    for job in jobs.into_iter().rev() {
                        pending.push_front(job);
                    }
                    snapshot.groups.extend(groups);
                    listings.push(groups_page(pages));
                    report(done, total);
                    continue;
                }
                Found::Users(_, None) | Found::Groups(_, None) => {}
                Found::Policies(policies) => snapshot.policies = policies,
                Found::Domains(domains) => snapshot.identity_domains = domains,
                Found::Members(members) => snapshot.memberships.extend(members),
                Found::Keys(user, mut keys) => {
                    if !keys.is_empty() {
                        keys.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
                        snapshot.api_keys.insert(user.to_string(), keys);
                    }
                }
            }
            done += 1;
            report(done, total);
        }

        snapshot.users.sort_by(|a, b| a.id.cmp(&b.id));
        snapshot.groups.sort_by(|a, b| a.id.cmp(&b.id));
        snapshot.policies.sort_by(|a, b| a.id.cmp(&b.id));
        snapshot.memberships.sort_by(|a, b| a.id.cmp(&b.id));
        snapshot.memberships.dedup_by(|a, b| a.id == b.id);
        Ok(snapshot)
    }
}

/// How a tenancy read goes, as [`IdentityClient::fetch_snapshot_with_progress`] reports it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReadProgress {
    /// Lists done.
    pub done: usize,
    /// Lists known so far (grows as user and group pages arrive).
    pub total: usize,
    /// The client's limiter now: concurrency and throttles seen.
    pub throughput: Throughput,
}
