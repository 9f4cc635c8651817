//! The OCI CLI/SDK config file (`~/.oci/config`, INI): parsing, profile lookup with `[DEFAULT]`
//! inheritance, validation of the keys ociam needs, and `~` expansion of `key_file`.
//!
//! Pure core: parses a `&str`. No I/O, no clock, no randomness, no environment: the caller
//! chooses and reads the file (`--config-file`, `OCI_CONFIG_FILE`, `~/.oci/config`), picks the
//! profile (`--profile`, `OCI_CLI_PROFILE`, `DEFAULT`) and passes the home directory in.
//!
//! Syntax follows Python's `configparser` as the OCI CLI uses it (interpolation off): `[NAME]`
//! sections (case-sensitive), `key = value` or `key: value` split on the first delimiter and
//! trimmed, key names case-insensitive, whole-line `#` and `;` comments, blank lines, no inline
//! comments (a `#` inside a value is part of it), duplicate sections or keys are errors. Unlike
//! `configparser`, indented lines are ordinary lines rather than continuations. Unknown keys
//! are ignored, as both SDKs do. `key_content` is refused, as the Python SDK does.
//!
//! Errors name the file, the line (when there is one), the profile and the key, and give a
//! hint. They never quote a value or a line of the file: `pass_phrase` (held only as a
//! [`SecretString`]) must never reach a terminal or a log.

use std::collections::BTreeMap;
use std::fmt;

use secrecy::SecretString;

use crate::model::{Fingerprint, Ocid};

/// The profile every other profile inherits missing keys from.
pub const DEFAULT_PROFILE: &str = "DEFAULT";

/// A profile, resolved and validated.
#[derive(Debug)]
pub struct Profile {
    /// The profile's name (the section).
    pub name: String,
    /// `user`: the OCID of the user whose API key signs requests.
    pub user: Ocid,
    /// `fingerprint`: the API key's fingerprint, lowercase.
    pub fingerprint: Fingerprint,
    /// `key_file`: path of the private key, `~` expanded; relative paths are left to the caller.
    pub key_file: String,
    /// `tenancy`: the tenancy OCID.
    pub tenancy: Ocid,
    /// `region`, e.g. `us-ashburn-1`; `None` only when the caller gave an endpoint.
    pub region: Option<String>,
    /// `pass_phrase` of an encrypted private key (never printed; `Debug` shows `[REDACTED]`).
    pub pass_phrase: Option<SecretString>,
}

impl Profile {
    /// The request-signing `keyId`: `<tenancy>/<user>/<fingerprint>`.
    #[must_use]
    pub fn key_id(&self) -> String {
        crate::oci::sign::key_id(&self.tenancy, &self.user, &self.fingerprint)
    }
}

/// Why a profile could not be loaded. Messages never contain a value from the file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A line that is not a section header, `key = value`, a comment or blank.
    #[error(
        "{file}:{line}: {reason} (hint: lines are `[PROFILE]`, `key = value`, or comments starting with `#` or `;`)"
    )]
    Syntax {
        /// The config file's name as the user gave it.
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The same `[PROFILE]` header appears twice.
    #[error(
        "{file}:{line}: profile [{profile}] is defined a second time (first at line {first}); merge the two sections"
    )]
    DuplicateProfile {
        /// The config file's name.
        file: String,
        /// Line of the second header.
        line: usize,
        /// Line of the first header.
        first: usize,
        /// The profile.
        profile: String,
    },
    /// A key appears twice in one profile.
    #[error(
        "{file}:{line}: profile [{profile}] sets `{key}` a second time (first at line {first}); keep one"
    )]
    DuplicateKey {
        /// The config file's name.
        file: String,
        /// Line of the second occurrence.
        line: usize,
        /// Line of the first occurrence.
        first: usize,
        /// The profile.
        profile: String,
        /// The key (or `a key` when its name is not a plain identifier).
        key: String,
    },
    /// The requested profile is not in the file.
    #[error("{file}: profile [{profile}] not found; {}", available_hint(.available))]
    ProfileNotFound {
        /// The config file's name.
        file: String,
        /// The requested profile.
        profile: String,
        /// The profiles the file does define, in file order.
        available: Vec<String>,
    },
    /// A required key is set neither in the profile nor in `[DEFAULT]`.
    #[error("{file}: profile [{profile}] has no `{key}` (nor does [DEFAULT]); {hint}")]
    MissingKey {
        /// The config file's name.
        file: String,
        /// The profile.
        profile: String,
        /// The missing key.
        key: &'static str,
        /// How to fix it.
        hint: &'static str,
    },
    /// A key's value is not acceptable.
    #[error("{file}:{line}: profile [{profile}]: `{key}` {reason}; {hint}")]
    InvalidValue {
        /// The config file's name.
        file: String,
        /// Line of the value.
        line: usize,
        /// The profile.
        profile: String,
        /// The key.
        key: &'static str,
        /// What is wrong (never the value itself).
        reason: &'static str,
        /// How to fix it.
        hint: &'static str,
    },
    /// `key_content` is set: private keys do not belong in the config file.
    #[error(
        "{file}:{line}: profile [{profile}]: `key_content` is not supported in a config file (as with the OCI Python SDK); put the private key in a file and point `key_file` at it"
    )]
    KeyContentNotAllowed {
        /// The config file's name.
        file: String,
        /// Line of `key_content`.
        line: usize,
        /// The profile.
        profile: String,
    },
    /// `key_file` starts with `~` but the home directory is unknown.
    #[error(
        "{file}:{line}: profile [{profile}]: `key_file` starts with `~` but the home directory is unknown; write the full path"
    )]
    HomeUnknown {
        /// The config file's name.
        file: String,
        /// Line of `key_file`.
        line: usize,
        /// The profile.
        profile: String,
    },
}

fn available_hint(available: &[String]) -> String {
    if available.is_empty() {
        "the file defines no profiles (hint: run `oci setup config`, or check the file path)"
            .to_owned()
    } else {
        format!(
            "available profiles: {} (hint: choose one with --profile or OCI_CLI_PROFILE)",
            available.join(", ")
        )
    }
}

/// One `key = value` entry.
struct Entry {
    value: String,
    line: usize,
}

/// One `[NAME]` section.
struct Section {
    line: usize,
    entries: BTreeMap<String, Entry>,
}

/// A parsed config file. `Debug` lists profile names only (values may be secret).
pub struct ConfigFile {
    file: String,
    order: Vec<String>,
    sections: BTreeMap<String, Section>,
}

impl fmt::Debug for ConfigFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigFile")
            .field("file", &self.file)
            .field("profiles", &self.order)
            .finish_non_exhaustive()
    }
}

/// Key names shown in errors as is; anything else is reported as `a key`.
fn shown_key(key: &str) -> String {
    if !key.is_empty()
        && key.len() <= 40
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        key.to_owned()
    } else {
        "a key".to_owned()
    }
}

impl ConfigFile {
    /// Parses config text; `file_name` is used in error messages only.
    ///
    /// # Errors
    /// [`ConfigError::Syntax`], [`ConfigError::DuplicateProfile`] or
    /// [`ConfigError::DuplicateKey`].
    pub fn parse(text: &str, file_name: &str) -> Result<Self, ConfigError> {
        let file = file_name.to_owned();
        let mut order = Vec::new();
        let mut sections: BTreeMap<String, Section> = BTreeMap::new();
        let mut current: Option<String> = None;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
                continue;
            }
            let syntax = |reason| ConfigError::Syntax {
                file: file.clone(),
                line,
                reason,
            };
            if let Some(rest) = trimmed.strip_prefix('[') {
                let name = rest
                    .strip_suffix(']')
                    .ok_or_else(|| syntax("a section header must end with `]`"))?
                    .trim();
                if name.is_empty() {
                    return Err(syntax("empty profile name"));
                }
                if let Some(first) = sections.get(name) {
                    return Err(ConfigError::DuplicateProfile {
                        file: file.clone(),
                        line,
                        first: first.line,
                        profile: name.to_owned(),
                    });
                }
                sections.insert(
                    name.to_owned(),
                    Section {
                        line,
                        entries: BTreeMap::new(),
                    },
                );
                order.push(name.to_owned());
                current = Some(name.to_owned());
                continue;
            }
            let split = trimmed.find(['=', ':']).ok_or_else(|| {
                syntax("this line is neither `key = value` nor a `[PROFILE]` header")
            })?;
            let key = trimmed[..split].trim().to_ascii_lowercase();
            let value = trimmed[split + 1..].trim().to_owned();
            if key.is_empty() {
                return Err(syntax("a key name is missing before `=`"));
            }
            let Some(section_name) = current.as_ref() else {
                return Err(syntax("a key appears before the first `[PROFILE]` header"));
            };
            let Some(section) = sections.get_mut(section_name) else {
                return Err(syntax("a key appears before the first `[PROFILE]` header"));
            };
            if let Some(first) = section.entries.get(&key) {
                return Err(ConfigError::DuplicateKey {
                    file: file.clone(),
                    line,
                    first: first.line,
                    profile: section_name.clone(),
                    key: shown_key(&key),
                });
            }
            section.entries.insert(key, Entry { value, line });
        }
        Ok(Self {
            file,
            order,
            sections,
        })
    }

    /// The profiles the file defines, in file order (`DEFAULT` included when present).
    #[must_use]
    pub fn profile_names(&self) -> &[String] {
        &self.order
    }

    /// Resolves and validates `profile`, inheriting missing keys from `[DEFAULT]`.
    /// `region` may be absent when `endpoint_given`; `home_dir` expands a leading `~` in
    /// `key_file`.
    ///
    /// # Errors
    /// [`ConfigError::ProfileNotFound`], [`ConfigError::MissingKey`],
    /// [`ConfigError::InvalidValue`], [`ConfigError::KeyContentNotAllowed`] or
    /// [`ConfigError::HomeUnknown`].
    pub fn profile(
        &self,
        profile: &str,
        home_dir: Option<&str>,
        endpoint_given: bool,
    ) -> Result<Profile, ConfigError> {
        let Some(own) = self.sections.get(profile) else {
            return Err(ConfigError::ProfileNotFound {
                file: self.file.clone(),
                profile: profile.to_owned(),
                available: self.order.clone(),
            });
        };
        let default = self.sections.get(DEFAULT_PROFILE);
        let get = |key: &str| {
            own.entries
                .get(key)
                .or_else(|| default.and_then(|d| d.entries.get(key)))
        };
        let invalid = |key, line, reason, hint| ConfigError::InvalidValue {
            file: self.file.clone(),
            line,
            profile: profile.to_owned(),
            key,
            reason,
            hint,
        };
        if let Some(entry) = get("key_content") {
            return Err(ConfigError::KeyContentNotAllowed {
                file: self.file.clone(),
                line: entry.line,
                profile: profile.to_owned(),
            });
        }
        let required = |key: &'static str, hint: &'static str| {
            let entry = get(key).ok_or_else(|| ConfigError::MissingKey {
                file: self.file.clone(),
                profile: profile.to_owned(),
                key,
                hint,
            })?;
            if entry.value.is_empty() {
                return Err(invalid(key, entry.line, "is empty", hint));
            }
            Ok(entry)
        };

        let user = required("user", USER_HINT)?;
        if !user.value.starts_with("ocid1.user.") {
            return Err(invalid(
                "user",
                user.line,
                "is not a user OCID (it must start with `ocid1.user.`)",
                USER_HINT,
            ));
        }
        let fingerprint = required("fingerprint", FINGERPRINT_HINT)?;
        let fp = Fingerprint::parse(&fingerprint.value).ok_or_else(|| {
            invalid(
                "fingerprint",
                fingerprint.line,
                "is not a key fingerprint (16 hex bytes joined by `:`)",
                FINGERPRINT_HINT,
            )
        })?;
        let key_file = required("key_file", KEY_FILE_HINT)?;
        let key_path =
            expand_home(&key_file.value, home_dir).ok_or_else(|| ConfigError::HomeUnknown {
                file: self.file.clone(),
                line: key_file.line,
                profile: profile.to_owned(),
            })?;
        let tenancy = required("tenancy", TENANCY_HINT)?;
        if !tenancy.value.starts_with("ocid1.tenancy.") {
            return Err(invalid(
                "tenancy",
                tenancy.line,
                "is not a tenancy OCID (it must start with `ocid1.tenancy.`)",
                TENANCY_HINT,
            ));
        }
        let region = match get("region") {
            Some(entry) if !entry.value.is_empty() => {
                if !entry
                    .value
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                {
                    return Err(invalid(
                        "region",
                        entry.line,
                        "is not a region identifier (lowercase letters, digits and `-`)",
                        REGION_HINT,
                    ));
                }
                Some(entry.value.clone())
            }
            Some(_) | None if endpoint_given => None,
            Some(entry) => return Err(invalid("region", entry.line, "is empty", REGION_HINT)),
            None => {
                return Err(ConfigError::MissingKey {
                    file: self.file.clone(),
                    profile: profile.to_owned(),
                    key: "region",
                    hint: REGION_HINT,
                });
            }
        };
        let pass_phrase = get("pass_phrase")
            .filter(|e| !e.value.is_empty())
            .map(|e| SecretString::from(e.value.clone()));
        Ok(Profile {
            name: profile.to_owned(),
            user: Ocid::new(user.value.clone()),
            fingerprint: fp,
            key_file: key_path,
            tenancy: Ocid::new(tenancy.value.clone()),
            region,
            pass_phrase,
        })
    }
}

const USER_HINT: &str = "set `user` to the OCID of the user the API key belongs to (Console: \
     Profile > User settings > OCID); session-token profiles are not supported";
const FINGERPRINT_HINT: &str = "set `fingerprint` to the API key's fingerprint as the Console \
     shows it, or from `ociam fingerprint PUBLIC_KEY.pem`";
const KEY_FILE_HINT: &str = "set `key_file` to the path of the API private key (PEM)";
const TENANCY_HINT: &str = "set `tenancy` to the tenancy OCID (Console: Profile > Tenancy > OCID)";
const REGION_HINT: &str =
    "set `region` (e.g. `us-ashburn-1`), or pass --endpoint to talk to a given endpoint";

/// Expands a leading `~` (alone, or followed by `/` or `\`) with `home_dir`. `~user` forms and
/// other paths are returned unchanged. `None` when expansion is needed and `home_dir` is `None`.
fn expand_home(path: &str, home_dir: Option<&str>) -> Option<String> {
    let Some(rest) = path.strip_prefix('~') else {
        return Some(path.to_owned());
    };
    if !(rest.is_empty() || rest.starts_with('/') || rest.starts_with('\\')) {
        return Some(path.to_owned());
    }
    let home = home_dir?;
    let home = home.trim_end_matches(['/', '\\']);
    if rest.is_empty() && home.is_empty() {
        return Some("/".to_owned());
    }
    Some(format!("{home}{rest}"))
}

/// Parses `text` (read from `file_name`) and returns `profile`, resolved and validated.
/// See [`ConfigFile::profile`].
///
/// # Errors
/// Any [`ConfigError`].
pub fn load_profile(
    text: &str,
    file_name: &str,
    profile: &str,
    home_dir: Option<&str>,
    endpoint_given: bool,
) -> Result<Profile, ConfigError> {
    ConfigFile::parse(text, file_name)?.profile(profile, home_dir, endpoint_given)
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    const USER: &str =
        "ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq";
    const TENANCY: &str =
        "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq";
    const FP: &str = "73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7";
    const SECRET: &str = "Tr0ub4dor&3-do-not-print";

    fn full(section: &str) -> String {
        format!(
            "[{section}]\nuser={USER}\nfingerprint={FP}\nkey_file=~/.oci/oci_api_key.pem\n\
             tenancy={TENANCY}\nregion=us-ashburn-1\n"
        )
    }

    fn load(text: &str, profile: &str) -> Result<Profile, ConfigError> {
        load_profile(text, "cfg", profile, Some("/home/ci"), false)
    }

    #[test]
    fn loads_a_complete_default_profile() {
        let p = load(&full("DEFAULT"), "DEFAULT").unwrap();
        assert_eq!(p.name, "DEFAULT");
        assert_eq!(p.user.as_str(), USER);
        assert_eq!(p.tenancy.as_str(), TENANCY);
        assert_eq!(p.fingerprint.as_str(), FP);
        assert_eq!(p.key_file, "/home/ci/.oci/oci_api_key.pem");
        assert_eq!(p.region.as_deref(), Some("us-ashburn-1"));
        assert!(p.pass_phrase.is_none());
        assert_eq!(p.key_id(), format!("{TENANCY}/{USER}/{FP}"));
    }

    #[test]
    fn named_profiles_inherit_missing_keys_from_default() {
        let text = format!(
            "[DEFAULT]\ntenancy={TENANCY}\nregion=us-phoenix-1\nfingerprint={FP}\n\n\
             [ADMIN]\nuser={USER}\nkey_file=/keys/admin.pem\nregion=eu-frankfurt-1\n"
        );
        let p = load(&text, "ADMIN").unwrap();
        assert_eq!(p.tenancy.as_str(), TENANCY);
        assert_eq!(p.fingerprint.as_str(), FP);
        assert_eq!(
            p.region.as_deref(),
            Some("eu-frankfurt-1"),
            "own value wins"
        );
        assert_eq!(p.key_file, "/keys/admin.pem");
        // DEFAULT alone lacks user.
        let err = load(&text, "DEFAULT").unwrap_err();
        assert!(
            matches!(err, ConfigError::MissingKey { key: "user", .. }),
            "{err}"
        );
    }

    #[test]
    fn missing_profile_lists_the_available_ones() {
        let text = format!("{}\n{}", full("DEFAULT"), full("ADMIN"));
        let err = load(&text, "admin").unwrap_err();
        assert_eq!(
            err,
            ConfigError::ProfileNotFound {
                file: "cfg".into(),
                profile: "admin".into(),
                available: vec!["DEFAULT".into(), "ADMIN".into()],
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("cfg: profile [admin] not found"), "{msg}");
        assert!(msg.contains("available profiles: DEFAULT, ADMIN"), "{msg}");
        assert!(msg.contains("--profile"), "{msg}");
        let empty = load("", "DEFAULT").unwrap_err().to_string();
        assert!(empty.contains("defines no profiles"), "{empty}");
        // DEFAULT is a real section only when the file has one.
        assert!(matches!(
            load(&full("ADMIN"), "DEFAULT"),
            Err(ConfigError::ProfileNotFound { .. })
        ));
    }

    #[test]
    fn missing_required_keys_name_file_profile_and_key() {
        for key in ["user", "fingerprint", "key_file", "tenancy", "region"] {
            let text: String = full("P")
                .lines()
                .filter(|l| !l.starts_with(&format!("{key}=")))
                .map(|l| format!("{l}\n"))
                .collect();
            let err = load(&text, "P").unwrap_err();
            match &err {
                ConfigError::MissingKey {
                    file,
                    profile,
                    key: k,
                    ..
                } => {
                    assert_eq!((file.as_str(), profile.as_str(), *k), ("cfg", "P", key));
                }
                other => panic!("{key}: {other:?}"),
            }
            assert!(
                err.to_string().contains(&format!("has no `{key}`")),
                "{err}"
            );
            assert!(err.to_string().contains("set `"), "has a hint: {err}");
        }
    }

    #[test]
    fn region_is_optional_when_an_endpoint_is_given() {
        let text = full("P").replace("region=us-ashburn-1\n", "");
        let p = load_profile(&text, "cfg", "P", Some("/h"), true).unwrap();
        assert_eq!(p.region, None);
        let p = load_profile(&full("P"), "cfg", "P", Some("/h"), true).unwrap();
        assert_eq!(p.region.as_deref(), Some("us-ashburn-1"));
    }

    #[test]
    fn bad_values_are_reported_with_their_line_and_never_echoed() {
        let cases = [
            ("fingerprint", "fingerprint=73:61:a2:21", 3),
            ("user", "user=ocid1.group.oc1..zzzz", 2),
            ("tenancy", "tenancy=ocid1.compartment.oc1..zzzz", 5),
            ("region", "region=US East", 6),
            ("user", "user=", 2),
        ];
        for (key, line_text, line) in cases {
            let prefix = format!("{key}=");
            let text: String = full("P")
                .lines()
                .map(|l| {
                    if l.starts_with(&prefix) {
                        line_text.to_owned()
                    } else {
                        l.to_owned()
                    }
                })
                .map(|l| format!("{l}\n"))
                .collect();
            let err = load(&text, "P").unwrap_err();
            match &err {
                ConfigError::InvalidValue {
                    line: l,
                    key: k,
                    profile,
                    ..
                } => {
                    assert_eq!((*l, *k, profile.as_str()), (line, key, "P"), "{err}");
                }
                other => panic!("{key}: {other:?}"),
            }
            let msg = err.to_string();
            assert!(
                msg.starts_with(&format!("cfg:{line}: profile [P]: `{key}`")),
                "{msg}"
            );
            let value = &line_text[prefix.len()..];
            if !value.is_empty() {
                assert!(!msg.contains(value), "echoes the value: {msg}");
            }
        }
        // Fingerprints are normalized to lowercase.
        let text = full("P").replace(FP, &FP.to_uppercase());
        assert_eq!(load(&text, "P").unwrap().fingerprint.as_str(), FP);
    }

    #[test]
    fn comments_blank_lines_and_spacing_are_accepted() {
        let text = format!(
            "\u{feff}# OCI config\n; written by hand\n\n  [DEFAULT]  \n\
             \tuser = {USER}\n  # fingerprint=00:00\nFingerprint : {FP}\r\n\
             key_file=/k.pem\ntenancy   =   {TENANCY}\nregion=us-ashburn-1\n\
             security_token_file=/tok\n"
        );
        let p = load(&text, "DEFAULT").unwrap();
        assert_eq!(p.user.as_str(), USER);
        assert_eq!(p.fingerprint.as_str(), FP);
        assert_eq!(p.tenancy.as_str(), TENANCY);
        // No inline comments: `#` is part of the value, as with configparser.
        let text = full("P").replace("key_file=~/.oci/oci_api_key.pem", "key_file=/k.pem # mine");
        assert_eq!(load(&text, "P").unwrap().key_file, "/k.pem # mine");
    }

    #[test]
    fn syntax_errors_and_duplicates_name_the_line_without_echoing_it() {
        let cases: [(String, usize); 6] = [
            (format!("user={USER}\n[P]\n"), 1),
            (format!("[P\nuser={USER}\n"), 1),
            ("[]\n".to_owned(), 1),
            (format!("[P]\n{SECRET}\n"), 2),
            ("[P]\n= value\n".to_owned(), 2),
            (format!("{}\n[P]\n", full("P")), 8),
        ];
        for (text, line) in cases {
            let err = load(&text, "P").unwrap_err();
            let msg = err.to_string();
            assert!(msg.starts_with(&format!("cfg:{line}: ")), "{msg}");
            assert!(!msg.contains(SECRET), "{msg}");
        }
        let dup = format!("{}pass_phrase={SECRET}\npass_phrase={SECRET}\n", full("P"));
        let err = load(&dup, "P").unwrap_err();
        assert_eq!(
            err,
            ConfigError::DuplicateKey {
                file: "cfg".into(),
                line: 8,
                first: 7,
                profile: "P".into(),
                key: "pass_phrase".into(),
            }
        );
        assert!(!format!("{err} {err:?}").contains(SECRET));
    }

    #[test]
    fn key_file_tilde_expansion() {
        assert_eq!(
            expand_home("~/.oci/k.pem", Some("/home/a")).unwrap(),
            "/home/a/.oci/k.pem"
        );
        assert_eq!(
            expand_home("~/.oci/k.pem", Some("/home/a/")).unwrap(),
            "/home/a/.oci/k.pem"
        );
        assert_eq!(expand_home("~", Some("/home/a")).unwrap(), "/home/a");
        assert_eq!(expand_home("~/k", Some("/")).unwrap(), "/k");
        assert_eq!(
            expand_home("~\\k.pem", Some("C:\\Users\\a")).unwrap(),
            "C:\\Users\\a\\k.pem"
        );
        assert_eq!(
            expand_home("~bob/k.pem", Some("/home/a")).unwrap(),
            "~bob/k.pem"
        );
        assert_eq!(expand_home("/abs/k.pem", None).unwrap(), "/abs/k.pem");
        assert_eq!(expand_home("rel/k.pem", None).unwrap(), "rel/k.pem");
        assert_eq!(expand_home("~/k.pem", None), None);
        let err = load_profile(&full("P"), "cfg", "P", None, false).unwrap_err();
        assert_eq!(
            err,
            ConfigError::HomeUnknown {
                file: "cfg".into(),
                line: 4,
                profile: "P".into()
            }
        );
    }

    #[test]
    fn key_content_is_refused_even_when_inherited() {
        let text = format!(
            concat!(
                "[DEFAULT]\nkey_content=-----BEGIN ",
                "RSA PRIVATE KEY-----\n{}"
            ),
            full("P")
        );
        let err = load(&text, "P").unwrap_err();
        assert_eq!(
            err,
            ConfigError::KeyContentNotAllowed {
                file: "cfg".into(),
                line: 2,
                profile: "P".into()
            }
        );
        assert!(!err.to_string().contains("BEGIN RSA"));
    }

    #[test]
    fn pass_phrase_is_kept_secret() {
        let text = format!("{}pass_phrase = {SECRET}\n", full("P"));
        let p = load(&text, "P").unwrap();
        assert_eq!(p.pass_phrase.as_ref().unwrap().expose_secret(), SECRET);
        let shown = format!("{p:?}");
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(shown.contains("REDACTED"), "{shown}");
        let file = ConfigFile::parse(&text, "cfg").unwrap();
        assert!(!format!("{file:?}").contains(SECRET));
        assert_eq!(file.profile_names(), ["P"]);
        // Every error from a file holding the passphrase stays clean.
        for broken in [
            text.replace("[P]", "[Q]"),
            text.replace("region=us-ashburn-1\n", ""),
            text.replace(FP, "zz"),
            format!("{text}{SECRET}\n"),
            format!("{text}pass_phrase={SECRET}\n"),
        ] {
            let err = load(&broken, "P").unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(SECRET), "{shown}");
        }
        // An empty pass_phrase means none.
        let text = format!("{}pass_phrase=\n", full("P"));
        assert!(load(&text, "P").unwrap().pass_phrase.is_none());
    }
}
