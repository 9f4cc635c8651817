//! API keys: list, upload, delete, and the lookup request authentication uses. Rules: the key
//! must be an RSA public key of 2048 to 8192 bits (`keys::strength_problem`, the bound
//! `validate` uses; a private key, another algorithm or another size is 400
//! `InvalidParameter`), at most three keys per user (409
//! `ApiKeyLimitExceeded`), the same key twice on one user is 409, and `keyValue` is echoed
//! exactly as uploaded. Users manage their own keys; admins manage everyone's.
//!
//! Must not: echo any byte of a rejected key (key errors describe, never quote).

use rusqlite::OptionalExtension as _;

use super::actor::user_target;
use super::{Row, Store, StoreError, Table, Tx, check_etag, encode};
use crate::keys::{self, KeyError, PublicKey};
use crate::model::{Fingerprint, MAX_API_KEYS};
use crate::oci::{sign, wire};
use crate::plan::authority::Operation;

impl Store {
    /// The DER SubjectPublicKeyInfo of the ACTIVE key `fingerprint` of user `user` in tenancy
    /// `tenancy`, if that key exists and its owner may use API keys; what request
    /// authentication verifies signatures with.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`] or [`StoreError::Corrupt`].
    pub fn signing_key(
        &self,
        tenancy: &str,
        user: &str,
        fingerprint: &Fingerprint,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let conn = self.lock();
        if super::meta(&conn, "tenancy_id")?.as_deref() != Some(tenancy) {
            return Ok(None);
        }
        let row: Option<(Option<Vec<u8>>, String, String)> = conn
            .query_row(
                "SELECT k.spki, k.doc, u.doc FROM iam_api_keys k JOIN iam_users u ON u.id = k.user_id
                 WHERE k.user_id = ?1 AND k.fingerprint = ?2",
                rusqlite::params![user, fingerprint.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((Some(spki), key_doc, user_doc)) = row else {
            return Ok(None);
        };
        let key: wire::ApiKey = super::decode(Table::ApiKeys, &key_doc)?;
        let owner: wire::User = super::decode(Table::Users, &user_doc)?;
        let active = key
            .lifecycle_state
            .as_deref()
            .is_none_or(|s| s.eq_ignore_ascii_case("ACTIVE"));
        let may_use_keys = owner
            .capabilities
            .as_ref()
            .and_then(|c| c.can_use_api_keys)
            .unwrap_or(true);
        Ok((active && may_use_keys).then_some(spki))
    }
}

fn key_problem(e: &KeyError) -> StoreError {
    match e {
        KeyError::PrivateKey => StoreError::InvalidParameter(
            "The key is a private key (its contents are not shown); upload the public key \
             (`openssl rsa -pubout -in KEY.pem`) and keep the private key secret"
                .to_owned(),
        ),
        other => StoreError::InvalidParameter(format!("Invalid key: {other}")),
    }
}

impl Tx<'_> {
    fn key_count(&self, user_id: &str) -> Result<usize, StoreError> {
        let n: i64 = self.tx.query_row(
            "SELECT count(*) FROM iam_api_keys WHERE user_id = ?1",
            [user_id],
            |r| r.get(0),
        )?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    /// Inserts a key document as is, with the SPKI to verify signatures with (if known).
    pub(super) fn insert_api_key(
        &self,
        key: &wire::ApiKey,
        spki: Option<&[u8]>,
        seq: i64,
    ) -> Result<String, StoreError> {
        let etag = self.new_etag()?;
        let created = super::parse_millis(key.time_created.as_deref()).unwrap_or(self.now_ms);
        self.tx.execute(
            "INSERT INTO iam_api_keys (user_id, fingerprint, spki, seq, created_ms, etag, doc)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            rusqlite::params![
                key.user_id,
                key.fingerprint,
                spki,
                seq,
                created,
                etag,
                encode(Table::ApiKeys, key)?
            ],
        )?;
        Ok(etag)
    }

    /// Validates and stores `pem` as a key of `user_id`, without authorization.
    pub(super) fn upload_api_key_unchecked(
        &self,
        user_id: &str,
        pem: &str,
    ) -> Result<(wire::ApiKey, String), StoreError> {
        let key = PublicKey::from_pem(pem).map_err(|e| key_problem(&e))?;
        if let Some(problem) = keys::strength_problem(&key) {
            return Err(StoreError::InvalidParameter(format!(
                "Invalid key: {problem}"
            )));
        }
        let fingerprint = key.fingerprint();
        let duplicate: bool = self.tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM iam_api_keys WHERE user_id = ?1 AND fingerprint = ?2)",
            [user_id, fingerprint.as_str()],
            |r| r.get(0),
        )?;
        if duplicate {
            return Err(StoreError::AlreadyExists(format!(
                "User {user_id} already has the key with fingerprint {fingerprint}"
            )));
        }
        if self.key_count(user_id)? >= MAX_API_KEYS {
            return Err(StoreError::ApiKeyLimitExceeded {
                user: user_id.to_owned(),
            });
        }
        let seq = self.next_seq()?;
        let doc = wire::ApiKey {
            key_id: Some(sign::key_id(
                &self.tenancy,
                &crate::model::Ocid::new(user_id),
                &fingerprint,
            )),
            key_value: Some(pem.to_owned()),
            fingerprint: fingerprint.to_string(),
            user_id: Some(user_id.to_owned()),
            time_created: Some(self.now_rfc3339()),
            lifecycle_state: Some("ACTIVE".to_owned()),
            extra: wire::Extra::new(),
        };
        let etag = self.insert_api_key(&doc, Some(key.spki_der()), seq)?;
        Ok((doc, etag))
    }

    /// UploadApiKey (admins, and every user for itself).
    ///
    /// # Errors
    /// 404 when the user does not exist or the actor may not manage its keys; 400 for a
    /// private, non-RSA, short or malformed key; 409 for a duplicate or a fourth key.
    pub fn upload_api_key(
        &self,
        user_id: &str,
        pem: &str,
    ) -> Result<(wire::ApiKey, String), StoreError> {
        let owner = self.user_row(user_id)?;
        self.authorize(Operation::UploadApiKey, &user_target(&owner.doc))?;
        self.upload_api_key_unchecked(user_id, pem)
    }

    /// ListApiKeys (admins, and every user for itself), oldest first.
    ///
    /// # Errors
    /// 404 when the user does not exist or the actor may not read it.
    pub fn list_api_keys(&self, user_id: &str) -> Result<Vec<wire::ApiKey>, StoreError> {
        let owner = self.user_row(user_id)?;
        self.authorize(Operation::ListApiKeys, &user_target(&owner.doc))?;
        let rows: Vec<Row<wire::ApiKey>> = self.docs(
            Table::ApiKeys,
            "SELECT doc, etag FROM iam_api_keys WHERE user_id = ?1 ORDER BY seq",
            [user_id],
        )?;
        Ok(rows.into_iter().map(|r| r.doc).collect())
    }

    /// DeleteApiKey (admins, and every user for itself; deleting the key a request is signed
    /// with is allowed, as in OCI).
    ///
    /// # Errors
    /// 404 for an unknown user or key or a forbidden actor; 409 `NoEtagMatch`.
    pub fn delete_api_key(
        &self,
        user_id: &str,
        fingerprint: &str,
        if_match: Option<&str>,
    ) -> Result<(), StoreError> {
        let owner = self.user_row(user_id)?;
        self.authorize(Operation::DeleteApiKey, &user_target(&owner.doc))?;
        let fingerprint = Fingerprint::parse(fingerprint).ok_or(StoreError::NotFound)?;
        let etag: Option<String> = self
            .tx
            .query_row(
                "SELECT etag FROM iam_api_keys WHERE user_id = ?1 AND fingerprint = ?2",
                [user_id, fingerprint.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        let etag = etag.ok_or(StoreError::NotFound)?;
        let key_id = sign::key_id(
            &self.tenancy,
            &crate::model::Ocid::new(user_id),
            &fingerprint,
        );
        check_etag(if_match, &etag, &key_id)?;
        self.tx.execute(
            "DELETE FROM iam_api_keys WHERE user_id = ?1 AND fingerprint = ?2",
            [user_id, fingerprint.as_str()],
        )?;
        Ok(())
    }
}
