//! What goes into the client and what comes out of it besides wire objects: [`ClientConfig`]
//! (with SDK defaults for a region, an explicit endpoint or an OCI config profile),
//! [`Response`] and [`MembershipFilter`].
//!
//! Pure data and constructors: no network, no file or environment access (the caller reads the
//! config file and the key), except [`system_clock`], which reads the clock when called.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;

use super::endpoint::{EndpointError, endpoint_for_region, explicit_endpoint, region_name};
use super::transport::{Clock, RetryObserver, RetryPolicy};
use crate::model::{Fingerprint, Ocid};
use crate::oci::config::Profile;
use crate::oci::sign::SigningKey;

/// The default cap of request attempts in flight (`--parallelism`), reads and writes alike.
///
/// Oracle publishes no per-operation rate for Identity (each service sets its own 429
/// thresholds, API.md §9), so no fixed number is known to be safe. Terraform's OCI runs default
/// to 10 operations at once; ociam's limiter adapts (a 429 or 503 halves the limit, successes
/// grow it back), so a cap a little above that is safe where 10 is: 16 reads a 2,000-user
/// tenancy about twice as fast as 8 at OCI's latencies, and when the tenancy's rate is lower
/// the first throttles bring the limit down within a round trip or two.
pub const DEFAULT_PARALLELISM: usize = 16;
/// How long after a create or update reads treat 404 as possibly stale (the Go SDK's 240 s).
pub const DEFAULT_EC_WINDOW: Duration = Duration::from_secs(240);
/// The system clock, in Unix seconds.
#[must_use]
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    })
}

/// Everything [`IdentityClient::new`](super::IdentityClient::new) needs.
pub struct ClientConfig {
    /// The base endpoint, without `/20160918` (see [`endpoint_for_region`] and
    /// [`explicit_endpoint`]): https, or http to a loopback host.
    pub endpoint: Url,
    /// The region `endpoint` was derived from. When set, IAM writes go to the tenancy's home
    /// region (looked up once with ListRegionSubscriptions), and reads follow once a write has
    /// happened; `None` (an explicit endpoint) sends everything to `endpoint`.
    pub region: Option<String>,
    /// The tenancy OCID (compartment of users, groups and memberships).
    pub tenancy: Ocid,
    /// The OCID of the user whose API key signs requests.
    pub user: Ocid,
    /// The fingerprint of that API key; must be `key`'s.
    pub fingerprint: Fingerprint,
    /// The private key that signs requests.
    pub key: SigningKey,
    /// Retry policy (tests use millisecond delays).
    pub retry: RetryPolicy,
    /// The cap of the adaptive limiter: request attempts (reads and writes) in flight at once
    /// never exceed it (0 counts as 1).
    pub parallelism: usize,
    /// The clock for the `date` header and the eventual-consistency window, in Unix seconds.
    pub clock: Clock,
    /// After a create or update, reads answering 404 `NotAuthorizedOrNotFound` within this
    /// window are retried briefly (zero turns it off).
    pub ec_window: Duration,
    /// Told about each retry before its sleep.
    pub on_retry: Option<RetryObserver>,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("endpoint", &self.endpoint.as_str())
            .field("region", &self.region)
            .field("tenancy", &self.tenancy)
            .field("user", &self.user)
            .field("fingerprint", &self.fingerprint)
            .field("key", &self.key)
            .field("retry", &self.retry)
            .field("parallelism", &self.parallelism)
            .field("ec_window", &self.ec_window)
            .finish_non_exhaustive()
    }
}

impl ClientConfig {
    /// A configuration with SDK defaults for `endpoint` (explicit when `region` is `None`).
    fn with_defaults(
        endpoint: Url,
        region: Option<String>,
        tenancy: Ocid,
        user: Ocid,
        fingerprint: Fingerprint,
        key: SigningKey,
    ) -> Self {
        Self {
            endpoint,
            region,
            tenancy,
            user,
            fingerprint,
            key,
            retry: RetryPolicy::sdk_default(),
            parallelism: DEFAULT_PARALLELISM,
            clock: system_clock(),
            ec_window: DEFAULT_EC_WINDOW,
            on_retry: None,
        }
    }

    /// SDK defaults for a region (`us-ashburn-1` or a short code such as `iad`); writes will go
    /// to the tenancy's home region.
    ///
    /// # Errors
    /// [`EndpointError::BadRegion`].
    pub fn for_region(
        region: &str,
        tenancy: Ocid,
        user: Ocid,
        fingerprint: Fingerprint,
        key: SigningKey,
    ) -> Result<Self, EndpointError> {
        let name = region_name(region)?;
        let endpoint = endpoint_for_region(&name)?;
        Ok(Self::with_defaults(
            endpoint,
            Some(name),
            tenancy,
            user,
            fingerprint,
            key,
        ))
    }

    /// SDK defaults for an explicit `--endpoint URL` (see [`explicit_endpoint`]); every call
    /// goes there.
    ///
    /// # Errors
    /// [`EndpointError`] when the URL is not acceptable.
    pub fn for_endpoint(
        endpoint: &str,
        tenancy: Ocid,
        user: Ocid,
        fingerprint: Fingerprint,
        key: SigningKey,
    ) -> Result<Self, EndpointError> {
        Ok(Self::with_defaults(
            explicit_endpoint(endpoint)?,
            None,
            tenancy,
            user,
            fingerprint,
            key,
        ))
    }

    /// SDK defaults for an OCI config profile: `endpoint` when given, else the profile's region.
    ///
    /// # Errors
    /// [`EndpointError::NoRegion`] when neither is set, or a bad region or URL.
    pub fn from_profile(
        profile: &Profile,
        key: SigningKey,
        endpoint: Option<&str>,
    ) -> Result<Self, EndpointError> {
        let (tenancy, user, fp) = (
            profile.tenancy.clone(),
            profile.user.clone(),
            profile.fingerprint.clone(),
        );
        match (endpoint, profile.region.as_deref()) {
            (Some(url), _) => Self::for_endpoint(url, tenancy, user, fp, key),
            (None, Some(region)) => Self::for_region(region, tenancy, user, fp, key),
            (None, None) => Err(EndpointError::NoRegion),
        }
    }
}

/// A successful single-object answer.
#[derive(Clone, Debug)]
pub struct Response<T> {
    /// The object (`()` for deletes).
    pub value: T,
    /// The `etag` header, for a later `if-match`.
    pub etag: Option<String>,
    /// The `opc-request-id` the service echoed (ours if it echoed none).
    pub opc_request_id: String,
}

/// Which memberships to list: the service requires a user, a group, or both (both answers
/// "is this user in this group", an empty list when not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MembershipFilter<'a> {
    /// Every group membership of a user.
    User(&'a Ocid),
    /// Every member of a group.
    Group(&'a Ocid),
    /// One user in one group.
    UserAndGroup {
        /// The user's OCID.
        user: &'a Ocid,
        /// The group's OCID.
        group: &'a Ocid,
    },
}
