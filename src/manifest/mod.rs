//! The manifest (format version 1): its YAML types as written ([`raw`]), and [`load`], which
//! turns source text into the normalized [`Desired`] state with a `file:line:column` and a
//! hint for every problem.
//!
//! Pure: the manifest text and the key files come in through arguments ([`KeyFiles`] is
//! implemented by the shell, which owns the filesystem). Private-key material — in the raw
//! text, then in every decoded YAML scalar — is refused before the typed parse, so no error
//! message or snippet can ever echo it. Names, descriptions and emails are checked against
//! the OCI field limits the emulator also enforces ([`crate::limits`]).

pub mod export;
pub mod raw;

use std::collections::BTreeMap;
use std::fmt;

use sha2::{Digest, Sha256};

use crate::hex;
use crate::keys;
use crate::limits::{self, FieldLimit};
use crate::model::{
    Desired, DesiredCapabilities, DesiredGroup, DesiredKey, DesiredUser, Fingerprint, GroupName,
    Limits, Location, Ocid, PasswordReset, Prune, UserName, valid_group_name, valid_user_name,
};
use crate::rules::{Diagnostic, check_manifest};

/// Reads a key file named in the manifest. `relative` has already been checked to be a plain
/// relative path without `..`; the implementation must still refuse to leave the manifest's
/// directory (symlinks) and cap the size it reads.
pub trait KeyFiles {
    /// The file's text, or a one-line reason it could not be read.
    fn read(&self, relative: &str) -> Result<String, String>;
}

/// One problem with the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestError {
    /// Where it is.
    pub location: Location,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: String,
    /// A source excerpt with a caret, when it is safe to show.
    pub snippet: Option<String>,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Every problem found, in source order. Never empty.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} problem(s) in the manifest, first: {}", .0.len(), .0[0])]
pub struct ManifestErrors(pub Vec<ManifestError>);

/// A loaded manifest.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The normalized desired state.
    pub desired: Desired,
    /// Findings of the manifest-only rules (`max-api-keys`, `weak-key`, …).
    pub diagnostics: Vec<Diagnostic>,
    /// `sha256:<hex>` over the manifest text and every key file it read.
    pub digest: String,
}

/// Parses and normalizes a manifest. `file` is the name used in messages.
///
/// # Errors
/// Every problem found, each with its location and a hint.
pub fn load(source: &str, file: &str, key_files: &dyn KeyFiles) -> Result<Loaded, ManifestErrors> {
    if let Some(offset) = keys::find_private_key(source) {
        return Err(ManifestErrors(vec![private_key_error(location_of_offset(
            source, file, offset,
        ))]));
    }
    // The same check on every decoded scalar: escapes (`\n`, `\x2D`, `\u0042`) and folded
    // quoted scalars can hide armor from the raw text.
    if let Some(at) = raw::private_key_scalar(source) {
        return Err(ManifestErrors(vec![private_key_error(Location {
            file: file.to_owned(),
            line: at.line(),
            column: at.column(),
        })]));
    }
    let raw = raw::parse(source, file).map_err(|e| ManifestErrors(vec![e]))?;
    let mut digest = Sha256::new();
    digest.update(source.as_bytes());
    let mut cx = Normalizer {
        file,
        errors: Vec::new(),
        digest,
        key_files,
    };
    let desired = cx.desired(raw);
    let mut errors = cx.errors;
    if !errors.is_empty() {
        errors.sort_by(|a, b| a.location.cmp(&b.location));
        return Err(ManifestErrors(errors));
    }
    let digest = format!("sha256:{}", hex::lower(&cx.digest.finalize()));
    let diagnostics = check_manifest(&desired);
    Ok(Loaded {
        desired,
        diagnostics,
        digest,
    })
}

fn private_key_error(location: Location) -> ManifestError {
    ManifestError {
        location,
        message: "a PRIVATE key is pasted here; only public keys belong in a manifest \
                  (its content is not shown)"
            .into(),
        help: "remove it, treat that key as leaked and rotate it, and put the PUBLIC key \
               (openssl rsa -pubout -in key.pem) in its place"
            .into(),
        snippet: None,
    }
}

/// The 1-based line and column of a byte offset.
fn location_of_offset(source: &str, file: &str, offset: usize) -> Location {
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Location {
        file: file.to_owned(),
        line: line as u64,
        column: column as u64,
    }
}

struct Normalizer<'a> {
    file: &'a str,
    errors: Vec<ManifestError>,
    digest: Sha256,
    key_files: &'a dyn KeyFiles,
}

impl Normalizer<'_> {
    fn loc(&self, l: serde_saphyr::Location) -> Location {
        Location {
            file: self.file.to_owned(),
            line: l.line(),
            column: l.column(),
        }
    }

    fn error(&mut self, at: serde_saphyr::Location, message: String, help: &str) {
        let location = self.loc(at);
        self.errors.push(ManifestError {
            location,
            message,
            help: help.to_owned(),
            snippet: None,
        });
    }

    /// Reports `value` of a field outside its OCI limit ([`limits`], the table the emulator
    /// also enforces). Short values are quoted; long ones are described by their length only.
    fn limit_error(&mut self, at: serde_saphyr::Location, limit: &FieldLimit, value: &str) {
        let why = limit.problem(value).unwrap_or_default();
        let message = if value.chars().count() <= 120 && limit.charset != limits::Charset::Any {
            format!("`{value}` is not a valid {}: {why}", limit.field)
        } else {
            why
        };
        let help = format!(
            "OCI refuses it at apply time: the {} {}",
            limit.field,
            limit.allowed()
        );
        self.error(at, message, &help);
    }

    /// A description, checked against [`limits::DESCRIPTION`].
    fn description(&mut self, d: Option<serde_saphyr::Spanned<String>>) -> Option<String> {
        let d = d?;
        if !limits::DESCRIPTION.accepts(&d.value) {
            self.limit_error(d.referenced, &limits::DESCRIPTION, &d.value);
        }
        Some(d.value)
    }

    fn desired(&mut self, raw: raw::Manifest) -> Desired {
        if raw.version.value != 1 {
            self.error(
                raw.version.referenced,
                format!("unsupported manifest version {}", raw.version.value),
                "this ociam reads `version: 1`",
            );
        }
        let tenancy = raw.tenancy.value.trim().to_owned();
        if !tenancy.starts_with("ocid1.tenancy.") {
            self.error(
                raw.tenancy.referenced,
                format!("`{tenancy}` is not a tenancy OCID"),
                "use the tenancy's OCID, e.g. ocid1.tenancy.oc1..aaaa…",
            );
        }
        let mut limits = Limits::default();
        if let Some(l) = raw.limits {
            if let Some(n) = l.max_deletions {
                limits.max_deletions = n;
            }
            if let Some(age) = l.max_key_age {
                match parse_days(&age.value) {
                    Some(days) => limits.max_key_age_days = days,
                    None => self.error(
                        age.referenced,
                        format!("`{}` is not a duration in days", age.value),
                        "write a number of days followed by d, e.g. `max_key_age: 90d`",
                    ),
                }
            }
        }
        let prune = raw.prune.map_or_else(Prune::default, |p| Prune {
            users: p.users.unwrap_or(false),
            groups: p.groups.unwrap_or(false),
        });

        let mut groups = BTreeMap::new();
        for g in raw.groups {
            let name = g.name.value.clone();
            if !valid_group_name(&name) {
                self.limit_error(g.name.referenced, &limits::GROUP_NAME, &name);
            }
            let location = self.loc(g.name.referenced);
            let entry = DesiredGroup {
                present: g.state != Some(raw::ObjectState::Absent),
                description: self.description(g.description),
                location,
            };
            let key = GroupName::new(&name);
            let first = groups
                .get_key_value(&key)
                .map(|(k, v): (&GroupName, &DesiredGroup)| (k.clone(), v.location.clone()));
            if let Some((first, at)) = first {
                let (message, help) = listed_twice("group", &first, &key, &at);
                self.error(g.name.referenced, message, help);
            } else {
                groups.insert(key, entry);
            }
        }

        let mut users = BTreeMap::new();
        for u in raw.users {
            let name = u.name.value.clone();
            if !valid_user_name(&name) {
                self.limit_error(u.name.referenced, &limits::USER_NAME, &name);
            }
            let user = self.user(&groups, u);
            let key = UserName::new(&name);
            let first = users
                .get_key_value(&key)
                .map(|(k, v): (&UserName, &DesiredUser)| (k.clone(), v.location.clone()));
            if let Some((first, at)) = first {
                let (message, help) = listed_twice("user", &first, &key, &at);
                self.errors.push(ManifestError {
                    location: user.location,
                    message,
                    help: help.into(),
                    snippet: None,
                });
            } else {
                users.insert(key, user);
            }
        }
        Desired {
            tenancy: Ocid::new(tenancy),
            limits,
            prune,
            groups,
            users,
        }
    }

    fn user(&mut self, groups: &BTreeMap<GroupName, DesiredGroup>, u: raw::User) -> DesiredUser {
        let location = self.loc(u.name.referenced);
        let mut out = DesiredUser::leave_as_is(location);
        out.present = u.state != Some(raw::ObjectState::Absent);
        out.description = self.description(u.description);
        if let Some(email) = u.email {
            if !limits::EMAIL.accepts(&email.value) {
                self.limit_error(email.referenced, &limits::EMAIL, &email.value);
            }
            out.email = Some(email.value);
        }
        if let Some(list) = u.groups {
            let mut set: BTreeMap<GroupName, Location> = BTreeMap::new();
            for g in list {
                let at = self.loc(g.referenced);
                let group = GroupName::new(&g.value);
                if let Some((declared, entry)) = groups.get_key_value(&group)
                    && !declared.same_spelling(&group)
                {
                    self.error(
                        g.referenced,
                        format!(
                            "user `{}` is placed in group `{}`, but the manifest declares that group as `{declared}` (at {}); names differing only in case are one name",
                            u.name.value, g.value, entry.location
                        ),
                        &format!("spell it `{declared}` here, as the group's own entry does"),
                    );
                }
                if groups.get(&group).is_some_and(|d| !d.present) {
                    self.error(
                        g.referenced,
                        format!(
                            "user `{}` is placed in group `{}`, which the manifest deletes",
                            u.name.value, g.value
                        ),
                        "remove the group from the user's list, or keep the group",
                    );
                }
                if let Some((first, first_at)) = set.get_key_value(&group) {
                    let message = if first.same_spelling(&group) {
                        format!(
                            "group `{}` is listed twice for user `{}` (first at {first_at})",
                            g.value, u.name.value
                        )
                    } else {
                        format!(
                            "groups `{first}` (at {first_at}) and `{}` of user `{}` differ only in case, so they are one group listed twice",
                            g.value, u.name.value
                        )
                    };
                    self.error(g.referenced, message, "list each group once");
                } else {
                    set.insert(group, at);
                }
            }
            out.groups = Some(set);
        }
        if let Some(c) = u.capabilities {
            out.capabilities = DesiredCapabilities {
                api_keys: c.api_keys,
                console_password: c.console_password,
            };
        }
        if let Some(p) = u.console_password {
            let location = self.loc(p.reset.referenced);
            if let Some(Err(why)) = p.deliver_to.as_deref().map(crate::recipient::check) {
                self.error(
                    p.reset.referenced,
                    format!("console_password.deliver_to of user `{}` {why}", u.name.value),
                    "set `deliver_to:` to the user's age recipient (`age1…`, from `age-keygen -y`), or remove it to write a 0600 file",
                );
            }
            out.console_password = Some(PasswordReset {
                reset: p.reset.value,
                deliver_to: p.deliver_to,
                location,
            });
        }
        if let Some(ack) = u.federated_api_keys {
            out.federated_ack = true;
            let _ = ack;
        }
        if let Some(list) = u.api_keys {
            let mut keys = Vec::new();
            for k in list {
                if let Some(key) = self.key(&u.name.value, k) {
                    keys.push(key);
                }
            }
            out.api_keys = Some(keys);
        }
        if !out.present {
            self.check_tombstone(&u.name, &out);
        }
        out
    }

    fn check_tombstone(&mut self, name: &serde_saphyr::Spanned<String>, user: &DesiredUser) {
        let extra = user.groups.is_some()
            || user.api_keys.is_some()
            || user.console_password.is_some()
            || user.description.is_some()
            || user.email.is_some();
        if extra {
            self.error(
                name.referenced,
                format!(
                    "user `{}` is `state: absent` but also declares fields",
                    name.value
                ),
                "a tombstone carries only `name` and `state: absent`; remove the other fields",
            );
        }
    }

    fn key(&mut self, user: &str, k: raw::ApiKey) -> Option<DesiredKey> {
        let given: Vec<serde_saphyr::Location> = [
            k.file.as_ref().map(|s| s.referenced),
            k.pem.as_ref().map(|s| s.referenced),
            k.fingerprint.as_ref().map(|s| s.referenced),
        ]
        .into_iter()
        .flatten()
        .collect();
        let Some(&at) = given.first() else {
            let at = k.expires.as_ref().map(|e| e.referenced);
            let location = at.map_or_else(
                || Location {
                    file: self.file.to_owned(),
                    line: 0,
                    column: 0,
                },
                |a| self.loc(a),
            );
            self.errors.push(ManifestError {
                location,
                message: format!("an API key of user `{user}` has none of `file`, `pem`, `fingerprint`"),
                help: "give the public key as `file: keys/name.pem`, inline as `pem: |`, or keep a live key by `fingerprint:`".into(),
                snippet: None,
            });
            return None;
        };
        if given.len() > 1 {
            self.error(
                at,
                format!("an API key of user `{user}` gives more than one of `file`, `pem`, `fingerprint`"),
                "give exactly one of them per key",
            );
            return None;
        }
        let expires = match k.expires {
            None => None,
            Some(e) => match e.value.parse::<jiff::civil::Date>() {
                Ok(d) => Some(d),
                Err(_) => {
                    self.error(
                        e.referenced,
                        format!("`{}` is not a date", e.value),
                        "write the date as YYYY-MM-DD, e.g. `expires: 2027-03-01`",
                    );
                    None
                }
            },
        };
        let location = self.loc(at);
        if let Some(fp) = k.fingerprint {
            let Some(fingerprint) = Fingerprint::parse(&fp.value) else {
                self.error(
                    fp.referenced,
                    format!("`{}` is not an OCI key fingerprint", fp.value),
                    "a fingerprint is 16 hex bytes joined by `:`; `ociam fingerprint KEY.pem` prints it",
                );
                return None;
            };
            return Some(DesiredKey {
                fingerprint,
                pem: None,
                expires,
                weakness: None,
                location,
            });
        }
        let (text, origin) = if let Some(file) = k.file {
            match self.read_key_file(&file) {
                Some(text) => (text, format!("key file `{}`", file.value)),
                None => return None,
            }
        } else {
            let pem = k.pem?;
            (pem.value, "inline pem".to_owned())
        };
        if keys::find_private_key(&text).is_some() {
            self.errors.push(private_key_error(location));
            return None;
        }
        match keys::PublicKey::from_pem(&text) {
            Ok(key) => Some(DesiredKey {
                fingerprint: key.fingerprint(),
                pem: Some(key.to_spki_pem()),
                expires,
                weakness: keys::strength_problem(&key),
                location,
            }),
            Err(e) => {
                self.error(
                    at,
                    format!("{origin} of user `{user}` is not a usable public key: {e}"),
                    "use a PEM public key (-----BEGIN PUBLIC KEY-----), e.g. from `openssl rsa -pubout -in key.pem`",
                );
                None
            }
        }
    }

    fn read_key_file(&mut self, file: &serde_saphyr::Spanned<String>) -> Option<String> {
        let path = file.value.trim();
        let escapes = path.is_empty()
            || path.starts_with('/')
            || path.starts_with('\\')
            || path.contains(':') && path.len() > 1 && path.as_bytes()[1] == b':'
            || path.split(['/', '\\']).any(|c| c == "..");
        if escapes {
            self.error(
                file.referenced,
                format!("key file `{path}` must be a relative path inside the manifest's directory"),
                "place the key under the manifest's directory and name it relative to it, without `..`",
            );
            return None;
        }
        match self.key_files.read(path) {
            Ok(text) => {
                self.digest.update(path.as_bytes());
                self.digest.update([0]);
                self.digest.update(text.as_bytes());
                Some(text)
            }
            Err(reason) => {
                self.error(
                    file.referenced,
                    format!("cannot read key file `{path}`: {reason}"),
                    "check the path; it is relative to the manifest's directory",
                );
                None
            }
        }
    }
}

/// The message and hint for a `kind` (`user` or `group`) entry whose name was already listed,
/// as `first` at `at`: the same spelling twice, or two spellings that differ only in case.
fn listed_twice(
    kind: &str,
    first: &impl fmt::Display,
    again: &impl fmt::Display,
    at: &Location,
) -> (String, &'static str) {
    let (first, again) = (first.to_string(), again.to_string());
    if first == again {
        (
            format!("{kind} `{again}` is listed twice (first at {at})"),
            "merge the two entries into one",
        )
    } else {
        (
            format!(
                "{kind} `{again}` and {kind} `{first}` (at {at}) differ only in case; OCI names are unique ignoring case (`name-case`)"
            ),
            "keep one entry, spelled as the tenancy spells it, and merge the other into it",
        )
    }
}

/// Parses `90d` into 90.
fn parse_days(s: &str) -> Option<u32> {
    s.trim().strip_suffix('d')?.parse().ok()
}

#[cfg(test)]
mod tests;
