//! The apply journal: an append-only, fsynced JSON-lines file per tenancy recording, before
//! each write, an **intent** (plan, step, operation, subject, a digest of the request, the
//! `opc-retry-token`) and after it an **outcome** (done or failed; or `settled`, written by a
//! later apply for a write a killed one left open, see [`Journal::settle_open`]). It holds no
//! secret: no password, no key material, no request body.
//!
//! A killed apply is resumed from it: a step of the same saved plan with a `done` outcome is
//! not written again, and a write whose intent has no outcome is re-sent with the **same**
//! retry token (within OCI's 24 hours), so the service replays the first answer instead of
//! writing twice.
//!
//! Look-ups are indexed: maps from each plan's steps to their latest intent, outcome and `done`
//! outcome, and from each write (action, subject, request digest) to its latest intent, are
//! built when the journal is opened and kept up to date by every append, so a step's look-up
//! costs a map access, not a scan of every record.
//!
//! **Compaction** rewrites the file atomically ([`crate::durable::replace`]) without the
//! records of plans that no longer matter. An intent is *open* when it is the latest intent
//! of its write and no outcome of its step follows it (what [`Journal::unfinished`] can
//! return); a plan with an open intent is *unsettled* and is always kept whole. A settled plan
//! is dropped when an apply reported it complete ([`Journal::complete`]: every step done) or
//! when its newest record is older than the retry-token TTL ([`Journal::compact`], run when an
//! apply opens the journal). A plan whose records close an open intent of a plan that stays
//! (a later intent of the same write, e.g. a resume under a fresh plan of the manifest) stays
//! too, so dropping never re-opens an intent: compaction never changes what
//! [`Journal::unfinished`] answers, nor what [`Journal::done`] and [`Journal::in_flight`]
//! answer for a plan that stays. The one thing lost is the record of a finished plan: a saved
//! plan applied again after its records were dropped is checked afresh (and refused as stale
//! if its objects moved), never skipped or written twice.
//!
//! Shell: the file system. One writer at a time: `<journal>.lock` beside the journal is
//! `flock`ed for the journal's lifetime (a separate file, since compaction replaces the
//! journal's inode; the journal file itself is locked too, for older ociam versions that
//! lock it). Created 0600 (never through a symbolic link) with its directory `fsync`ed, by
//! [`crate::durable::open_append`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::durable::{self, DurableError};

/// How long OCI honours a retry token.
pub const RETRY_TOKEN_TTL_SECONDS: i64 = 24 * 3600;

/// One line of the journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Record {
    /// Written (and fsynced) before the first attempt of a write.
    Intent {
        /// Unix seconds.
        at: i64,
        /// The plan's id (digest of its changes).
        plan: String,
        /// The step's `seq`.
        seq: u32,
        /// The action, e.g. `create_user`.
        action: String,
        /// The step's subject, e.g. `user.carol`.
        subject: String,
        /// `sha256:` of what is sent (never the content itself).
        request: String,
        /// The `opc-retry-token` used for every attempt of this write.
        retry_token: String,
    },
    /// Written (and fsynced) after the write returned.
    Outcome {
        /// Unix seconds.
        at: i64,
        /// The plan's id.
        plan: String,
        /// The step's `seq`.
        seq: u32,
        /// The step's subject.
        subject: String,
        /// `done` or `failed`; `settled` for an interrupted write that a later apply found
        /// needless (see [`Journal::settle_open`]).
        status: String,
        /// What failed, for `failed` (service errors carry their opc-request-id).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
}

/// Why the journal cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Reading, writing or locking failed.
    #[error("journal {path}: {source}")]
    Io {
        /// The journal file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line in the middle of the journal is not a record: the file was edited or damaged.
    #[error(
        "journal {path}, line {line}: not a journal record ({reason}); nothing was applied. The journal must hold only ociam's own lines: restore it, or move it aside to start a new one (a resumed apply then re-sends steps it cannot prove were done)"
    )]
    Corrupt {
        /// The journal file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// Why it does not parse.
        reason: String,
    },
    /// Another apply holds the journal.
    #[error("journal {path} is in use by another ociam apply; wait for it to finish")]
    Locked {
        /// The journal file.
        path: PathBuf,
    },
}

/// An open journal, locked for this process.
pub struct Journal {
    path: PathBuf,
    file: fs::File,
    /// The lock on `<journal>.lock`, held while the journal is open.
    _lock: fs::File,
    records: Vec<Record>,
    index: Index,
    /// Plans an apply reported complete in this process (see [`Journal::complete`]).
    completed: HashSet<String>,
    /// Set when the file was replaced but could not be opened again: appends then fail.
    lost: Option<std::io::ErrorKind>,
}

/// What is known of one step of a plan: indices into the records.
#[derive(Clone, Copy, Debug, Default)]
struct StepIndex {
    last_intent: Option<usize>,
    last_outcome: Option<usize>,
    last_done: Option<usize>,
}

impl StepIndex {
    /// Whether the step's latest intent has no outcome after it.
    fn in_flight(&self) -> bool {
        self.last_intent > self.last_outcome
    }
}

/// What is known of one plan.
#[derive(Clone, Debug, Default)]
struct PlanIndex {
    steps: BTreeMap<u32, StepIndex>,
    /// The newest `at` of its records.
    newest: i64,
}

/// A write: action, subject and request digest.
type WriteKey = (String, String, String);

/// The maps every look-up reads; kept in step with the records.
#[derive(Clone, Debug, Default)]
struct Index {
    plans: HashMap<String, PlanIndex>,
    /// The latest intent of each write.
    writes: HashMap<WriteKey, usize>,
}

impl Index {
    fn build(records: &[Record]) -> Self {
        let mut index = Self::default();
        for (i, record) in records.iter().enumerate() {
            index.add(i, record);
        }
        index
    }

    /// Accounts for `record`, which is `records[i]`.
    fn add(&mut self, i: usize, record: &Record) {
        match record {
            Record::Intent {
                at,
                plan,
                seq,
                action,
                subject,
                request,
                ..
            } => {
                let p = self.plans.entry(plan.clone()).or_default();
                p.newest = p.newest.max(*at);
                p.steps.entry(*seq).or_default().last_intent = Some(i);
                self.writes
                    .insert((action.clone(), subject.clone(), request.clone()), i);
            }
            Record::Outcome {
                at,
                plan,
                seq,
                status,
                ..
            } => {
                let p = self.plans.entry(plan.clone()).or_default();
                p.newest = p.newest.max(*at);
                let step = p.steps.entry(*seq).or_default();
                step.last_outcome = Some(i);
                if status == "done" {
                    step.last_done = Some(i);
                }
            }
        }
    }

    /// Whether intent `records[i]` is open: the latest intent of its write, and no outcome of
    /// its step follows it.
    fn is_open(&self, records: &[Record], i: usize) -> bool {
        let Some(Record::Intent {
            plan,
            seq,
            action,
            subject,
            request,
            ..
        }) = records.get(i)
        else {
            return false;
        };
        let key = (action.clone(), subject.clone(), request.clone());
        self.writes.get(&key) == Some(&i)
            && self
                .plans
                .get(plan)
                .and_then(|p| p.steps.get(seq))
                .is_none_or(|s| s.last_outcome < Some(i))
    }

    /// The indices of the open intents.
    fn open_intents(&self, records: &[Record]) -> Vec<usize> {
        let mut open: Vec<usize> = self
            .writes
            .values()
            .copied()
            .filter(|&i| self.is_open(records, i))
            .collect();
        open.sort_unstable();
        open
    }
}

fn plan_of(record: &Record) -> &str {
    match record {
        Record::Intent { plan, .. } | Record::Outcome { plan, .. } => plan,
    }
}

/// The records of the journal's whole lines. A line torn by a kill under an older ociam (which
/// ended it with a newline instead of cutting it off) is a strict prefix of a record and is
/// skipped; any other line that is not a record is corruption.
fn parse(bytes: &[u8], path: &Path) -> Result<Vec<Record>, JournalError> {
    let mut records = Vec::new();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<Record>(line) {
            Ok(record) => records.push(record),
            Err(e) if e.is_eof() => {}
            Err(e) => {
                return Err(JournalError::Corrupt {
                    path: path.to_owned(),
                    line: i + 1,
                    reason: e.to_string(),
                });
            }
        }
    }
    Ok(records)
}

/// `flock`s `file` without waiting; `Locked` when another process holds it.
fn try_lock(file: &fs::File, journal: &Path) -> Result<(), JournalError> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(fs::TryLockError::WouldBlock) => Err(JournalError::Locked {
            path: journal.to_owned(),
        }),
        Err(fs::TryLockError::Error(source)) => Err(JournalError::Io {
            path: journal.to_owned(),
            source,
        }),
    }
}

fn durable_io(path: &Path) -> impl Fn(DurableError) -> JournalError + use<> {
    let path = path.to_owned();
    move |e| JournalError::Io {
        path: path.clone(),
        source: match e {
            DurableError::Io { error, .. } => error,
            DurableError::Exists { .. } => std::io::ErrorKind::AlreadyExists.into(),
        },
    }
}

impl Journal {
    /// Opens (creating it 0600 in a 0700 directory) and locks the journal of `tenancy` in
    /// `dir`, and reads what earlier applies wrote. A torn last line (a kill mid-write) is cut
    /// off.
    ///
    /// # Errors
    /// I/O failures, another apply holding the lock, or a damaged line that is not the last
    /// ([`JournalError::Corrupt`], naming its line number).
    pub fn open(dir: &Path, tenancy: &str) -> Result<Self, JournalError> {
        use std::os::unix::fs::DirBuilderExt as _;
        let tail: String = tenancy
            .rsplit('.')
            .next()
            .unwrap_or(tenancy)
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let path = dir.join(format!("journal-{tail}.jsonl"));
        let io = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io)?;
        // The lock lives in its own file: compaction replaces the journal's inode, and a lock
        // on the old inode would not keep a second apply out of the new one.
        let lock_path = dir.join(format!("journal-{tail}.jsonl.lock"));
        let lock = durable::open_append(&lock_path, 0o600).map_err(durable_io(&path))?;
        try_lock(&lock, &path)?;
        let file = durable::open_append(&path, 0o600).map_err(durable_io(&path))?;
        try_lock(&file, &path)?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut &file, &mut bytes).map_err(io)?;
        // A kill mid-append leaves a torn last line (no newline): cut it off, so the next
        // record starts clean and the file holds only whole records.
        let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if whole < bytes.len() {
            file.set_len(whole as u64).map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        let records = parse(&bytes[..whole], &path)?;
        let index = Index::build(&records);
        Ok(Self {
            path,
            file,
            _lock: lock,
            records,
            index,
            completed: HashSet::new(),
            lost: None,
        })
    }

    /// The journal file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every record, oldest first.
    #[must_use]
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// Appends `record` and fsyncs it before returning.
    ///
    /// # Errors
    /// I/O failures.
    pub fn append(&mut self, record: Record) -> Result<(), JournalError> {
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        if let Some(kind) = self.lost {
            return Err(io(kind.into()));
        }
        let mut line = serde_json::to_vec(&record).unwrap_or_default();
        line.push(b'\n');
        self.file.write_all(&line).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.index.add(self.records.len(), &record);
        self.records.push(record);
        Ok(())
    }

    /// The steps of `plan` that an earlier run finished (`done` outcomes).
    #[must_use]
    pub fn done(&self, plan: &str) -> BTreeMap<u32, String> {
        let Some(p) = self.index.plans.get(plan) else {
            return BTreeMap::new();
        };
        p.steps
            .iter()
            .filter_map(|(seq, step)| match self.records.get(step.last_done?)? {
                Record::Outcome { subject, .. } => Some((*seq, subject.clone())),
                Record::Intent { .. } => None,
            })
            .collect()
    }

    /// The latest write of `action` on `subject` with the same request digest that has an
    /// intent but no outcome, of any age: `(unix seconds of the intent, its retry token)`. A
    /// write that may have reached the service before the process died.
    #[must_use]
    pub fn unfinished(&self, action: &str, subject: &str, request: &str) -> Option<(i64, String)> {
        let key = (action.to_owned(), subject.to_owned(), request.to_owned());
        let i = *self.index.writes.get(&key)?;
        if !self.index.is_open(&self.records, i) {
            return None;
        }
        match &self.records[i] {
            Record::Intent {
                at, retry_token, ..
            } => Some((*at, retry_token.clone())),
            Record::Outcome { .. } => None,
        }
    }

    /// The retry token of [`Journal::unfinished`]'s write while OCI still honours it (younger
    /// than 24 hours at `now`).
    #[must_use]
    pub fn unfinished_token(
        &self,
        action: &str,
        subject: &str,
        request: &str,
        now: i64,
    ) -> Option<String> {
        self.unfinished(action, subject, request)
            .filter(|(at, _)| now - at < RETRY_TOKEN_TTL_SECONDS)
            .map(|(_, token)| token)
    }

    /// Subjects of steps of `plan` whose intent has no outcome (possibly written).
    #[must_use]
    pub fn in_flight(&self, plan: &str) -> Vec<String> {
        let Some(p) = self.index.plans.get(plan) else {
            return Vec::new();
        };
        p.steps
            .values()
            .filter(|step| step.in_flight())
            .filter_map(|step| match self.records.get(step.last_intent?)? {
                Record::Intent { subject, .. } => Some(subject.clone()),
                Record::Outcome { .. } => None,
            })
            .collect()
    }

    /// Closes every open intent (of any plan) with a `settled` outcome naming `plan`: called
    /// once an apply of `plan`, a fresh plan of a manifest, read the tenancy back and found it
    /// matching the manifest. An interrupted write is then either in the tenancy or needless
    /// (had it been missing, the fresh plan would have re-sent it, closing its intent): it is
    /// no longer re-sent with its old retry token nor treated as interrupted. Returns how many
    /// intents it closed.
    ///
    /// # Errors
    /// I/O failures appending.
    pub fn settle_open(&mut self, plan: &str, now: i64) -> Result<usize, JournalError> {
        let open: Vec<Record> = self
            .index
            .open_intents(&self.records)
            .into_iter()
            .filter_map(|i| match &self.records[i] {
                Record::Intent {
                    plan: p,
                    seq,
                    subject,
                    ..
                } => Some(Record::Outcome {
                    at: now,
                    plan: p.clone(),
                    seq: *seq,
                    subject: subject.clone(),
                    status: "settled".to_owned(),
                    detail: Some(format!(
                        "not re-sent: the tenancy matched the manifest after plan {plan}"
                    )),
                }),
                Record::Outcome { .. } => None,
            })
            .collect();
        let n = open.len();
        for record in open {
            self.append(record)?;
        }
        Ok(n)
    }

    /// Records that an apply of `plan` finished every step (its report succeeded), then
    /// compacts (see [`Journal::compact`]): the plan's records are dropped unless one of its
    /// intents is still open or dropping it would re-open another plan's intent (then the
    /// retry-token TTL drops it later). Returns how many records were dropped.
    ///
    /// # Errors
    /// I/O failures rewriting the file; the journal is then as it was (or, if the new file
    /// was written but cannot be opened again, refuses further appends).
    pub fn complete(&mut self, plan: &str, now: i64) -> Result<usize, JournalError> {
        self.completed.insert(plan.to_owned());
        self.compact(now)
    }

    /// Drops the records of settled plans (no open intent) that an apply reported complete or
    /// whose newest record is older than the retry-token TTL at `now` (unix seconds), keeping
    /// any plan whose records close an open intent of a plan that stays; rewrites the file
    /// atomically when anything is dropped. Returns how many records were dropped.
    ///
    /// # Errors
    /// As [`Journal::complete`].
    pub fn compact(&mut self, now: i64) -> Result<usize, JournalError> {
        let mut unsettled: HashSet<&str> = HashSet::new();
        for i in self.index.open_intents(&self.records) {
            unsettled.insert(plan_of(&self.records[i]));
        }
        let mut dropped: HashSet<String> = self
            .index
            .plans
            .iter()
            .filter(|(plan, p)| {
                !unsettled.contains(plan.as_str())
                    && (self.completed.contains(plan.as_str())
                        || now.saturating_sub(p.newest) >= RETRY_TOKEN_TTL_SECONDS)
            })
            .map(|(plan, _)| plan.clone())
            .collect();
        if dropped.is_empty() {
            return Ok(0);
        }
        // Dropping a plan whose intent superseded an older one of a kept plan would re-open
        // that older intent: keep such plans too, until nothing would re-open.
        let kept = loop {
            let kept: Vec<usize> = (0..self.records.len())
                .filter(|&i| !dropped.contains(plan_of(&self.records[i])))
                .collect();
            let kept_records: Vec<Record> = kept.iter().map(|&i| self.records[i].clone()).collect();
            let kept_index = Index::build(&kept_records);
            let mut restored = false;
            for j in kept_index.open_intents(&kept_records) {
                let original = kept[j];
                if self.index.is_open(&self.records, original) {
                    continue;
                }
                if let Record::Intent {
                    action,
                    subject,
                    request,
                    ..
                } = &self.records[original]
                {
                    let key = (action.clone(), subject.clone(), request.clone());
                    if let Some(&latest) = self.index.writes.get(&key) {
                        restored |= dropped.remove(plan_of(&self.records[latest]));
                    }
                }
            }
            if !restored {
                break kept;
            }
        };
        let removed = self.records.len() - kept.len();
        if removed == 0 {
            return Ok(0);
        }
        let records: Vec<Record> = kept.iter().map(|&i| self.records[i].clone()).collect();
        let mut bytes = Vec::new();
        for record in &records {
            bytes.extend(serde_json::to_vec(record).unwrap_or_default());
            bytes.push(b'\n');
        }
        durable::replace(&self.path, &bytes, 0o600).map_err(durable_io(&self.path))?;
        // The old handle points at the replaced inode: appends must go to the new file.
        let reopened = durable::open_append(&self.path, 0o600)
            .map_err(durable_io(&self.path))
            .and_then(|file| try_lock(&file, &self.path).map(|()| file));
        match reopened {
            Ok(file) => self.file = file,
            Err(e) => {
                self.lost = Some(match &e {
                    JournalError::Io { source, .. } => source.kind(),
                    _ => std::io::ErrorKind::WouldBlock,
                });
                return Err(e);
            }
        }
        self.index = Index::build(&records);
        self.completed
            .retain(|plan| self.index.plans.contains_key(plan));
        self.records = records;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn intent(plan: &str, seq: u32, at: i64, token: &str) -> Record {
        Record::Intent {
            at,
            plan: plan.into(),
            seq,
            action: "create_user".into(),
            subject: format!("user.u{seq}"),
            request: "sha256:r".into(),
            retry_token: token.into(),
        }
    }

    fn outcome(plan: &str, seq: u32) -> Record {
        Record::Outcome {
            at: 0,
            plan: plan.into(),
            seq,
            subject: format!("user.u{seq}"),
            status: "done".into(),
            detail: None,
        }
    }

    #[test]
    fn records_survive_reopening_and_tell_done_from_unfinished() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut j = Journal::open(dir.path(), "ocid1.tenancy.oc1..abc").unwrap();
            j.append(intent("p", 1, 100, "t1")).unwrap();
            j.append(outcome("p", 1)).unwrap();
            j.append(intent("p", 2, 100, "t2")).unwrap();
        }
        let j = Journal::open(dir.path(), "ocid1.tenancy.oc1..abc").unwrap();
        assert_eq!(j.records().len(), 3);
        assert_eq!(j.done("p").keys().copied().collect::<Vec<_>>(), [1]);
        assert_eq!(j.in_flight("p"), ["user.u2"]);
        assert_eq!(
            j.unfinished_token("create_user", "user.u2", "sha256:r", 200)
                .as_deref(),
            Some("t2")
        );
        assert_eq!(
            j.unfinished_token("create_user", "user.u1", "sha256:r", 200),
            None,
            "finished"
        );
        assert_eq!(
            j.unfinished_token("create_user", "user.u2", "sha256:other", 200),
            None,
            "other body"
        );
        assert_eq!(
            j.unfinished_token(
                "create_user",
                "user.u2",
                "sha256:r",
                100 + RETRY_TOKEN_TTL_SECONDS
            ),
            None,
            "expired"
        );
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_the_journal_is_locked() {
        let dir = tempfile::tempdir().unwrap();
        let path = {
            let mut j = Journal::open(dir.path(), "t").unwrap();
            j.append(intent("p", 1, 0, "t1")).unwrap();
            j.path().to_owned()
        };
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"type\":\"outc")
            .unwrap();
        let mut j = Journal::open(dir.path(), "t").unwrap();
        assert_eq!(j.records().len(), 1);
        j.append(outcome("p", 1)).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "the torn tail was cut off: {text}");
        assert!(!text.contains("outc\""), "{text}");
        assert!(matches!(
            Journal::open(dir.path(), "t"),
            Err(JournalError::Locked { .. })
        ));
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn a_damaged_line_before_the_last_is_an_error_naming_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = {
            let mut j = Journal::open(dir.path(), "t").unwrap();
            j.append(intent("p", 1, 0, "t1")).unwrap();
            j.append(outcome("p", 1)).unwrap();
            j.path().to_owned()
        };
        let text = fs::read_to_string(&path).unwrap();
        let edited = text.replacen("\"type\":\"outcome\"", "\"type\":\"bogus\"", 1);
        fs::write(
            &path,
            format!(
                "{edited}{}",
                serde_json::to_string(&intent("p", 2, 0, "t2")).unwrap() + "\n"
            ),
        )
        .unwrap();
        let err = Journal::open(dir.path(), "t").err().expect("refused");
        assert!(
            matches!(err, JournalError::Corrupt { line: 2, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn a_torn_line_an_older_ociam_ended_with_a_newline_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal-t.jsonl");
        let first = serde_json::to_string(&intent("p", 1, 0, "t1")).unwrap();
        let second = serde_json::to_string(&outcome("p", 1)).unwrap();
        fs::write(&path, format!("{first}\n{{\"type\":\"outc\n{second}\n")).unwrap();
        let j = Journal::open(dir.path(), "t").unwrap();
        assert_eq!(j.records().len(), 2);
        assert_eq!(j.done("p").len(), 1);
    }
    // -----------------------------------------------------------------------------------------
    // Reference answers: the scans the index replaced.

    fn scan_done(records: &[Record], plan: &str) -> BTreeMap<u32, String> {
        records
            .iter()
            .filter_map(|r| match r {
                Record::Outcome {
                    plan: p,
                    seq,
                    subject,
                    status,
                    ..
                } if p == plan && status == "done" => Some((*seq, subject.clone())),
                _ => None,
            })
            .collect()
    }

    fn scan_unfinished(
        records: &[Record],
        action: &str,
        subject: &str,
        request: &str,
    ) -> Option<(i64, String)> {
        let mut found: Option<(&str, u32, i64, &str)> = None;
        for r in records {
            match r {
                Record::Intent {
                    at,
                    plan,
                    seq,
                    action: a,
                    subject: s,
                    request: q,
                    retry_token,
                } if a == action && s == subject && q == request => {
                    found = Some((plan.as_str(), *seq, *at, retry_token.as_str()));
                }
                Record::Outcome { plan, seq, .. } => {
                    if found.is_some_and(|(p, s, _, _)| p == plan && s == *seq) {
                        found = None;
                    }
                }
                Record::Intent { .. } => {}
            }
        }
        found.map(|(_, _, at, token)| (at, token.to_owned()))
    }

    fn scan_in_flight(records: &[Record], plan: &str) -> Vec<String> {
        let mut open: BTreeMap<u32, String> = BTreeMap::new();
        for r in records {
            match r {
                Record::Intent {
                    plan: p,
                    seq,
                    subject,
                    ..
                } if p == plan => {
                    open.insert(*seq, subject.clone());
                }
                Record::Outcome { plan: p, seq, .. } if p == plan => {
                    open.remove(seq);
                }
                _ => {}
            }
        }
        open.into_values().collect()
    }

    const PLANS: [&str; 4] = ["p0", "p1", "p2", "p3"];
    const ACTIONS: [&str; 2] = ["create_user", "delete_user"];
    const REQUESTS: [&str; 2] = ["sha256:a", "sha256:b"];

    /// A deterministic pseudo-random journal: intents and done/failed outcomes over a few
    /// plans, steps, writes and subjects, so writes recur across plans and steps.
    fn shuffled_records(n: usize, mut state: u64) -> Vec<Record> {
        let mut next = |m: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            usize::try_from((state >> 33) % m).unwrap()
        };
        (0..n)
            .map(|i| {
                let at = i64::try_from(i).unwrap();
                let plan = PLANS[next(4)].to_owned();
                let seq = u32::try_from(next(5)).unwrap();
                let subject = format!("user.u{}", next(3));
                if next(2) == 0 {
                    Record::Intent {
                        at,
                        plan,
                        seq,
                        action: ACTIONS[next(2)].into(),
                        subject,
                        request: REQUESTS[next(2)].into(),
                        retry_token: format!("t{i}"),
                    }
                } else {
                    Record::Outcome {
                        at,
                        plan,
                        seq,
                        subject,
                        status: if next(3) == 0 { "failed" } else { "done" }.into(),
                        detail: None,
                    }
                }
            })
            .collect()
    }

    /// Every answer of `j` equals the scan's over `records`.
    fn assert_answers_match_the_scan(j: &Journal, records: &[Record], context: &str) {
        for plan in PLANS {
            assert_eq!(
                j.done(plan),
                scan_done(records, plan),
                "{context}: done {plan}"
            );
            assert_eq!(
                j.in_flight(plan),
                scan_in_flight(records, plan),
                "{context}: in_flight {plan}"
            );
        }
        for action in ACTIONS {
            for u in 0..3 {
                for request in REQUESTS {
                    let subject = format!("user.u{u}");
                    assert_eq!(
                        j.unfinished(action, &subject, request),
                        scan_unfinished(records, action, &subject, request),
                        "{context}: unfinished {action} {subject} {request}"
                    );
                }
            }
        }
    }

    #[test]
    fn indexed_answers_equal_the_scan_after_every_append_and_after_reopening() {
        for seed in 1..=8 {
            let dir = tempfile::tempdir().unwrap();
            let records = shuffled_records(60, seed);
            {
                let mut j = Journal::open(dir.path(), "t").unwrap();
                for (i, record) in records.iter().enumerate() {
                    j.append(record.clone()).unwrap();
                    assert_answers_match_the_scan(
                        &j,
                        &records[..=i],
                        &format!("seed {seed}, {} records", i + 1),
                    );
                }
            }
            let j = Journal::open(dir.path(), "t").unwrap();
            assert_eq!(j.records(), records.as_slice());
            assert_answers_match_the_scan(&j, &records, &format!("seed {seed}, reopened"));
        }
    }

    #[test]
    fn compaction_never_changes_an_answer_for_what_it_keeps() {
        let mut dropped = 0;
        for seed in 1..=8 {
            let dir = tempfile::tempdir().unwrap();
            let records = shuffled_records(60, seed);
            let mut j = Journal::open(dir.path(), "t").unwrap();
            for record in &records {
                j.append(record.clone()).unwrap();
            }
            let before: Vec<_> = ACTIONS
                .iter()
                .flat_map(|a| (0..3).map(move |u| (*a, format!("user.u{u}"))))
                .flat_map(|(a, s)| REQUESTS.iter().map(move |q| (a, s.clone(), *q)))
                .map(|(a, s, q)| j.unfinished(a, &s, q))
                .collect();
            let open_before = j.index.open_intents(&j.records).len();
            // Plans p0 and p1 reported complete; the clock past every record's TTL except
            // the last ten.
            dropped += j.complete("p0", 0).unwrap();
            dropped += j.complete("p1", 0).unwrap();
            dropped += j.compact(50 + RETRY_TOKEN_TTL_SECONDS).unwrap();
            let after: Vec<_> = ACTIONS
                .iter()
                .flat_map(|a| (0..3).map(move |u| (*a, format!("user.u{u}"))))
                .flat_map(|(a, s)| REQUESTS.iter().map(move |q| (a, s.clone(), *q)))
                .map(|(a, s, q)| j.unfinished(a, &s, q))
                .collect();
            assert_eq!(before, after, "seed {seed}: unfinished answers");
            assert_eq!(
                j.index.open_intents(&j.records).len(),
                open_before,
                "seed {seed}: every open intent is kept, none re-opened"
            );
            let kept = j.records().to_vec();
            let full = Index::build(&records);
            for i in full.open_intents(&records) {
                let plan = plan_of(&records[i]);
                assert!(
                    kept.iter().any(|r| plan_of(r) == plan),
                    "seed {seed}: {plan} has an open intent and is kept"
                );
            }
            for plan in PLANS {
                let n = kept.iter().filter(|r| plan_of(r) == plan).count();
                if n > 0 {
                    assert_eq!(
                        n,
                        records.iter().filter(|r| plan_of(r) == plan).count(),
                        "seed {seed}: {plan} is kept whole"
                    );
                    assert_eq!(j.done(plan), scan_done(&records, plan));
                    assert_eq!(j.in_flight(plan), scan_in_flight(&records, plan));
                }
            }
            drop(j);
            let reopened = Journal::open(dir.path(), "t").unwrap();
            assert_eq!(reopened.records(), kept.as_slice(), "seed {seed}: on disk");
        }
        assert!(dropped > 0, "some plans were settled and dropped");
    }

    fn failed(plan: &str, seq: u32, at: i64) -> Record {
        Record::Outcome {
            at,
            plan: plan.into(),
            seq,
            subject: format!("user.u{seq}"),
            status: "failed".into(),
            detail: Some("no".into()),
        }
    }

    #[test]
    fn compaction_drops_completed_and_expired_plans_and_keeps_unfinished_ones() {
        let dir = tempfile::tempdir().unwrap();
        let day = RETRY_TOKEN_TTL_SECONDS;
        let mut j = Journal::open(dir.path(), "t").unwrap();
        // done: complete; open: an intent without outcome; young: a failed step, recent;
        // old: a failed step, past the TTL.
        j.append(intent("done", 1, 10, "d1")).unwrap();
        j.append(outcome("done", 1)).unwrap();
        j.append(intent("open", 2, 0, "o2")).unwrap();
        j.append(intent("open", 3, 0, "o3")).unwrap();
        j.append(outcome("open", 3)).unwrap();
        j.append(intent("young", 4, day, "y4")).unwrap();
        j.append(failed("young", 4, day)).unwrap();
        j.append(intent("old", 5, 0, "x5")).unwrap();
        j.append(failed("old", 5, 1)).unwrap();
        assert_eq!(j.compact(day / 2).unwrap(), 0, "nothing is old yet");
        assert_eq!(j.complete("done", day / 2).unwrap(), 2);
        assert_eq!(j.complete("open", day / 2).unwrap(), 0, "an open intent");
        assert_eq!(j.compact(day + 1).unwrap(), 2, "old is past the TTL");
        let plans: BTreeSet<&str> = j.records().iter().map(plan_of).collect();
        assert_eq!(plans, BTreeSet::from(["open", "young"]));
        assert_eq!(j.in_flight("open"), ["user.u2"]);
        assert_eq!(j.done("open").len(), 1, "everything of an unfinished plan");
        assert_eq!(
            j.unfinished_token("create_user", "user.u2", "sha256:r", day / 2)
                .as_deref(),
            Some("o2")
        );
        assert_eq!(j.compact(10 * day).unwrap(), 2, "young expires too");
        assert_eq!(
            j.records().len(),
            3,
            "the unfinished plan stays however old"
        );
        // Appends after a rewrite go to the new file.
        j.append(outcome("open", 2)).unwrap();
        let path = j.path().to_owned();
        drop(j);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 4, "{text}");
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let mut j = Journal::open(dir.path(), "t").unwrap();
        assert_eq!(j.compact(10 * day).unwrap(), 4, "now settled and old");
        assert!(j.records().is_empty());
        assert_eq!(fs::read(&path).unwrap(), b"");
    }

    #[test]
    fn a_completed_resume_stays_while_it_closes_an_open_intent_of_a_kept_plan() {
        let dir = tempfile::tempdir().unwrap();
        let day = RETRY_TOKEN_TTL_SECONDS;
        let mut j = Journal::open(dir.path(), "t").unwrap();
        // "killed" left the write of u1 open; "resumed" (a fresh plan of the manifest) sent
        // the same write again and finished it.
        let on_u1 = |record: Record| match record {
            Record::Intent {
                at,
                plan,
                seq,
                action,
                request,
                retry_token,
                ..
            } => Record::Intent {
                at,
                plan,
                seq,
                action,
                subject: "user.u1".into(),
                request,
                retry_token,
            },
            Record::Outcome {
                at,
                plan,
                seq,
                status,
                detail,
                ..
            } => Record::Outcome {
                at,
                plan,
                seq,
                subject: "user.u1".into(),
                status,
                detail,
            },
        };
        j.append(intent("killed", 1, 0, "k1")).unwrap();
        j.append(on_u1(intent("resumed", 7, 100, "r7"))).unwrap();
        j.append(on_u1(outcome("resumed", 7))).unwrap();
        assert_eq!(j.unfinished("create_user", "user.u1", "sha256:r"), None);
        assert_eq!(
            j.complete("resumed", 200).unwrap(),
            0,
            "dropping it would re-open the killed plan's intent"
        );
        assert_eq!(j.unfinished("create_user", "user.u1", "sha256:r"), None);
        assert_eq!(j.compact(day - 1).unwrap(), 0, "nothing expired yet");
        assert_eq!(j.records().len(), 3);
        assert_eq!(
            j.compact(day).unwrap(),
            3,
            "once the killed plan expires, the completed resume goes with it"
        );
        assert!(j.records().is_empty());
    }

    #[test]
    fn compaction_after_a_torn_tail_keeps_whole_records_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = {
            let mut j = Journal::open(dir.path(), "t").unwrap();
            j.append(intent("a", 1, 0, "t1")).unwrap();
            j.append(outcome("a", 1)).unwrap();
            j.append(intent("b", 2, 0, "t2")).unwrap();
            j.path().to_owned()
        };
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"type\":\"outcome\",\"at\":0,\"pl")
            .unwrap();
        let mut j = Journal::open(dir.path(), "t").unwrap();
        assert_eq!(j.complete("a", 0).unwrap(), 2);
        j.append(outcome("b", 2)).unwrap();
        drop(j);
        let j = Journal::open(dir.path(), "t").unwrap();
        assert_eq!(j.records(), [intent("b", 2, 0, "t2"), outcome("b", 2)]);
        let text = fs::read_to_string(&path).unwrap();
        assert!(!text.contains("\"pl\n") && text.ends_with('\n'), "{text}");
    }

    #[test]
    fn a_second_opener_is_refused_while_the_first_holds_the_lock_even_after_a_rewrite() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = Journal::open(dir.path(), "t").unwrap();
        first.append(intent("a", 1, 0, "t1")).unwrap();
        first.append(outcome("a", 1)).unwrap();
        assert!(matches!(
            Journal::open(dir.path(), "t"),
            Err(JournalError::Locked { .. })
        ));
        // The rewrite replaces the journal's inode; the lock file keeps others out.
        assert_eq!(first.complete("a", 0).unwrap(), 2);
        let err = Journal::open(dir.path(), "t").err().expect("still locked");
        assert!(matches!(err, JournalError::Locked { .. }), "{err}");
        assert!(
            err.to_string().contains("in use by another ociam apply"),
            "{err}"
        );
        // An older ociam locks the journal file itself: the new inode is locked too.
        let raw = fs::File::open(first.path()).unwrap();
        assert!(matches!(raw.try_lock(), Err(fs::TryLockError::WouldBlock)));
        drop(raw);
        let lock = dir.path().join("journal-t.jsonl.lock");
        assert!(lock.exists());
        drop(first);
        Journal::open(dir.path(), "t").expect("free once the first is closed");
    }

    #[test]
    fn settling_closes_open_intents_and_lets_their_plan_settle() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path(), "t").unwrap();
        j.append(intent("killed", 1, 0, "k1")).unwrap();
        j.append(outcome("killed", 1)).unwrap();
        j.append(intent("killed", 2, 0, "k2")).unwrap();
        j.append(intent("fresh", 1, 5, "f1")).unwrap();
        j.append(outcome("fresh", 1)).unwrap();
        assert_eq!(
            j.settle_open("fresh", 9).unwrap(),
            1,
            "only killed's step 2"
        );
        assert_eq!(j.unfinished("create_user", "user.u2", "sha256:r"), None);
        assert!(j.in_flight("killed").is_empty());
        assert_eq!(j.done("killed").len(), 1, "settled is not done");
        assert_eq!(j.settle_open("fresh", 9).unwrap(), 0);
        assert_eq!(j.complete("fresh", 10).unwrap(), 2);
        let last = j.records().last().unwrap();
        assert!(
            matches!(last, Record::Outcome { status, detail: Some(d), .. }
                if status == "settled" && d.contains("fresh")),
            "{last:?}"
        );
        assert_eq!(
            j.compact(RETRY_TOKEN_TTL_SECONDS + 9).unwrap(),
            4,
            "killed is settled now: it expires"
        );
    }
}
