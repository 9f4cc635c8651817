//! The OCI Identity API client (classic IAM, `/20160918`): one typed async function per
//! operation ociam uses, talking to the real service exactly as Oracle's SDKs do (signed
//! requests, SDK headers, paging, retries with one `opc-retry-token` per create, writes to the
//! home region, eventual-consistency retries) and to ociam's emulator through an explicit
//! loopback endpoint. (Reading a whole tenancy into a snapshot,
//! [`IdentityClient::fetch_snapshot`], is built on these calls in the shell's `backend`.)
//!
//! Shell: this module owns the network, reads the injected clock and draws randomness (request
//! ids, retry tokens, jitter). It must not decide what to change (that is the planner's and the
//! executor's job), read files or the environment, or log bodies: a one-time console password
//! ([`UIPassword`]) only ever leaves it inside a `SecretString`, and the `Authorization` header
//! is never logged.
//!
//! Every request attempt of a client (and its clones) holds a permit of one adaptive
//! concurrency limiter while on the wire (`limiter`; [`IdentityClient::throughput`] shows it),
//! capped at [`ClientConfig::parallelism`].
//!
//! Submodules: `config` ([`ClientConfig`], [`Response`]), [`endpoint`] (regions and URLs,
//! pure), `error` ([`ClientError`]), `limiter` (AIMD concurrency and pace, [`Throughput`]) and
//! `transport` (signing, sending, retry, paging).

mod config;
pub mod endpoint;
mod error;
mod limiter;
mod transport;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use reqwest::Url;
use reqwest::header::HeaderValue;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use config::{
    ClientConfig, DEFAULT_EC_WINDOW, DEFAULT_PARALLELISM, MembershipFilter, Response, system_clock,
};
pub use endpoint::{
    API_VERSION_PATH, EndpointError, endpoint_for_region, explicit_endpoint, region_name,
};
pub use error::{ApiError, ClientError, DecodeError};
pub use limiter::{Aimd, Outcome, Throughput};
pub use transport::{
    Clock, MAX_RESPONSE_BYTES, RetryNotice, RetryObserver, RetryPolicy, RetryToken, USER_AGENT,
    is_retryable_status, new_request_id, parse_retry_after,
};

use crate::model::{Fingerprint, Ocid};
use crate::oci::sign;
use crate::oci::wire::{
    AddUserToGroupDetails, ApiKey, CreateApiKeyDetails, CreateGroupDetails, CreateUserDetails,
    Group, Policy, RegionSubscription, Tenancy, UIPassword, UpdateGroupDetails,
    UpdateUserCapabilitiesDetails, UpdateUserDetails, User, UserGroupMembership,
};
use limiter::Limiter;
use transport::{Access, Call, Pager, Transport};

/// Time allowed to open a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for one attempt, answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Items asked for per page (the service caps pages at 100, API.md §4).
const PAGE_LIMIT: &str = "100";

/// The Identity API client. Cheap to clone (shared state).
#[derive(Clone)]
pub struct IdentityClient {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    endpoint: Url,
    from_region: bool,
    tenancy: Ocid,
    ec_window: Duration,
    /// The home-region endpoint, once looked up.
    home: tokio::sync::OnceCell<Url>,
    /// Clock time of the last create or update; `i64::MIN` before any.
    last_write: AtomicI64,
}

impl fmt::Debug for IdentityClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityClient")
            .field("endpoint", &self.inner.endpoint.as_str())
            .field("home", &self.inner.home.get().map(Url::as_str))
            .field("key_id", &self.inner.transport.key_id)
            .finish_non_exhaustive()
    }
}

/// A list read a page at a time ([`IdentityClient::list_users_pages`],
/// [`IdentityClient::list_groups_pages`]): the same paging rules as the whole-list calls.
pub struct Pages<T> {
    client: IdentityClient,
    pager: Pager,
    items: std::marker::PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for Pages<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pages")
            .field("done", &self.pager.is_done())
            .finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned> Pages<T> {
    /// The next page, or `None` after the last one.
    ///
    /// # Errors
    /// [`ClientError`], including [`ClientError::Paging`] for a repeated page token.
    pub async fn next_page(&mut self) -> Result<Option<Vec<T>>, ClientError> {
        let base = self.client.base_for(Access::Read).await?;
        let ec = self.client.in_ec_window();
        self.pager
            .next_page(&self.client.inner.transport, &base, ec)
            .await
    }
}

/// `/users/{id}`-style paths: each segment percent-encoded.
fn path(segments: &[&str]) -> String {
    segments
        .iter()
        .map(|s| format!("/{}", endpoint::encode_segment(s)))
        .collect()
}

/// Builders for the parts of a call that writes: each operation is then one expression.
impl Call {
    /// Sends `value` as the JSON body.
    fn json<T: Serialize>(mut self, value: &T) -> Result<Self, ClientError> {
        let body = serde_json::to_vec(value).map_err(|source| ClientError::Encode {
            operation: self.operation,
            source,
        })?;
        self.body = Some(body);
        Ok(self)
    }

    /// Uses `token` as the `opc-retry-token` on every attempt.
    fn token(mut self, token: &RetryToken) -> Self {
        self.retry_token = Some(token.clone());
        self
    }

    /// Sends `if-match: <etag>` when an etag is given.
    fn if_match(mut self, etag: Option<&str>) -> Result<Self, ClientError> {
        self.if_match = etag
            .map(|e| {
                HeaderValue::from_str(e)
                    .ok()
                    .filter(|_| !e.is_empty())
                    .ok_or(ClientError::InvalidHeader("if-match"))
            })
            .transpose()?;
        Ok(self)
    }
}

impl IdentityClient {
    /// A client for `config`.
    ///
    /// # Errors
    /// [`ClientError::Endpoint`] for a non-loopback http endpoint, [`ClientError::KeyMismatch`]
    /// when the key is not the configured fingerprint's, [`ClientError::HttpSetup`] when the
    /// HTTP client cannot be built.
    pub fn new(config: ClientConfig) -> Result<Self, ClientError> {
        endpoint::check_base(&config.endpoint, config.endpoint.as_str())?;
        if config.key.fingerprint() != &config.fingerprint {
            return Err(ClientError::KeyMismatch {
                configured: config.fingerprint,
                key: config.key.fingerprint().clone(),
            });
        }
        let loopback = endpoint::is_loopback(&config.endpoint);
        let mut builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none());
        if loopback {
            // The emulator: never through a proxy from the environment.
            builder = builder.no_proxy();
        }
        if config.endpoint.scheme() == "https" {
            builder = builder.https_only(true);
        }
        let http = builder.build().map_err(ClientError::HttpSetup)?;
        let key_id = sign::key_id(&config.tenancy, &config.user, &config.fingerprint);
        Ok(Self {
            inner: Arc::new(Inner {
                transport: Transport {
                    http,
                    key_id,
                    key: config.key,
                    clock: config.clock,
                    retry: config.retry,
                    on_retry: config.on_retry,
                    limiter: Limiter::new(config.parallelism),
                },
                endpoint: config.endpoint,
                from_region: config.region.is_some(),
                tenancy: config.tenancy,
                ec_window: config.ec_window,
                home: tokio::sync::OnceCell::new(),
                last_write: AtomicI64::new(i64::MIN),
            }),
        })
    }

    /// The tenancy this client reads and writes.
    #[must_use]
    pub fn tenancy(&self) -> &Ocid {
        &self.inner.tenancy
    }

    /// The most request attempts ever in flight at once (`--parallelism`, at least 1): the cap
    /// of the adaptive limiter every attempt of this client (and its clones) passes through.
    #[must_use]
    pub fn parallelism(&self) -> usize {
        self.inner.transport.limiter.cap()
    }

    /// What the adaptive limiter is doing now: its limit and cap, attempts in flight, throttles
    /// seen, and the pace when throttled at one in flight. Cheap (one short lock).
    #[must_use]
    pub fn throughput(&self) -> Throughput {
        self.inner.transport.limiter.throughput()
    }

    /// The configured base endpoint.
    #[must_use]
    pub fn endpoint(&self) -> &Url {
        &self.inner.endpoint
    }

    // -----------------------------------------------------------------------------------------
    // Plumbing

    /// Where a call goes: writes to the home region when built from a region; reads to the
    /// home region once it is known (so the client reads its own writes), else the endpoint.
    async fn base_for(&self, access: Access) -> Result<Url, ClientError> {
        match access {
            Access::Read => Ok(self
                .inner
                .home
                .get()
                .unwrap_or(&self.inner.endpoint)
                .clone()),
            Access::Write | Access::Delete if self.inner.from_region => self
                .inner
                .home
                .get_or_try_init(|| self.home_region_endpoint())
                .await
                .cloned(),
            Access::Write | Access::Delete => Ok(self.inner.endpoint.clone()),
        }
    }

    /// Whether the last create or update was within the eventual-consistency window.
    fn in_ec_window(&self) -> bool {
        let last = self.inner.last_write.load(Ordering::Relaxed);
        if last == i64::MIN || self.inner.ec_window.is_zero() {
            return false;
        }
        let window = self.inner.ec_window;
        let window = window.as_secs() + u64::from(window.subsec_nanos() > 0);
        let window = i64::try_from(window).unwrap_or(i64::MAX);
        (self.inner.transport.clock)().saturating_sub(last) <= window
    }

    async fn run<T: DeserializeOwned>(&self, call: Call) -> Result<Response<T>, ClientError> {
        let base = self.base_for(call.access).await?;
        let reply = self
            .inner
            .transport
            .execute(&call, &base, self.in_ec_window())
            .await?;
        if call.access == Access::Write {
            self.inner
                .last_write
                .store((self.inner.transport.clock)(), Ordering::Relaxed);
        }
        let value = reply.decode(&call)?;
        Ok(Response {
            value,
            etag: reply.etag.clone(),
            opc_request_id: reply.opc_request_id.clone(),
        })
    }

    async fn run_without_answer(&self, call: Call) -> Result<Response<()>, ClientError> {
        let base = self.base_for(call.access).await?;
        let reply = self
            .inner
            .transport
            .execute(&call, &base, self.in_ec_window())
            .await?;
        Ok(Response {
            value: (),
            etag: reply.etag,
            opc_request_id: reply.opc_request_id,
        })
    }

    async fn list<T: DeserializeOwned>(&self, call: Call) -> Result<Vec<T>, ClientError> {
        let base = self.base_for(Access::Read).await?;
        self.inner
            .transport
            .list_all(call, &base, self.in_ec_window())
            .await
    }

    /// A cursor over the pages of `call`.
    fn pages<T: DeserializeOwned>(&self, call: Call) -> Pages<T> {
        Pages {
            client: self.clone(),
            pager: Pager::new(call),
            items: std::marker::PhantomData,
        }
    }

    fn list_call(&self, operation: &'static str, resource: &str, compartment: &Ocid) -> Call {
        let mut call = Call::new(operation, "GET", path(&[resource]), Access::Read);
        call.query = vec![
            ("compartmentId", compartment.to_string()),
            ("limit", PAGE_LIMIT.to_owned()),
        ];
        call
    }

    // -----------------------------------------------------------------------------------------
    // Users

    /// ListUsers: every user of the tenancy (all pages).
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn list_users(&self) -> Result<Vec<User>, ClientError> {
        self.list(self.list_call("ListUsers", "users", &self.inner.tenancy))
            .await
    }

    /// ListUsers a page at a time (to start work on each page as it arrives).
    #[must_use]
    pub fn list_users_pages(&self) -> Pages<User> {
        self.pages(self.list_call("ListUsers", "users", &self.inner.tenancy))
    }

    /// GetUser.
    ///
    /// # Errors
    /// [`ClientError`]; 404 `NotAuthorizedOrNotFound` when it does not exist.
    pub async fn get_user(&self, user_id: &Ocid) -> Result<Response<User>, ClientError> {
        self.run(Call::new(
            "GetUser",
            "GET",
            path(&["users", user_id.as_str()]),
            Access::Read,
        ))
        .await
    }

    /// CreateUser, with a fresh retry token.
    ///
    /// # Errors
    /// [`ClientError`]; 409 when the name is taken.
    pub async fn create_user(
        &self,
        details: &CreateUserDetails,
    ) -> Result<Response<User>, ClientError> {
        self.create_user_with_token(details, &RetryToken::generate()?)
            .await
    }

    /// CreateUser with the caller's retry token (kept across retries and resumed applies).
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn create_user_with_token(
        &self,
        details: &CreateUserDetails,
        token: &RetryToken,
    ) -> Result<Response<User>, ClientError> {
        self.run(
            Call::new("CreateUser", "POST", path(&["users"]), Access::Write)
                .json(details)?
                .token(token),
        )
        .await
    }

    /// UpdateUser (description, email, tags), optionally only if the etag still matches.
    ///
    /// # Errors
    /// [`ClientError`]; 409 or 412 `NoEtagMatch` when `if_match` is stale.
    pub async fn update_user(
        &self,
        user_id: &Ocid,
        details: &UpdateUserDetails,
        if_match_etag: Option<&str>,
    ) -> Result<Response<User>, ClientError> {
        self.run(
            Call::new(
                "UpdateUser",
                "PUT",
                path(&["users", user_id.as_str()]),
                Access::Write,
            )
            .json(details)?
            .if_match(if_match_etag)?,
        )
        .await
    }

    /// UpdateUserCapabilities.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn update_user_capabilities(
        &self,
        user_id: &Ocid,
        details: &UpdateUserCapabilitiesDetails,
        if_match_etag: Option<&str>,
    ) -> Result<Response<User>, ClientError> {
        self.run(
            Call::new(
                "UpdateUserCapabilities",
                "PUT",
                path(&["users", user_id.as_str(), "capabilities"]),
                Access::Write,
            )
            .json(details)?
            .if_match(if_match_etag)?,
        )
        .await
    }

    /// DeleteUser (the user must be in no group).
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn delete_user(
        &self,
        user_id: &Ocid,
        if_match_etag: Option<&str>,
    ) -> Result<Response<()>, ClientError> {
        self.run_without_answer(
            Call::new(
                "DeleteUser",
                "DELETE",
                path(&["users", user_id.as_str()]),
                Access::Delete,
            )
            .if_match(if_match_etag)?,
        )
        .await
    }

    // -----------------------------------------------------------------------------------------
    // API keys and console password

    /// ListApiKeys: a user's API keys (at most three).
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn list_api_keys(&self, user_id: &Ocid) -> Result<Vec<ApiKey>, ClientError> {
        self.list(Call::new(
            "ListApiKeys",
            "GET",
            path(&["users", user_id.as_str(), "apiKeys"]),
            Access::Read,
        ))
        .await
    }

    /// UploadApiKey, with a fresh retry token.
    ///
    /// # Errors
    /// [`ClientError`]; 409 `ApiKeyLimitExceeded` when the user already has three.
    pub async fn upload_api_key(
        &self,
        user_id: &Ocid,
        details: &CreateApiKeyDetails,
    ) -> Result<Response<ApiKey>, ClientError> {
        self.upload_api_key_with_token(user_id, details, &RetryToken::generate()?)
            .await
    }

    /// UploadApiKey with the caller's retry token.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn upload_api_key_with_token(
        &self,
        user_id: &Ocid,
        details: &CreateApiKeyDetails,
        token: &RetryToken,
    ) -> Result<Response<ApiKey>, ClientError> {
        self.run(
            Call::new(
                "UploadApiKey",
                "POST",
                path(&["users", user_id.as_str(), "apiKeys"]),
                Access::Write,
            )
            .json(details)?
            .token(token),
        )
        .await
    }

    /// DeleteApiKey. The fingerprint's `:` go out as `%3A` (as the Python SDK sends them) and
    /// the signature covers that encoded path.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn delete_api_key(
        &self,
        user_id: &Ocid,
        fingerprint: &Fingerprint,
        if_match_etag: Option<&str>,
    ) -> Result<Response<()>, ClientError> {
        self.run_without_answer(
            Call::new(
                "DeleteApiKey",
                "DELETE",
                path(&["users", user_id.as_str(), "apiKeys", fingerprint.as_str()]),
                Access::Delete,
            )
            .if_match(if_match_etag)?,
        )
        .await
    }

    /// CreateOrResetUIPassword, with a fresh retry token: a new one-time console password.
    /// The POST has no body (signed as empty); the answer is zeroized after decoding and never
    /// logged or quoted in errors.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn create_or_reset_ui_password(
        &self,
        user_id: &Ocid,
    ) -> Result<Response<UIPassword>, ClientError> {
        self.create_or_reset_ui_password_with_token(user_id, &RetryToken::generate()?)
            .await
    }

    /// CreateOrResetUIPassword with the caller's retry token.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn create_or_reset_ui_password_with_token(
        &self,
        user_id: &Ocid,
        token: &RetryToken,
    ) -> Result<Response<UIPassword>, ClientError> {
        let mut call = Call::new(
            "CreateOrResetUIPassword",
            "POST",
            path(&["users", user_id.as_str(), "uiPassword"]),
            Access::Write,
        )
        .token(token);
        call.sensitive = true;
        self.run(call).await
    }

    // -----------------------------------------------------------------------------------------
    // Groups and memberships

    /// ListGroups: every group of the tenancy.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn list_groups(&self) -> Result<Vec<Group>, ClientError> {
        self.list(self.list_call("ListGroups", "groups", &self.inner.tenancy))
            .await
    }

    /// ListGroups a page at a time.
    #[must_use]
    pub fn list_groups_pages(&self) -> Pages<Group> {
        self.pages(self.list_call("ListGroups", "groups", &self.inner.tenancy))
    }

    /// GetGroup.
    ///
    /// # Errors
    /// [`ClientError`]; 404 `NotAuthorizedOrNotFound` when it does not exist.
    pub async fn get_group(&self, group_id: &Ocid) -> Result<Response<Group>, ClientError> {
        self.run(Call::new(
            "GetGroup",
            "GET",
            path(&["groups", group_id.as_str()]),
            Access::Read,
        ))
        .await
    }

    /// CreateGroup, with a fresh retry token.
    ///
    /// # Errors
    /// [`ClientError`]; 409 when the name is taken.
    pub async fn create_group(
        &self,
        details: &CreateGroupDetails,
    ) -> Result<Response<Group>, ClientError> {
        self.create_group_with_token(details, &RetryToken::generate()?)
            .await
    }

    /// CreateGroup with the caller's retry token.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn create_group_with_token(
        &self,
        details: &CreateGroupDetails,
        token: &RetryToken,
    ) -> Result<Response<Group>, ClientError> {
        self.run(
            Call::new("CreateGroup", "POST", path(&["groups"]), Access::Write)
                .json(details)?
                .token(token),
        )
        .await
    }

    /// UpdateGroup (description, tags).
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn update_group(
        &self,
        group_id: &Ocid,
        details: &UpdateGroupDetails,
        if_match_etag: Option<&str>,
    ) -> Result<Response<Group>, ClientError> {
        self.run(
            Call::new(
                "UpdateGroup",
                "PUT",
                path(&["groups", group_id.as_str()]),
                Access::Write,
            )
            .json(details)?
            .if_match(if_match_etag)?,
        )
        .await
    }

    /// DeleteGroup (the group must be empty).
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn delete_group(
        &self,
        group_id: &Ocid,
        if_match_etag: Option<&str>,
    ) -> Result<Response<()>, ClientError> {
        self.run_without_answer(
            Call::new(
                "DeleteGroup",
                "DELETE",
                path(&["groups", group_id.as_str()]),
                Access::Delete,
            )
            .if_match(if_match_etag)?,
        )
        .await
    }

    /// ListUserGroupMemberships by user, by group, or both.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn list_user_group_memberships(
        &self,
        filter: MembershipFilter<'_>,
    ) -> Result<Vec<UserGroupMembership>, ClientError> {
        let mut call = self.list_call(
            "ListUserGroupMemberships",
            "userGroupMemberships",
            &self.inner.tenancy,
        );
        let (user, group) = match filter {
            MembershipFilter::User(u) => (Some(u), None),
            MembershipFilter::Group(g) => (None, Some(g)),
            MembershipFilter::UserAndGroup { user, group } => (Some(user), Some(group)),
        };
        if let Some(u) = user {
            call.query.push(("userId", u.to_string()));
        }
        if let Some(g) = group {
            call.query.push(("groupId", g.to_string()));
        }
        self.list(call).await
    }

    /// AddUserToGroup, with a fresh retry token.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn add_user_to_group(
        &self,
        details: &AddUserToGroupDetails,
    ) -> Result<Response<UserGroupMembership>, ClientError> {
        self.add_user_to_group_with_token(details, &RetryToken::generate()?)
            .await
    }

    /// AddUserToGroup with the caller's retry token.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn add_user_to_group_with_token(
        &self,
        details: &AddUserToGroupDetails,
        token: &RetryToken,
    ) -> Result<Response<UserGroupMembership>, ClientError> {
        self.run(
            Call::new(
                "AddUserToGroup",
                "POST",
                path(&["userGroupMemberships"]),
                Access::Write,
            )
            .json(details)?
            .token(token),
        )
        .await
    }

    /// RemoveUserFromGroup: deletes a membership by its OCID.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn remove_user_from_group(
        &self,
        membership_id: &Ocid,
        if_match_etag: Option<&str>,
    ) -> Result<Response<()>, ClientError> {
        self.run_without_answer(
            Call::new(
                "RemoveUserFromGroup",
                "DELETE",
                path(&["userGroupMemberships", membership_id.as_str()]),
                Access::Delete,
            )
            .if_match(if_match_etag)?,
        )
        .await
    }

    // -----------------------------------------------------------------------------------------
    // Policies, tenancy, regions

    /// ListPolicies attached to a compartment (the tenancy for tenancy-level policies).
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn list_policies(&self, compartment_id: &Ocid) -> Result<Vec<Policy>, ClientError> {
        self.list(self.list_call("ListPolicies", "policies", compartment_id))
            .await
    }

    /// Whether the tenancy has identity domains: ListDomains (`GET /domains?compartmentId=
    /// <tenancy>`) answers in such a tenancy, and a classic tenancy answers 404
    /// `NotAuthorizedOrNotFound`. Asked once per read; a 404 is an answer here, never retried as
    /// eventual consistency.
    ///
    /// # Errors
    /// [`ClientError`] other than 404.
    pub async fn has_identity_domains(&self) -> Result<bool, ClientError> {
        let base = self.base_for(Access::Read).await?;
        let call = self.list_call("ListDomains", "domains", &self.inner.tenancy);
        match self
            .inner
            .transport
            .list_all::<crate::oci::wire::DomainSummary>(call, &base, false)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.status() == Some(404) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// GetTenancy of this client's tenancy.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn get_tenancy(&self) -> Result<Response<Tenancy>, ClientError> {
        self.run(Call::new(
            "GetTenancy",
            "GET",
            path(&["tenancies", self.inner.tenancy.as_str()]),
            Access::Read,
        ))
        .await
    }

    fn region_subscriptions_call(&self) -> Call {
        Call::new(
            "ListRegionSubscriptions",
            "GET",
            path(&[
                "tenancies",
                self.inner.tenancy.as_str(),
                "regionSubscriptions",
            ]),
            Access::Read,
        )
    }

    /// ListRegionSubscriptions of this client's tenancy.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn list_region_subscriptions(&self) -> Result<Vec<RegionSubscription>, ClientError> {
        self.list(self.region_subscriptions_call()).await
    }

    /// The Identity endpoint of the tenancy's home region (ListRegionSubscriptions, the one
    /// with `isHomeRegion`), in the configured endpoint's realm. Asked of the configured
    /// endpoint, never cached here (writes cache it).
    ///
    /// # Errors
    /// [`ClientError::NoHomeRegion`] when no subscription is the home region.
    pub async fn home_region_endpoint(&self) -> Result<Url, ClientError> {
        let subscriptions: Vec<RegionSubscription> = self
            .inner
            .transport
            .list_all(
                self.region_subscriptions_call(),
                &self.inner.endpoint,
                false,
            )
            .await?;
        let home = subscriptions
            .iter()
            .find(|s| s.is_home_region)
            .ok_or(ClientError::NoHomeRegion)?;
        let url = endpoint::sibling_region_endpoint(&self.inner.endpoint, &home.region_name)?;
        tracing::debug!(home = %url, "home region endpoint");
        Ok(url)
    }
}
