//! The apply journal: an append-only, fsynced JSON-lines file per tenancy recording, before
//! each write, an **intent** (plan, step, operation, subject, a digest of the request, the
//! `opc-retry-token`) and after it an **outcome** (done or failed). It holds no secret: no
//! password, no key material, no request body.
//!
//! A killed apply is resumed from it: a step of the same saved plan with a `done` outcome is
//! not written again, and a write whose intent has no outcome is re-sent with the **same**
//! retry token (within OCI's 24 hours), so the service replays the first answer instead of
//! writing twice.
//!
//! Shell: the file system. One writer at a time (the file is locked while an apply runs).
//! Created 0600 (never through a symbolic link) with its directory `fsync`ed, by
//! [`crate::durable::open_append`].

use std::collections::BTreeMap;
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
        /// `done` or `failed`.
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
    records: Vec<Record>,
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
        let file = durable::open_append(&path, 0o600).map_err(|e| match e {
            DurableError::Io { error, .. } => io(error),
            DurableError::Exists { .. } => io(std::io::ErrorKind::AlreadyExists.into()),
        })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(JournalError::Locked { path }),
            Err(fs::TryLockError::Error(e)) => return Err(io(e)),
        }
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
        Ok(Self {
            path,
            file,
            records,
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
        let mut line = serde_json::to_vec(&record).unwrap_or_default();
        line.push(b'\n');
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(&line).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.records.push(record);
        Ok(())
    }

    /// The steps of `plan` that an earlier run finished (`done` outcomes).
    #[must_use]
    pub fn done(&self, plan: &str) -> BTreeMap<u32, String> {
        self.records
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

    /// The latest write of `action` on `subject` with the same request digest that has an
    /// intent but no outcome, of any age: `(unix seconds of the intent, its retry token)`. A
    /// write that may have reached the service before the process died.
    #[must_use]
    pub fn unfinished(&self, action: &str, subject: &str, request: &str) -> Option<(i64, String)> {
        let mut found: Option<(&str, u32, i64, &str)> = None;
        for r in &self.records {
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
        let mut open: BTreeMap<u32, String> = BTreeMap::new();
        for r in &self.records {
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
}

#[cfg(test)]
mod tests {
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
}
