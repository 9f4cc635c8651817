//! HTTP plumbing shared by the handlers: the OCI error body ([`ApiError`]), encoding a store
//! [`Reply`] (status, `etag`, `location`, `opc-next-page`, `opc-limit`), the request context
//! ([`Ctx`]: signer, body, `if-match`, `opc-retry-token`, `host`), path and query extractors
//! that answer in OCI's shape, JSON body decoding, and one-time passwords.
//!
//! Path segments are percent-decoded (a fingerprint arrives raw `aa:bb` or encoded `aa%3Abb`);
//! query strings are form-decoded (`+` is a space). Decoding is lenient where OCI is (unknown
//! body fields are ignored) and strict where it matters (`name` may not be sent to an update;
//! wrong JSON types are 400). A body holding private-key material in any string, and tags
//! outside OCI's sizes ([`crate::limits`]), are 400 `InvalidParameter`.
//!
//! Must not: hold business rules or log request bodies.

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::auth::{Authenticated, NOT_AUTHENTICATED_MESSAGE};
use super::middleware::random_bytes;
use super::store::{
    CAPABILITIES, CapabilitiesPatch, DefinedTags, FreeformTags, NOT_FOUND_MESSAGE, PageRequest,
    Reply, RetryKey, Sort, StoreError,
};
use super::{API_PREFIX, DEFAULT_LIMIT, MAX_BODY_BYTES};
use crate::keys;
use crate::limits;
use crate::model::Ocid;

/// An OCI error response: status and `{"code": …, "message": …}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// OCI error code, e.g. `NotAuthorizedOrNotFound`.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
}

impl ApiError {
    /// An error with the given status, code and message.
    #[must_use]
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 401 `NotAuthenticated`.
    #[must_use]
    pub fn not_authenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "NotAuthenticated",
            NOT_AUTHENTICATED_MESSAGE,
        )
    }

    /// 404 `NotAuthorizedOrNotFound`.
    #[must_use]
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotAuthorizedOrNotFound",
            NOT_FOUND_MESSAGE,
        )
    }

    /// 413 `PayloadTooLarge`.
    #[must_use]
    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLarge",
            format!("The request body exceeds {MAX_BODY_BYTES} bytes"),
        )
    }

    /// 500 `InternalServerError`.
    #[must_use]
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "Internal error in the emulator; see its log",
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_internal() {
            tracing::error!(target: "ociam::emulator", error = %e, "store failure");
            return Self::internal();
        }
        let (status, code) = e.status_and_code();
        Self::new(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
            e.to_string(),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"code": self.code, "message": self.message});
        let mut resp = (self.status, body.to_string()).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp
    }
}

/// A handler's result.
pub(super) type Answer = Result<Response, ApiError>;

pub(super) fn reply_response(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: Option<String>| {
        if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    set("etag", reply.etag);
    set("location", reply.location);
    set("opc-next-page", reply.next_page);
    set("opc-limit", reply.limit.map(|l| l.to_string()));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    match reply.body {
        Some(body) => (status, headers, body).into_response(),
        None => (status, headers).into_response(),
    }
}

/// The request context every handler gets: the authenticated signer, its body, and the
/// `if-match`, `opc-retry-token` and `host` headers.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub(super) user: Ocid,
    pub(super) body: axum::body::Bytes,
    pub(super) path: String,
    pub(super) if_match: Option<String>,
    pub(super) retry_token: Option<String>,
    pub(super) host: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let auth = parts
            .extensions
            .get::<Authenticated>()
            .cloned()
            .ok_or_else(ApiError::not_authenticated)?;
        let text = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let host = text("host")
            .filter(|h| !h.is_empty() && !h.contains(['/', ' ']))
            .unwrap_or_else(|| "localhost".to_owned());
        Ok(Self {
            user: auth.user,
            body: auth.body,
            path: parts.uri.path().to_owned(),
            if_match: text("if-match"),
            retry_token: text("opc-retry-token"),
            host,
        })
    }
}

impl Ctx {
    pub(super) fn base(&self) -> String {
        format!("http://{}{API_PREFIX}", self.host)
    }

    pub(super) fn retry_key(&self, operation: &str) -> Result<Option<RetryKey>, ApiError> {
        let Some(token) = self.retry_token.as_deref() else {
            return Ok(None);
        };
        if token.is_empty() || token.len() > 64 {
            return Err(StoreError::InvalidParameter(
                "opc-retry-token must be 1 to 64 characters".to_owned(),
            )
            .into());
        }
        Ok(Some(RetryKey::new(
            token,
            operation,
            self.user.as_str(),
            &self.path,
            &self.body,
        )))
    }
}

/// One path parameter, percent-decoded; a malformed one is 404.
pub(super) struct Id(pub(super) String);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| Self(id))
            .map_err(|_| ApiError::not_found())
    }
}

/// Two path parameters, percent-decoded; malformed ones are 404.
pub(super) struct Ids(pub(super) String, pub(super) String);

impl<S: Send + Sync> FromRequestParts<S> for Ids {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map(|Path((a, b))| Self(a, b))
            .map_err(|_| ApiError::not_found())
    }
}

/// The form-decoded query string; the first value of a repeated parameter wins.
pub(super) struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| Self(q))
            .map_err(|_| {
                StoreError::InvalidParameter("The query string cannot be parsed".to_owned()).into()
            })
    }
}

impl Params {
    pub(super) fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    /// `limit` (capped at the page size; default [`DEFAULT_LIMIT`]), `page`, `sortBy`,
    /// `sortOrder`.
    pub(super) fn page(&self, page_size: usize) -> Result<PageRequest, ApiError> {
        let limit = match self.get("limit") {
            None => DEFAULT_LIMIT,
            Some(l) => match l.trim().parse::<usize>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    return Err(StoreError::InvalidParameter(
                        "limit must be a positive integer".to_owned(),
                    )
                    .into());
                }
            },
        };
        Ok(PageRequest {
            limit: limit.min(page_size),
            page: self.get("page").filter(|p| !p.is_empty()),
            sort: Sort::parse(
                self.get("sortBy").as_deref(),
                self.get("sortOrder").as_deref(),
            )?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Body decoding

/// The JSON object body of a write. Refuses (400 `InvalidParameter`, naming the field but
/// never its content) a body holding private-key material in any string, so nothing the
/// emulator is asked to store can be a private key ([`keys::find_private_key_in_json`]).
pub(super) fn object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(value @ Value::Object(_)) => {
            if let Some(path) = keys::find_private_key_in_json(&value) {
                return Err(StoreError::InvalidParameter(format!(
                    "The request body field {path} holds a private key (its contents are not \
                     shown); send public keys only and keep private keys secret"
                ))
                .into());
            }
            match value {
                Value::Object(map) => Ok(map),
                _ => Err(ApiError::internal()),
            }
        }
        _ => Err(StoreError::CannotParseRequest(
            "The request body must be a JSON object".to_owned(),
        )
        .into()),
    }
}

pub(super) fn bad_type(field: &str, what: &str) -> ApiError {
    StoreError::InvalidParameter(format!("{field} must be {what}")).into()
}

/// An optional string field (`null` = absent).
pub(super) fn string(body: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad_type(field, "a string")),
    }
}

/// A field that can be cleared: absent = `None`, `null` = `Some(None)`.
pub(super) fn nullable_string(
    body: &Map<String, Value>,
    field: &str,
) -> Result<Option<Option<String>>, ApiError> {
    match body.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(_) => Err(bad_type(field, "a string or null")),
    }
}

pub(super) fn freeform(
    body: &Map<String, Value>,
    field: &str,
) -> Result<Option<FreeformTags>, ApiError> {
    let tags: Option<FreeformTags> = match body.get(field) {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            serde_json::from_value(v.clone())
                .map_err(|_| bad_type(field, "an object of string values"))?,
        ),
    };
    for (key, value) in tags.iter().flatten() {
        check_tag(field, key, Some(value))?;
    }
    Ok(tags)
}

/// Checks one tag key (or namespace) and its value against [`limits::TAG_KEY`] and
/// [`limits::TAG_VALUE`]; the message names the field, never the text.
fn check_tag(field: &str, key: &str, value: Option<&str>) -> Result<(), ApiError> {
    let problem = limits::TAG_KEY
        .problem(key)
        .or_else(|| value.and_then(|v| limits::TAG_VALUE.problem(v)));
    match problem {
        None => Ok(()),
        Some(why) => Err(StoreError::InvalidParameter(format!("{field}: {why}")).into()),
    }
}

pub(super) fn defined(
    body: &Map<String, Value>,
    field: &str,
) -> Result<Option<DefinedTags>, ApiError> {
    let tags: Option<DefinedTags> = match body.get(field) {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            serde_json::from_value(v.clone())
                .map_err(|_| bad_type(field, "an object of namespace objects"))?,
        ),
    };
    for (namespace, keys) in tags.iter().flatten() {
        check_tag(field, namespace, None)?;
        for (key, value) in keys {
            check_tag(field, key, value.as_str())?;
        }
    }
    Ok(tags)
}

pub(super) fn refuse_name(body: &Map<String, Value>, what: &str) -> Result<(), ApiError> {
    if body.contains_key("name") {
        return Err(StoreError::InvalidParameter(format!(
            "The name of a {what} cannot be changed; it is not an update field"
        ))
        .into());
    }
    Ok(())
}

/// UpdateUserCapabilitiesDetails: the request spells `canUseDBCredentials` (capital DB); the
/// response spells it `canUseDbCredentials`. Other keys are ignored.
pub(super) fn capabilities(body: &Map<String, Value>) -> Result<CapabilitiesPatch, ApiError> {
    let mut out = Vec::new();
    for response_name in CAPABILITIES {
        let request_name = if response_name == "canUseDbCredentials" {
            "canUseDBCredentials"
        } else {
            response_name
        };
        match body.get(request_name) {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => out.push((response_name, *b)),
            Some(_) => return Err(bad_type(request_name, "true or false")),
        }
    }
    Ok(CapabilitiesPatch(out))
}

/// A one-time console password: 16 characters with upper, lower, digit and symbol.
pub(super) fn one_time_password() -> Result<String, ApiError> {
    const SETS: [&[u8]; 4] = [
        b"ABCDEFGHJKLMNPQRSTUVWXYZ",
        b"abcdefghijkmnopqrstuvwxyz",
        b"23456789",
        b"#$%&()*+-.:;<=>?@[]^_{}",
    ];
    let bytes = random_bytes::<32>().ok_or_else(ApiError::internal)?;
    let all: Vec<u8> = SETS.concat();
    let mut chars: Vec<u8> = (0..16)
        .map(|i| {
            let set = SETS.get(i).copied().unwrap_or(&all);
            set[usize::from(bytes[i]) % set.len()]
        })
        .collect();
    // Shuffle so the four guaranteed classes are not always first.
    for i in (1..chars.len()).rev() {
        let j = usize::from(bytes[16 + i]) % (i + 1);
        chars.swap(i, j);
    }
    String::from_utf8(chars).map_err(|_| ApiError::internal())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: serde_json::Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn capabilities_use_the_request_spelling_and_answer_the_response_spelling() {
        let patch = capabilities(&obj(serde_json::json!({
            "canUseDBCredentials": false,
            "canUseDbCredentials": true,
            "canUseApiKeys": true,
            "unknown": 3
        })))
        .unwrap();
        assert_eq!(
            patch.0,
            [("canUseApiKeys", true), ("canUseDbCredentials", false)]
        );
        let err = capabilities(&obj(serde_json::json!({"canUseApiKeys": "yes"}))).unwrap_err();
        assert_eq!(err.code, "InvalidParameter");
    }

    #[test]
    fn bodies_must_be_objects_with_well_typed_fields() {
        assert_eq!(object(b"").unwrap_err().code, "CannotParseRequest");
        assert_eq!(object(b"[1]").unwrap_err().code, "CannotParseRequest");
        let body = obj(serde_json::json!({"name": 3, "email": null, "freeformTags": {"a": 1}}));
        assert_eq!(string(&body, "name").unwrap_err().code, "InvalidParameter");
        assert_eq!(nullable_string(&body, "email").unwrap(), Some(None));
        assert_eq!(nullable_string(&body, "absent").unwrap(), None);
        assert!(freeform(&body, "freeformTags").is_err());
        assert_eq!(
            refuse_name(&body, "user").unwrap_err().code,
            "InvalidParameter"
        );
    }

    #[test]
    fn limits_are_capped_by_the_page_size_and_validated() {
        let q = |pairs: &[(&str, &str)]| {
            Params(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            )
        };
        assert_eq!(q(&[]).page(100).unwrap().limit, DEFAULT_LIMIT);
        assert_eq!(q(&[]).page(1).unwrap().limit, 1);
        assert_eq!(q(&[("limit", "1000")]).page(100).unwrap().limit, 100);
        assert_eq!(q(&[("limit", "7")]).page(100).unwrap().limit, 7);
        assert!(q(&[("limit", "0")]).page(100).is_err());
        assert!(q(&[("limit", "x")]).page(100).is_err());
        assert!(q(&[("sortBy", "SIZE")]).page(100).is_err());
    }

    #[test]
    fn one_time_passwords_mix_character_classes_and_differ() {
        let a = one_time_password().unwrap();
        assert_eq!(a.len(), 16);
        assert!(a.bytes().any(|b| b.is_ascii_uppercase()));
        assert!(a.bytes().any(|b| b.is_ascii_lowercase()));
        assert!(a.bytes().any(|b| b.is_ascii_digit()));
        assert!(a.bytes().any(|b| !b.is_ascii_alphanumeric()));
        assert_ne!(a, one_time_password().unwrap());
    }

    #[test]
    fn store_errors_map_to_oci_codes_and_internal_ones_hide_details() {
        let e = ApiError::from(StoreError::NoEtagMatch {
            id: "ocid1.user.oc1..x".into(),
        });
        assert_eq!(e.status, StatusCode::CONFLICT);
        assert_eq!(e.code, "NoEtagMatch");
        assert_eq!(
            e.message,
            "The entity ocid1.user.oc1..x has been modified. Etag is outdated."
        );
        let e = ApiError::from(StoreError::Incompatible("secret detail".into()));
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.message.contains("secret detail"));
        assert_eq!(ApiError::from(StoreError::NotFound), ApiError::not_found());
    }
}
