//! Groups, memberships, policies (read only), the tenancy and its region subscription.
//! Rules: group names unique (case-insensitive) from `[A-Za-z0-9._-]`, descriptions of at most
//! 400 characters, no delete while a group has members, one membership per (user, group).
//! Authorization through [`Tx::authorize`]: everything here but the tenancy is admin-only.

use serde_json::Value;

use super::actor::{group_target, membership_target};
use super::objects::{RegionSubscription, Tenancy};
use super::paging::{Filter, NameColumn, Page, PageRequest};
use super::{
    DefinedTags, FreeformTags, HOME_REGION, HOME_REGION_KEY, Row, StoreError, Table, Tx,
    check_description, check_etag, encode,
};
use crate::model::GroupName;
use crate::oci::wire;
use crate::plan::authority::{Operation, Target};

/// A CreateGroup request, as decoded.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewGroup {
    /// `compartmentId` (must be the tenancy).
    pub compartment_id: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `description` (required, may be empty).
    pub description: Option<String>,
    /// `freeformTags`.
    pub freeform_tags: FreeformTags,
    /// `definedTags`.
    pub defined_tags: DefinedTags,
}

/// An UpdateGroup request: `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroupPatch {
    /// `description`.
    pub description: Option<String>,
    /// `freeformTags` (replaces the map).
    pub freeform_tags: Option<FreeformTags>,
    /// `definedTags` (replaces the map).
    pub defined_tags: Option<DefinedTags>,
}

/// ListGroups filters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupFilter {
    /// `compartmentId` (required; the tenancy).
    pub compartment_id: Option<String>,
    /// `name`: exact match.
    pub name: Option<String>,
    /// `lifecycleState`: case-insensitive.
    pub lifecycle_state: Option<String>,
}

/// ListPolicies filters (same shape as groups).
pub type PolicyFilter = GroupFilter;

/// ListUserGroupMemberships filters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MembershipFilter {
    /// `compartmentId` (required; the tenancy).
    pub compartment_id: Option<String>,
    /// `userId`.
    pub user_id: Option<String>,
    /// `groupId`.
    pub group_id: Option<String>,
}

impl Tx<'_> {
    pub(super) fn group_row(&self, id: &str) -> Result<Row<wire::Group>, StoreError> {
        self.doc_by_id(Table::Groups, id)?
            .ok_or(StoreError::NotFound)
    }

    /// Inserts a group document as is.
    pub(super) fn insert_group(&self, group: &wire::Group, seq: i64) -> Result<String, StoreError> {
        let etag = self.new_etag()?;
        let created = super::parse_millis(group.time_created.as_deref()).unwrap_or(self.now_ms);
        self.tx.execute(
            "INSERT INTO iam_groups (id, name, seq, created_ms, etag, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            rusqlite::params![group.id, group.name, seq, created, etag, encode(Table::Groups, group)?],
        )?;
        Ok(etag)
    }

    /// The group named `name` (case-insensitive), if any.
    pub(super) fn group_by_name(&self, name: &str) -> Result<Option<wire::Group>, StoreError> {
        Ok(self
            .docs::<wire::Group, _>(
                Table::Groups,
                "SELECT doc, etag FROM iam_groups WHERE name = ?1",
                [name],
            )?
            .into_iter()
            .next()
            .map(|r| r.doc))
    }

    /// Validates and creates a group, without authorization.
    pub(super) fn create_group_unchecked(
        &self,
        new: NewGroup,
    ) -> Result<(wire::Group, String), StoreError> {
        self.check_create_compartment(new.compartment_id.as_deref())?;
        let name = new
            .name
            .ok_or_else(|| StoreError::MissingParameter("name is required".to_owned()))?;
        if let Some(why) = crate::limits::GROUP_NAME.problem(&name) {
            return Err(StoreError::InvalidParameter(format!(
                "Invalid group name: {why}"
            )));
        }
        let description = new
            .description
            .ok_or_else(|| StoreError::MissingParameter("description is required".to_owned()))?;
        check_description(&description)?;
        if self.group_by_name(&name)?.is_some() {
            return Err(StoreError::AlreadyExists(format!(
                "A group named {name:?} already exists in this tenancy"
            )));
        }
        let (id, seq) = self.mint("group")?;
        let group = wire::Group {
            id,
            compartment_id: self.tenancy.to_string(),
            name,
            description,
            time_created: Some(self.now_rfc3339()),
            lifecycle_state: Some("ACTIVE".to_owned()),
            freeform_tags: new.freeform_tags,
            defined_tags: new.defined_tags,
            extra: wire::Extra::new(),
        };
        let etag = self.insert_group(&group, seq)?;
        Ok((group, etag))
    }

    /// CreateGroup (admins).
    ///
    /// # Errors
    /// 404 for non-admins; 400 for a bad name, description or compartment; 409 for a taken name.
    pub fn create_group(&self, new: NewGroup) -> Result<(wire::Group, String), StoreError> {
        let target = Target {
            user: None,
            group: Some((
                GroupName::new(new.name.as_deref().unwrap_or_default()),
                None,
            )),
        };
        self.authorize(Operation::CreateGroup, &target)?;
        self.create_group_unchecked(new)
    }

    /// GetGroup (admins).
    ///
    /// # Errors
    /// 404.
    pub fn get_group(&self, id: &str) -> Result<(wire::Group, String), StoreError> {
        let row = self.group_row(id)?;
        self.authorize(Operation::GetGroup, &group_target(&row.doc))?;
        Ok((row.doc, row.etag))
    }

    /// ListGroups (admins).
    ///
    /// # Errors
    /// 400 for a missing compartment or bad page token; 404 for non-admins.
    pub fn list_groups(
        &self,
        filter: &GroupFilter,
        page: &PageRequest,
    ) -> Result<Page<wire::Group>, StoreError> {
        self.check_compartment(filter.compartment_id.as_deref())?;
        self.authorize(Operation::ListGroups, &Target::none())?;
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
        self.page_docs(Table::Groups, NameColumn::UniqueNocase("name"), sql, page)
    }

    fn group_for_change(
        &self,
        op: Operation,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<Row<wire::Group>, StoreError> {
        let row = self.group_row(id)?;
        self.authorize(op, &group_target(&row.doc))?;
        check_etag(if_match, &row.etag, id)?;
        Ok(row)
    }

    /// UpdateGroup (admins): description and tags.
    ///
    /// # Errors
    /// 404, 409 `NoEtagMatch`, 400 for a long description.
    pub fn update_group(
        &self,
        id: &str,
        if_match: Option<&str>,
        patch: GroupPatch,
    ) -> Result<(wire::Group, String), StoreError> {
        let mut group = self
            .group_for_change(Operation::UpdateGroup, id, if_match)?
            .doc;
        if let Some(description) = patch.description {
            check_description(&description)?;
            group.description = description;
        }
        if let Some(tags) = patch.freeform_tags {
            group.freeform_tags = tags;
        }
        if let Some(tags) = patch.defined_tags {
            group.defined_tags = tags;
        }
        let etag = self.new_etag()?;
        self.update_doc(Table::Groups, id, &group, &etag)?;
        Ok((group, etag))
    }

    /// DeleteGroup (admins). Refused while the group has members.
    ///
    /// # Errors
    /// 404, 409 `NoEtagMatch`, 409 `Conflict` while it has members.
    pub fn delete_group(&self, id: &str, if_match: Option<&str>) -> Result<(), StoreError> {
        self.group_for_change(Operation::DeleteGroup, id, if_match)?;
        let members: i64 = self.tx.query_row(
            "SELECT count(*) FROM iam_memberships WHERE group_id = ?1",
            [id],
            |r| r.get(0),
        )?;
        if members > 0 {
            return Err(StoreError::Conflict(format!(
                "Group {id} still has {members} member(s); remove them before deleting the group"
            )));
        }
        self.tx
            .execute("DELETE FROM iam_groups WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Inserts a membership document as is.
    pub(super) fn insert_membership(
        &self,
        m: &wire::UserGroupMembership,
        seq: i64,
    ) -> Result<String, StoreError> {
        let etag = self.new_etag()?;
        let created = super::parse_millis(m.time_created.as_deref()).unwrap_or(self.now_ms);
        self.tx.execute(
            "INSERT INTO iam_memberships (id, user_id, group_id, seq, created_ms, etag, doc)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            rusqlite::params![
                m.id,
                m.user_id,
                m.group_id,
                seq,
                created,
                etag,
                encode(Table::Memberships, m)?
            ],
        )?;
        Ok(etag)
    }

    /// Adds a user to a group, without authorization.
    pub(super) fn add_user_to_group_unchecked(
        &self,
        user_id: Option<&str>,
        group_id: Option<&str>,
    ) -> Result<(wire::UserGroupMembership, String), StoreError> {
        let user_id =
            user_id.ok_or_else(|| StoreError::MissingParameter("userId is required".to_owned()))?;
        let group_id = group_id
            .ok_or_else(|| StoreError::MissingParameter("groupId is required".to_owned()))?;
        self.user_row(user_id)?;
        self.group_row(group_id)?;
        let exists: bool = self.tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM iam_memberships WHERE user_id = ?1 AND group_id = ?2)",
            [user_id, group_id],
            |r| r.get(0),
        )?;
        if exists {
            return Err(StoreError::AlreadyExists(format!(
                "User {user_id} is already a member of group {group_id}"
            )));
        }
        let (id, seq) = self.mint("groupmembership")?;
        let mut extra = wire::Extra::new();
        extra.insert(
            "description".to_owned(),
            Value::String(format!("GRP_MBR:{group_id}-{user_id}")),
        );
        let m = wire::UserGroupMembership {
            id,
            compartment_id: self.tenancy.to_string(),
            group_id: group_id.to_owned(),
            user_id: user_id.to_owned(),
            time_created: Some(self.now_rfc3339()),
            lifecycle_state: Some("ACTIVE".to_owned()),
            extra,
        };
        let etag = self.insert_membership(&m, seq)?;
        Ok((m, etag))
    }

    /// AddUserToGroup (admins).
    ///
    /// # Errors
    /// 404 for non-admins or unknown users/groups; 400 for missing ids; 409 if already a
    /// member.
    pub fn add_user_to_group(
        &self,
        user_id: Option<&str>,
        group_id: Option<&str>,
    ) -> Result<(wire::UserGroupMembership, String), StoreError> {
        if let (Some(u), Some(g)) = (user_id, group_id) {
            let (user, group) = (self.user_row(u)?.doc, self.group_row(g)?.doc);
            self.authorize(Operation::AddUserToGroup, &membership_target(&user, &group))?;
        } else {
            self.authorize(Operation::AddUserToGroup, &Target::none())?;
        }
        self.add_user_to_group_unchecked(user_id, group_id)
    }

    /// GetUserGroupMembership (admins).
    ///
    /// # Errors
    /// 404.
    pub fn get_membership(
        &self,
        id: &str,
    ) -> Result<(wire::UserGroupMembership, String), StoreError> {
        let row = self
            .doc_by_id::<wire::UserGroupMembership>(Table::Memberships, id)?
            .ok_or(StoreError::NotFound)?;
        let target = self.membership_row_target(&row.doc)?;
        self.authorize(Operation::GetUserGroupMembership, &target)?;
        Ok((row.doc, row.etag))
    }

    /// ListUserGroupMemberships (admins): by `userId`, `groupId` or both.
    ///
    /// # Errors
    /// 400 without a compartment, or with neither id; 404 for non-admins.
    pub fn list_memberships(
        &self,
        filter: &MembershipFilter,
        page: &PageRequest,
    ) -> Result<Page<wire::UserGroupMembership>, StoreError> {
        self.check_compartment(filter.compartment_id.as_deref())?;
        self.authorize(Operation::ListUserGroupMemberships, &Target::none())?;
        let mut sql = Filter::default();
        match (&filter.user_id, &filter.group_id) {
            (None, None) => {
                return Err(StoreError::MissingParameter(
                    "userId or groupId (or both) is required".to_owned(),
                ));
            }
            (user, group) => {
                if let Some(u) = user {
                    sql.and("user_id = ?", u);
                }
                if let Some(g) = group {
                    sql.and("group_id = ?", g);
                }
            }
        }
        self.page_docs(Table::Memberships, NameColumn::Plain("id"), sql, page)
    }

    /// RemoveUserFromGroup (admins).
    ///
    /// # Errors
    /// 404 or 409 `NoEtagMatch`.
    pub fn remove_membership(&self, id: &str, if_match: Option<&str>) -> Result<(), StoreError> {
        let row = self
            .doc_by_id::<wire::UserGroupMembership>(Table::Memberships, id)?
            .ok_or(StoreError::NotFound)?;
        let target = self.membership_row_target(&row.doc)?;
        self.authorize(Operation::RemoveUserFromGroup, &target)?;
        check_etag(if_match, &row.etag, id)?;
        self.tx
            .execute("DELETE FROM iam_memberships WHERE id = ?1", [id])?;
        Ok(())
    }

    /// The target of a request on membership `m`: its user and group.
    fn membership_row_target(&self, m: &wire::UserGroupMembership) -> Result<Target, StoreError> {
        let user = self.user_row(&m.user_id)?.doc;
        let group = self.group_row(&m.group_id)?.doc;
        Ok(membership_target(&user, &group))
    }

    /// Inserts a policy document as is.
    pub(super) fn insert_policy(&self, p: &wire::Policy, seq: i64) -> Result<(), StoreError> {
        let etag = self.new_etag()?;
        let created = super::parse_millis(p.extra.get("timeCreated").and_then(Value::as_str))
            .unwrap_or(self.now_ms);
        self.tx.execute(
            "INSERT INTO iam_policies (id, name, seq, created_ms, etag, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            rusqlite::params![p.id, p.name, seq, created, etag, encode(Table::Policies, p)?],
        )?;
        Ok(())
    }

    /// GetPolicy (admins).
    ///
    /// # Errors
    /// 404.
    pub fn get_policy(&self, id: &str) -> Result<(wire::Policy, String), StoreError> {
        self.authorize(Operation::GetPolicy, &Target::none())?;
        let row = self
            .doc_by_id::<wire::Policy>(Table::Policies, id)?
            .ok_or(StoreError::NotFound)?;
        Ok((row.doc, row.etag))
    }

    /// ListPolicies (admins). Only tenancy-level policies exist here.
    ///
    /// # Errors
    /// 400 for a missing compartment or bad page token; 404 for non-admins.
    pub fn list_policies(
        &self,
        filter: &PolicyFilter,
        page: &PageRequest,
    ) -> Result<Page<wire::Policy>, StoreError> {
        self.check_compartment(filter.compartment_id.as_deref())?;
        self.authorize(Operation::ListPolicies, &Target::none())?;
        let mut sql = Filter::default();
        sql.and(
            "json_extract(doc, '$.compartmentId') = ?",
            self.tenancy.as_str(),
        );
        if let Some(name) = &filter.name {
            sql.and("name = ?", name);
        }
        if let Some(state) = &filter.lifecycle_state {
            sql.and(
                "json_extract(doc, '$.lifecycleState') = ? COLLATE NOCASE",
                state,
            );
        }
        self.page_docs(Table::Policies, NameColumn::Plain("name"), sql, page)
    }

    /// GetTenancy: any authenticated user of the tenancy may read it (OCI SDKs and the CLI's
    /// bootstrap read it before a user manages its own keys).
    ///
    /// # Errors
    /// 404 for another tenancy.
    pub fn get_tenancy(&self, id: &str) -> Result<Tenancy, StoreError> {
        self.actor()?;
        if id != self.tenancy.as_str() {
            return Err(StoreError::NotFound);
        }
        let name = super::meta(&self.tx, "tenancy_name")?;
        Ok(Tenancy {
            id: self.tenancy.to_string(),
            name: name.clone(),
            description: name,
            home_region_key: HOME_REGION_KEY.to_owned(),
            upi_idcs_compatibility_layer_endpoint: None,
            freeform_tags: FreeformTags::new(),
            defined_tags: DefinedTags::new(),
        })
    }

    /// ListRegionSubscriptions: the one home region. Readable like [`Tx::get_tenancy`].
    ///
    /// # Errors
    /// 404 for another tenancy.
    pub fn region_subscriptions(
        &self,
        tenancy: &str,
    ) -> Result<Vec<RegionSubscription>, StoreError> {
        self.get_tenancy(tenancy)?;
        Ok(vec![RegionSubscription {
            region_key: HOME_REGION_KEY.to_owned(),
            region_name: HOME_REGION.to_owned(),
            status: "READY".to_owned(),
            is_home_region: true,
        }])
    }
}
