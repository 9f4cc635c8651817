//! Cross-cutting HTTP behaviour: `opc-request-id` on every response (the caller's echoed as
//! `CALLERID/<32hex>/<32hex>`, else 32 fresh hex), JSON content type and OCI's cache headers,
//! OCI-shaped 413 bodies, one log line per request (method, path, status, request id; never the
//! query, headers or body), fault injection (latency, 429/503 with `retry-after: 1`) and the
//! `--rate-limit` throttle (429 without `retry-after`, see [`super::ratelimit`]). Also the
//! emulator's randomness (OS RNG through aws-lc-rs).
//!
//! Must not: write anything; fault injection and the throttle answer before authentication
//! and handlers run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

use super::AppState;
use super::http::ApiError;

/// Longest caller `opc-request-id` that is echoed.
const MAX_CALLER_ID: usize = 98;

/// `N` random bytes from the OS RNG; `None` if it fails.
pub(super) fn random_bytes<const N: usize>() -> Option<[u8; N]> {
    let mut buf = [0u8; N];
    aws_lc_rs::rand::fill(&mut buf).ok().map(|()| buf)
}

/// 32 uppercase hex characters: random, or (if the RNG fails) from a process counter.
fn hex32() -> String {
    static FALLBACK: AtomicU64 = AtomicU64::new(1);
    let bytes = random_bytes::<16>().unwrap_or_else(|| {
        let n = FALLBACK.fetch_add(1, Ordering::Relaxed);
        let mut b = [0u8; 16];
        b[8..].copy_from_slice(&n.to_be_bytes());
        b
    });
    crate::hex::upper(&bytes)
}

fn caller_request_id(req: &Request) -> Option<String> {
    let v = req.headers().get("opc-request-id")?.to_str().ok()?.trim();
    (!v.is_empty()
        && v.len() <= MAX_CALLER_ID
        && v.bytes().all(|b| b.is_ascii_graphic() && b != b'/'))
    .then(|| v.to_owned())
}

/// Adds `opc-request-id`, `content-type: application/json` and OCI's cache headers to every
/// response, turns a plain 413 from the body-limit layer into an OCI error, and logs the
/// request.
pub(super) async fn common_headers(req: Request, next: Next) -> Response {
    let id = match caller_request_id(&req) {
        Some(caller) => format!("{caller}/{}/{}", hex32(), hex32()),
        None => hex32(),
    };
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mut resp = next.run(req).await;
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        resp = ApiError::payload_too_large().into_response();
    }
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert(HeaderName::from_static("opc-request-id"), v);
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    tracing::info!(
        target: "ociam::emulator",
        %method,
        %path,
        status = resp.status().as_u16(),
        request_id = %id,
        "request"
    );
    resp
}

/// A uniform random number in `[0, 1)`, or `None` if the RNG fails.
fn unit_random() -> Option<f64> {
    let bytes = random_bytes::<8>()?;
    // 53 random bits: exactly representable.
    let bits = u64::from_be_bytes(bytes) >> 11;
    #[allow(clippy::cast_precision_loss)]
    Some(bits as f64 / (1u64 << 53) as f64)
}

/// Sleeps `latency_ms`; then, with `--rate-limit`, answers a request that finds the tenancy's
/// token bucket empty with 429 `TooManyRequests` and no `retry-after`; then answers a
/// `fail_rate` fraction of requests with 429 `TooManyRequests` or 503 `ServiceUnavailable`
/// (half each) and `retry-after: 1`.
pub(super) async fn faults(State(app): State<AppState>, req: Request, next: Next) -> Response {
    if app.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(app.latency_ms)).await;
    }
    if let Some(throttle) = &app.throttle {
        let now = app.clock.now_ms();
        let allowed = throttle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .try_take(now);
        if !allowed {
            return ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Tenancy request-rate limit exceeded.",
            )
            .into_response();
        }
    }
    if app.fail_rate > 0.0 && unit_random().is_some_and(|r| r < app.fail_rate) {
        let throttle = random_bytes::<1>().is_some_and(|[b]| b & 1 == 0);
        let err = if throttle {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "User-rate limit exceeded.",
            )
        } else {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "The service is temporarily unavailable (injected fault); retry later.",
            )
        };
        let mut resp = err.into_response();
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return resp;
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_helpers_produce_well_formed_values() {
        let a = hex32();
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_lowercase())
        );
        assert_ne!(a, hex32());
        for _ in 0..100 {
            let r = unit_random().unwrap();
            assert!((0.0..1.0).contains(&r));
        }
    }
}
