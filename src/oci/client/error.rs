//! [`ClientError`]: every way an Identity API call can fail, one documented variant per cause,
//! each naming the HTTP request (method and path) and, when the service answered, its
//! `opc-request-id` (what Oracle support asks for).
//!
//! Must not carry secrets: no request or response body of a one-time-password call, no
//! `Authorization` header, no key material. Service-supplied text is shown without control
//! characters and truncated, so a hostile answer cannot rewrite the terminal.

use std::fmt;

use reqwest::StatusCode;

use super::endpoint::EndpointError;
use crate::model::Fingerprint;
use crate::oci::sign::SignError;

/// Longest service message kept in an error, in characters.
const MAX_MESSAGE_CHARS: usize = 600;

/// The service answered with an error status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The API operation, e.g. `CreateUser`.
    pub operation: &'static str,
    /// The HTTP method, e.g. `POST`.
    pub method: &'static str,
    /// The request path as sent, without the query, e.g. `/20160918/users`.
    pub path: String,
    /// The HTTP status, e.g. 409.
    pub status: u16,
    /// The service's error `code`, e.g. `NotAuthorizedOrResourceAlreadyExists` (empty when the
    /// body had none).
    pub code: String,
    /// The service's error `message` (sanitized; empty when the body had none).
    pub message: String,
    /// The `opc-request-id` the service echoed (ours when it echoed none).
    pub opc_request_id: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        write!(f, "{} {} failed: {}", self.method, self.path, self.status)?;
        if !reason.is_empty() {
            write!(f, " {reason}")?;
        }
        match (self.code.is_empty(), self.message.is_empty()) {
            (false, false) => write!(f, " ({}: {})", self.code, self.message)?,
            (false, true) => write!(f, " ({})", self.code)?,
            (true, false) => write!(f, " ({})", self.message)?,
            (true, true) => {}
        }
        write!(f, " [opc-request-id: {}]", self.opc_request_id)
    }
}

/// A response body that is not the JSON the operation returns.
#[derive(Debug)]
pub struct DecodeError {
    /// The API operation.
    pub operation: &'static str,
    /// The HTTP method.
    pub method: &'static str,
    /// The request path as sent, without the query.
    pub path: String,
    /// The Rust type the body should have decoded to, e.g. `Vec<ociam::oci::wire::User>`.
    pub type_name: &'static str,
    /// The start of the body (sanitized), or a note that it was withheld (one-time passwords).
    pub excerpt: String,
    /// The `opc-request-id` of the response.
    pub opc_request_id: String,
    /// serde_json's error.
    pub source: serde_json::Error,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} returned a body that is not a `{}` ({}; body: {}) [opc-request-id: {}]",
            self.method, self.path, self.type_name, self.source, self.excerpt, self.opc_request_id
        )
    }
}

/// Why an Identity API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The service answered with an error status (after any retries the status allows).
    #[error("{0}")]
    Api(Box<ApiError>),
    /// The service answered 401 `NotAuthenticated`: it did not accept the request signature.
    #[error(
        "{0}; the service did not accept the request signature. Likely causes: this machine's \
         clock is more than 5 minutes off (check NTP), the API key was uploaded moments ago and \
         is not active yet (retry in a minute), or the profile's user, tenancy, fingerprint and \
         key_file do not belong together"
    )]
    NotAuthenticated(Box<ApiError>),
    /// The request could not be sent or the answer not received (connection refused or reset,
    /// DNS, TLS, timeout), after every attempt the retry policy allows.
    #[error("{request} ({operation}) failed after {attempts} attempt(s): {what}")]
    Transport {
        /// The API operation.
        operation: &'static str,
        /// Method and path, e.g. `GET /20160918/users`.
        request: String,
        /// How many attempts were made.
        attempts: u32,
        /// A short description: timed out, could not connect, …
        what: &'static str,
        /// reqwest's error.
        #[source]
        source: reqwest::Error,
    },
    /// The answer's body is not what the operation returns.
    #[error("{0}")]
    Decode(Box<DecodeError>),
    /// A request body could not be encoded as JSON.
    #[error("{operation}: cannot encode the request body as JSON")]
    Encode {
        /// The API operation.
        operation: &'static str,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
    /// The answer's body is larger than any Identity answer should be.
    #[error("{request} ({operation}): the response body exceeds {limit} bytes; refusing it")]
    ResponseTooLarge {
        /// The API operation.
        operation: &'static str,
        /// Method and path.
        request: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// A list operation's paging did not end (a page token repeated, or too many pages).
    #[error("{request} ({operation}): paging did not end: {reason}")]
    Paging {
        /// The API operation.
        operation: &'static str,
        /// Method and path.
        request: String,
        /// What went wrong.
        reason: &'static str,
    },
    /// The region or endpoint is not usable.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The request could not be signed.
    #[error("cannot sign the request: {0}")]
    Sign(#[from] SignError),
    /// The private key does not belong to the configured fingerprint, so every request would
    /// fail with 401.
    #[error(
        "the private key's fingerprint is {key}, but the profile says {configured}: the \
         profile's `fingerprint` and `key_file` must belong to the same API key"
    )]
    KeyMismatch {
        /// The profile's fingerprint.
        configured: Fingerprint,
        /// The fingerprint of the loaded private key.
        key: Fingerprint,
    },
    /// `ListRegionSubscriptions` names no home region, so IAM writes have nowhere to go.
    #[error(
        "GET /20160918/tenancies/{{id}}/regionSubscriptions lists no home region \
         (isHomeRegion); IAM writes must go to the tenancy's home region"
    )]
    NoHomeRegion,
    /// A header value given by the caller (`if-match`, retry token) is not a valid header.
    #[error("invalid `{0}` value: it must be 1 to 64 visible ASCII characters")]
    InvalidHeader(&'static str),
    /// The operating system's random number generator failed (request ids, retry tokens).
    #[error("the system random number generator failed")]
    Random,
    /// The HTTP client could not be set up (TLS roots, proxy configuration).
    #[error("cannot set up the HTTP client")]
    HttpSetup(#[source] reqwest::Error),
}

impl ClientError {
    /// The service's answer, for [`ClientError::Api`] and [`ClientError::NotAuthenticated`].
    #[must_use]
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Self::Api(e) | Self::NotAuthenticated(e) => Some(e),
            _ => None,
        }
    }

    /// The HTTP status the service answered with, if it answered with an error.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        self.api().map(|e| e.status)
    }

    /// The service's error code, if it answered with one.
    #[must_use]
    pub fn code(&self) -> Option<&str> {
        self.api()
            .map(|e| e.code.as_str())
            .filter(|c| !c.is_empty())
    }

    /// Whether this is the service's "not found" (404 `NotAuthorizedOrNotFound`/`NotFound`).
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

/// Service text made safe to show: control characters become spaces, at most
/// [`MAX_MESSAGE_CHARS`] characters.
pub(crate) fn sanitize(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(MAX_MESSAGE_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(MAX_MESSAGE_CHARS).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_size_stays_small() {
        // Large `Err` types make every `Result` expensive (clippy::result_large_err).
        assert!(std::mem::size_of::<ClientError>() <= 128);
    }

    #[test]
    fn api_error_display_names_request_and_id() {
        let e = ApiError {
            operation: "CreateUser",
            method: "POST",
            path: "/20160918/users".into(),
            status: 409,
            code: "NotAuthorizedOrResourceAlreadyExists".into(),
            message: "exists".into(),
            opc_request_id: "ABC/DEF".into(),
        };
        assert_eq!(
            e.to_string(),
            "POST /20160918/users failed: 409 Conflict (NotAuthorizedOrResourceAlreadyExists: \
             exists) [opc-request-id: ABC/DEF]"
        );
        let bare = ApiError {
            code: String::new(),
            message: String::new(),
            status: 599,
            ..e
        };
        assert_eq!(
            bare.to_string(),
            "POST /20160918/users failed: 599 [opc-request-id: ABC/DEF]"
        );
    }

    #[test]
    fn sanitize_strips_control_characters_and_truncates() {
        assert_eq!(sanitize("a\u{1b}[2Jb\nc"), "a [2Jb c");
        let long = "x".repeat(MAX_MESSAGE_CHARS + 5);
        assert_eq!(sanitize(&long).chars().count(), MAX_MESSAGE_CHARS + 1);
    }
}
