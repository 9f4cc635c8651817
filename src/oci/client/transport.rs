//! Sending one Identity API call: URL and headers, the OCI signature over exactly what goes on
//! the wire, the SDK retry policy (backon; 429, 409 `IncorrectState`/`LockConflict`, 5xx but
//! 501, timeouts and connection errors; `retry-after` honoured; the eventual-consistency 404),
//! reading the answer with a size cap, error mapping, and the one paging loop every list uses
//! ([`Pager`], a page at a time). Every attempt holds a permit of the client's adaptive
//! [`Limiter`] while on the wire and reports 429/503 or success to it; retry sleeps hold none,
//! and a first throttle without `retry-after` is retried after a tenth of the SDK backoff.
//! Also the randomness the client needs: request ids, retry tokens and jitter (aws-lc-rs).
//!
//! Must not log or keep bodies (a one-time password travels in one) or the `Authorization`
//! header (it is marked sensitive, so `http`'s `Debug` redacts it); must not decide where a
//! call goes (the client picks the base endpoint) or what it means.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use backon::Retryable as _;
use reqwest::Url;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, IF_MATCH,
};
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use super::endpoint::{API_VERSION_PATH, host_header};
use super::error::{ApiError, ClientError, DecodeError, sanitize};
use super::limiter::{Limiter, Outcome};
use crate::oci::sign::{self, RequestToSign, SigningKey};
use crate::oci::wire::ErrorBody;

/// The media type of every request and answer.
const JSON: &str = "application/json";
/// `user-agent` and `opc-client-info` of every request.
pub const USER_AGENT: &str = concat!("ociam/", env!("CARGO_PKG_VERSION"));
/// The largest answer accepted, in bytes (a full page of 100 users is about 100 KB).
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// The most pages one list may take before the client gives up (a loop, not a tenancy).
const MAX_PAGES: usize = 10_000;
/// Characters shown from an undecodable body.
const EXCERPT_CHARS: usize = 200;

/// The injected clock: Unix seconds.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Called before each retry sleep (for a "throttled, retrying in 2 s" line, or tests).
pub type RetryObserver = Arc<dyn Fn(&RetryNotice) + Send + Sync>;

// ---------------------------------------------------------------------------------------------
// Retry policy

/// When and how long to retry, as the OCI SDKs do by default (API.md §9): 8 attempts,
/// `min(base × 2^(n-1) + U(0, jitter), max_delay)` between them, at most `max_total` of sleep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (1 = never retry).
    pub max_attempts: u32,
    /// Sleep before the first retry, doubled for each further one.
    pub base_delay: Duration,
    /// Largest backoff sleep.
    pub max_delay: Duration,
    /// Upper bound of the uniform random jitter added to each backoff sleep.
    pub jitter: Duration,
    /// Total sleep after which the client stops retrying.
    pub max_total: Duration,
    /// Cap on a server's `retry-after`; the sleep is the larger of it and the backoff.
    pub max_retry_after: Duration,
    /// Attempts (first included) for a read that answers 404 `NotAuthorizedOrNotFound` inside
    /// the eventual-consistency window after a write; kept short, as the 404 may be real.
    pub ec_max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::sdk_default()
    }
}

impl RetryPolicy {
    /// The OCI SDK defaults: 8 attempts, 1 s × 2^n capped at 30 s plus up to 1 s jitter, 600 s
    /// in total; `retry-after` honoured up to 60 s; 4 attempts for eventual-consistency 404s.
    #[must_use]
    pub fn sdk_default() -> Self {
        Self {
            max_attempts: 8,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            jitter: Duration::from_secs(1),
            max_total: Duration::from_secs(600),
            max_retry_after: Duration::from_secs(60),
            ec_max_attempts: 4,
        }
    }

    /// One attempt, no retries.
    #[must_use]
    pub fn no_retries() -> Self {
        Self {
            max_attempts: 1,
            ec_max_attempts: 1,
            ..Self::sdk_default()
        }
    }

    /// The backoff sleep before retry `retry` (1 = before the second attempt), with
    /// `jitter_fraction` in `[0, 1)` of [`RetryPolicy::jitter`] added, capped at `max_delay`.
    #[must_use]
    pub fn backoff(&self, retry: u32, jitter_fraction: f64) -> Duration {
        let exponent = retry.saturating_sub(1).min(31);
        let exponential = self.base_delay.saturating_mul(1_u32 << exponent);
        let jitter = self.jitter.mul_f64(jitter_fraction.clamp(0.0, 1.0));
        exponential.saturating_add(jitter).min(self.max_delay)
    }

    /// The sleep before retry `retry`: the backoff, or the server's `retry-after` (capped at
    /// `max_retry_after`) when that is longer.
    #[must_use]
    pub fn delay(
        &self,
        retry: u32,
        retry_after: Option<Duration>,
        jitter_fraction: f64,
    ) -> Duration {
        honour_retry_after(self, self.backoff(retry, jitter_fraction), retry_after)
    }
}

/// The sleep before the retry that follows attempt `tried`, from the schedule's `backoff`. A
/// throttle (429 or 503) that came without `retry-after` is retried first after a tenth of the
/// backoff (100–200 ms with the SDK defaults): the limiter has already cut the concurrency and,
/// when that is not enough, paces starts at the rate the service accepts, so the limiter, not a
/// fixed second, decides when the retry goes out. A second throttle of the same request, and
/// every other retry, gets the full backoff (or the server's `retry-after`, when longer).
fn retry_delay(
    policy: &RetryPolicy,
    backoff: Duration,
    status: Option<u16>,
    retry_after: Option<Duration>,
    tried: u32,
) -> Duration {
    if tried == 1 && retry_after.is_none() && matches!(status, Some(429 | 503)) {
        return backoff / 10;
    }
    honour_retry_after(policy, backoff, retry_after)
}

fn honour_retry_after(
    policy: &RetryPolicy,
    backoff: Duration,
    retry_after: Option<Duration>,
) -> Duration {
    retry_after.map_or(backoff, |ra| backoff.max(ra.min(policy.max_retry_after)))
}

/// Parses a `retry-after` value: delay seconds (fractions tolerated) or an HTTP date, which is
/// measured from `now_unix`.
#[must_use]
pub fn parse_retry_after(value: &str, now_unix: i64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::try_from_secs_f64(secs.min(86_400.0)).ok())
            .flatten();
    }
    let at = sign::parse_http_date(value)?;
    Some(Duration::from_secs(
        u64::try_from(at.saturating_sub(now_unix)).unwrap_or(0),
    ))
}

/// Whether the SDKs retry an answer with this status and code: 429; 409 `IncorrectState` or
/// `LockConflict`; 5xx except 501. Never 400, 401, 403, 404, 412 or other 409s.
#[must_use]
pub fn is_retryable_status(status: u16, code: &str) -> bool {
    match status {
        429 => true,
        409 => matches!(code, "IncorrectState" | "LockConflict"),
        501 => false,
        500..=599 => true,
        _ => false,
    }
}

/// The backoff schedule backon walks: one sleep per retry, `max_attempts - 1` in all.
struct Schedule {
    policy: RetryPolicy,
    retry: u32,
}

impl Iterator for Schedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.retry.saturating_add(1) >= self.policy.max_attempts {
            return None;
        }
        self.retry += 1;
        Some(self.policy.backoff(self.retry, jitter_fraction()))
    }
}

/// What [`RetryObserver`] is told before a retry sleep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryNotice {
    /// The API operation.
    pub operation: &'static str,
    /// Method and path.
    pub request: String,
    /// The attempt that just failed (1 = the first).
    pub attempt: u32,
    /// The sleep before the next attempt.
    pub delay: Duration,
    /// The status of the failed attempt (`None` for a transport error).
    pub status: Option<u16>,
}

// ---------------------------------------------------------------------------------------------
// Randomness

/// A uniform fraction in `[0, 1)` from the system RNG (0 if it fails: no jitter then).
fn jitter_fraction() -> f64 {
    let mut bytes = [0_u8; 8];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        return 0.0;
    }
    // 53 random bits: every value is exact in an f64.
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1_u64 << 53) as f64
}

/// A fresh `opc-request-id`: 32 uppercase hex characters, as the SDKs send.
///
/// # Errors
/// [`ClientError::Random`] when the system RNG fails.
pub fn new_request_id() -> Result<String, ClientError> {
    let mut bytes = [0_u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| ClientError::Random)?;
    Ok(crate::hex::upper(&bytes))
}

/// An `opc-retry-token`: the service replays the first result of a create retried with the
/// same token (for 24 h), so a create is never performed twice. One per logical operation.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RetryToken(String);

impl fmt::Debug for RetryToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RetryToken").field(&self.0).finish()
    }
}

impl fmt::Display for RetryToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl RetryToken {
    /// Characters of a generated token.
    const ALPHABET: &'static [u8] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    /// A new token of 30 random alphanumerics, as the Python SDK makes them.
    ///
    /// # Errors
    /// [`ClientError::Random`] when the system RNG fails.
    pub fn generate() -> Result<Self, ClientError> {
        let mut token = String::with_capacity(30);
        // 248 = 4 × 62: bytes at or above it are dropped, so every character is equally likely.
        while token.len() < 30 {
            let mut bytes = [0_u8; 48];
            aws_lc_rs::rand::fill(&mut bytes).map_err(|_| ClientError::Random)?;
            for b in bytes.into_iter().filter(|b| *b < 248) {
                if token.len() == 30 {
                    break;
                }
                token.push(char::from(Self::ALPHABET[usize::from(b % 62)]));
            }
        }
        Ok(Self(token))
    }

    /// A token kept by the caller (the apply journal persists it so a resumed apply reuses it).
    ///
    /// # Errors
    /// [`ClientError::InvalidHeader`] unless it is 1 to 64 visible ASCII characters.
    pub fn new(token: impl Into<String>) -> Result<Self, ClientError> {
        let token = token.into();
        if (1..=64).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(Self(token))
        } else {
            Err(ClientError::InvalidHeader("opc-retry-token"))
        }
    }

    /// The token.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// ---------------------------------------------------------------------------------------------
// Calls and replies

/// What a call does, for routing (writes go to the home region) and eventual consistency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Access {
    /// GET.
    Read,
    /// Create or update: opens the eventual-consistency window.
    Write,
    /// Delete: a write that opens no window (as in the Go SDK).
    Delete,
}

/// One API call, before it is sent.
pub(super) struct Call {
    /// The operation name, e.g. `ListUsers`.
    pub operation: &'static str,
    /// `GET`, `POST`, `PUT` or `DELETE`.
    pub method: &'static str,
    /// The path under `/20160918`, segments already percent-encoded, e.g. `/users`.
    pub path: String,
    /// Query parameters, in order (form-encoded when sent).
    pub query: Vec<(&'static str, String)>,
    /// The JSON body (POST/PUT); `None` sends an empty body.
    pub body: Option<Vec<u8>>,
    /// `opc-retry-token`, for creates.
    pub retry_token: Option<RetryToken>,
    /// `if-match`, for updates and deletes.
    pub if_match: Option<HeaderValue>,
    /// Read, write or delete.
    pub access: Access,
    /// The answer carries a secret: its body is zeroized and never quoted.
    pub sensitive: bool,
}

impl Call {
    /// A call with no query, body or optional headers.
    pub fn new(
        operation: &'static str,
        method: &'static str,
        path: String,
        access: Access,
    ) -> Self {
        Self {
            operation,
            method,
            path,
            query: Vec::new(),
            body: None,
            retry_token: None,
            if_match: None,
            access,
            sensitive: false,
        }
    }

    /// `METHOD /20160918/path`, for errors and logs.
    fn request(&self) -> String {
        format!("{} {API_VERSION_PATH}{}", self.method, self.path)
    }
}

/// A successful answer.
pub(super) struct Reply {
    /// The `opc-request-id` the service echoed (ours if none).
    pub opc_request_id: String,
    /// The `etag` header.
    pub etag: Option<String>,
    /// The `opc-next-page` header.
    pub next_page: Option<String>,
    /// The body, zeroized on drop.
    pub body: Zeroizing<Vec<u8>>,
}

impl Reply {
    /// Decodes the body as `T`; an error names `T` and quotes the body's start (unless the call
    /// is sensitive).
    pub fn decode<T: DeserializeOwned>(&self, call: &Call) -> Result<T, ClientError> {
        serde_json::from_slice(&self.body).map_err(|source| {
            // serde's message may quote a value; for a password answer keep only the position.
            let source = if call.sensitive {
                <serde_json::Error as serde::de::Error>::custom(format!(
                    "malformed answer near line {} column {}",
                    source.line(),
                    source.column()
                ))
            } else {
                source
            };
            ClientError::Decode(Box::new(DecodeError {
                operation: call.operation,
                method: call.method,
                path: format!("{API_VERSION_PATH}{}", call.path),
                type_name: std::any::type_name::<T>(),
                excerpt: excerpt(&self.body, call.sensitive),
                opc_request_id: self.opc_request_id.clone(),
                source,
            }))
        })
    }
}

fn excerpt(body: &[u8], sensitive: bool) -> String {
    if sensitive {
        return "[withheld: this answer carries a one-time password]".to_owned();
    }
    if body.is_empty() {
        return "[empty]".to_owned();
    }
    let text = String::from_utf8_lossy(body);
    let mut out: String = text
        .chars()
        .take(EXCERPT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(EXCERPT_CHARS).is_some() {
        out.push('…');
    }
    format!("`{out}`")
}

/// A failed attempt, with what the retry loop needs to know about it.
struct Failure {
    error: ClientError,
    retryable: bool,
    retry_after: Option<Duration>,
    status: Option<u16>,
}

impl Failure {
    fn fatal(error: ClientError) -> Self {
        Self {
            error,
            retryable: false,
            retry_after: None,
            status: None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Transport

/// Signs, sends, retries and pages.
pub(super) struct Transport {
    pub http: reqwest::Client,
    pub key_id: String,
    pub key: SigningKey,
    pub clock: Clock,
    pub retry: RetryPolicy,
    pub on_retry: Option<RetryObserver>,
    /// Every attempt holds one of its permits while on the wire (never while sleeping).
    pub limiter: Limiter,
}

/// The full URL of `call` on `base`, and the path-and-query exactly as it goes on the wire.
fn call_url(base: &Url, call: &Call) -> (Url, String) {
    let mut url = base.clone();
    url.set_path(&format!("{API_VERSION_PATH}{}", call.path));
    url.set_query(None);
    if !call.query.is_empty() {
        url.query_pairs_mut()
            .extend_pairs(call.query.iter().map(|(k, v)| (*k, v.as_str())));
    }
    let path_and_query = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    (url, path_and_query)
}

fn header_value(value: &str, name: &'static str) -> Result<HeaderValue, ClientError> {
    HeaderValue::from_str(value).map_err(|_| ClientError::InvalidHeader(name))
}

impl Transport {
    /// Sends `call` to `base`, retrying as the policy allows. `ec` says whether the client is
    /// inside the eventual-consistency window of a write. Each attempt holds a permit of the
    /// limiter while on the wire and tells it how it ended; the sleep before a retry holds none.
    pub async fn execute(&self, call: &Call, base: &Url, ec: bool) -> Result<Reply, ClientError> {
        let (url, path_and_query) = call_url(base, call);
        let host = host_header(&url);
        let request_id = new_request_id()?;
        let attempts = AtomicU32::new(0);
        let policy = &self.retry;
        let mut slept = Duration::ZERO;
        let request = call.request();
        let attempt = || async {
            let n = attempts.fetch_add(1, Ordering::Relaxed) + 1;
            let permit = self.limiter.acquire().await;
            let result = self
                .attempt(call, &url, &path_and_query, &host, &request_id, n, ec)
                .await;
            permit.finish(match &result {
                Ok(_) => Outcome::Success,
                Err(f) if matches!(f.status, Some(429 | 503)) => Outcome::Throttled,
                Err(_) => Outcome::Other,
            });
            result
        };
        attempt
            .retry(Schedule {
                policy: policy.clone(),
                retry: 0,
            })
            .when(|f: &Failure| f.retryable)
            .adjust(|f: &Failure, next: Option<Duration>| {
                let tried = attempts.load(Ordering::Relaxed);
                let delay = retry_delay(policy, next?, f.status, f.retry_after, tried);
                slept = slept.checked_add(delay)?;
                (slept <= policy.max_total).then_some(delay)
            })
            .notify(|f: &Failure, delay: Duration| {
                let attempt = attempts.load(Ordering::Relaxed);
                tracing::debug!(
                    operation = call.operation,
                    request = %request,
                    attempt,
                    status = f.status,
                    delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    "retrying identity request"
                );
                if let Some(observer) = &self.on_retry {
                    observer(&RetryNotice {
                        operation: call.operation,
                        request: request.clone(),
                        attempt,
                        delay,
                        status: f.status,
                    });
                }
            })
            .await
            .map_err(|f| f.error)
    }

    /// One signed attempt.
    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        call: &Call,
        url: &Url,
        path_and_query: &str,
        host: &str,
        request_id: &str,
        attempt: u32,
        ec: bool,
    ) -> Result<Reply, Failure> {
        let now = (self.clock)();
        let date = sign::http_date(now);
        let sends_body = matches!(call.method, "POST" | "PUT" | "PATCH");
        let body = call.body.as_deref().unwrap_or_default();
        let signed = sign::sign_request(
            &self.key,
            &self.key_id,
            &RequestToSign {
                method: call.method,
                path_and_query,
                host,
                date: &date,
                body: sends_body.then_some(body),
                content_type: JSON,
            },
        )
        .map_err(|e| Failure::fatal(ClientError::Sign(e)))?;

        let headers = self
            .headers(call, request_id, signed)
            .map_err(Failure::fatal)?;
        let method = match call.method {
            "GET" => reqwest::Method::GET,
            "POST" => reqwest::Method::POST,
            "PUT" => reqwest::Method::PUT,
            "DELETE" => reqwest::Method::DELETE,
            _ => reqwest::Method::PATCH,
        };
        let mut builder = self.http.request(method, url.clone()).headers(headers);
        if sends_body {
            builder = builder.body(body.to_vec());
        }
        let transport = |source: reqwest::Error| {
            let what = if source.is_timeout() {
                "timed out"
            } else if source.is_connect() {
                "could not connect"
            } else {
                "the connection failed"
            };
            tracing::debug!(
                operation = call.operation,
                request = %call.request(),
                attempt,
                what,
                "identity request failed to complete"
            );
            Failure {
                error: ClientError::Transport {
                    operation: call.operation,
                    request: call.request(),
                    attempts: attempt,
                    what,
                    source,
                },
                retryable: true,
                retry_after: None,
                status: None,
            }
        };
        let mut response = builder.send().await.map_err(transport)?;

        let status = response.status().as_u16();
        let text_header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let opc_request_id = text_header("opc-request-id")
            .map(|id| sanitize(&id))
            .unwrap_or_else(|| request_id.to_owned());
        let etag = text_header("etag");
        let next_page = text_header("opc-next-page");
        let retry_after = text_header("retry-after").and_then(|v| parse_retry_after(&v, now));
        tracing::debug!(
            operation = call.operation,
            method = call.method,
            path = %format_args!("{API_VERSION_PATH}{}", call.path),
            status,
            opc_request_id = %opc_request_id,
            attempt,
            "identity request"
        );

        let mut body = Zeroizing::new(Vec::new());
        if let Some(len) = response.content_length() {
            body.reserve(usize::try_from(len).unwrap_or(0).min(MAX_RESPONSE_BYTES));
        }
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len().saturating_add(chunk.len()) > MAX_RESPONSE_BYTES {
                return Err(Failure::fatal(ClientError::ResponseTooLarge {
                    operation: call.operation,
                    request: call.request(),
                    limit: MAX_RESPONSE_BYTES,
                }));
            }
            body.extend_from_slice(&chunk);
        }

        if (200..300).contains(&status) {
            return Ok(Reply {
                opc_request_id,
                etag,
                next_page,
                body,
            });
        }

        let parsed: Option<ErrorBody> = serde_json::from_slice(&body).ok();
        let (code, message) = match parsed {
            Some(e) => (sanitize(&e.code), sanitize(&e.message)),
            None if call.sensitive || body.is_empty() => (String::new(), String::new()),
            None => (String::new(), sanitize(&String::from_utf8_lossy(&body))),
        };
        let ec_not_found = ec
            && call.access == Access::Read
            && status == 404
            && code == "NotAuthorizedOrNotFound"
            && attempt < self.retry.ec_max_attempts;
        let retryable = is_retryable_status(status, &code) || ec_not_found;
        let api = Box::new(ApiError {
            operation: call.operation,
            method: call.method,
            path: format!("{API_VERSION_PATH}{}", call.path),
            status,
            code,
            message,
            opc_request_id,
        });
        let error = if status == 401 {
            ClientError::NotAuthenticated(api)
        } else {
            ClientError::Api(api)
        };
        Err(Failure {
            error,
            retryable,
            retry_after,
            status: Some(status),
        })
    }

    /// Every header of an attempt, the signed ones included.
    fn headers(
        &self,
        call: &Call,
        request_id: &str,
        signed: sign::SignedRequest,
    ) -> Result<HeaderMap, ClientError> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(JSON));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
        headers.insert(
            HeaderName::from_static("opc-request-id"),
            header_value(request_id, "opc-request-id")?,
        );
        headers.insert(
            HeaderName::from_static("opc-client-info"),
            HeaderValue::from_static(USER_AGENT),
        );
        if self.retry.max_attempts > 1 {
            headers.insert(
                HeaderName::from_static("opc-client-retries"),
                HeaderValue::from_static("true"),
            );
        }
        if let Some(token) = &call.retry_token {
            headers.insert(
                HeaderName::from_static("opc-retry-token"),
                header_value(token.as_str(), "opc-retry-token")?,
            );
        }
        if let Some(etag) = &call.if_match {
            headers.insert(IF_MATCH, etag.clone());
        }
        for (name, value) in signed.headers {
            headers.insert(HeaderName::from_static(name), header_value(&value, name)?);
        }
        let mut authorization = header_value(&signed.authorization, "authorization")?;
        authorization.set_sensitive(true);
        headers.insert(AUTHORIZATION, authorization);
        Ok(headers)
    }

    /// Every item of a list, following `opc-next-page` until the header is absent (an empty
    /// last page is fine). The page token goes back exactly as received, as `page=<token>`.
    pub async fn list_all<T: DeserializeOwned>(
        &self,
        call: Call,
        base: &Url,
        ec: bool,
    ) -> Result<Vec<T>, ClientError> {
        let mut pager = Pager::new(call);
        let mut items = Vec::new();
        while let Some(page) = pager.next_page(self, base, ec).await? {
            items.extend(page);
        }
        Ok(items)
    }
}

/// A list read one page at a time: the one paging loop every list uses. It follows
/// `opc-next-page` until the header is absent (an empty last page is fine), sends the token
/// back exactly as received (`page=<token>`), and refuses a repeated token or more than
/// [`MAX_PAGES`] pages.
pub(super) struct Pager {
    call: Call,
    first_query: Vec<(&'static str, String)>,
    seen_tokens: std::collections::HashSet<String>,
    pages: usize,
    done: bool,
}

impl Pager {
    /// A pager at the first page of `call`.
    pub fn new(call: Call) -> Self {
        Self {
            first_query: call.query.clone(),
            call,
            seen_tokens: std::collections::HashSet::new(),
            pages: 0,
            done: false,
        }
    }

    /// Whether the last page has been read.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The next page's items, or `None` after the last page.
    pub async fn next_page<T: DeserializeOwned>(
        &mut self,
        transport: &Transport,
        base: &Url,
        ec: bool,
    ) -> Result<Option<Vec<T>>, ClientError> {
        if self.done {
            return Ok(None);
        }
        let reply = transport.execute(&self.call, base, ec).await?;
        let page: Vec<T> = reply.decode(&self.call)?;
        self.pages += 1;
        let Some(token) = reply.next_page.filter(|t| !t.is_empty()) else {
            self.done = true;
            return Ok(Some(page));
        };
        if !self.seen_tokens.insert(token.clone()) {
            self.done = true;
            return Err(ClientError::Paging {
                operation: self.call.operation,
                request: self.call.request(),
                reason: "the service sent the same opc-next-page token twice",
            });
        }
        if self.pages >= MAX_PAGES {
            self.done = true;
            return Err(ClientError::Paging {
                operation: self.call.operation,
                request: self.call.request(),
                reason: "more than 10000 pages",
            });
        }
        self.call.query.clone_from(&self.first_query);
        self.call.query.push(("page", token));
        Ok(Some(page))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            jitter: Duration::from_millis(1),
            max_total: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(60),
            ec_max_attempts: 3,
        }
    }

    #[test]
    fn sdk_default_backoff_doubles_adds_jitter_and_caps() {
        let p = RetryPolicy::sdk_default();
        assert_eq!(p.backoff(1, 0.0), Duration::from_secs(1));
        assert_eq!(p.backoff(2, 0.0), Duration::from_secs(2));
        assert_eq!(p.backoff(3, 0.5), Duration::from_millis(4_500));
        assert_eq!(p.backoff(5, 0.999), Duration::from_millis(16_999));
        assert_eq!(p.backoff(6, 0.0), Duration::from_secs(30), "capped at 30 s");
        assert_eq!(p.backoff(u32::MAX, 1.0), Duration::from_secs(30));
        let schedule: Vec<Duration> = Schedule {
            policy: p.clone(),
            retry: 0,
        }
        .collect();
        assert_eq!(schedule.len(), 7, "8 attempts = 7 sleeps");
        for (i, d) in schedule.iter().enumerate() {
            let floor = p.backoff(u32::try_from(i).unwrap() + 1, 0.0);
            assert!(
                *d >= floor && *d <= (floor + p.jitter).min(p.max_delay),
                "{i}: {d:?}"
            );
        }
        assert_eq!(
            Schedule {
                policy: RetryPolicy::no_retries(),
                retry: 0
            }
            .count(),
            0
        );
    }

    #[test]
    fn a_first_throttle_without_retry_after_is_retried_after_a_tenth_of_the_backoff() {
        let policy = RetryPolicy::sdk_default();
        let backoff = policy.backoff(1, 0.5);
        assert_eq!(backoff, Duration::from_millis(1500));
        for status in [429, 503] {
            assert_eq!(
                retry_delay(&policy, backoff, Some(status), None, 1),
                Duration::from_millis(150)
            );
            // The second throttle of the same request: the full backoff.
            assert_eq!(
                retry_delay(&policy, policy.backoff(2, 0.5), Some(status), None, 2),
                Duration::from_millis(2500)
            );
        }
        // A server's retry-after, and any other retryable failure, keep the full schedule.
        let ra = Some(Duration::from_secs(3));
        assert_eq!(
            retry_delay(&policy, backoff, Some(429), ra, 1),
            Duration::from_secs(3)
        );
        assert_eq!(retry_delay(&policy, backoff, Some(500), None, 1), backoff);
        assert_eq!(retry_delay(&policy, backoff, None, None, 1), backoff);
    }

    #[test]
    fn retry_after_is_honoured_by_the_policy() {
        let p = fast();
        // A server's retry-after longer than the backoff wins, whatever the jitter.
        for jitter in [0.0, 0.5, 0.999] {
            assert_eq!(
                p.delay(1, Some(Duration::from_secs(7)), jitter),
                Duration::from_secs(7)
            );
        }
        // Shorter than the backoff: the backoff stays.
        assert_eq!(
            p.delay(3, Some(Duration::ZERO), 0.0),
            Duration::from_millis(4)
        );
        // Capped at max_retry_after.
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(3600)), 0.0),
            Duration::from_secs(60)
        );
        assert_eq!(p.delay(2, None, 0.0), Duration::from_millis(2));

        assert_eq!(parse_retry_after("7", 0), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after(" 0.25 ", 0),
            Some(Duration::from_millis(250))
        );
        assert_eq!(parse_retry_after("-1", 0), None);
        assert_eq!(parse_retry_after("soon", 0), None);
        let now = 1_388_957_500;
        assert_eq!(
            parse_retry_after(&sign::http_date(now + 12), now),
            Some(Duration::from_secs(12))
        );
        assert_eq!(
            parse_retry_after(&sign::http_date(now - 12), now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn retryable_statuses_follow_the_sdks() {
        for (status, code) in [
            (429, "TooManyRequests"),
            (409, "IncorrectState"),
            (409, "LockConflict"),
            (500, "InternalServerError"),
            (502, ""),
            (503, "ServiceUnavailable"),
            (504, ""),
        ] {
            assert!(is_retryable_status(status, code), "{status} {code}");
        }
        for (status, code) in [
            (400, "InvalidParameter"),
            (401, "NotAuthenticated"),
            (403, "NotAllowed"),
            (404, "NotAuthorizedOrNotFound"),
            (409, "NotAuthorizedOrResourceAlreadyExists"),
            (409, "InvalidatedRetryToken"),
            (409, "NoEtagMatch"),
            (409, "ApiKeyLimitExceeded"),
            (412, "NoEtagMatch"),
            (501, "MethodNotImplemented"),
        ] {
            assert!(!is_retryable_status(status, code), "{status} {code}");
        }
    }

    #[test]
    fn request_ids_and_retry_tokens_have_the_sdk_shape() {
        let id = new_request_id().unwrap();
        assert_eq!(id.len(), 32);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
        );
        assert_ne!(id, new_request_id().unwrap());
        let token = RetryToken::generate().unwrap();
        assert_eq!(token.as_str().len(), 30);
        assert!(token.as_str().bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(token, RetryToken::generate().unwrap());
        assert!(RetryToken::new("journal-token-1").is_ok());
        for bad in [String::new(), "a b".into(), "x".repeat(65), "é".into()] {
            assert!(RetryToken::new(bad.clone()).is_err(), "{bad:?}");
        }
        let f = jitter_fraction();
        assert!((0.0..1.0).contains(&f));
    }

    #[test]
    fn urls_keep_encoding_and_form_encode_queries() {
        let base = Url::parse("http://127.0.0.1:8080").unwrap();
        let mut call = Call::new(
            "DeleteApiKey",
            "DELETE",
            "/users/ocid1.user.oc1..u/apiKeys/aa%3Abb".into(),
            Access::Delete,
        );
        let (url, pq) = call_url(&base, &call);
        assert_eq!(pq, "/20160918/users/ocid1.user.oc1..u/apiKeys/aa%3Abb");
        assert_eq!(url.as_str(), format!("http://127.0.0.1:8080{pq}"));
        call.query = vec![("name", "a b@c:d+e".into()), ("page", "AAAA_-x".into())];
        let (_, pq) = call_url(&base, &call);
        assert_eq!(
            pq,
            "/20160918/users/ocid1.user.oc1..u/apiKeys/aa%3Abb?name=a+b%40c%3Ad%2Be&page=AAAA_-x"
        );
    }
}
