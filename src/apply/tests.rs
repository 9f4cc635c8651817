//! Executor tests against a fake backend ([`Fake`]: records every call in order, answers like
//! the service, fails the calls it is told to): plan order, stopping at the first failure,
//! `keep_going`, resuming from the journal (done steps not re-sent, an unfinished write re-sent
//! with its recorded retry token), the re-check before writing, and both kinds of password
//! reset. Plans come from the real planner; the journal is real, in a temporary directory; the
//! clock is fixed. No network, no emulator, no sleeps.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::rc::Rc;

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::json;
use tempfile::TempDir;

use super::*;
use crate::deliver::Delivered;
use crate::model::{
    ADMINISTRATORS, DesiredGroup, DesiredKey, DesiredUser, Fingerprint, Location, PasswordReset,
};
use crate::oci::client::{ApiError, Response};
use crate::plan::Options;

const TENANCY: &str = "ocid1.tenancy.oc1..test";
/// 2026-01-01T00:00:00Z: the journal's clock.
const NOW: i64 = 1_767_225_600;
/// 2026-01-01, as days since the Unix epoch (the planner's "today").
const TODAY: i64 = 20_454;
/// The one-time password the fake hands out.
const PASSWORD: &str = "Fake-0ne-Time.Passw0rd";

// ---------------------------------------------------------------------------------------------
// The fake backend
// ---------------------------------------------------------------------------------------------

/// One call the executor sent.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Call {
    /// `Operation subject`, e.g. `CreateGroup ops`, `AddUserToGroup alice/created-ops`: OCIDs
    /// shortened to what follows `..`.
    what: String,
    /// The `opc-retry-token`, for the calls that carry one.
    token: Option<String>,
}

/// The ETag the fake gives each user it answers GetUser for.
fn etag_of(name: &str) -> String {
    format!("etag-{name}")
}

/// A backend that records every call and answers like the service, except for the calls it
/// is told to fail.
#[derive(Default)]
struct Fake {
    calls: RefCell<Vec<Call>>,
    /// `Operation subject` → the service error to answer instead (HTTP status, code).
    failures: BTreeMap<String, (u16, &'static str)>,
    /// The freeform tags each CreateGroup, CreateUser and UpdateUser sent, by `Operation
    /// subject`.
    tags: RefCell<BTreeMap<String, BTreeMap<String, String>>>,
    /// Answer password resets with no password (a tenancy with identity domains).
    identity_domains: bool,
    /// What ListUsers, ListGroups and ListApiKeys answer (the tenancy as an interrupted run
    /// left it).
    listed_users: Vec<wire::User>,
    listed_groups: Vec<wire::Group>,
    listed_keys: Vec<wire::ApiKey>,
    /// List a live membership for every user and group (what an interrupted AddUserToGroup
    /// left); otherwise memberships are listed from the snapshot.
    member_listed: bool,
    /// The tenancy as planned: what GetUser, GetGroup, ListApiKeys and the membership list
    /// answer (set by [`apply`] when a test did not).
    snapshot: RefCell<Option<Snapshot>>,
    /// The `if-match` each UpdateUser carried, by `Operation subject`.
    if_matches: RefCell<Vec<(String, Option<String>)>>,
    /// Yield to the executor once inside every call, so that the steps in flight overlap as
    /// they do on the network; `in_flight` and `most_in_flight` count the overlapping calls.
    yielding: bool,
    in_flight: Cell<usize>,
    most_in_flight: Cell<usize>,
}

/// The counts of a report: written now, failed, neither.
fn counts(done: usize, failed: usize, not_started: usize) -> super::Counts {
    super::Counts {
        done,
        failed,
        not_started,
    }
}

/// What follows `..` in an OCID (`ocid1.user.oc1..alice` → `alice`).
fn short(id: &str) -> &str {
    id.rsplit("..").next().unwrap_or(id)
}

fn answer<T>(value: T) -> Response<T> {
    Response {
        value,
        etag: None,
        opc_request_id: "fake".to_owned(),
    }
}

fn wire_group(id: &str, name: &str) -> wire::Group {
    serde_json::from_value(json!({"id": id, "compartmentId": TENANCY, "name": name,
        "lifecycleState": "ACTIVE"}))
    .expect("group JSON")
}

fn wire_group_tagged(id: &str, name: &str, tags: &BTreeMap<String, String>) -> wire::Group {
    serde_json::from_value(json!({"id": id, "compartmentId": TENANCY, "name": name,
        "description": format!("the {name} group"), "lifecycleState": "ACTIVE",
        "freeformTags": tags}))
    .expect("group JSON")
}

fn wire_user(id: &str, name: &str, tags: &BTreeMap<String, String>) -> wire::User {
    serde_json::from_value(json!({"id": id, "compartmentId": TENANCY, "name": name,
        "lifecycleState": "ACTIVE", "freeformTags": tags}))
    .expect("user JSON")
}

fn wire_membership(id: &str, user_id: &str, group_id: &str) -> wire::UserGroupMembership {
    serde_json::from_value(
        json!({"id": id, "compartmentId": TENANCY, "userId": user_id,
        "groupId": group_id, "lifecycleState": "ACTIVE"}),
    )
    .expect("membership JSON")
}

impl Fake {
    fn failing(failures: &[(&str, u16, &'static str)]) -> Self {
        Self {
            failures: failures
                .iter()
                .map(|(what, status, code)| ((*what).to_owned(), (*status, *code)))
                .collect(),
            ..Self::default()
        }
    }

    /// Records the call, yields once if `yielding`, then fails it if told to.
    async fn call(
        &self,
        operation: &'static str,
        subject: &str,
        token: Option<&RetryToken>,
    ) -> Result<(), ClientError> {
        let what = format!("{operation} {subject}");
        self.calls.borrow_mut().push(Call {
            what: what.clone(),
            token: token.map(|t| t.as_str().to_owned()),
        });
        if self.yielding {
            self.in_flight.set(self.in_flight.get() + 1);
            self.most_in_flight
                .set(self.most_in_flight.get().max(self.in_flight.get()));
            tokio::task::yield_now().await;
            self.in_flight.set(self.in_flight.get() - 1);
        }
        match self.failures.get(&what) {
            Some(&(status, code)) => Err(ClientError::Api(Box::new(ApiError {
                operation,
                method: "POST",
                path: format!("/20160918/fake/{subject}"),
                status,
                code: code.to_owned(),
                message: format!("the fake refuses {what}"),
                opc_request_id: "fake-request".to_owned(),
            }))),
            None => Ok(()),
        }
    }

    /// Notes the freeform tags a call sent.
    fn note_tags(&self, what: String, tags: Option<&BTreeMap<String, String>>) {
        if let Some(tags) = tags {
            self.tags.borrow_mut().insert(what, tags.clone());
        }
    }

    /// The freeform tags the call `what` sent.
    fn tags_of(&self, what: &str) -> BTreeMap<String, String> {
        self.tags
            .borrow()
            .get(what)
            .cloned()
            .unwrap_or_else(|| panic!("{what} sent no tags"))
    }

    /// `Operation subject` of every write, in order (reads left out).
    fn seen(&self) -> Vec<String> {
        self.seen_all()
            .into_iter()
            .filter(|w| !w.starts_with("Get") && !w.starts_with("List"))
            .collect()
    }

    /// `Operation subject` of every call, reads included, in order.
    fn seen_all(&self) -> Vec<String> {
        self.calls.borrow().iter().map(|c| c.what.clone()).collect()
    }

    /// The snapshot's object with OCID `id`, as JSON.
    fn live_object(&self, id: &str) -> Option<serde_json::Value> {
        let snapshot = self.snapshot.borrow();
        let snapshot = snapshot.as_ref()?;
        let user = snapshot.users.iter().find(|u| u.id == id).map(|u| json!(u));
        user.or_else(|| {
            snapshot
                .groups
                .iter()
                .find(|g| g.id == id)
                .map(|g| json!(g))
        })
    }

    /// The retry token of the one call `what`.
    fn token_of(&self, what: &str) -> String {
        let calls = self.calls.borrow();
        let mut tokens = calls.iter().filter(|c| c.what == what);
        let token = tokens
            .next()
            .and_then(|c| c.token.clone())
            .unwrap_or_else(|| panic!("no call {what} with a retry token"));
        assert!(tokens.next().is_none(), "{what} was sent more than once");
        token
    }
}

impl Writes for Fake {
    async fn list_users(&self) -> Result<Vec<wire::User>, ClientError> {
        self.call("ListUsers", "", None).await?;
        Ok(self.listed_users.clone())
    }

    async fn list_groups(&self) -> Result<Vec<wire::Group>, ClientError> {
        self.call("ListGroups", "", None).await?;
        Ok(self.listed_groups.clone())
    }

    async fn get_user(&self, user_id: &Ocid) -> Result<Response<wire::User>, ClientError> {
        let name = short(user_id.as_str());
        self.call("GetUser", name, None).await?;
        let mut read = answer(match self.live_object(user_id.as_str()) {
            Some(user) => serde_json::from_value(user).expect("user JSON"),
            None => wire_user(user_id.as_str(), name, &BTreeMap::new()),
        });
        read.etag = Some(etag_of(name));
        Ok(read)
    }

    async fn get_group(&self, group_id: &Ocid) -> Result<Response<wire::Group>, ClientError> {
        let name = short(group_id.as_str());
        self.call("GetGroup", name, None).await?;
        Ok(answer(match self.live_object(group_id.as_str()) {
            Some(group) => serde_json::from_value(group).expect("group JSON"),
            None => wire_group(group_id.as_str(), name),
        }))
    }

    async fn list_api_keys(&self, user_id: &Ocid) -> Result<Vec<wire::ApiKey>, ClientError> {
        self.call("ListApiKeys", short(user_id.as_str()), None)
            .await?;
        if !self.listed_keys.is_empty() {
            return Ok(self.listed_keys.clone());
        }
        let snapshot = self.snapshot.borrow();
        Ok(snapshot
            .as_ref()
            .and_then(|s| s.api_keys.get(user_id.as_str()).cloned())
            .unwrap_or_default())
    }

    async fn create_group_with_token(
        &self,
        details: &wire::CreateGroupDetails,
        token: &RetryToken,
    ) -> Result<Response<wire::Group>, ClientError> {
        self.call("CreateGroup", &details.name, Some(token)).await?;
        self.note_tags(
            format!("CreateGroup {}", details.name),
            details.freeform_tags.as_ref(),
        );
        let id = format!("ocid1.group.oc1..created-{}", details.name);
        Ok(answer(wire_group(&id, &details.name)))
    }

    async fn create_user_with_token(
        &self,
        details: &wire::CreateUserDetails,
        token: &RetryToken,
    ) -> Result<Response<wire::User>, ClientError> {
        self.call("CreateUser", &details.name, Some(token)).await?;
        self.note_tags(
            format!("CreateUser {}", details.name),
            details.freeform_tags.as_ref(),
        );
        let id = format!("ocid1.user.oc1..created-{}", details.name);
        let tags = details.freeform_tags.clone().unwrap_or_default();
        Ok(answer(wire_user(&id, &details.name, &tags)))
    }

    async fn update_user(
        &self,
        user_id: &Ocid,
        details: &wire::UpdateUserDetails,
        if_match_etag: Option<&str>,
    ) -> Result<Response<wire::User>, ClientError> {
        let name = short(user_id.as_str());
        self.if_matches.borrow_mut().push((
            format!("UpdateUser {name}"),
            if_match_etag.map(str::to_owned),
        ));
        self.call("UpdateUser", name, None).await?;
        self.note_tags(format!("UpdateUser {name}"), details.freeform_tags.as_ref());
        Ok(answer(wire_user(user_id.as_str(), name, &BTreeMap::new())))
    }

    async fn update_group(
        &self,
        group_id: &Ocid,
        _details: &wire::UpdateGroupDetails,
        _if_match_etag: Option<&str>,
    ) -> Result<Response<wire::Group>, ClientError> {
        let name = short(group_id.as_str());
        self.call("UpdateGroup", name, None).await?;
        Ok(answer(wire_group(group_id.as_str(), name)))
    }

    async fn update_user_capabilities(
        &self,
        user_id: &Ocid,
        _details: &wire::UpdateUserCapabilitiesDetails,
        _if_match_etag: Option<&str>,
    ) -> Result<Response<wire::User>, ClientError> {
        let name = short(user_id.as_str());
        self.call("UpdateUserCapabilities", name, None).await?;
        Ok(answer(wire_user(user_id.as_str(), name, &BTreeMap::new())))
    }

    async fn add_user_to_group_with_token(
        &self,
        details: &wire::AddUserToGroupDetails,
        token: &RetryToken,
    ) -> Result<Response<wire::UserGroupMembership>, ClientError> {
        let subject = format!("{}/{}", short(&details.user_id), short(&details.group_id));
        self.call("AddUserToGroup", &subject, Some(token)).await?;
        let id = format!(
            "ocid1.membership.oc1..created-{}",
            subject.replace('/', ".")
        );
        let added = wire_membership(&id, &details.user_id, &details.group_id);
        if let Some(snapshot) = self.snapshot.borrow_mut().as_mut() {
            snapshot.memberships.push(added.clone());
        }
        Ok(answer(added))
    }

    async fn list_user_group_memberships(
        &self,
        filter: MembershipFilter<'_>,
    ) -> Result<Vec<wire::UserGroupMembership>, ClientError> {
        let MembershipFilter::UserAndGroup { user, group } = filter else {
            panic!("the executor lists memberships by user and group only");
        };
        let subject = format!("{}/{}", short(user.as_str()), short(group.as_str()));
        self.call("ListUserGroupMemberships", &subject, None)
            .await?;
        if self.member_listed {
            let id = format!("ocid1.membership.oc1..listed-{}", subject.replace('/', "."));
            return Ok(vec![wire_membership(&id, user.as_str(), group.as_str())]);
        }
        let snapshot = self.snapshot.borrow();
        Ok(snapshot
            .as_ref()
            .map(|s| {
                s.memberships
                    .iter()
                    .filter(|m| m.user_id == user.as_str() && m.group_id == group.as_str())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn remove_user_from_group(
        &self,
        membership_id: &Ocid,
        _if_match_etag: Option<&str>,
    ) -> Result<Response<()>, ClientError> {
        self.call("RemoveUserFromGroup", short(membership_id.as_str()), None)
            .await?;
        if let Some(snapshot) = self.snapshot.borrow_mut().as_mut() {
            snapshot
                .memberships
                .retain(|m| m.id != membership_id.as_str());
        }
        Ok(answer(()))
    }

    async fn upload_api_key_with_token(
        &self,
        user_id: &Ocid,
        details: &wire::CreateApiKeyDetails,
        token: &RetryToken,
    ) -> Result<Response<wire::ApiKey>, ClientError> {
        // The test PEMs are `…\nkey-<n>\n…`: the subject names the key by that line.
        let key = details.key.lines().nth(1).unwrap_or_default();
        let subject = format!("{}/{key}", short(user_id.as_str()));
        self.call("UploadApiKey", &subject, Some(token)).await?;
        let n: u32 = key
            .strip_prefix("key-")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let uploaded: wire::ApiKey = serde_json::from_value(json!({
            "fingerprint": fp(n).as_str(), "keyValue": details.key,
            "userId": user_id.as_str(), "lifecycleState": "ACTIVE"}))
        .expect("api key JSON");
        if let Some(snapshot) = self.snapshot.borrow_mut().as_mut() {
            snapshot
                .api_keys
                .entry(user_id.to_string())
                .or_default()
                .push(uploaded.clone());
        }
        Ok(answer(uploaded))
    }

    async fn delete_api_key(
        &self,
        user_id: &Ocid,
        fingerprint: &Fingerprint,
        _if_match_etag: Option<&str>,
    ) -> Result<Response<()>, ClientError> {
        let subject = format!("{}/{}", short(user_id.as_str()), fingerprint.as_str());
        self.call("DeleteApiKey", &subject, None).await?;
        if let Some(keys) = self
            .snapshot
            .borrow_mut()
            .as_mut()
            .and_then(|s| s.api_keys.get_mut(user_id.as_str()))
        {
            keys.retain(|k| k.fingerprint != fingerprint.as_str());
        }
        Ok(answer(()))
    }

    async fn create_or_reset_ui_password_with_token(
        &self,
        user_id: &Ocid,
        token: &RetryToken,
    ) -> Result<Response<wire::UIPassword>, ClientError> {
        self.call(
            "CreateOrResetUIPassword",
            short(user_id.as_str()),
            Some(token),
        )
        .await?;
        Ok(answer(wire::UIPassword {
            password: (!self.identity_domains).then(|| SecretString::from(PASSWORD)),
            user_id: Some(user_id.to_string()),
            ..wire::UIPassword::default()
        }))
    }

    async fn delete_user(
        &self,
        user_id: &Ocid,
        _if_match_etag: Option<&str>,
    ) -> Result<Response<()>, ClientError> {
        self.call("DeleteUser", short(user_id.as_str()), None)
            .await?;
        Ok(answer(()))
    }

    async fn delete_group(
        &self,
        group_id: &Ocid,
        _if_match_etag: Option<&str>,
    ) -> Result<Response<()>, ClientError> {
        self.call("DeleteGroup", short(group_id.as_str()), None)
            .await?;
        Ok(answer(()))
    }
}

// ---------------------------------------------------------------------------------------------
// Worlds: a live tenancy (as a snapshot, as the executor reads it) and a manifest
// ---------------------------------------------------------------------------------------------

fn loc() -> Location {
    Location {
        file: "ociam.yaml".into(),
        line: 1,
        column: 1,
    }
}

/// A fake fingerprint ending in `n`.
fn fp(n: u32) -> Fingerprint {
    let mut parts = vec!["00".to_owned(); 15];
    parts.push(format!("{n:02x}"));
    Fingerprint::parse(&parts.join(":")).expect("well-formed fake fingerprint")
}

/// A dummy PEM (the planner and the executor never parse it).
fn pem(n: u32) -> String {
    format!("-----BEGIN PUBLIC KEY-----\nkey-{n}\n-----END PUBLIC KEY-----\n")
}

fn declared_key(n: u32) -> DesiredKey {
    DesiredKey {
        fingerprint: fp(n),
        pem: Some(pem(n)),
        expires: None,
        weakness: None,
        location: loc(),
    }
}

#[derive(Clone)]
struct World {
    snapshot: Snapshot,
    desired: Desired,
}

impl World {
    /// `Administrators` holding `admin` (who signs with key 1), and an empty manifest.
    fn new() -> Self {
        let snapshot = Snapshot {
            format_version: 1,
            tenancy: TENANCY.to_owned(),
            ..Snapshot::default()
        };
        let desired = Desired {
            tenancy: Ocid::new(TENANCY),
            ..Desired::default()
        };
        Self { snapshot, desired }
            .group(ADMINISTRATORS)
            .user("admin")
            .member("admin", ADMINISTRATORS)
            .key("admin", 1)
    }

    /// A live, ociam-owned user `ocid1.user.oc1..<name>`.
    fn user(self, name: &str) -> Self {
        self.user_with(name, json!({}))
    }

    /// A live, ociam-owned user, with extra fields of the service's `User` object.
    fn user_with(mut self, name: &str, fields: serde_json::Value) -> Self {
        let mut user = json!({"id": format!("ocid1.user.oc1..{name}"), "compartmentId": TENANCY,
            "name": name, "description": "", "lifecycleState": "ACTIVE",
            "freeformTags": {OWNERSHIP_TAG: "true"}});
        if let (Some(user), serde_json::Value::Object(fields)) = (user.as_object_mut(), fields) {
            user.extend(fields);
        }
        self.snapshot
            .users
            .push(serde_json::from_value(user).expect("user JSON"));
        self
    }

    /// A live group `ocid1.group.oc1..<name>`.
    fn group(mut self, name: &str) -> Self {
        let id = format!("ocid1.group.oc1..{name}");
        self.snapshot.groups.push(wire_group(&id, name));
        self
    }

    fn member(mut self, user: &str, group: &str) -> Self {
        self.snapshot.memberships.push(wire_membership(
            &format!("ocid1.membership.oc1..{user}.{group}"),
            &format!("ocid1.user.oc1..{user}"),
            &format!("ocid1.group.oc1..{group}"),
        ));
        self
    }

    fn key(mut self, user: &str, n: u32) -> Self {
        let key = serde_json::from_value(json!({"fingerprint": fp(n).as_str(),
            "keyValue": pem(n), "timeCreated": "2025-12-01T00:00:00Z",
            "lifecycleState": "ACTIVE"}))
        .expect("api key JSON");
        self.snapshot
            .api_keys
            .entry(format!("ocid1.user.oc1..{user}"))
            .or_default()
            .push(key);
        self
    }

    fn identity_domains(mut self) -> Self {
        self.snapshot.identity_domains = true;
        self
    }

    /// Lists user `name` in the manifest (every field left as is), then lets `f` adjust it.
    fn want(mut self, name: &str, f: impl FnOnce(&mut DesiredUser)) -> Self {
        f(self
            .desired
            .users
            .entry(name.into())
            .or_insert_with(|| DesiredUser::leave_as_is(loc())));
        self
    }

    /// Lists group `name` in the manifest.
    fn want_group(mut self, name: &str) -> Self {
        self.desired.groups.insert(
            name.into(),
            DesiredGroup {
                present: true,
                description: Some(format!("the {name} group")),
                location: loc(),
            },
        );
        self
    }

    fn live(&self) -> State {
        self.snapshot.to_state("world").expect("consistent world")
    }

    /// The real planner's changes from this world's live state to its manifest.
    fn plan(&self) -> Vec<Change> {
        let plan = crate::plan::plan(&self.desired, &self.live(), &actor(), &options());
        assert!(
            !plan.is_rejected(),
            "the test plan is rejected: {:?}",
            plan.diagnostics
        );
        plan.changes
    }
}

fn actor() -> ActorSpec {
    ActorSpec {
        user: "admin".into(),
        fingerprint: Some(fp(1)),
    }
}

fn options() -> Options {
    Options {
        today: TODAY,
        ..Options::default()
    }
}

fn groups(names: &[&str]) -> Option<BTreeMap<GroupName, Location>> {
    Some(names.iter().map(|g| (GroupName::from(*g), loc())).collect())
}

fn keys(ns: &[u32]) -> Option<Vec<DesiredKey>> {
    Some(ns.iter().copied().map(declared_key).collect())
}

fn reset(n: u32) -> Option<PasswordReset> {
    Some(PasswordReset {
        reset: n,
        deliver_to: None,
        location: loc(),
    })
}

// ---------------------------------------------------------------------------------------------
// Running the executor
// ---------------------------------------------------------------------------------------------

/// A journal and a secrets directory in one temporary directory.
struct Dirs {
    root: TempDir,
    journal: Journal,
}

impl Dirs {
    fn new() -> Self {
        let root = TempDir::new().expect("temporary directory");
        let journal = Journal::open(&root.path().join("journal"), TENANCY).expect("journal");
        Self { root, journal }
    }

    fn secrets(&self) -> PathBuf {
        self.root.path().join("secrets")
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// Applies `changes` (planned for `world`) through `fake`, as `admin`. Returns the report and
/// the `seq` of every step `on_step` was told about, in order.
fn apply(
    world: &World,
    changes: &[Change],
    fake: &Fake,
    dirs: &mut Dirs,
    keep_going: bool,
) -> (ApplyReport, Vec<u32>) {
    apply_revealing(world, changes, fake, dirs, keep_going, None)
}

/// [`apply`] with up to `parallelism` steps at once (1: each step ends before the next
/// starts, so the journal's records come in plan order).
fn apply_with(
    world: &World,
    changes: &[Change],
    fake: &Fake,
    dirs: &mut Dirs,
    parallelism: usize,
) -> (ApplyReport, Vec<u32>) {
    run_apply(world, changes, fake, dirs, false, None, parallelism)
}

fn apply_revealing(
    world: &World,
    changes: &[Change],
    fake: &Fake,
    dirs: &mut Dirs,
    keep_going: bool,
    reveal: Option<&Reveal>,
) -> (ApplyReport, Vec<u32>) {
    run_apply(world, changes, fake, dirs, keep_going, reveal, 4)
}

fn run_apply(
    world: &World,
    changes: &[Change],
    fake: &Fake,
    dirs: &mut Dirs,
    keep_going: bool,
    reveal: Option<&Reveal>,
    parallelism: usize,
) -> (ApplyReport, Vec<u32>) {
    if fake.snapshot.borrow().is_none() {
        fake.snapshot.replace(Some(world.snapshot.clone()));
    }
    let live = world.live();
    let actor = actor();
    let delivery = Delivery {
        secrets_dir: dirs.secrets(),
    };
    let target = Target {
        client: fake,
        snapshot: &world.snapshot,
        live: &live,
        desired: Some(&world.desired),
        actor: &actor,
        delivery: &delivery,
        reveal,
    };
    let clock = || NOW;
    let mut run = Run {
        journal: &mut dirs.journal,
        plan_id: plan_id(changes),
        keep_going,
        parallelism,
        clock: &clock,
    };
    let mut told = Vec::new();
    let report = block_on(execute(&target, changes, &mut run, &mut |step| {
        told.push(step.seq);
    }));
    (report, told)
}

/// `(seq, action subject)` of each change, to check a test plan is the one it means.
fn steps(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .map(|c| format!("{} {} {}", c.seq, c.action.as_str(), c.subject()))
        .collect()
}

fn statuses(report: &ApplyReport) -> Vec<(u32, StepStatus)> {
    report
        .steps
        .iter()
        .map(|s| (s.seq, s.status.clone()))
        .collect()
}

fn failed_with(status: &StepStatus, needle: &str) -> bool {
    matches!(status, StepStatus::Failed(why) if why.contains(needle))
}

// ---------------------------------------------------------------------------------------------
// Order
// ---------------------------------------------------------------------------------------------

/// alice holds three keys and swaps key 3 for key 4, and joins a group the plan creates.
fn key_swap_world() -> World {
    World::new()
        .user("alice")
        .key("alice", 1)
        .key("alice", 2)
        .key("alice", 3)
        .want_group("ops")
        .want("alice", |u| {
            u.groups = groups(&["ops"]);
            u.api_keys = keys(&[1, 2, 4]);
        })
}

#[test]
fn steps_are_written_in_plan_order_and_each_reported_done() {
    let world = key_swap_world();
    let changes = world.plan();
    assert_eq!(
        steps(&changes),
        [
            "1 create_group group.ops".to_owned(),
            format!("2 delete_api_key api_key.alice/{}", fp(3)),
            "3 add_to_group membership.ops/alice".to_owned(),
            format!("4 upload_api_key api_key.alice/{}", fp(4)),
        ]
    );
    let fake = Fake::default();
    let mut dirs = Dirs::new();
    let (report, told) = apply(&world, &changes, &fake, &mut dirs, false);

    // The key at the cap is deleted before the upload; the membership uses the new group's
    // OCID, which only the create's answer carried.
    assert_eq!(
        fake.seen(),
        [
            "CreateGroup ops".to_owned(),
            format!("DeleteApiKey alice/{}", fp(3)),
            "AddUserToGroup alice/created-ops".to_owned(),
            "UploadApiKey alice/key-4".to_owned(),
        ]
    );
    assert_eq!(
        statuses(&report),
        [
            (1, StepStatus::Done),
            (2, StepStatus::Done),
            (3, StepStatus::Done),
            (4, StepStatus::Done),
        ]
    );
    assert_eq!(told, [1, 2, 3, 4]);
    assert!(report.succeeded());
    assert_eq!(report.counts(), counts(4, 0, 0));
    // Each write is journaled: an intent, then its outcome.
    let records = dirs.journal.records();
    assert_eq!(records.len(), 8);
    assert!(matches!(&records[0], Record::Intent { seq: 1, .. }));
    assert!(matches!(&records[7], Record::Outcome { seq: 4, status, .. } if status == "done"));
}

#[test]
fn creates_send_the_ownership_tag_and_the_journaled_retry_token() {
    let world = World::new()
        .want_group("ops")
        .want("dave", |u| u.groups = groups(&["ops"]));
    let changes = world.plan();
    assert_eq!(
        steps(&changes),
        [
            "1 create_group group.ops",
            "2 create_user user.dave",
            "3 add_to_group membership.ops/dave",
        ]
    );
    let fake = Fake::default();
    let mut dirs = Dirs::new();
    let (report, _) = apply(&world, &changes, &fake, &mut dirs, false);

    // The membership joins the two new objects by the OCIDs their creates answered.
    assert_eq!(
        fake.seen(),
        [
            "CreateGroup ops",
            "CreateUser dave",
            "AddUserToGroup created-dave/created-ops",
        ]
    );
    assert!(report.succeeded());
    let owned = BTreeMap::from([(OWNERSHIP_TAG.to_owned(), "true".to_owned())]);
    assert_eq!(fake.tags_of("CreateGroup ops"), owned);
    assert_eq!(fake.tags_of("CreateUser dave"), owned);
    // Each create carried the retry token its intent recorded.
    let journaled: Vec<String> = dirs
        .journal
        .records()
        .iter()
        .filter_map(|r| match r {
            Record::Intent { retry_token, .. } => Some(retry_token.clone()),
            Record::Outcome { .. } => None,
        })
        .collect();
    assert_eq!(
        journaled,
        [
            fake.token_of("CreateGroup ops"),
            fake.token_of("CreateUser dave"),
            fake.token_of("AddUserToGroup created-dave/created-ops"),
        ]
    );
}

#[test]
fn deletions_use_the_live_ocids_and_empty_the_user_before_deleting_it() {
    let mut world = World::new()
        .user("carol")
        .group("ops")
        .group("old")
        .member("carol", "ops")
        .want("carol", |u| u.present = false);
    world.desired.groups.insert(
        "old".into(),
        DesiredGroup {
            present: false,
            description: None,
            location: loc(),
        },
    );
    let changes = world.plan();
    assert_eq!(
        steps(&changes),
        [
            "1 remove_from_group membership.ops/carol",
            "2 delete_user user.carol",
            "3 delete_group group.old",
        ]
    );
    let fake = Fake::default();
    let mut dirs = Dirs::new();
    let (report, _) = apply(&world, &changes, &fake, &mut dirs, false);

    // The membership is removed by the OCID the snapshot holds: no look-up is needed, and
    // carol is deleted after it. Group old has no member: its deletion waits for nothing.
    assert_eq!(
        fake.seen(),
        [
            "RemoveUserFromGroup carol.ops",
            "DeleteGroup old",
            "DeleteUser carol",
        ]
    );
    assert_eq!(
        statuses(&report),
        [
            (1, StepStatus::Done),
            (2, StepStatus::Done),
            (3, StepStatus::Done),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Failures: stop, or keep going with what does not depend on the failed step
// ---------------------------------------------------------------------------------------------

/// Steps touching group ops, user alice and user bob:
/// 1 create ops, 2 update alice, 3 update bob, 4 add alice to ops, 5 upload bob's key 2.
fn two_users_world() -> World {
    World::new()
        .user("alice")
        .user("bob")
        .key("bob", 1)
        .want_group("ops")
        .want("alice", |u| {
            u.description = Some("Alice".into());
            u.groups = groups(&["ops"]);
        })
        .want("bob", |u| {
            u.description = Some("Bob".into());
            u.api_keys = keys(&[1, 2]);
        })
}

fn two_users_plan(world: &World) -> Vec<Change> {
    let changes = world.plan();
    assert_eq!(
        steps(&changes),
        [
            "1 create_group group.ops".to_owned(),
            "2 update_user user.alice".to_owned(),
            "3 update_user user.bob".to_owned(),
            "4 add_to_group membership.ops/alice".to_owned(),
            format!("5 upload_api_key api_key.bob/{}", fp(2)),
        ]
    );
    changes
}

#[test]
fn a_failed_step_stops_the_apply_and_no_later_step_starts() {
    let world = two_users_world();
    let changes = two_users_plan(&world);
    let fake = Fake::failing(&[("UpdateUser alice", 400, "InvalidParameter")]);
    let mut dirs = Dirs::new();
    let (report, told) = apply(&world, &changes, &fake, &mut dirs, false);

    // Steps 1 to 3 wait for nothing and start together; 3 was in flight when 2 failed.
    assert_eq!(
        fake.seen(),
        ["CreateGroup ops", "UpdateUser alice", "UpdateUser bob"]
    );
    let got = statuses(&report);
    assert_eq!(got[0], (1, StepStatus::Done));
    assert!(failed_with(&got[1].1, "400"), "{:?}", got[1]);
    assert!(failed_with(&got[1].1, "InvalidParameter"), "{:?}", got[1]);
    assert_eq!(
        got[2..],
        [
            (3, StepStatus::Done),
            (4, StepStatus::NotStarted),
            (5, StepStatus::NotStarted),
        ]
    );
    assert_eq!(told, [1, 2, 3, 4, 5], "every step is reported");
    assert!(!report.succeeded());
    assert_eq!(report.counts(), counts(2, 1, 2));
    // The failure is journaled as the outcome of step 2, and nothing of steps 4 and 5.
    let records = dirs.journal.records();
    assert!(
        records.iter().any(
            |r| matches!(r, Record::Outcome { seq: 2, status, detail: Some(d), .. }
            if status == "failed" && d.contains("InvalidParameter"))
        ),
        "{records:?}"
    );
    assert!(
        !records.iter().any(|r| matches!(
            r,
            Record::Intent { seq: 4 | 5, .. } | Record::Outcome { seq: 4 | 5, .. }
        )),
        "{records:?}"
    );
}

/// A user changed out of band between the plan's read and its first write is refused at its
/// step ("moved since the plan"), before anything is sent for it; with `--keep-going` the other
/// user's steps are written and nothing is rolled back. An unchanged user is written with the
/// ETag of the read as `if-match`.
#[test]
fn a_user_changed_since_the_plan_is_refused_at_its_step_and_others_go_on() {
    let world = two_users_world();
    let changes = two_users_plan(&world);
    let fake = Fake::default();
    let mut moved = world.snapshot.clone();
    let alice = moved
        .users
        .iter_mut()
        .find(|u| u.name == "alice")
        .expect("alice");
    alice.description = "changed in the Console".to_owned();
    fake.snapshot.replace(Some(moved));
    let mut dirs = Dirs::new();
    let (report, _) = apply(&world, &changes, &fake, &mut dirs, true);

    let got = statuses(&report);
    assert!(
        failed_with(&got[1].1, "moved since the plan: user.alice changed"),
        "{got:?}"
    );
    assert_eq!(got[2], (3, StepStatus::Done));
    assert_eq!(got[3], (4, StepStatus::NotStarted), "alice's membership");
    assert_eq!(got[4], (5, StepStatus::Done));
    assert_eq!(
        fake.seen(),
        [
            "CreateGroup ops",
            "UpdateUser bob",
            "UploadApiKey bob/key-2"
        ],
        "nothing is sent for alice"
    );
    assert_eq!(
        fake.if_matches.borrow().as_slice(),
        [("UpdateUser bob".to_owned(), Some(etag_of("bob")))]
    );
}

/// A user deleted between the plan and its first write is refused as moved, by name.
#[test]
fn a_user_deleted_since_the_plan_is_refused_at_its_step() {
    let world = two_users_world();
    let changes = two_users_plan(&world);
    let fake = Fake::failing(&[("GetUser alice", 404, "NotAuthorizedOrNotFound")]);
    let mut dirs = Dirs::new();
    let (report, _) = apply(&world, &changes, &fake, &mut dirs, true);
    let got = statuses(&report);
    assert!(
        failed_with(&got[1].1, "moved since the plan: user.alice was deleted"),
        "{got:?}"
    );
    assert!(!fake.seen().contains(&"UpdateUser alice".to_owned()));
    assert_eq!(got[2], (3, StepStatus::Done), "bob goes on");
}

/// After this apply writes one of a user's keys, the next write to the user itself reads the
/// ETag again (whether a key write changes it is not documented) and does not mistake this
/// apply's own earlier update for a change by someone else.
#[test]
fn a_user_written_again_after_its_key_changed_is_read_again_not_refused() {
    let world = World::new().user("alice").want("alice", |u| {
        u.description = Some("Alice A.".into());
        u.api_keys = keys(&[1]);
        u.console_password = reset(1);
    });
    let changes = world.plan();
    let kinds: Vec<&str> = changes.iter().map(|c| c.action.as_str()).collect();
    assert_eq!(
        kinds,
        ["update_user", "upload_api_key", "reset_console_password"],
        "{:?}",
        steps(&changes)
    );
    let fake = Fake::default();
    let mut dirs = Dirs::new();
    let (report, _) = apply(&world, &changes, &fake, &mut dirs, false);
    assert!(report.succeeded(), "{:?}", statuses(&report));
    let reads = fake
        .seen_all()
        .iter()
        .filter(|c| *c == "GetUser alice")
        .count();
    assert_eq!(
        reads,
        2,
        "before the first write, and again after the key upload: {:?}",
        fake.seen_all()
    );
}

#[test]
fn keep_going_skips_only_the_steps_of_the_failed_user() {
    let world = two_users_world();
    let changes = two_users_plan(&world);
    let fake = Fake::failing(&[("UpdateUser alice", 409, "NoEtagMatch")]);
    let mut dirs = Dirs::new();
    let (report, _) = apply(&world, &changes, &fake, &mut dirs, true);

    assert_eq!(
        fake.seen(),
        [
            "CreateGroup ops",
            "UpdateUser alice",
            "UpdateUser bob",
            "UploadApiKey bob/key-2",
        ]
    );
    let got = statuses(&report);
    assert_eq!(got[0], (1, StepStatus::Done));
    assert!(failed_with(&got[1].1, "409"), "{:?}", got[1]);
    assert!(
        failed_with(
            &got[1].1,
            "moved since the plan: user.alice changed while this apply ran"
        ),
        "{:?}",
        got[1]
    );
    assert_eq!(
        got[2..],
        [
            (3, StepStatus::Done),
            (4, StepStatus::NotStarted), // alice's membership
            (5, StepStatus::Done),
        ]
    );
    assert_eq!(report.counts(), counts(3, 1, 1));
}

#[test]
fn keep_going_skips_only_the_steps_of_the_failed_group() {
    let world = two_users_world();
    let changes = two_users_plan(&world);
    let fake = Fake::failing(&[(
        "CreateGroup ops",
        409,
        "NotAuthorizedOrResourceAlreadyExists",
    )]);
    let mut dirs = Dirs::new();
    let (report, _) = apply(&world, &changes, &fake, &mut dirs, true);

    assert_eq!(
        fake.seen(),
        [
            "CreateGroup ops",
            "UpdateUser alice",
            "UpdateUser bob",
            "UploadApiKey bob/key-2",
        ]
    );
    let got = statuses(&report);
    assert!(
        failed_with(&got[0].1, "NotAuthorizedOrResourceAlreadyExists"),
        "{:?}",
        got[0]
    );
    assert_eq!(
        got[1..],
        [
            (2, StepStatus::Done),
            (3, StepStatus::Done),
            (4, StepStatus::NotStarted), // the membership of ops
            (5, StepStatus::Done),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Independent steps at once
// ---------------------------------------------------------------------------------------------

/// Users `u0`..`u{n-1}`, each wanting a new description: `n` independent updates.
fn many_updates_world(n: usize) -> World {
    (0..n).fold(World::new(), |world, i| {
        let name = format!("u{i}");
        world
            .user(&name)
            .want(&name, |u| u.description = Some(format!("user {i}")))
    })
}

#[test]
fn independent_steps_run_at_once_up_to_the_parallelism_and_report_in_plan_order() {
    let world = many_updates_world(9);
    let changes = world.plan();
    assert_eq!(changes.len(), 9, "{:?}", steps(&changes));
    let fake = Fake {
        yielding: true,
        ..Fake::default()
    };
    let mut dirs = Dirs::new();
    let (report, told) = apply(&world, &changes, &fake, &mut dirs, false);

    assert_eq!(fake.most_in_flight.get(), 4, "the run's parallelism");
    assert_eq!(report.counts(), counts(9, 0, 0));
    let seqs: Vec<u32> = report.steps.iter().map(|s| s.seq).collect();
    assert_eq!(
        seqs,
        (1..=9).collect::<Vec<u32>>(),
        "the report is in plan order"
    );
    let mut told_sorted = told.clone();
    told_sorted.sort_unstable();
    assert_eq!(told_sorted, seqs, "every step told once");
    // Every write went out once, each after its own read-back.
    let writes = fake.seen();
    assert_eq!(writes.len(), 9, "{writes:?}");
    for i in 0..9 {
        let all = fake.seen_all();
        let read = all.iter().position(|c| c == &format!("GetUser u{i}"));
        let write = all.iter().position(|c| c == &format!("UpdateUser u{i}"));
        assert!(read.is_some() && read < write, "u{i}: {all:?}");
    }
}

#[test]
fn with_parallelism_one_the_steps_run_one_after_another() {
    let world = many_updates_world(3);
    let changes = world.plan();
    let fake = Fake {
        yielding: true,
        ..Fake::default()
    };
    let mut dirs = Dirs::new();
    let (report, _) = apply_with(&world, &changes, &fake, &mut dirs, 1);
    assert_eq!(report.counts(), counts(3, 0, 0));
    assert_eq!(fake.most_in_flight.get(), 1);
    assert_eq!(
        fake.seen_all(),
        [
            "GetUser u0",
            "UpdateUser u0",
            "GetUser u1",
            "UpdateUser u1",
            "GetUser u2",
            "UpdateUser u2"
        ]
    );
}

/// Steps: 1 create group ops, 2 create user carl, 3 update alice, 4 upload alice's key 3,
/// 5 carl into ops, 6 upload carl's key 4.
fn chain_world() -> World {
    World::new()
        .user("alice")
        .key("alice", 2)
        .want_group("ops")
        .want("alice", |u| {
            u.description = Some("Alice".into());
            u.api_keys = keys(&[2, 3]);
        })
        .want("carl", |u| {
            u.groups = groups(&["ops"]);
            u.api_keys = keys(&[4]);
        })
}

#[test]
fn keep_going_skips_every_step_that_depends_on_a_failed_one_transitively() {
    let world = chain_world();
    let changes = world.plan();
    assert_eq!(
        steps(&changes),
        [
            "1 create_group group.ops".to_owned(),
            "2 create_user user.carl".to_owned(),
            "3 update_user user.alice".to_owned(),
            format!("4 upload_api_key api_key.alice/{}", fp(3)),
            "5 add_to_group membership.ops/carl".to_owned(),
            format!("6 upload_api_key api_key.carl/{}", fp(4)),
        ]
    );
    let fake = Fake {
        yielding: true,
        ..Fake::failing(&[("CreateGroup ops", 500, "InternalServerError")])
    };
    let mut dirs = Dirs::new();
    let (report, _) = apply(&world, &changes, &fake, &mut dirs, true);
    let got = statuses(&report);
    assert!(failed_with(&got[0].1, "InternalServerError"), "{got:?}");
    assert_eq!(
        got[1..],
        [
            (2, StepStatus::Done),
            (3, StepStatus::Done),
            (4, StepStatus::Done),
            // carl's membership waits for ops; carl's key waits for carl's membership.
            (5, StepStatus::NotStarted),
            (6, StepStatus::NotStarted),
        ]
    );
    assert_eq!(
        fake.seen(),
        [
            "CreateGroup ops",
            "CreateUser carl",
            "UpdateUser alice",
            "UploadApiKey alice/key-3"
        ]
    );
}

#[test]
fn without_keep_going_a_failure_starts_nothing_new_but_lets_steps_in_flight_finish() {
    let world = chain_world();
    let changes = world.plan();
    let fake = Fake {
        yielding: true,
        ..Fake::failing(&[("CreateGroup ops", 500, "InternalServerError")])
    };
    let mut dirs = Dirs::new();
    let (report, told) = apply(&world, &changes, &fake, &mut dirs, false);
    let got = statuses(&report);
    assert!(failed_with(&got[0].1, "InternalServerError"), "{got:?}");
    // Steps 1 to 3 start together (parallelism 4, none waits for another); 1 fails while 2
    // and 3 are in flight: they finish, nothing after them starts.
    assert_eq!(
        got[1..],
        [
            (2, StepStatus::Done),
            (3, StepStatus::Done),
            (4, StepStatus::NotStarted),
            (5, StepStatus::NotStarted),
            (6, StepStatus::NotStarted),
        ]
    );
    assert_eq!(
        told.len(),
        6,
        "every step is told, started or not: {told:?}"
    );
    assert_eq!(
        fake.seen(),
        ["CreateGroup ops", "CreateUser carl", "UpdateUser alice"]
    );
}

// ---------------------------------------------------------------------------------------------
// Resume from the journal
// ---------------------------------------------------------------------------------------------

/// Steps 1 update alice, 2 add alice to the live group ops, 3 upload bob's key 2.
fn resume_world() -> World {
    World::new()
        .user("alice")
        .user("bob")
        .group("ops")
        .key("bob", 1)
        .want("alice", |u| {
            u.description = Some("Alice".into());
            u.groups = groups(&["ops"]);
        })
        .want("bob", |u| u.api_keys = keys(&[1, 2]))
}

fn resume_plan(world: &World) -> Vec<Change> {
    let changes = world.plan();
    assert_eq!(
        steps(&changes),
        [
            "1 update_user user.alice".to_owned(),
            "2 add_to_group membership.ops/alice".to_owned(),
            format!("3 upload_api_key api_key.bob/{}", fp(2)),
        ]
    );
    changes
}

#[test]
fn a_second_apply_of_the_plan_does_not_resend_the_steps_already_done() {
    let world = resume_world();
    let changes = resume_plan(&world);
    let mut dirs = Dirs::new();
    let first = Fake::failing(&[("AddUserToGroup alice/ops", 404, "NotAuthorizedOrNotFound")]);
    let (report, _) = apply_with(&world, &changes, &first, &mut dirs, 1);
    assert_eq!(
        first.seen(),
        ["UpdateUser alice", "AddUserToGroup alice/ops"]
    );
    assert_eq!(report.counts(), counts(1, 1, 1));
    let failed_token = first.token_of("AddUserToGroup alice/ops");

    let second = Fake::default();
    let (report, told) = apply(&world, &changes, &second, &mut dirs, false);
    assert_eq!(
        second.seen(),
        ["AddUserToGroup alice/ops", "UploadApiKey bob/key-2"],
        "the update done by the first apply is not sent again"
    );
    assert_eq!(
        statuses(&report),
        [
            (1, StepStatus::DoneEarlier),
            (2, StepStatus::Done),
            (3, StepStatus::Done),
        ]
    );
    assert_eq!(told, [1, 2, 3]);
    assert!(report.succeeded());
    // DoneEarlier is not counted as done by this apply.
    assert_eq!(report.counts(), counts(2, 0, 1));
    // A write whose failure was recorded is a new write: it gets a new retry token.
    assert_ne!(second.token_of("AddUserToGroup alice/ops"), failed_token);
}

#[test]
fn a_write_with_an_intent_but_no_outcome_is_resent_with_the_same_retry_token() {
    let world = resume_world();
    let changes = resume_plan(&world);
    // A first apply that wrote every step...
    let first = Fake::default();
    let mut first_dirs = Dirs::new();
    let (report, _) = apply_with(&world, &changes, &first, &mut first_dirs, 1);
    assert!(report.succeeded());
    let sent = first.token_of("AddUserToGroup alice/ops");
    // ...but was killed after step 2's intent: its journal ends there.
    let mut dirs = Dirs::new();
    for record in first_dirs.journal.records().iter().take(3) {
        dirs.journal.append(record.clone()).expect("journal append");
    }
    assert!(matches!(
        dirs.journal.records().last(),
        Some(Record::Intent { seq: 2, .. })
    ));

    let second = Fake::default();
    let (report, _) = apply(&world, &changes, &second, &mut dirs, false);
    assert_eq!(
        second.seen(),
        ["AddUserToGroup alice/ops", "UploadApiKey bob/key-2"]
    );
    assert_eq!(
        second.token_of("AddUserToGroup alice/ops"),
        sent,
        "re-sent with the recorded token, so the service replays the first answer"
    );
    assert_eq!(
        statuses(&report),
        [
            (1, StepStatus::DoneEarlier),
            (2, StepStatus::Done),
            (3, StepStatus::Done),
        ]
    );
}

/// carol leaves ops and is deleted, group old is deleted, and dave's key 2 is deleted: one step
/// of each delete kind.
fn deletes_world() -> World {
    let mut world = World::new()
        .user("carol")
        .user("dave")
        .key("dave", 1)
        .key("dave", 2)
        .group("ops")
        .group("old")
        .member("carol", "ops")
        .want("carol", |u| u.present = false)
        .want("dave", |u| u.api_keys = keys(&[1]));
    world.desired.groups.insert(
        "old".into(),
        DesiredGroup {
            present: false,
            description: None,
            location: loc(),
        },
    );
    world
}

/// A journal of a run of `changes` killed after step `killed` reached the service: outcomes
/// for the steps before it, then its intent.
fn killed_after(world: &World, changes: &[Change], killed: u32) -> Dirs {
    let first = Fake::default();
    let mut first_dirs = Dirs::new();
    let (report, _) = apply(world, changes, &first, &mut first_dirs, false);
    assert!(report.succeeded());
    let mut dirs = Dirs::new();
    for record in first_dirs.journal.records() {
        let seq = match record {
            Record::Intent { seq, .. } | Record::Outcome { seq, .. } => *seq,
        };
        let last = matches!(record, Record::Outcome { seq, .. } if *seq == killed);
        if seq <= killed && !last {
            dirs.journal.append(record.clone()).expect("journal append");
        }
    }
    dirs
}

#[test]
fn a_resent_delete_answered_404_is_done_when_a_read_confirms_the_object_is_gone() {
    let world = deletes_world();
    let changes = world.plan();
    let key2 = fp(2);
    assert_eq!(
        steps(&changes),
        [
            "1 remove_from_group membership.ops/carol".to_owned(),
            format!("2 delete_api_key api_key.dave/{key2}"),
            "3 delete_user user.carol".to_owned(),
            "4 delete_group group.old".to_owned(),
        ]
    );
    // Each delete kind, killed after its request reached the service: the re-sent delete
    // answers 404, the confirming read finds nothing, the step is done, later steps run.
    let gone: [(&str, &str); 4] = [
        (
            "RemoveUserFromGroup carol.ops",
            "ListUserGroupMemberships carol/ops",
        ),
        ("DeleteApiKey dave/", "ListApiKeys dave"),
        ("DeleteUser carol", "GetUser carol"),
        ("DeleteGroup old", "GetGroup old"),
    ];
    for (killed, (delete, read)) in (1..).zip(gone) {
        let delete = if delete.ends_with('/') {
            format!("{delete}{}", key2.as_str())
        } else {
            delete.to_owned()
        };
        let mut dirs = killed_after(&world, &changes, killed);
        // The confirming read answers 404, except ListApiKeys, which lists dave's keys
        // without key 2.
        let second = Fake::failing(&[
            (delete.as_str(), 404, "NotAuthorizedOrNotFound"),
            (read, 404, "NotAuthorizedOrNotFound"),
        ]);
        let mut second = second;
        if read.starts_with("ListApiKeys") {
            second.failures.remove(read);
            let mut after = world.snapshot.clone();
            for keys in after.api_keys.values_mut() {
                keys.retain(|k| k.fingerprint != key2.as_str());
            }
            second.snapshot.replace(Some(after));
        }
        let (report, _) = apply(&world, &changes, &second, &mut dirs, false);
        assert!(
            report.succeeded(),
            "killed after step {killed}: {:?}",
            statuses(&report)
        );
        // The re-sent delete, then the read that confirms it; then each later step once.
        let all = second.seen_all();
        let at = all
            .iter()
            .position(|c| *c == delete)
            .expect("the delete is re-sent");
        assert_eq!(all[at + 1], read, "killed after step {killed}: {all:?}");
        let writes = second.seen();
        assert_eq!(writes[0], delete, "killed after step {killed}: {writes:?}");
        assert_eq!(
            writes.len(),
            1 + changes.len() - usize::try_from(killed).unwrap(),
            "the later steps are written once each: {writes:?}"
        );
    }
}

#[test]
fn a_404_to_a_delete_nobody_sent_before_or_to_a_live_object_stays_a_failure() {
    let world = deletes_world();
    let changes = world.plan();
    let reads = |fake: &Fake| {
        fake.seen_all()
            .iter()
            .filter(|c| *c == "GetUser carol")
            .count()
    };
    // Never attempted before: a 404 means someone else moved it (or the actor may not see
    // it), so the step fails and names the request.
    let fake = Fake::failing(&[("DeleteUser carol", 404, "NotAuthorizedOrNotFound")]);
    let mut dirs = Dirs::new();
    let (report, _) = apply(&world, &changes, &fake, &mut dirs, false);
    assert!(failed_with(
        &report.steps[2].status,
        "NotAuthorizedOrNotFound"
    ));
    assert_eq!(reads(&fake), 1, "only the if-match read before the delete");

    // Interrupted, but the read still finds the user live: the 404 stands.
    let mut dirs = killed_after(&world, &changes, 3);
    let fake = Fake::failing(&[("DeleteUser carol", 404, "NotAuthorizedOrNotFound")]);
    let (report, _) = apply(&world, &changes, &fake, &mut dirs, false);
    assert!(
        failed_with(&report.steps[2].status, "NotAuthorizedOrNotFound"),
        "{:?}",
        statuses(&report)
    );
    assert_eq!(
        reads(&fake),
        1,
        "no if-match read (the interrupted run may have moved it), one confirming read"
    );
}

/// One step of each create kind, none depending on another's new OCID: group ops, user dave,
/// erin into team, erin's key 1.
fn creates_world() -> World {
    World::new()
        .user("erin")
        .group("team")
        .want_group("ops")
        .want("dave", |_| {})
        .want("erin", |u| {
            u.groups = groups(&["team"]);
            u.api_keys = keys(&[1]);
        })
}

fn owned() -> BTreeMap<String, String> {
    BTreeMap::from([(OWNERSHIP_TAG.to_owned(), "true".to_owned())])
}

#[test]
fn a_resent_create_answered_409_is_done_when_the_live_object_is_what_was_asked() {
    let world = creates_world();
    let changes = world.plan();
    let mut order = steps(&changes);
    order.sort();
    assert_eq!(
        order,
        [
            "1 create_group group.ops",
            "2 create_user user.dave",
            "3 add_to_group membership.team/erin",
            "4 upload_api_key api_key.erin/00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:01",
        ]
    );
    let conflicts = [
        ("CreateGroup ops", "ListGroups "),
        ("CreateUser dave", "ListUsers "),
        (
            "AddUserToGroup erin/team",
            "ListUserGroupMemberships erin/team",
        ),
        ("UploadApiKey erin/key-1", "ListApiKeys erin"),
    ];
    for (killed, (create, read)) in (1..).zip(conflicts) {
        let mut dirs = killed_after(&world, &changes, killed);
        // The interrupted attempt created the object; the re-sent create answers 409.
        let mut second = Fake::failing(&[(create, 409, "Conflict")]);
        second.listed_groups = vec![wire_group_tagged(
            "ocid1.group.oc1..listed-ops",
            "ops",
            &owned(),
        )];
        second.listed_users = vec![wire_user("ocid1.user.oc1..listed-dave", "DAVE", &owned())];
        // What the interrupted step left: the membership, or the key.
        second.member_listed = killed == 3;
        if killed == 4 {
            second.listed_keys = vec![
                serde_json::from_value(json!({"fingerprint": fp(1).as_str(),
                "userId": "ocid1.user.oc1..erin", "lifecycleState": "ACTIVE"}))
                .expect("api key JSON"),
            ];
        }
        let (report, _) = apply(&world, &changes, &second, &mut dirs, false);
        assert!(
            report.succeeded(),
            "killed after step {killed}: {:?} {:?}",
            statuses(&report),
            second.seen()
        );
        // The re-sent create, then the read that finds what it made; then each later step
        // once.
        let all = second.seen_all();
        let at = all
            .iter()
            .position(|c| c == create)
            .expect("the create is re-sent");
        assert_eq!(all[at + 1], read, "killed after step {killed}: {all:?}");
        let writes = second.seen();
        assert_eq!(writes[0], create, "killed after step {killed}: {writes:?}");
        assert_eq!(
            writes.len(),
            1 + changes.len() - usize::try_from(killed).unwrap(),
            "the later steps are written once each: {writes:?}"
        );
    }
}

#[test]
fn a_409_to_a_create_is_a_failure_unless_interrupted_and_the_object_matches() {
    let world = creates_world();
    let changes = world.plan();
    // Not interrupted: someone else made dave; the 409 stands, and nothing is read.
    let fake = Fake::failing(&[("CreateUser dave", 409, "Conflict")]);
    let mut dirs = Dirs::new();
    let (report, _) = apply(&world, &changes, &fake, &mut dirs, true);
    assert!(
        failed_with(&report.steps[1].status, "Conflict"),
        "{:?}",
        statuses(&report)
    );
    assert!(!fake.seen_all().contains(&"ListUsers ".to_owned()));

    // Interrupted, but the live dave is not the one asked for (no ownership tag): the 409
    // stands.
    let mut dirs = killed_after(&world, &changes, 2);
    let mut fake = Fake::failing(&[("CreateUser dave", 409, "Conflict")]);
    fake.listed_users = vec![wire_user(
        "ocid1.user.oc1..other-dave",
        "dave",
        &BTreeMap::new(),
    )];
    let (report, _) = apply(&world, &changes, &fake, &mut dirs, true);
    assert!(
        failed_with(&report.steps[1].status, "Conflict"),
        "{:?}",
        statuses(&report)
    );
    assert!(fake.seen_all().contains(&"ListUsers ".to_owned()));
}

// ---------------------------------------------------------------------------------------------
// The re-check before each write
// ---------------------------------------------------------------------------------------------

#[test]
fn a_step_the_recheck_refuses_fails_before_anything_is_sent() {
    // Planned while bob held two keys: one upload, no deletion.
    let planned = World::new()
        .user("bob")
        .key("bob", 1)
        .key("bob", 2)
        .want("bob", |u| u.api_keys = keys(&[1, 2, 4]));
    let changes = planned.plan();
    assert_eq!(
        steps(&changes),
        [format!("1 upload_api_key api_key.bob/{}", fp(4))]
    );
    // By apply time someone uploaded a third key: the upload would be a fourth.
    let now = World {
        snapshot: planned.clone().key("bob", 3).snapshot,
        desired: planned.desired.clone(),
    };
    let fake = Fake::default();
    let mut dirs = Dirs::new();
    let (report, told) = apply(&now, &changes, &fake, &mut dirs, false);

    assert!(fake.seen().is_empty(), "sent: {:?}", fake.seen());
    let got = statuses(&report);
    assert!(
        failed_with(&got[0].1, "refused before writing: max-api-keys"),
        "{got:?}"
    );
    assert_eq!(told, [1]);
    assert!(
        dirs.journal.records().is_empty(),
        "no intent is journaled for a step that is not written"
    );
}

// ---------------------------------------------------------------------------------------------
// Password resets
// ---------------------------------------------------------------------------------------------

#[test]
fn a_reset_password_goes_to_a_new_file_then_the_reset_tag_is_written() {
    let world = World::new()
        .user_with(
            "alice",
            json!({"freeformTags": {OWNERSHIP_TAG: "true", "team": "a"}}),
        )
        .want("alice", |u| u.console_password = reset(1));
    let changes = world.plan();
    assert_eq!(steps(&changes), ["1 reset_console_password password.alice"]);
    let fake = Fake::default();
    let mut dirs = Dirs::new();
    let revealed = Rc::new(RefCell::new(Vec::new()));
    let shown = Rc::clone(&revealed);
    let reveal = move |user: &UserName, password: &SecretString| {
        shown
            .borrow_mut()
            .push((user.to_string(), password.expose_secret().to_owned()));
    };
    let (report, _) = apply_revealing(&world, &changes, &fake, &mut dirs, false, Some(&reveal));

    assert_eq!(
        fake.seen(),
        ["CreateOrResetUIPassword alice", "UpdateUser alice"],
        "the reset tag is written after the reset"
    );
    assert_eq!(
        fake.tags_of("UpdateUser alice"),
        BTreeMap::from([
            (OWNERSHIP_TAG.to_owned(), "true".to_owned()),
            (RESET_TAG.to_owned(), "1".to_owned()),
            ("team".to_owned(), "a".to_owned()),
        ]),
        "the user's other tags are kept"
    );
    assert_eq!(statuses(&report), [(1, StepStatus::Done)]);
    let file = dirs.secrets().join("alice.reset-1.txt");
    assert_eq!(
        report.steps[0].delivered,
        Some(Delivered {
            path: file.clone(),
            sealed: false,
        })
    );
    assert_eq!(report.steps[0].emailed_to, None);
    assert_eq!(
        std::fs::read_to_string(&file).expect("password file"),
        format!("{PASSWORD}\n")
    );
    let mode = std::fs::metadata(&file)
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        *revealed.borrow(),
        [("alice".to_owned(), PASSWORD.to_owned())]
    );
    // The password is in the file and shown to `reveal`, nowhere else.
    assert!(!format!("{report:?}").contains(PASSWORD));
    let journal = std::fs::read_to_string(dirs.journal.path()).expect("journal");
    assert!(!journal.contains(PASSWORD));
}

#[test]
fn a_reset_whose_password_cannot_be_delivered_is_not_sent() {
    let world = World::new()
        .user("alice")
        .want("alice", |u| u.console_password = reset(1));
    let changes = world.plan();
    let fake = Fake::default();
    let mut dirs = Dirs::new();
    // A file of an earlier delivery already has the name: ociam never overwrites it.
    std::fs::create_dir(dirs.secrets()).expect("secrets dir");
    std::fs::set_permissions(dirs.secrets(), std::fs::Permissions::from_mode(0o700))
        .expect("chmod");
    std::fs::write(dirs.secrets().join("alice.reset-1.txt"), "earlier\n").expect("write");
    let (report, _) = apply(&world, &changes, &fake, &mut dirs, false);

    assert!(fake.seen().is_empty(), "sent: {:?}", fake.seen());
    let got = statuses(&report);
    assert!(
        failed_with(&got[0].1, "not reset, the password could not be delivered"),
        "{got:?}"
    );
    assert_eq!(report.steps[0].delivered, None);
}

#[test]
fn an_identity_domain_reset_records_the_emailed_address_and_writes_no_file() {
    let world = World::new()
        .identity_domains()
        .user_with("alice", json!({"email": "alice@example.com"}))
        .want("alice", |u| u.console_password = reset(2));
    let changes = world.plan();
    assert_eq!(
        changes[0]
            .after
            .as_ref()
            .and_then(|a| a.reset_link_to.clone()),
        Some("alice@example.com".to_owned())
    );
    let fake = Fake {
        identity_domains: true,
        ..Fake::default()
    };
    let mut dirs = Dirs::new();
    let (report, _) = apply(&world, &changes, &fake, &mut dirs, false);

    assert_eq!(
        fake.seen(),
        ["CreateOrResetUIPassword alice", "UpdateUser alice"]
    );
    assert_eq!(
        fake.tags_of("UpdateUser alice")
            .get(RESET_TAG)
            .map(String::as_str),
        Some("2")
    );
    assert_eq!(statuses(&report), [(1, StepStatus::Done)]);
    assert_eq!(
        report.steps[0].emailed_to.as_deref(),
        Some("alice@example.com")
    );
    assert_eq!(report.steps[0].delivered, None);
    assert!(!dir_has_files(&dirs.secrets()), "nothing is written");
}

fn dir_has_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some())
}

#[test]
fn the_plan_id_ignores_manifest_lines_and_nothing_else() {
    let mut update = Change::new(Action::UpdateUser, "describe kate");
    update.user = Some("kate".into());
    let id = plan_id(std::slice::from_ref(&update));
    let mut moved = update.clone();
    moved.source = Some(loc());
    assert_eq!(
        plan_id(&[moved.clone()]),
        id,
        "a comment added above the entry is the same plan"
    );
    moved.reason = "describe kate again".into();
    assert_ne!(plan_id(&[moved]), id);
}
