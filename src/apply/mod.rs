//! The apply executor: runs `plan.changes` through the Identity client as a dependency graph
//! ([`Graph`]: one user's steps in plan order, a group's create before memberships into it and
//! its deletion after them, steps that touch the actor's authority as barriers), up to
//! `--parallelism` steps at once, after checking every step's rules in plan order against the
//! state it has just read. It journals each write (see [`crate::journal`]), reports in plan
//! order, and stops starting steps at the first failure unless told to keep going (then it
//! skips exactly the steps that depend on a failed one).
//!
//! Users and groups it creates get the ownership tag; a password reset checks first that the
//! password can be delivered ([`deliver::preflight`]), resets, delivers it
//! ([`deliver::deliver`]: sealed with age or a 0600 file, synced) and only then updates the
//! reset tag. In a tenancy with identity domains (the step carries `reset_link_to`) OCI emails
//! the user a reset link instead: nothing is delivered or written, and the report names the
//! address.
//!
//! Every write is checked at write time: before its first write to a user or group the executor
//! reads it back, refuses the step if it moved since the plan, and sends the read's ETag (later,
//! its own last write's) as `if-match`; keys and memberships, which have no ETag, are re-read
//! before each write. A step an interrupted run may have written is re-sent idempotently: a
//! delete answering 404, or a create answering 409, is done when a read confirms the object is
//! gone, or is exactly what was asked.
//!
//! The executor writes through [`Writes`] (implemented by the Identity client), so its decisions
//! are tested against a fake backend.
//!
//! Shell: network and the secrets directory. It never prints, logs or returns a one-time
//! password (only [`Target::reveal`], which the caller owns, sees it); the report names the
//! file it went to and whether it is sealed.

pub mod report;
mod writes;

#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use secrecy::SecretString;
use sha2::{Digest as _, Sha256};

use crate::deliver;
use crate::journal::{Journal, RETRY_TOKEN_TTL_SECONDS, Record};
use crate::model::Fingerprint;
use crate::model::{
    Desired, GroupName, Membership, OWNERSHIP_TAG, Ocid, RESET_TAG, State, UserName,
};
use crate::oci::client::{ClientError, IdentityClient, MembershipFilter, Response, RetryToken};
use crate::oci::wire;
use crate::plan::graph::Graph;
use crate::plan::{Action, ActorSpec, Change, StepChecker, precondition};
use crate::rules::Severity;
use crate::snapshot::{self, Snapshot};

pub use report::{ApplyReport, Counts, ReportDocument, StepReport, StepStatus};
pub use writes::Writes;

/// The OCIDs and tags the executor needs, from the live snapshot and from its own creates.
#[derive(Clone, Debug, Default)]
struct Ids {
    tenancy: Ocid,
    users: BTreeMap<UserName, Ocid>,
    user_tags: BTreeMap<UserName, BTreeMap<String, String>>,
    groups: BTreeMap<GroupName, Ocid>,
    memberships: BTreeMap<Membership, Ocid>,
    /// The ETag of each user this apply has checked (re-read) or written, for `if-match`.
    user_etags: BTreeMap<UserName, Option<String>>,
    /// Users whose ETag above this apply's own key, membership or password write may have
    /// changed (OCI does not document whether those writes change the user's ETag).
    stale_etags: BTreeSet<UserName>,
    /// The same for groups.
    group_etags: BTreeMap<GroupName, Option<String>>,
    /// Each user's live key fingerprints as this apply last saw or made them.
    keys: BTreeMap<UserName, BTreeSet<Fingerprint>>,
}

impl Ids {
    fn from_snapshot(snapshot: &Snapshot) -> Self {
        let mut ids = Self {
            tenancy: Ocid::new(&snapshot.tenancy),
            ..Self::default()
        };
        let live = |s: &Option<String>| wire::is_live(s.as_deref());
        let mut user_by_id = BTreeMap::new();
        for u in snapshot.users.iter().filter(|u| live(&u.lifecycle_state)) {
            ids.users.insert(UserName::new(&u.name), Ocid::new(&u.id));
            ids.user_tags
                .insert(UserName::new(&u.name), u.freeform_tags.clone());
            user_by_id.insert(u.id.as_str(), UserName::new(&u.name));
        }
        let mut group_by_id = BTreeMap::new();
        for g in snapshot.groups.iter().filter(|g| live(&g.lifecycle_state)) {
            ids.groups.insert(GroupName::new(&g.name), Ocid::new(&g.id));
            group_by_id.insert(g.id.as_str(), GroupName::new(&g.name));
        }
        for m in snapshot
            .memberships
            .iter()
            .filter(|m| live(&m.lifecycle_state))
        {
            if let (Some(user), Some(group)) = (
                user_by_id.get(m.user_id.as_str()),
                group_by_id.get(m.group_id.as_str()),
            ) {
                ids.memberships.insert(
                    Membership {
                        user: user.clone(),
                        group: group.clone(),
                    },
                    Ocid::new(&m.id),
                );
            }
        }
        ids
    }

    fn user(&self, change: &Change) -> Result<(UserName, Ocid), String> {
        let name = change.user.clone().ok_or("the step names no user")?;
        let id = self
            .users
            .get(&name)
            .cloned()
            .ok_or_else(|| format!("user {name} does not exist"))?;
        Ok((name, id))
    }

    /// An earlier run of this plan did `change`: the objects it wrote are as this apply read
    /// them at its start (`live`), not as the plan saw them, so later steps compare with that.
    fn done_earlier(&mut self, change: &Change, live: &State) {
        let Some(name) = change.user.clone() else {
            return;
        };
        match change.action {
            Action::UploadApiKey | Action::DeleteApiKey => {
                self.keys.entry(name.clone()).or_insert_with(|| {
                    live.api_keys
                        .get(&name)
                        .map(|k| k.keys().cloned().collect())
                        .unwrap_or_default()
                });
            }
            Action::CreateUser
            | Action::UpdateUser
            | Action::UpdateCapabilities
            | Action::ResetConsolePassword => {
                self.user_etags.entry(name.clone()).or_insert(None);
                self.stale_etags.insert(name);
            }
            _ => {}
        }
    }

    fn group(&self, change: &Change) -> Result<(GroupName, Ocid), String> {
        let name = change.group.clone().ok_or("the step names no group")?;
        let id = self
            .groups
            .get(&name)
            .cloned()
            .ok_or_else(|| format!("group {name} does not exist"))?;
        Ok((name, id))
    }
}

/// Where one-time passwords go.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// A directory (created 0700 if missing) for one new 0600 file per reset.
    pub secrets_dir: PathBuf,
}

/// What an apply runs against: `W` is what it writes through, the Identity client outside
/// tests.
pub struct Target<'a, W = IdentityClient> {
    /// The Identity client (the actor's credentials).
    pub client: &'a W,
    /// The live snapshot the plan was made against (OCIDs and tags come from it).
    pub snapshot: &'a Snapshot,
    /// The same, as the planner's state.
    pub live: &'a State,
    /// The manifest's desired state (for the per-step re-checks); `None` for a saved plan.
    pub desired: Option<&'a Desired>,
    /// Who runs the plan.
    pub actor: &'a ActorSpec,
    /// Where one-time passwords go.
    pub delivery: &'a Delivery,
    /// Shown each one-time password once, after its file is written (`apply
    /// --reveal-passwords`); `None` never shows them.
    pub reveal: Option<&'a Reveal>,
}

/// Shows a user's one-time password on the terminal (see [`Target::reveal`]).
pub type Reveal = dyn Fn(&UserName, &SecretString);

/// How an apply runs: its journal and failure policy.
pub struct Run<'a> {
    /// The journal (intents before writes, outcomes after).
    pub journal: &'a mut Journal,
    /// The plan's id ([`plan_id`]).
    pub plan_id: String,
    /// Continue with the steps that do not depend on a failed one.
    pub keep_going: bool,
    /// At most this many steps in flight at once (the client's limiter also bounds its
    /// requests).
    pub parallelism: usize,
    /// Unix seconds (for the journal and retry-token expiry).
    pub clock: &'a dyn Fn() -> i64,
}

/// The id of a plan: `sha256:` of its changes, so the same saved plan has the same id. The
/// changes' `source` lines are left out: moving an entry or adding a comment to the manifest
/// does not make the same steps another plan (a resumed apply still finds its journal).
#[must_use]
pub fn plan_id(changes: &[Change]) -> String {
    let unsourced: Vec<Change> = changes
        .iter()
        .map(|c| Change {
            source: None,
            ..c.clone()
        })
        .collect();
    let json = serde_json::to_vec(&unsourced).unwrap_or_default();
    format!("sha256:{}", crate::hex::lower(&Sha256::digest(&json)))
}

/// `sha256:` of what a step sends (never the content itself: it may be a public key, but the
/// journal stays free of payloads).
fn request_digest(change: &Change) -> String {
    let json = serde_json::to_vec(&(
        change.action,
        change.subject(),
        &change.after,
        &change.public_key,
    ))
    .unwrap_or_default();
    format!("sha256:{}", crate::hex::lower(&Sha256::digest(&json)))
}

/// What the concurrent steps share: the OCIDs, ETags and keys the executor has seen or made,
/// and the journal. Each is borrowed only between awaits, never across one; the dependency
/// graph keeps two steps from touching the same user or group at once.
struct Shared<'j> {
    ids: RefCell<Ids>,
    journal: RefCell<&'j mut Journal>,
}

/// Which steps may start: how many of each step's dependencies are still unsettled, and
/// which depend on a step that did not succeed.
struct Schedule<'g> {
    graph: &'g Graph,
    waiting: Vec<usize>,
    doomed: Vec<bool>,
    ready: BTreeSet<usize>,
    settled: Vec<bool>,
}

impl<'g> Schedule<'g> {
    fn new(graph: &'g Graph) -> Self {
        let waiting: Vec<usize> = (0..graph.len())
            .map(|i| graph.dependencies(i).len())
            .collect();
        Self {
            ready: (0..graph.len()).filter(|&i| waiting[i] == 0).collect(),
            doomed: vec![false; graph.len()],
            settled: vec![false; graph.len()],
            waiting,
            graph,
        }
    }

    /// Records that step `i` is over; `ok`: it succeeded (now or earlier), so the steps
    /// waiting for it may run. Otherwise they, and the steps waiting for them, are skipped.
    fn settle(&mut self, i: usize, ok: bool) {
        self.settled[i] = true;
        for &d in self.graph.dependents(i) {
            self.waiting[d] -= 1;
            self.doomed[d] |= !ok;
            if self.waiting[d] == 0 {
                self.ready.insert(d);
            }
        }
    }
}

/// Each step's refusal by the per-step rules, if any: the steps checked in plan order as the
/// actor, against the live state just read, each step's effect applied before the next.
/// Steps the graph lets run at once touch different objects and leave the actor's authority
/// alone, so checking in plan order decides each as it will run.
fn refusals<W>(target: &Target<'_, W>, changes: &[Change]) -> Vec<Option<String>> {
    let mut checker = StepChecker::new(target.desired, target.live.clone(), target.actor);
    changes
        .iter()
        .enumerate()
        .map(|(i, change)| {
            let errors: Vec<String> = checker
                .check_then_advance(&mut change.clone(), &changes[i + 1..])
                .into_iter()
                .filter(|d| d.severity == Severity::Error)
                .map(|d| format!("{}: {}", d.rule, d.message))
                .collect();
            (!errors.is_empty()).then(|| format!("refused before writing: {}", errors.join("; ")))
        })
        .collect()
}

/// Applies `changes`, starting from the live state they were planned against, running up to
/// `run.parallelism` steps at once in an order the dependency graph ([`Graph`]) allows:
/// a step starts when every step it depends on is done, the lowest `seq` first. Steps the
/// journal records as done for this plan are not written again; a write that an earlier run
/// may have sent is re-sent with its recorded retry token. After the first failure no new
/// step starts (those in flight finish) unless `run.keep_going`, which skips exactly the steps
/// that depend on a failed one, directly or through others. `on_step` is told about each step
/// as it ends (in the order they end; steps never started last, in plan order); the report
/// lists them in plan order.
pub async fn execute<W: Writes>(
    target: &Target<'_, W>,
    changes: &[Change],
    run: &mut Run<'_>,
    on_step: &mut dyn FnMut(&StepReport),
) -> ApplyReport {
    let graph = Graph::of(changes, target.live, &target.actor.user);
    let refused = refusals(target, changes);
    let done = run.journal.done(&run.plan_id);
    let shared = Shared {
        ids: RefCell::new(Ids::from_snapshot(target.snapshot)),
        journal: RefCell::new(&mut *run.journal),
    };
    let context = Context {
        plan_id: &run.plan_id,
        clock: run.clock,
    };
    let mut steps: Vec<StepReport> = changes.iter().map(StepReport::not_started).collect();
    let mut schedule = Schedule::new(&graph);
    let mut running = FuturesUnordered::new();
    let mut stopped = false;
    let cap = run.parallelism.max(1);
    loop {
        while !stopped && running.len() < cap {
            let Some(i) = schedule.ready.pop_first() else {
                break;
            };
            let mut step = StepReport::not_started(&changes[i]);
            if done.contains_key(&changes[i].seq) {
                shared
                    .ids
                    .borrow_mut()
                    .done_earlier(&changes[i], target.live);
                step.status = StepStatus::DoneEarlier;
            } else if schedule.doomed[i] {
                // Skipped: a step it depends on failed (only reached with keep_going).
            } else if let Some(refusal) = &refused[i] {
                step.status = StepStatus::Failed(refusal.clone());
            } else {
                running.push(run_step(target, &shared, &context, i, &changes[i]));
                continue;
            }
            let ok = step.status == StepStatus::DoneEarlier;
            stopped |= matches!(step.status, StepStatus::Failed(_)) && !run.keep_going;
            schedule.settle(i, ok);
            on_step(&step);
            steps[i] = step;
        }
        let Some((i, step)) = running.next().await else {
            break;
        };
        let ok = step.status == StepStatus::Done;
        stopped |= !ok && !run.keep_going;
        schedule.settle(i, ok);
        on_step(&step);
        steps[i] = step;
    }
    for (i, step) in steps.iter().enumerate() {
        if !schedule.settled[i] {
            on_step(step);
        }
    }
    ApplyReport { steps }
}

/// What every step needs to journal itself.
struct Context<'a> {
    plan_id: &'a str,
    clock: &'a dyn Fn() -> i64,
}

/// Runs step `i`: journals the intent, writes, journals the outcome.
async fn run_step<W: Writes>(
    target: &Target<'_, W>,
    shared: &Shared<'_>,
    context: &Context<'_>,
    i: usize,
    change: &Change,
) -> (usize, StepReport) {
    let mut step = StepReport::not_started(change);
    step.status = write_step(target, shared, context, change, &mut step).await;
    (i, step)
}

/// Journals the intent, writes the step, journals the outcome.
async fn write_step<W: Writes>(
    target: &Target<'_, W>,
    shared: &Shared<'_>,
    context: &Context<'_>,
    change: &Change,
    step: &mut StepReport,
) -> StepStatus {
    let now = (context.clock)();
    let request = request_digest(change);
    let earlier =
        shared
            .journal
            .borrow()
            .unfinished(change.action.as_str(), &step.subject, &request);
    let reusable = earlier
        .as_ref()
        .filter(|(at, _)| now - at < RETRY_TOKEN_TTL_SECONDS)
        .map(|(_, token)| token.clone());
    let attempt = Attempt {
        resumed: reusable.is_some(),
        interrupted: earlier.is_some(),
    };
    let token = match reusable.map_or_else(RetryToken::generate, RetryToken::new) {
        Ok(token) => token,
        Err(e) => return StepStatus::Failed(e.to_string()),
    };
    let intent = Record::Intent {
        at: now,
        plan: context.plan_id.to_owned(),
        seq: change.seq,
        action: change.action.as_str().to_owned(),
        subject: step.subject.clone(),
        request,
        retry_token: token.as_str().to_owned(),
    };
    if let Err(e) = shared.journal.borrow_mut().append(intent) {
        return StepStatus::Failed(format!("not written: {e}"));
    }
    let result = run_change(target, &shared.ids, change, &token, attempt, step).await;
    let (status, detail) = match &result {
        Ok(()) => ("done", None),
        Err(e) => ("failed", Some(e.clone())),
    };
    let outcome = Record::Outcome {
        at: (context.clock)(),
        plan: context.plan_id.to_owned(),
        seq: change.seq,
        subject: step.subject.clone(),
        status: status.to_owned(),
        detail,
    };
    if let Err(e) = shared.journal.borrow_mut().append(outcome) {
        return StepStatus::Failed(format!("written, but the journal could not record it: {e}"));
    }
    match result {
        Ok(()) => StepStatus::Done,
        Err(e) => StepStatus::Failed(e),
    }
}

fn api(e: ClientError) -> String {
    e.to_string()
}

/// What the journal says about this write before it is sent.
#[derive(Clone, Copy, Debug)]
struct Attempt {
    /// An earlier attempt may have reached the service and its retry token is still honoured:
    /// it is re-sent with that token, so the service replays its first answer.
    resumed: bool,
    /// An earlier attempt may have reached the service (its intent has no outcome), however
    /// long ago.
    interrupted: bool,
}

/// A write's failure: `NoEtagMatch` (409 from Identity, 412 in OCI's generic docs) means the
/// object changed between this apply's read and its write.
fn write_error(subject: &str, e: ClientError) -> String {
    if e.code() == Some("NoEtagMatch") {
        format!(
            "moved since the plan: {subject} changed while this apply ran ({e}); nothing else was rolled back: run `ociam plan` again and review"
        )
    } else {
        api(e)
    }
}

/// The refusal of a step whose object is not as the plan expects at write time.
fn moved(subject: &str, how: &str) -> String {
    format!(
        "moved since the plan: {subject} {how}; nothing was written for this step: run `ociam plan` again and review"
    )
}

/// The failure of the read-back before an object's first write: 404 means it was deleted.
fn read_back_failed(subject: &str, e: ClientError) -> String {
    if e.is_not_found() {
        moved(subject, "was deleted")
    } else {
        api(e)
    }
}

/// Refuses the step when the object read back (its digest `now`) is not as the step's
/// precondition recorded it; `fields` names what the digest covers.
fn as_planned(
    change: &Change,
    now: Option<String>,
    subject: &str,
    fields: &str,
) -> Result<(), String> {
    let expected = change.precondition.as_ref().and_then(|p| p.digest.as_ref());
    if expected.is_some() && now.as_ref() != expected {
        return Err(moved(subject, &format!("changed ({fields})")));
    }
    Ok(())
}

/// The `if-match` for a write to user `name`: the ETag of this apply's own last read or write
/// of it. Before its first write, the user is read back and must still be as the plan saw it
/// (the step's precondition digest). A step an interrupted run may already have written is
/// re-sent without `if-match` and without the comparison: that run may have moved the object.
async fn user_if_match<W: Writes>(
    client: &W,
    ids: &RefCell<Ids>,
    change: &Change,
    attempt: Attempt,
) -> Result<Option<String>, String> {
    let (name, id) = ids.borrow().user(change)?;
    let known = {
        let mut ids = ids.borrow_mut();
        let etag = ids.user_etags.get(&name).cloned();
        etag.map(|etag| (etag, ids.stale_etags.remove(&name)))
    };
    if let Some((etag, stale)) = known {
        if !stale {
            return Ok(etag);
        }
        // This apply wrote one of the user's keys, memberships or its password since it last
        // saw the user: read the ETag again, without comparing (this apply moved the user).
        let read = client.get_user(&id).await.map_err(api)?;
        let mut ids = ids.borrow_mut();
        ids.user_tags.insert(name.clone(), read.value.freeform_tags);
        ids.user_etags.insert(name, read.etag.clone());
        return Ok(read.etag);
    }
    if attempt.interrupted {
        return Ok(None);
    }
    let subject = format!("user.{name}");
    let read = client
        .get_user(&id)
        .await
        .map_err(|e| read_back_failed(&subject, e))?;
    as_planned(
        change,
        precondition::of_user(Some(&snapshot::user_of(&read.value))).digest,
        &subject,
        "description, email, capabilities or password-reset tag",
    )?;
    let mut ids = ids.borrow_mut();
    ids.user_tags.insert(name.clone(), read.value.freeform_tags);
    ids.user_etags.insert(name, read.etag.clone());
    Ok(read.etag)
}

/// [`user_if_match`] for group `name`.
async fn group_if_match<W: Writes>(
    client: &W,
    ids: &RefCell<Ids>,
    change: &Change,
    attempt: Attempt,
) -> Result<Option<String>, String> {
    let (name, id) = ids.borrow().group(change)?;
    if let Some(etag) = ids.borrow().group_etags.get(&name) {
        return Ok(etag.clone());
    }
    if attempt.interrupted {
        return Ok(None);
    }
    let subject = format!("group.{name}");
    let read = client
        .get_group(&id)
        .await
        .map_err(|e| read_back_failed(&subject, e))?;
    as_planned(
        change,
        precondition::of_group(Some(&snapshot::group_of(&read.value))).digest,
        &subject,
        "description",
    )?;
    ids.borrow_mut().group_etags.insert(name, read.etag.clone());
    Ok(read.etag)
}

/// Re-reads user `name`'s API keys right before a key write (OCI's keys have no ETag): they
/// must be the ones the plan saw, or this apply's own last result. Returns them.
async fn keys_as_expected<W: Writes>(
    client: &W,
    ids: &RefCell<Ids>,
    change: &Change,
    attempt: Attempt,
) -> Result<BTreeSet<Fingerprint>, String> {
    let (name, id) = ids.borrow().user(change)?;
    let live: BTreeSet<Fingerprint> = client
        .list_api_keys(&id)
        .await
        .map_err(api)?
        .iter()
        .filter(|k| wire::is_live(k.lifecycle_state.as_deref()))
        .filter_map(|k| Fingerprint::parse(&k.fingerprint))
        .collect();
    let seen = ids.borrow().keys.get(&name).cloned();
    let expected: Option<BTreeSet<Fingerprint>> = seen.or_else(|| {
        change
            .precondition
            .as_ref()
            .and_then(|p| p.keys.as_ref())
            .map(|k| k.iter().cloned().collect())
    });
    match expected {
        Some(expected) if !attempt.interrupted && expected != live => Err(moved(
            &format!("the API keys of user.{name}"),
            &format!(
                "changed ({} live now, {} when planned)",
                live.len(),
                expected.len()
            ),
        )),
        _ => Ok(live),
    }
}

/// Re-reads whether `user` is a member of `group` right before a membership write
/// (AddUserToGroup takes no ETag): it must be as the plan saw it.
async fn membership_as_expected<W: Writes>(
    client: &W,
    user_id: &Ocid,
    group_id: &Ocid,
    change: &Change,
    attempt: Attempt,
) -> Result<(), String> {
    let Some(expected) = change.precondition.as_ref().map(|p| p.exists) else {
        return Ok(());
    };
    let listed = client
        .list_user_group_memberships(MembershipFilter::UserAndGroup {
            user: user_id,
            group: group_id,
        })
        .await
        .map_err(api)?;
    let member = listed
        .iter()
        .any(|m| wire::is_live(m.lifecycle_state.as_deref()));
    if !attempt.interrupted && member != expected {
        let how = if member {
            "was added since the plan"
        } else {
            "was removed since the plan"
        };
        return Err(moved(&change.subject(), how));
    }
    Ok(())
}

/// Notes that this apply wrote one of `user`'s keys or memberships: the user's known ETag may
/// be stale.
fn touched(ids: &RefCell<Ids>, user: &UserName) {
    let mut ids = ids.borrow_mut();
    if ids.user_etags.contains_key(user) {
        ids.stale_etags.insert(user.clone());
    }
}

/// Whether an object carries the ownership tag ociam gives what it creates.
fn is_owned(tags: &BTreeMap<String, String>) -> bool {
    tags.get(OWNERSHIP_TAG).is_some_and(|v| v == "true")
}

/// What a create made. When it answered 409 (already exists) and an earlier, interrupted
/// attempt may have sent it (its retry token expired, or the service did not replay it), the
/// create is done when `read` finds the live object exactly as it was asked for (name,
/// description, email, ownership tag; the membership; the key's fingerprint), which it
/// returns. Otherwise the 409 stands as the step's failure.
async fn created_earlier<T>(
    sent: Result<Response<T>, ClientError>,
    attempt: Attempt,
    read: impl Future<Output = Result<Option<T>, ClientError>>,
) -> Result<T, String> {
    match sent {
        Ok(answer) => Ok(answer.value),
        Err(e) if attempt.interrupted && e.status() == Some(409) => match read.await {
            Ok(Some(found)) => Ok(found),
            _ => Err(api(e)),
        },
        Err(e) => Err(api(e)),
    }
}

/// Whether a delete that answered 404 is done: only when an earlier, interrupted attempt may
/// have sent it (deletes carry no retry token, so the service cannot replay them) and a read
/// confirms the object is gone. `read` is that read: `Ok(true)` when the object is still live.
/// Otherwise the 404 stands as the step's failure.
async fn deleted_earlier(
    sent: Result<Response<()>, ClientError>,
    attempt: Attempt,
    read: impl Future<Output = Result<bool, ClientError>>,
) -> Result<(), String> {
    match sent {
        Ok(_) => Ok(()),
        Err(e) if attempt.interrupted && e.is_not_found() => match read.await {
            Ok(false) => Ok(()),
            Err(gone) if gone.is_not_found() => Ok(()),
            _ => Err(api(e)),
        },
        Err(e) => Err(api(e)),
    }
}

fn owned_tags() -> BTreeMap<String, String> {
    BTreeMap::from([(OWNERSHIP_TAG.to_owned(), "true".to_owned())])
}

/// Writes the reset tag (`ociam-password-reset`) after a reset, keeping the user's other tags
/// (as read back before the reset), so the next plan knows this reset number was applied.
async fn record_reset<W: Writes>(
    client: &W,
    ids: &RefCell<Ids>,
    name: UserName,
    id: &Ocid,
    reset: u32,
) -> Result<(), String> {
    let mut tags = ids
        .borrow()
        .user_tags
        .get(&name)
        .cloned()
        .unwrap_or_default();
    tags.insert(RESET_TAG.to_owned(), reset.to_string());
    let details = wire::UpdateUserDetails {
        freeform_tags: Some(tags.clone()),
        ..wire::UpdateUserDetails::default()
    };
    // No if-match: whether a password reset changes the user's ETag is not documented, and
    // this write follows this apply's own reset of the user, checked just before it.
    let updated = client.update_user(id, &details, None).await.map_err(api)?;
    let mut ids = ids.borrow_mut();
    ids.stale_etags.remove(&name);
    ids.user_etags.insert(name.clone(), updated.etag);
    ids.user_tags.insert(name, tags);
    Ok(())
}

#[allow(clippy::too_many_lines)]
async fn run_change<W: Writes>(
    target: &Target<'_, W>,
    ids: &RefCell<Ids>,
    change: &Change,
    token: &RetryToken,
    attempt: Attempt,
    step: &mut StepReport,
) -> Result<(), String> {
    let client = target.client;
    let after = change.after.clone().unwrap_or_default();
    match change.action {
        Action::CreateGroup => {
            let name = change.group.clone().ok_or("the step names no group")?;
            let details = wire::CreateGroupDetails {
                compartment_id: ids.borrow().tenancy.to_string(),
                name: name.to_string(),
                description: after.description.unwrap_or_default(),
                freeform_tags: Some(owned_tags()),
                defined_tags: None,
            };
            let sent = client.create_group_with_token(&details, token).await;
            let asked_for = async {
                let groups = client.list_groups().await?;
                Ok(groups.into_iter().find(|g| {
                    GroupName::new(&g.name) == name
                        && wire::is_live(g.lifecycle_state.as_deref())
                        && g.description == details.description
                        && is_owned(&g.freeform_tags)
                }))
            };
            let created = created_earlier(sent, attempt, asked_for).await?;
            ids.borrow_mut().groups.insert(name, Ocid::new(created.id));
        }
        Action::CreateUser => {
            let name = change.user.clone().ok_or("the step names no user")?;
            let details = wire::CreateUserDetails {
                compartment_id: ids.borrow().tenancy.to_string(),
                name: name.to_string(),
                description: after.description.unwrap_or_default(),
                email: after.email,
                freeform_tags: Some(owned_tags()),
                defined_tags: None,
            };
            let sent = client.create_user_with_token(&details, token).await;
            let asked_for = async {
                let users = client.list_users().await?;
                Ok(users.into_iter().find(|u| {
                    UserName::new(&u.name) == name
                        && wire::is_live(u.lifecycle_state.as_deref())
                        && u.description == details.description
                        && u.email == details.email
                        && is_owned(&u.freeform_tags)
                }))
            };
            let created = created_earlier(sent, attempt, asked_for).await?;
            ids.borrow_mut()
                .users
                .insert(name.clone(), Ocid::new(created.id));
            ids.borrow_mut()
                .user_tags
                .insert(name, created.freeform_tags);
        }
        Action::UpdateUser => {
            let if_match = user_if_match(client, ids, change, attempt).await?;
            let (name, id) = ids.borrow().user(change)?;
            let details = wire::UpdateUserDetails {
                description: after.description,
                email: after.email,
                ..wire::UpdateUserDetails::default()
            };
            let updated = client
                .update_user(&id, &details, if_match.as_deref())
                .await
                .map_err(|e| write_error(&change.subject(), e))?;
            ids.borrow_mut().user_etags.insert(name, updated.etag);
        }
        Action::UpdateGroup => {
            let if_match = group_if_match(client, ids, change, attempt).await?;
            let (name, id) = ids.borrow().group(change)?;
            let details = wire::UpdateGroupDetails {
                description: after.description,
                ..wire::UpdateGroupDetails::default()
            };
            let updated = client
                .update_group(&id, &details, if_match.as_deref())
                .await
                .map_err(|e| write_error(&change.subject(), e))?;
            ids.borrow_mut().group_etags.insert(name, updated.etag);
        }
        Action::UpdateCapabilities => {
            let if_match = user_if_match(client, ids, change, attempt).await?;
            let (name, id) = ids.borrow().user(change)?;
            let details = wire::UpdateUserCapabilitiesDetails {
                can_use_api_keys: after.api_keys,
                can_use_console_password: after.console_password,
                ..wire::UpdateUserCapabilitiesDetails::default()
            };
            let updated = client
                .update_user_capabilities(&id, &details, if_match.as_deref())
                .await
                .map_err(|e| write_error(&change.subject(), e))?;
            ids.borrow_mut().user_etags.insert(name, updated.etag);
        }
        Action::AddToGroup => {
            let (user, user_id) = ids.borrow().user(change)?;
            let (group, group_id) = ids.borrow().group(change)?;
            membership_as_expected(client, &user_id, &group_id, change, attempt).await?;
            let details = wire::AddUserToGroupDetails {
                user_id: user_id.to_string(),
                group_id: group_id.to_string(),
            };
            let sent = client.add_user_to_group_with_token(&details, token).await;
            let asked_for = async {
                let listed = client
                    .list_user_group_memberships(MembershipFilter::UserAndGroup {
                        user: &user_id,
                        group: &group_id,
                    })
                    .await?;
                Ok(listed
                    .into_iter()
                    .find(|m| wire::is_live(m.lifecycle_state.as_deref())))
            };
            let added = created_earlier(sent, attempt, asked_for).await?;
            touched(ids, &user);
            ids.borrow_mut()
                .memberships
                .insert(Membership { user, group }, Ocid::new(added.id));
        }
        Action::RemoveFromGroup => {
            let (user, user_id) = ids.borrow().user(change)?;
            let (group, group_id) = ids.borrow().group(change)?;
            let key = Membership { user, group };
            let known = ids.borrow().memberships.get(&key).cloned();
            let id = match known {
                Some(id) => id,
                None => match client
                    .list_user_group_memberships(MembershipFilter::UserAndGroup {
                        user: &user_id,
                        group: &group_id,
                    })
                    .await
                    .map_err(api)?
                    .into_iter()
                    .next()
                {
                    Some(m) => Ocid::new(m.id),
                    // The interrupted removal went through before this apply read.
                    None if attempt.interrupted => return Ok(()),
                    None => {
                        return Err(format!("{} is not a member of {}", key.user, key.group));
                    }
                },
            };
            let sent = client.remove_user_from_group(&id, None).await;
            let still_member = async {
                let listed = client
                    .list_user_group_memberships(MembershipFilter::UserAndGroup {
                        user: &user_id,
                        group: &group_id,
                    })
                    .await?;
                Ok(listed
                    .iter()
                    .any(|m| wire::is_live(m.lifecycle_state.as_deref())))
            };
            deleted_earlier(sent, attempt, still_member).await?;
            touched(ids, &key.user);
            ids.borrow_mut().memberships.remove(&key);
        }
        Action::UploadApiKey => {
            let (_, id) = ids.borrow().user(change)?;
            let key = change
                .public_key
                .clone()
                .ok_or("the step carries no public key")?;
            let mut live = keys_as_expected(client, ids, change, attempt).await?;
            let sent = client
                .upload_api_key_with_token(&id, &wire::CreateApiKeyDetails { key }, token)
                .await;
            let asked_for = async {
                let keys = client.list_api_keys(&id).await?;
                Ok(keys.into_iter().find(|k| {
                    change
                        .fingerprint
                        .as_ref()
                        .is_some_and(|fp| fp.as_str() == k.fingerprint)
                        && wire::is_live(k.lifecycle_state.as_deref())
                }))
            };
            created_earlier(sent, attempt, asked_for).await?;
            if let (Some(fp), Some(user)) = (&change.fingerprint, &change.user) {
                live.insert(fp.clone());
                ids.borrow_mut().keys.insert(user.clone(), live);
                touched(ids, user);
            }
        }
        Action::DeleteApiKey => {
            let (_, id) = ids.borrow().user(change)?;
            let fingerprint = change.fingerprint.clone().ok_or("the step names no key")?;
            let mut live = keys_as_expected(client, ids, change, attempt).await?;
            let sent = client.delete_api_key(&id, &fingerprint, None).await;
            let still_there = async {
                let keys = client.list_api_keys(&id).await?;
                Ok(keys.iter().any(|k| {
                    k.fingerprint == fingerprint.as_str()
                        && wire::is_live(k.lifecycle_state.as_deref())
                }))
            };
            deleted_earlier(sent, attempt, still_there).await?;
            live.remove(&fingerprint);
            if let Some(user) = &change.user {
                ids.borrow_mut().keys.insert(user.clone(), live);
                touched(ids, user);
            }
        }
        Action::ResetConsolePassword if after.reset_link_to.is_some() => {
            // Identity domains: OCI emails the user a reset link and returns no usable
            // password, so nothing is delivered or written; should an answer carry one anyway,
            // it is dropped (zeroized) unread.
            user_if_match(client, ids, change, attempt).await?;
            let (name, id) = ids.borrow().user(change)?;
            let reset = after.reset.unwrap_or(1);
            let answer = client
                .create_or_reset_ui_password_with_token(&id, token)
                .await
                .map_err(api)?;
            drop(answer);
            step.emailed_to.clone_from(&after.reset_link_to);
            record_reset(client, ids, name, &id, reset).await?;
        }
        Action::ResetConsolePassword => {
            user_if_match(client, ids, change, attempt).await?;
            let (name, id) = ids.borrow().user(change)?;
            let reset = after.reset.unwrap_or(1);
            let dir = &target.delivery.secrets_dir;
            let recipient = after.deliver_to.as_deref();
            // A resumed reset is re-sent with its recorded retry token, so the service replays
            // the same password, which an interrupted run may already have delivered.
            let earlier = if attempt.resumed {
                deliver::existing(dir, &name, reset, recipient).map_err(|e| e.to_string())?
            } else {
                deliver::preflight(dir, &name, reset, recipient)
                    .map_err(|e| format!("not reset, the password could not be delivered: {e}"))?;
                None
            };
            let answer = client
                .create_or_reset_ui_password_with_token(&id, token)
                .await
                .map_err(api)?;
            let password = answer
                .value
                .password
                .ok_or("the service returned no one-time password (identity-domain tenancies email a reset link instead)")?;
            let delivered = match earlier {
                Some(delivered) => delivered,
                None => deliver::deliver(dir, &name, reset, recipient, &password).map_err(|e| {
                    format!("the password was reset but could not be delivered: {e}")
                })?,
            };
            if let Some(reveal) = target.reveal {
                reveal(&name, &password);
            }
            drop(password); // zeroized here, before the tag is written
            step.delivered = Some(delivered);
            record_reset(client, ids, name, &id, reset).await?;
        }
        Action::DeleteUser => {
            if attempt.interrupted
                && change
                    .user
                    .as_ref()
                    .is_some_and(|u| !ids.borrow().users.contains_key(u))
            {
                // This apply's read found it gone: the interrupted delete went through.
                return Ok(());
            }
            let if_match = user_if_match(client, ids, change, attempt).await?;
            let (name, id) = ids.borrow().user(change)?;
            let sent = client.delete_user(&id, if_match.as_deref()).await;
            let still_live = async {
                let user = client.get_user(&id).await?;
                Ok(wire::is_live(user.value.lifecycle_state.as_deref()))
            };
            deleted_earlier(sent, attempt, still_live).await?;
            ids.borrow_mut().users.remove(&name);
        }
        Action::DeleteGroup => {
            if attempt.interrupted
                && change
                    .group
                    .as_ref()
                    .is_some_and(|g| !ids.borrow().groups.contains_key(g))
            {
                // This apply's read found it gone: the interrupted delete went through.
                return Ok(());
            }
            let if_match = group_if_match(client, ids, change, attempt).await?;
            let (name, id) = ids.borrow().group(change)?;
            let sent = client.delete_group(&id, if_match.as_deref()).await;
            let still_live = async {
                let group = client.get_group(&id).await?;
                Ok(wire::is_live(group.value.lifecycle_state.as_deref()))
            };
            deleted_earlier(sent, attempt, still_live).await?;
            ids.borrow_mut().groups.remove(&name);
        }
    }
    Ok(())
}
