//! Users: create, read, list, update (details, capabilities, state), delete, and the console
//! (UI) password record. Rules: names unique (case-insensitive) and from OCI's character set,
//! descriptions of at most 400 characters, e-mails unique, names immutable, no delete while the
//! user is in a group. Authorization through [`Tx::authorize`].
//!
//! Must not: see the one-time password beyond hashing it and returning it once in the reply.

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::actor::user_target;
use super::objects::{UiPassword, UiPasswordInformation};
use super::paging::{Filter, NameColumn, Page, PageRequest};
use super::{
    DefinedTags, FreeformTags, Row, StoreError, Table, Tx, check_description, check_email,
    check_etag, encode,
};
use crate::hex;
use crate::model::UserName;
use crate::oci::wire;
use crate::plan::authority::{Operation, Target};

/// The capabilities a user has, with the spelling of the *response* (`canUseDbCredentials`).
pub const CAPABILITIES: [&str; 7] = [
    "canUseConsolePassword",
    "canUseApiKeys",
    "canUseAuthTokens",
    "canUseSmtpCredentials",
    "canUseDbCredentials",
    "canUseCustomerSecretKeys",
    "canUseOAuth2ClientCredentials",
];

/// A CreateUser request, as decoded (fields the caller left out are `None`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewUser {
    /// `compartmentId` (must be the tenancy).
    pub compartment_id: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `description` (required, may be empty).
    pub description: Option<String>,
    /// `email`.
    pub email: Option<String>,
    /// `freeformTags`.
    pub freeform_tags: FreeformTags,
    /// `definedTags`.
    pub defined_tags: DefinedTags,
}

/// An UpdateUser request: `None` leaves a field as it is; `Some(None)` clears it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserPatch {
    /// `description`.
    pub description: Option<String>,
    /// `email`.
    pub email: Option<Option<String>>,
    /// `dbUserName`.
    pub db_user_name: Option<Option<String>>,
    /// `freeformTags` (replaces the map).
    pub freeform_tags: Option<FreeformTags>,
    /// `definedTags` (replaces the map).
    pub defined_tags: Option<DefinedTags>,
}

/// An UpdateUserCapabilities request: capability (response spelling, see [`CAPABILITIES`])
/// to its new value; capabilities not listed are left as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CapabilitiesPatch(pub Vec<(&'static str, bool)>);

/// ListUsers filters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// `compartmentId` (required; the tenancy).
    pub compartment_id: Option<String>,
    /// `name`: exact match.
    pub name: Option<String>,
    /// `lifecycleState`: case-insensitive.
    pub lifecycle_state: Option<String>,
    /// `identityProviderId`.
    pub identity_provider_id: Option<String>,
    /// `externalIdentifier`.
    pub external_identifier: Option<String>,
}

fn check_user_name(name: &str) -> Result<(), StoreError> {
    match crate::limits::USER_NAME.problem(name) {
        None => Ok(()),
        Some(why) => Err(StoreError::InvalidParameter(format!(
            "Invalid user name: {why}"
        ))),
    }
}

fn set_capability(caps: &mut wire::UserCapabilities, name: &str, value: bool) {
    match name {
        "canUseConsolePassword" => caps.can_use_console_password = Some(value),
        "canUseApiKeys" => caps.can_use_api_keys = Some(value),
        other => {
            caps.extra.insert(other.to_owned(), Value::Bool(value));
        }
    }
}

/// Sets every capability the user object does not mention to `true` (OCI's default).
pub(super) fn fill_default_capabilities(caps: &mut wire::UserCapabilities) {
    for name in CAPABILITIES {
        let present = match name {
            "canUseConsolePassword" => caps.can_use_console_password.is_some(),
            "canUseApiKeys" => caps.can_use_api_keys.is_some(),
            other => caps.extra.contains_key(other),
        };
        if !present {
            set_capability(caps, name, true);
        }
    }
}

fn set_extra(extra: &mut wire::Extra, key: &str, value: Option<String>) {
    extra.insert(key.to_owned(), value.map_or(Value::Null, Value::String));
}

impl Tx<'_> {
    /// The user `id`, or [`StoreError::NotFound`].
    pub(super) fn user_row(&self, id: &str) -> Result<Row<wire::User>, StoreError> {
        self.doc_by_id(Table::Users, id)?
            .ok_or(StoreError::NotFound)
    }

    fn email_taken(&self, email: &str, except: &str) -> Result<bool, StoreError> {
        Ok(self.tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM iam_users
               WHERE lower(json_extract(doc, '$.email')) = lower(?1) AND id <> ?2)",
            [email, except],
            |r| r.get(0),
        )?)
    }

    /// Inserts a user document as is (no validation, no authorization).
    pub(super) fn insert_user(&self, user: &wire::User, seq: i64) -> Result<String, StoreError> {
        let etag = self.new_etag()?;
        let created = super::parse_millis(user.time_created.as_deref()).unwrap_or(self.now_ms);
        self.tx.execute(
            "INSERT INTO iam_users (id, name, seq, created_ms, etag, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            rusqlite::params![user.id, user.name, seq, created, etag, encode(Table::Users, user)?],
        )?;
        Ok(etag)
    }

    /// Whether a user named `name` (case-insensitive) exists.
    pub(super) fn user_name_taken(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM iam_users WHERE name = ?1)",
            [name],
            |r| r.get(0),
        )?)
    }

    /// Validates and creates a user, without authorization (bootstrap and CreateUser).
    pub(super) fn create_user_unchecked(
        &self,
        new: NewUser,
    ) -> Result<(wire::User, String), StoreError> {
        self.check_create_compartment(new.compartment_id.as_deref())?;
        let name = new
            .name
            .ok_or_else(|| StoreError::MissingParameter("name is required".to_owned()))?;
        check_user_name(&name)?;
        let description = new
            .description
            .ok_or_else(|| StoreError::MissingParameter("description is required".to_owned()))?;
        check_description(&description)?;
        if self.user_name_taken(&name)? {
            return Err(StoreError::AlreadyExists(format!(
                "A user named {name:?} already exists in this tenancy"
            )));
        }
        if let Some(email) = &new.email {
            check_email(email)?;
        }
        if let Some(email) = &new.email
            && self.email_taken(email, "")?
        {
            return Err(StoreError::AlreadyExists(
                "Another user in this tenancy already has that email".to_owned(),
            ));
        }
        let (id, seq) = self.mint("user")?;
        let mut caps = wire::UserCapabilities::default();
        for c in CAPABILITIES {
            set_capability(&mut caps, c, true);
        }
        let mut extra = wire::Extra::new();
        extra.insert("emailVerified".to_owned(), Value::Bool(false));
        extra.insert("isMfaActivated".to_owned(), Value::Bool(false));
        extra.insert("lastSuccessfulLoginTime".to_owned(), Value::Null);
        extra.insert("previousSuccessfulLoginTime".to_owned(), Value::Null);
        let user = wire::User {
            id,
            compartment_id: self.tenancy.to_string(),
            name,
            description,
            email: new.email,
            identity_provider_id: None,
            external_identifier: None,
            time_created: Some(self.now_rfc3339()),
            lifecycle_state: Some("ACTIVE".to_owned()),
            freeform_tags: new.freeform_tags,
            defined_tags: new.defined_tags,
            capabilities: Some(caps),
            extra,
        };
        let etag = self.insert_user(&user, seq)?;
        Ok((user, etag))
    }

    /// CreateUser (admin only).
    ///
    /// # Errors
    /// 404 for non-admins; 400 for a missing or invalid name, description or compartment; 409
    /// for a taken name or e-mail.
    pub fn create_user(&self, new: NewUser) -> Result<(wire::User, String), StoreError> {
        let target = Target {
            user: Some((UserName::new(new.name.as_deref().unwrap_or_default()), None)),
            group: None,
        };
        self.authorize(Operation::CreateUser, &target)?;
        if self.identity_domains()? && new.email.as_deref().is_none_or(str::is_empty) {
            // What OCI answers through the classic API in a tenancy with identity domains
            // (oci/API.md §2 "Email").
            return Err(StoreError::IdcsConversion(
                "The primary email must be specified.".to_owned(),
            ));
        }
        self.create_user_unchecked(new)
    }

    /// GetUser (admins, and every user for itself).
    ///
    /// # Errors
    /// 404 when the user does not exist or the actor may not read it.
    pub fn get_user(&self, id: &str) -> Result<(wire::User, String), StoreError> {
        let row = self.user_row(id)?;
        self.authorize(Operation::GetUser, &user_target(&row.doc))?;
        Ok((row.doc, row.etag))
    }

    /// ListUsers (admins).
    ///
    /// # Errors
    /// 400 for a missing compartment or a bad page token; 404 for non-admins or another
    /// compartment.
    pub fn list_users(
        &self,
        filter: &UserFilter,
        page: &PageRequest,
    ) -> Result<Page<wire::User>, StoreError> {
        self.check_compartment(filter.compartment_id.as_deref())?;
        self.authorize(Operation::ListUsers, &Target::none())?;
        let mut sql = Filter::default();
        if let Some(name) = &filter.name {
            sql.and("name = ? COLLATE BINARY", name);
        }
        if let Some(state) = &filter.lifecycle_state {
            sql.and(
                "json_extract(doc, '$.lifecycleState') = ? COLLATE NOCASE",
                state,
            );
        }
        if let Some(idp) = &filter.identity_provider_id {
            sql.and("json_extract(doc, '$.identityProviderId') = ?", idp);
        }
        if let Some(external) = &filter.external_identifier {
            sql.and("json_extract(doc, '$.externalIdentifier') = ?", external);
        }
        self.page_docs(Table::Users, NameColumn::UniqueNocase("name"), sql, page)
    }

    /// Loads user `id` for change `op`, checking authority and `if-match`.
    fn user_for_change(
        &self,
        op: Operation,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<Row<wire::User>, StoreError> {
        let row = self.user_row(id)?;
        self.authorize(op, &user_target(&row.doc))?;
        check_etag(if_match, &row.etag, id)?;
        Ok(row)
    }

    fn save_user(&self, user: &wire::User) -> Result<String, StoreError> {
        let etag = self.new_etag()?;
        self.update_doc(Table::Users, &user.id, user, &etag)?;
        Ok(etag)
    }

    /// UpdateUser (admins): description, e-mail, `dbUserName` and tags; never the name.
    ///
    /// # Errors
    /// 404, 409 `NoEtagMatch`, 400 for a long description, 409 for a taken e-mail.
    pub fn update_user(
        &self,
        id: &str,
        if_match: Option<&str>,
        patch: UserPatch,
    ) -> Result<(wire::User, String), StoreError> {
        let mut user = self
            .user_for_change(Operation::UpdateUser, id, if_match)?
            .doc;
        if let Some(description) = patch.description {
            check_description(&description)?;
            user.description = description;
        }
        if let Some(email) = patch.email {
            if let Some(e) = &email {
                check_email(e)?;
            }
            if let Some(e) = &email
                && self.email_taken(e, id)?
            {
                return Err(StoreError::AlreadyExists(
                    "Another user in this tenancy already has that email".to_owned(),
                ));
            }
            user.email = email;
        }
        if let Some(db) = patch.db_user_name {
            set_extra(&mut user.extra, "dbUserName", db);
        }
        if let Some(tags) = patch.freeform_tags {
            user.freeform_tags = tags;
        }
        if let Some(tags) = patch.defined_tags {
            user.defined_tags = tags;
        }
        let etag = self.save_user(&user)?;
        Ok((user, etag))
    }

    /// UpdateUserCapabilities (admins).
    ///
    /// # Errors
    /// 404 or 409 `NoEtagMatch`.
    pub fn update_user_capabilities(
        &self,
        id: &str,
        if_match: Option<&str>,
        patch: &CapabilitiesPatch,
    ) -> Result<(wire::User, String), StoreError> {
        let mut user = self
            .user_for_change(Operation::UpdateUserCapabilities, id, if_match)?
            .doc;
        let caps = user.capabilities.get_or_insert_with(Default::default);
        for (name, value) in &patch.0 {
            set_capability(caps, name, *value);
        }
        let etag = self.save_user(&user)?;
        Ok((user, etag))
    }

    /// UpdateUserState (admins): only `blocked: false`, which unblocks a user.
    ///
    /// # Errors
    /// 404, 409 `NoEtagMatch`, 400 unless `blocked` is `false`.
    pub fn update_user_state(
        &self,
        id: &str,
        if_match: Option<&str>,
        blocked: Option<bool>,
    ) -> Result<(wire::User, String), StoreError> {
        let mut user = self
            .user_for_change(Operation::UpdateUserState, id, if_match)?
            .doc;
        match blocked {
            None => {
                return Err(StoreError::MissingParameter(
                    "blocked is required".to_owned(),
                ));
            }
            Some(true) => {
                return Err(StoreError::InvalidParameter(
                    "Only blocked=false (unblock) is supported".to_owned(),
                ));
            }
            Some(false) => {}
        }
        user.lifecycle_state = Some("ACTIVE".to_owned());
        user.extra.remove("inactiveStatus");
        let etag = self.save_user(&user)?;
        Ok((user, etag))
    }

    /// DeleteUser (admins). Refused while the user is in any group; its API keys and UI
    /// password go with it.
    ///
    /// # Errors
    /// 404, 409 `NoEtagMatch`, 409 `Conflict` while memberships exist.
    pub fn delete_user(&self, id: &str, if_match: Option<&str>) -> Result<(), StoreError> {
        self.user_for_change(Operation::DeleteUser, id, if_match)?;
        let groups: i64 = self.tx.query_row(
            "SELECT count(*) FROM iam_memberships WHERE user_id = ?1",
            [id],
            |r| r.get(0),
        )?;
        if groups > 0 {
            return Err(StoreError::Conflict(format!(
                "User {id} is still a member of {groups} group(s); remove it from every group before deleting it"
            )));
        }
        self.tx
            .execute("DELETE FROM iam_users WHERE id = ?1", [id])?;
        Ok(())
    }

    /// CreateOrResetUIPassword (admins, and every user for itself): records a new password
    /// (only its SHA-256 is kept) and returns it once.
    ///
    /// # Errors
    /// 404 when the user does not exist or the actor may not manage its credentials.
    pub fn create_ui_password(
        &self,
        user_id: &str,
        password: &str,
    ) -> Result<(UiPassword, String), StoreError> {
        let row = self.user_row(user_id)?;
        self.authorize(Operation::CreateOrResetUIPassword, &user_target(&row.doc))?;
        let info = UiPasswordInformation {
            user_id: user_id.to_owned(),
            time_created: self.now_rfc3339(),
            lifecycle_state: "ACTIVE".to_owned(),
        };
        let etag = self.new_etag()?;
        self.tx.execute(
            "INSERT INTO ui_passwords (user_id, etag, doc, password_sha256) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(user_id) DO UPDATE SET etag = ?2, doc = ?3, password_sha256 = ?4",
            rusqlite::params![
                user_id,
                etag,
                encode(Table::UiPasswords, &info)?,
                hex::lower(&Sha256::digest(password.as_bytes()))
            ],
        )?;
        // With identity domains OCI emails the user a reset link instead, and the answer carries
        // no usable password. The exact answer is not documented (oci/API.md §2, §12: [U]); the
        // emulator answers 200 with the same UIPassword shape and `password: null`.
        let emailed = self.identity_domains()?;
        let reply = UiPassword {
            password: (!emailed).then(|| password.to_owned()),
            user_id: info.user_id,
            time_created: info.time_created,
            lifecycle_state: info.lifecycle_state,
            inactive_status: None,
        };
        Ok((reply, etag))
    }

    /// GetUserUIPasswordInformation (admins, and every user for itself); never the password.
    ///
    /// # Errors
    /// 404 when the user does not exist, has no password, or the actor may not read it.
    pub fn ui_password_information(
        &self,
        user_id: &str,
    ) -> Result<(UiPasswordInformation, String), StoreError> {
        let row = self.user_row(user_id)?;
        self.authorize(
            Operation::GetUserUIPasswordInformation,
            &user_target(&row.doc),
        )?;
        let found: Option<(String, String)> =
            rusqlite::OptionalExtension::optional(self.tx.query_row(
                "SELECT doc, etag FROM ui_passwords WHERE user_id = ?1",
                [user_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            ))?;
        let (doc, etag) = found.ok_or(StoreError::NotFound)?;
        Ok((super::decode(Table::UiPasswords, &doc)?, etag))
    }
}
