//! Request authentication: every request must carry an OCI request signature
//! (`Authorization: Signature …`, parameters in any order) by an ACTIVE API key of a user of
//! this tenancy, named by `keyId` `<tenancy>/<user>/<fingerprint>`; the mandatory headers for
//! the method must be signed, `x-content-sha256` and `content-length` must match the received
//! body, and (unless the skew check is off) the date must be within ±5 minutes. Verification
//! uses the path and query exactly as received. Any failure is 401 `NotAuthenticated` with
//! OCI's fixed message; the reason is only logged at debug level.
//!
//! Authorization (who may do what) is not here: the store decides it per operation with the
//! planner's authority model. A user with no key cannot sign, which is OCI's `no-api-key-yet`.
//!
//! Must not: log or return the `Authorization` header, a signature, a body or key material.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

use super::http::ApiError;
use super::store::{Store, StoreError};
use super::{AppState, MAX_BODY_BYTES};
use crate::model::{Fingerprint, Ocid};
use crate::oci::sign::{self, HeaderLookup, VerifyError, VerifyRequest};

/// The message of every 401.
pub const NOT_AUTHENTICATED_MESSAGE: &str =
    "The required information to complete authentication was not provided or was incorrect.";

/// Why a request was not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("the request has no Authorization header")]
    MissingAuthorization,
    /// The `Authorization` header is not visible ASCII.
    #[error("the Authorization header is not valid text")]
    AuthorizationNotText,
    /// The signature, its parameters or the signed headers failed a check.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// `keyId` names another tenancy, an unknown user or a key the user does not hold (or
    /// the user may not use API keys).
    #[error("no active API key {fingerprint} for user {user} in this tenancy")]
    UnknownKey {
        /// The user OCID from `keyId`.
        user: String,
        /// The fingerprint from `keyId`.
        fingerprint: Fingerprint,
    },
    /// The store failed (answered 500, not 401).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An `http::HeaderMap` as the verifier's header lookup (values that are not visible ASCII
/// count as absent).
#[derive(Clone, Copy, Debug)]
pub struct HttpHeaders<'a>(pub &'a HeaderMap);

impl HeaderLookup for HttpHeaders<'_> {
    fn header(&self, lowercase_name: &str) -> Option<&str> {
        self.0.get(lowercase_name).and_then(|v| v.to_str().ok())
    }
}

/// A received request, as authentication needs it.
#[derive(Clone, Copy, Debug)]
pub struct Received<'a> {
    /// The method.
    pub method: &'a str,
    /// Path and query exactly as on the request line.
    pub path_and_query: &'a str,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The body bytes.
    pub body: &'a [u8],
}

/// Verifies `req`'s signature against the store's keys and returns the signer's user OCID.
/// `now_unix` enables the ±5 minute date check.
///
/// # Errors
/// An [`AuthError`] naming the failed check.
pub fn authenticate(
    store: &Store,
    req: &Received<'_>,
    now_unix: Option<i64>,
) -> Result<Ocid, AuthError> {
    let value = req
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or(AuthError::MissingAuthorization)?
        .to_str()
        .map_err(|_| AuthError::AuthorizationNotText)?;
    let params = sign::parse_authorization(value)?;
    let key_id = params.parsed_key_id()?;
    let spki = store
        .signing_key(key_id.tenancy, key_id.user, &key_id.fingerprint)?
        .ok_or_else(|| AuthError::UnknownKey {
            user: key_id.user.to_owned(),
            fingerprint: key_id.fingerprint.clone(),
        })?;
    let headers = HttpHeaders(req.headers);
    let verify_req = VerifyRequest {
        method: req.method,
        path_and_query: req.path_and_query,
        headers: &headers,
        body: req.body,
    };
    sign::verify(&params, &verify_req, &spki, now_unix)?;
    Ok(Ocid::new(key_id.user))
}

/// What authentication hands the handlers: the signer and the body it signed.
#[derive(Clone, Debug)]
pub struct Authenticated {
    /// The signing user's OCID.
    pub user: Ocid,
    /// The request body (at most [`MAX_BODY_BYTES`]).
    pub body: Bytes,
}

/// Middleware: reads the body (64 KiB at most, else 413), authenticates the request and passes
/// [`Authenticated`] on in the request's extensions; 401 `NotAuthenticated` otherwise.
pub(super) async fn authenticate_layer(
    State(app): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return ApiError::payload_too_large().into_response();
    };
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let method = parts.method.as_str().to_owned();
    let headers = parts.headers.clone();
    let now = app.skew_check.then(|| app.clock.now_ms().div_euclid(1000));
    let store = app.store.clone();
    let signed_body = body.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        authenticate(
            &store,
            &Received {
                method: &method,
                path_and_query: &path_and_query,
                headers: &headers,
                body: &signed_body,
            },
            now,
        )
    })
    .await;
    match outcome {
        Ok(Ok(user)) => {
            parts.extensions.insert(Authenticated { user, body });
            next.run(Request::from_parts(parts, Body::empty())).await
        }
        Ok(Err(AuthError::Store(e))) => ApiError::from(e).into_response(),
        Ok(Err(e)) => {
            tracing::debug!(target: "ociam::emulator", reason = %e, "request not authenticated");
            ApiError::not_authenticated().into_response()
        }
        Err(e) => {
            tracing::error!(target: "ociam::emulator", error = %e, "authentication task failed");
            ApiError::internal().into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use axum::http::{HeaderName, HeaderValue};

    use super::*;
    use crate::emulator::ManualClock;
    use crate::emulator::store::Bootstrap;
    use crate::snapshot::Snapshot;

    const DOC_PUB: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/oci/signing-vectors/oci-doc-test-key.pub.pem"
    ));
    const VECTORS: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/oci/signing-vectors/vectors.json"
    ));
    /// 2014-01-05 21:31:40 UTC, the date every vector signs.
    const VECTOR_TIME: i64 = 1_388_957_500;

    struct Vector {
        name: String,
        method: String,
        path: String,
        headers: BTreeMap<String, String>,
        body: Vec<u8>,
        authorizations: Vec<String>,
    }

    fn vectors() -> (serde_json::Value, Vec<Vector>) {
        let root: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
        let mut out = Vec::new();
        for group in ["published", "derived"] {
            for v in root[group].as_array().unwrap() {
                let target = v["request_target"].as_str().unwrap();
                let (_, path) = target.split_once(' ').unwrap();
                let mut authorizations = vec![
                    v["expected_authorization_python_sdk_order"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                ];
                if let Some(go) = v["expected_authorization_go_sdk_order"].as_str() {
                    authorizations.push(go.to_owned());
                }
                out.push(Vector {
                    name: v["name"].as_str().unwrap().to_owned(),
                    method: v["method"].as_str().unwrap().to_owned(),
                    path: path.to_owned(),
                    headers: v["headers"]
                        .as_object()
                        .unwrap()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                        .collect(),
                    body: v["body"].as_str().unwrap_or_default().as_bytes().to_vec(),
                    authorizations,
                });
            }
        }
        assert_eq!(out.len(), 8, "2 published + 6 derived vectors");
        (root, out)
    }

    /// A store whose tenancy and user are the vectors' and whose user holds the 1024-bit doc
    /// key under the keyId's fingerprint (seeded: the 2048-bit rule is for uploads).
    fn vector_store(dir: &std::path::Path) -> (Store, String) {
        let (root, _) = vectors();
        let creds = &root["credentials"];
        let tenancy = creds["tenancy"].as_str().unwrap();
        let user = creds["user"].as_str().unwrap();
        let fingerprint = creds["fingerprint_used_in_keyId"].as_str().unwrap();
        let seed: Snapshot = serde_json::from_value(serde_json::json!({
            "format_version": 1,
            "tenancy": tenancy,
            "users": [{"id": user, "compartmentId": tenancy, "name": "vector-user",
                       "description": "", "lifecycleState": "ACTIVE"}],
            "api_keys": {user: [{"fingerprint": fingerprint, "keyValue": DOC_PUB,
                                  "lifecycleState": "ACTIVE"}]}
        }))
        .unwrap();
        let store = Store::open(&dir.join("e.db"), Arc::new(ManualClock::new(0))).unwrap();
        let admin = crate::keygen::generate_rsa_2048().unwrap();
        store
            .initialize(
                Some(&seed),
                &Bootstrap {
                    admin_public_pem: admin.public_spki_pem,
                    tenancy_name: "t".into(),
                    tenancy_id: Ocid::new("ocid1.tenancy.oc1..unused"),
                },
                |_| Ok(()),
            )
            .unwrap()
            .unwrap();
        (store, user.to_owned())
    }

    fn header_map(headers: &BTreeMap<String, String>, authorization: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map.insert(
            axum::http::header::AUTHORIZATION,
            HeaderValue::from_str(authorization).unwrap(),
        );
        map
    }

    #[test]
    fn every_signing_vector_authenticates_in_both_parameter_orders() {
        let dir = tempfile::tempdir().unwrap();
        let (store, user) = vector_store(dir.path());
        for v in vectors().1 {
            for authorization in &v.authorizations {
                let headers = header_map(&v.headers, authorization);
                let req = Received {
                    method: &v.method,
                    path_and_query: &v.path,
                    headers: &headers,
                    body: &v.body,
                };
                let who =
                    authenticate(&store, &req, None).unwrap_or_else(|e| panic!("{}: {e}", v.name));
                assert_eq!(who.as_str(), user, "{}", v.name);
                // The vectors are dated 2014: with the skew check on they are refused.
                let err = authenticate(&store, &req, Some(VECTOR_TIME + 301)).unwrap_err();
                assert!(
                    matches!(err, AuthError::Verify(VerifyError::ClockSkew { .. })),
                    "{}: {err}",
                    v.name
                );
                authenticate(&store, &req, Some(VECTOR_TIME + 299))
                    .unwrap_or_else(|e| panic!("{}: {e}", v.name));
            }
        }
    }

    #[test]
    fn vectors_fail_when_path_body_key_or_tenancy_differ() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = vector_store(dir.path());
        for v in vectors().1 {
            let auth = &v.authorizations[0];
            let headers = header_map(&v.headers, auth);
            let other_path = format!("{}x", v.path);
            let req = Received {
                method: &v.method,
                path_and_query: &other_path,
                headers: &headers,
                body: &v.body,
            };
            assert!(
                matches!(
                    authenticate(&store, &req, None),
                    Err(AuthError::Verify(VerifyError::SignatureMismatch))
                ),
                "{}",
                v.name
            );
            if v.method == "POST" || v.method == "PUT" {
                let mut body = v.body.clone();
                body.push(b' ');
                let req = Received {
                    method: &v.method,
                    path_and_query: &v.path,
                    headers: &headers,
                    body: &body,
                };
                assert!(
                    matches!(
                        authenticate(&store, &req, None),
                        Err(AuthError::Verify(VerifyError::BodyHashMismatch))
                    ),
                    "{}",
                    v.name
                );
            }
            for (from, to) in [
                ("20:3b:97", "20:3b:98"),
                (
                    "ocid1.tenancy.oc1..aaaaaaaaba3",
                    "ocid1.tenancy.oc1..aaaaaaaabb3",
                ),
            ] {
                let forged = auth.replace(from, to);
                let headers = header_map(&v.headers, &forged);
                let req = Received {
                    method: &v.method,
                    path_and_query: &v.path,
                    headers: &headers,
                    body: &v.body,
                };
                assert!(
                    matches!(
                        authenticate(&store, &req, None),
                        Err(AuthError::UnknownKey { .. })
                    ),
                    "{}: {from}",
                    v.name
                );
            }
            let mut unsigned = header_map(&v.headers, auth);
            unsigned.remove(axum::http::header::AUTHORIZATION);
            let req = Received {
                method: &v.method,
                path_and_query: &v.path,
                headers: &unsigned,
                body: &v.body,
            };
            assert!(matches!(
                authenticate(&store, &req, None),
                Err(AuthError::MissingAuthorization)
            ));
        }
    }
}
