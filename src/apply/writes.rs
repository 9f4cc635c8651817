//! [`Writes`]: exactly the Identity API operations the apply executor sends (its writes, and
//! the reads that check them at write time or confirm an interrupted one), as a trait, so the
//! executor's decisions (order, stop or keep going, resume, moved objects, delivery) can be tested
//! against a fake backend. [`IdentityClient`] implements it by delegating to its own methods
//! of the same names, with the same arguments and answers: no behaviour of its own.
//!
//! Shell: the network, through the client.

use crate::model::{Fingerprint, Ocid};
use crate::oci::client::{ClientError, IdentityClient, MembershipFilter, Response, RetryToken};
use crate::oci::wire;

/// The writes (and the reads that confirm an earlier, interrupted write) the apply executor
/// makes. Each method has the
/// meaning, arguments and answer of the [`IdentityClient`] method of the same name.
///
/// The futures need not be `Send`: the executor is driven by `block_on` on the caller's
/// thread, never spawned, so the trait uses plain `async fn` and static dispatch.
#[allow(
    async_fn_in_trait,
    reason = "the executor's future is driven by block_on, never spawned: Send is not needed"
)]
pub trait Writes {
    /// ListUsers (to find a user an interrupted run created).
    ///
    /// # Errors
    /// [`ClientError`].
    async fn list_users(&self) -> Result<Vec<wire::User>, ClientError>;

    /// ListGroups (to find a group an interrupted run created).
    ///
    /// # Errors
    /// [`ClientError`].
    async fn list_groups(&self) -> Result<Vec<wire::Group>, ClientError>;

    /// GetUser (to confirm a user an interrupted run deleted is gone).
    ///
    /// # Errors
    /// [`ClientError`].
    async fn get_user(&self, user_id: &Ocid) -> Result<Response<wire::User>, ClientError>;

    /// GetGroup (to confirm a group an interrupted run deleted is gone).
    ///
    /// # Errors
    /// [`ClientError`].
    async fn get_group(&self, group_id: &Ocid) -> Result<Response<wire::Group>, ClientError>;

    /// ListApiKeys (to confirm a key an interrupted run deleted is gone, or uploaded is there).
    ///
    /// # Errors
    /// [`ClientError`].
    async fn list_api_keys(&self, user_id: &Ocid) -> Result<Vec<wire::ApiKey>, ClientError>;

    /// CreateGroup with the caller's retry token.
    ///
    /// # Errors
    /// [`ClientError`].
    async fn create_group_with_token(
        &self,
        details: &wire::CreateGroupDetails,
        token: &RetryToken,
    ) -> Result<Response<wire::Group>, ClientError>;

    /// CreateUser with the caller's retry token.
    ///
    /// # Errors
    /// [`ClientError`].
    async fn create_user_with_token(
        &self,
        details: &wire::CreateUserDetails,
        token: &RetryToken,
    ) -> Result<Response<wire::User>, ClientError>;

    /// UpdateUser (description, email, tags).
    ///
    /// # Errors
    /// [`ClientError`].
    async fn update_user(
        &self,
        user_id: &Ocid,
        details: &wire::UpdateUserDetails,
        if_match_etag: Option<&str>,
    ) -> Result<Response<wire::User>, ClientError>;

    /// UpdateGroup (description, tags).
    ///
    /// # Errors
    /// [`ClientError`].
    async fn update_group(
        &self,
        group_id: &Ocid,
        details: &wire::UpdateGroupDetails,
        if_match_etag: Option<&str>,
    ) -> Result<Response<wire::Group>, ClientError>;

    /// UpdateUserCapabilities.
    ///
    /// # Errors
    /// [`ClientError`].
    async fn update_user_capabilities(
        &self,
        user_id: &Ocid,
        details: &wire::UpdateUserCapabilitiesDetails,
        if_match_etag: Option<&str>,
    ) -> Result<Response<wire::User>, ClientError>;

    /// AddUserToGroup with the caller's retry token.
    ///
    /// # Errors
    /// [`ClientError`].
    async fn add_user_to_group_with_token(
        &self,
        details: &wire::AddUserToGroupDetails,
        token: &RetryToken,
    ) -> Result<Response<wire::UserGroupMembership>, ClientError>;

    /// ListUserGroupMemberships (the executor asks by user and group, to find a membership's
    /// OCID the snapshot did not hold).
    ///
    /// # Errors
    /// [`ClientError`].
    async fn list_user_group_memberships(
        &self,
        filter: MembershipFilter<'_>,
    ) -> Result<Vec<wire::UserGroupMembership>, ClientError>;

    /// RemoveUserFromGroup: deletes a membership by its OCID.
    ///
    /// # Errors
    /// [`ClientError`].
    async fn remove_user_from_group(
        &self,
        membership_id: &Ocid,
        if_match_etag: Option<&str>,
    ) -> Result<Response<()>, ClientError>;

    /// UploadApiKey with the caller's retry token.
    ///
    /// # Errors
    /// [`ClientError`].
    async fn upload_api_key_with_token(
        &self,
        user_id: &Ocid,
        details: &wire::CreateApiKeyDetails,
        token: &RetryToken,
    ) -> Result<Response<wire::ApiKey>, ClientError>;

    /// DeleteApiKey.
    ///
    /// # Errors
    /// [`ClientError`].
    async fn delete_api_key(
        &self,
        user_id: &Ocid,
        fingerprint: &Fingerprint,
        if_match_etag: Option<&str>,
    ) -> Result<Response<()>, ClientError>;

    /// CreateOrResetUIPassword with the caller's retry token: a one-time console password
    /// (none in a tenancy with identity domains, which emails a reset link instead).
    ///
    /// # Errors
    /// [`ClientError`].
    async fn create_or_reset_ui_password_with_token(
        &self,
        user_id: &Ocid,
        token: &RetryToken,
    ) -> Result<Response<wire::UIPassword>, ClientError>;

    /// DeleteUser (the user must be in no group).
    ///
    /// # Errors
    /// [`ClientError`].
    async fn delete_user(
        &self,
        user_id: &Ocid,
        if_match_etag: Option<&str>,
    ) -> Result<Response<()>, ClientError>;

    /// DeleteGroup (the group must be empty).
    ///
    /// # Errors
    /// [`ClientError`].
    async fn delete_group(
        &self,
        group_id: &Ocid,
        if_match_etag: Option<&str>,
    ) -> Result<Response<()>, ClientError>;
}

// Each method calls the client's inherent method of the same name (a path to a type's
// associated function resolves to its inherent method before any trait's).
impl Writes for IdentityClient {
    async fn list_users(&self) -> Result<Vec<wire::User>, ClientError> {
        IdentityClient::list_users(self).await
    }

    async fn list_groups(&self) -> Result<Vec<wire::Group>, ClientError> {
        IdentityClient::list_groups(self).await
    }

    async fn get_user(&self, user_id: &Ocid) -> Result<Response<wire::User>, ClientError> {
        IdentityClient::get_user(self, user_id).await
    }

    async fn get_group(&self, group_id: &Ocid) -> Result<Response<wire::Group>, ClientError> {
        IdentityClient::get_group(self, group_id).await
    }

    async fn list_api_keys(&self, user_id: &Ocid) -> Result<Vec<wire::ApiKey>, ClientError> {
        IdentityClient::list_api_keys(self, user_id).await
    }

    async fn create_group_with_token(
        &self,
        details: &wire::CreateGroupDetails,
        token: &RetryToken,
    ) -> Result<Response<wire::Group>, ClientError> {
        IdentityClient::create_group_with_token(self, details, token).await
    }

    async fn create_user_with_token(
        &self,
        details: &wire::CreateUserDetails,
        token: &RetryToken,
    ) -> Result<Response<wire::User>, ClientError> {
        IdentityClient::create_user_with_token(self, details, token).await
    }

    async fn update_user(
        &self,
        user_id: &Ocid,
        details: &wire::UpdateUserDetails,
        if_match_etag: Option<&str>,
    ) -> Result<Response<wire::User>, ClientError> {
        IdentityClient::update_user(self, user_id, details, if_match_etag).await
    }

    async fn update_group(
        &self,
        group_id: &Ocid,
        details: &wire::UpdateGroupDetails,
        if_match_etag: Option<&str>,
    ) -> Result<Response<wire::Group>, ClientError> {
        IdentityClient::update_group(self, group_id, details, if_match_etag).await
    }

    async fn update_user_capabilities(
        &self,
        user_id: &Ocid,
        details: &wire::UpdateUserCapabilitiesDetails,
        if_match_etag: Option<&str>,
    ) -> Result<Response<wire::User>, ClientError> {
        IdentityClient::update_user_capabilities(self, user_id, details, if_match_etag).await
    }

    async fn add_user_to_group_with_token(
        &self,
        details: &wire::AddUserToGroupDetails,
        token: &RetryToken,
    ) -> Result<Response<wire::UserGroupMembership>, ClientError> {
        IdentityClient::add_user_to_group_with_token(self, details, token).await
    }

    async fn list_user_group_memberships(
        &self,
        filter: MembershipFilter<'_>,
    ) -> Result<Vec<wire::UserGroupMembership>, ClientError> {
        IdentityClient::list_user_group_memberships(self, filter).await
    }

    async fn remove_user_from_group(
        &self,
        membership_id: &Ocid,
        if_match_etag: Option<&str>,
    ) -> Result<Response<()>, ClientError> {
        IdentityClient::remove_user_from_group(self, membership_id, if_match_etag).await
    }

    async fn upload_api_key_with_token(
        &self,
        user_id: &Ocid,
        details: &wire::CreateApiKeyDetails,
        token: &RetryToken,
    ) -> Result<Response<wire::ApiKey>, ClientError> {
        IdentityClient::upload_api_key_with_token(self, user_id, details, token).await
    }

    async fn delete_api_key(
        &self,
        user_id: &Ocid,
        fingerprint: &Fingerprint,
        if_match_etag: Option<&str>,
    ) -> Result<Response<()>, ClientError> {
        IdentityClient::delete_api_key(self, user_id, fingerprint, if_match_etag).await
    }

    async fn create_or_reset_ui_password_with_token(
        &self,
        user_id: &Ocid,
        token: &RetryToken,
    ) -> Result<Response<wire::UIPassword>, ClientError> {
        IdentityClient::create_or_reset_ui_password_with_token(self, user_id, token).await
    }

    async fn delete_user(
        &self,
        user_id: &Ocid,
        if_match_etag: Option<&str>,
    ) -> Result<Response<()>, ClientError> {
        IdentityClient::delete_user(self, user_id, if_match_etag).await
    }

    async fn delete_group(
        &self,
        group_id: &Ocid,
        if_match_etag: Option<&str>,
    ) -> Result<Response<()>, ClientError> {
        IdentityClient::delete_group(self, group_id, if_match_etag).await
    }
}
