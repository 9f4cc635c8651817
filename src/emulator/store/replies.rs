//! Replies as the store records them for `opc-retry-token` replay, the retry key (token plus
//! a digest of the request), and the replay lookup. A reply is recorded in the transaction of
//! the write it answers, so a replay never repeats a write and never returns an unacknowledged
//! one. (A replayed CreateOrResetUIPassword returns the same one-time password, so that record
//! holds it until the token expires after 24 hours.)

use rusqlite::OptionalExtension as _;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::{StoreError, Tx};
use crate::hex;

/// A response as the store persists it for retry-token replay: status, the `etag`, `location`
/// and `opc-next-page` headers, and the JSON body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `etag` header.
    pub etag: Option<String>,
    /// `location` header.
    pub location: Option<String>,
    /// `opc-next-page` header.
    pub next_page: Option<String>,
    /// `opc-limit` header (the page size used).
    pub limit: Option<usize>,
    /// JSON body; `None` for 204.
    pub body: Option<String>,
    /// Whether this reply was replayed from a retry-token record.
    pub replayed: bool,
}

impl Reply {
    /// A 200 reply with `value` as its JSON body.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] if the value cannot be encoded (it always can for wire types).
    pub fn ok<T: Serialize>(value: &T) -> Result<Self, StoreError> {
        let body = serde_json::to_string_pretty(value).map_err(|e| StoreError::Corrupt {
            table: "response",
            message: e.to_string(),
        })?;
        Ok(Self {
            status: 200,
            etag: None,
            location: None,
            next_page: None,
            limit: None,
            body: Some(body),
            replayed: false,
        })
    }

    /// A 204 reply with no body.
    #[must_use]
    pub fn no_content() -> Self {
        Self {
            status: 204,
            etag: None,
            location: None,
            next_page: None,
            limit: None,
            body: None,
            replayed: false,
        }
    }

    /// Sets the `etag` header.
    #[must_use]
    pub fn with_etag(mut self, etag: String) -> Self {
        self.etag = Some(etag);
        self
    }

    /// Sets the `location` header.
    #[must_use]
    pub fn with_location(mut self, location: String) -> Self {
        self.location = Some(location);
        self
    }
}

/// An `opc-retry-token` with the digest of the request it was sent with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryKey {
    /// The token as sent (1 to 64 characters).
    pub token: String,
    /// Hex SHA-256 over the operation, the actor, the raw path and the body.
    pub request_hash: String,
}

impl RetryKey {
    /// Keys `token` on (operation, actor, path, body).
    #[must_use]
    pub fn new(token: &str, operation: &str, actor: &str, path: &str, body: &[u8]) -> Self {
        let mut h = Sha256::new();
        for part in [operation.as_bytes(), actor.as_bytes(), path.as_bytes()] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        h.update(body);
        Self {
            token: token.to_owned(),
            request_hash: hex::lower(&h.finalize()),
        }
    }
}

impl Tx<'_> {
    pub(super) fn replay(&self, key: &RetryKey) -> Result<Option<Reply>, StoreError> {
        type Row = (String, u16, Option<String>, Option<String>, Option<String>);
        let row: Option<Row> = self
            .tx
            .query_row(
                "SELECT request_hash, status, etag, location, body FROM retry_tokens WHERE token = ?1",
                [&key.token],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        let Some((hash, status, etag, location, body)) = row else {
            return Ok(None);
        };
        if hash != key.request_hash {
            return Err(StoreError::InvalidatedRetryToken);
        }
        Ok(Some(Reply {
            status,
            etag,
            location,
            next_page: None,
            limit: None,
            body,
            replayed: true,
        }))
    }
}
