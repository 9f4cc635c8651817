//! Writes a manifest that describes a live tenancy exactly (`ociam import`): the YAML text and
//! one public-key file per key whose PEM is known. Planning the written manifest against the
//! same tenancy gives no change.
//!
//! Choices: every group and user is listed with its description, email, groups and keys;
//! capabilities only when they differ from OCI's defaults (all on); a user whose API-key
//! capability is off keeps its keys as they are (no `api_keys:`), since declaring keys for it
//! would be `capability-disabled`; federated users with keys carry
//! `federated_api_keys: acknowledged`; a user whose reset tag is set gets that
//! `console_password.reset`, so no reset is planned. Free text is written as JSON strings,
//! which YAML reads verbatim. A key file holds only a PEM that parsed as a public key, and any
//! private-key material anywhere in the live state refuses the whole export. Pure: returns
//! text, writes nothing.

use std::fmt::Write as _;

use crate::keys;
use crate::model::{Fingerprint, State, UserName};

/// A written manifest and the key files it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exported {
    /// `manifest.yaml`.
    pub manifest: String,
    /// `(path relative to the manifest, PEM text)`, e.g. `keys/alice-3c1f8a02.pem`.
    pub key_files: Vec<(String, String)>,
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

/// A name is written bare when it is plainly a YAML string.
fn name(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._@+".contains(&b))
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain { s.to_owned() } else { quoted(s) }
}

fn key_file_name(user: &UserName, fingerprint: &Fingerprint) -> String {
    let short: String = fingerprint
        .as_str()
        .chars()
        .filter(|c| *c != ':')
        .take(8)
        .collect();
    let safe: String = user
        .as_str()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("keys/{safe}-{short}.pem")
}

/// Why a live tenancy cannot be exported. Never carries the offending text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// A key or a free-text field holds private-key material.
    #[error(
        "{0} holds a private key (its contents are not shown); nothing was written. Treat that \
         key as leaked: rotate it and remove it from the source of the live state"
    )]
    PrivateKey(String),
}

/// Refuses any string of `live` that holds private-key material, before anything is written.
fn check_no_private_key(live: &State) -> Result<(), ExportError> {
    let secret = |s: &str| keys::find_private_key(s).is_some();
    for (name, group) in &live.groups {
        if secret(name.as_str()) || secret(&group.description) {
            return Err(ExportError::PrivateKey("a group".to_owned()));
        }
    }
    for (name, user) in &live.users {
        if secret(name.as_str()) {
            return Err(ExportError::PrivateKey("a user name".to_owned()));
        }
        if secret(&user.description) {
            return Err(ExportError::PrivateKey(format!(
                "the description of user `{name}`"
            )));
        }
        if user.email.as_deref().is_some_and(secret) {
            return Err(ExportError::PrivateKey(format!(
                "the email of user `{name}`"
            )));
        }
    }
    for (name, user_keys) in &live.api_keys {
        for (fingerprint, key) in user_keys {
            if key.pem.as_deref().is_some_and(secret) {
                return Err(ExportError::PrivateKey(format!(
                    "key {fingerprint} of user `{name}`"
                )));
            }
        }
    }
    Ok(())
}

/// The manifest for `live`. `header` lines are written as comments at the top. Each key file
/// holds the canonical PEM of a key that parsed as a public key; a key whose PEM does not parse
/// is listed by fingerprint instead.
///
/// # Errors
/// [`ExportError::PrivateKey`] when any key or text of `live` holds private-key material.
pub fn export(live: &State, header: &[String]) -> Result<Exported, ExportError> {
    check_no_private_key(live)?;
    let mut out = String::new();
    let mut key_files = Vec::new();
    for line in header {
        let _ = writeln!(out, "# {line}");
    }
    let _ = writeln!(out, "version: 1\ntenancy: {}", live.tenancy);
    out.push_str(if live.groups.is_empty() {
        "groups: []\n"
    } else {
        "groups:\n"
    });
    for (group_name, group) in &live.groups {
        let _ = writeln!(out, "  - name: {}", name(group_name.as_str()));
        let _ = writeln!(out, "    description: {}", quoted(&group.description));
    }
    out.push_str(if live.users.is_empty() {
        "users: []\n"
    } else {
        "users:\n"
    });
    for (user_name, user) in &live.users {
        let _ = writeln!(out, "  - name: {}", name(user_name.as_str()));
        let _ = writeln!(out, "    description: {}", quoted(&user.description));
        if let Some(email) = &user.email {
            let _ = writeln!(out, "    email: {}", quoted(email));
        }
        let groups: Vec<String> = live
            .groups_of(user_name)
            .map(|g| name(g.as_str()))
            .collect();
        let _ = writeln!(out, "    groups: [{}]", groups.join(", "));
        let caps = user.capabilities;
        if !caps.api_keys || !caps.console_password {
            let _ = writeln!(
                out,
                "    capabilities: {{ api_keys: {}, console_password: {} }}",
                caps.api_keys, caps.console_password
            );
        }
        if let Some(reset) = user.password_reset {
            let _ = writeln!(out, "    console_password:\n      reset: {reset}");
        }
        if !caps.api_keys {
            continue;
        }
        let keys = live.api_keys.get(user_name);
        if user.federated && keys.is_some_and(|k| !k.is_empty()) {
            out.push_str("    federated_api_keys: acknowledged\n");
        }
        match keys {
            None => out.push_str("    api_keys: []\n"),
            Some(keys) => {
                out.push_str("    api_keys:\n");
                for (fingerprint, key) in keys {
                    let public = key
                        .pem
                        .as_deref()
                        .and_then(|pem| keys::PublicKey::from_pem(pem).ok());
                    match public {
                        Some(public) => {
                            let path = key_file_name(user_name, fingerprint);
                            let _ = writeln!(out, "      - file: {path}   # {fingerprint}");
                            key_files.push((path, public.to_spki_pem()));
                        }
                        None => {
                            let _ = writeln!(out, "      - fingerprint: {fingerprint}");
                        }
                    }
                }
            }
        }
    }
    Ok(Exported {
        manifest: out,
        key_files,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::keys::PublicKey;
    use crate::manifest::{KeyFiles, load};
    use crate::model::{ApiKey, Capabilities, Group, GroupName, Membership, Ocid, User};
    use crate::plan::{self, ActorSpec, Options};

    struct Files(BTreeMap<String, String>);

    /// Plans `desired` against `live` as `admin`, with default options.
    fn plan_as_admin(desired: &crate::model::Desired, live: &State) -> plan::Plan {
        let actor = ActorSpec {
            user: "admin".into(),
            fingerprint: None,
        };
        plan::plan(desired, live, &actor, &Options::default())
    }

    impl KeyFiles for Files {
        fn read(&self, relative: &str) -> Result<String, String> {
            self.0
                .get(relative)
                .cloned()
                .ok_or_else(|| "no such file".to_owned())
        }
    }

    fn user(description: &str) -> User {
        User {
            id: Some(Ocid::new("ocid1.user.oc1..x")),
            description: description.to_owned(),
            email: None,
            capabilities: Capabilities::default(),
            federated: false,
            managed: false,
            password_reset: None,
        }
    }

    fn tenancy() -> State {
        let mut s = State {
            tenancy: Ocid::new("ocid1.tenancy.oc1..t"),
            ..State::default()
        };
        s.groups.insert(
            GroupName::from("Administrators"),
            Group {
                id: None,
                description: "Admins: \"all\" of them".into(),
                managed: false,
            },
        );
        s.groups.insert(
            GroupName::from("yes"),
            Group {
                id: None,
                description: String::new(),
                managed: true,
            },
        );
        s.users
            .insert("admin".into(), user("The admin\nsecond line"));
        let mut fed = user("federated");
        fed.federated = true;
        fed.email = Some("fed@example.com".into());
        fed.password_reset = Some(3);
        s.users.insert("fed@corp".into(), fed);
        let mut off = user("no keys allowed");
        off.capabilities.api_keys = false;
        s.users.insert("off".into(), off);
        for (u, g) in [("admin", "Administrators"), ("fed@corp", "yes")] {
            s.memberships.insert(
                Membership {
                    user: u.into(),
                    group: g.into(),
                },
                None,
            );
        }
        for u in ["admin", "fed@corp", "off"] {
            let generated = crate::keygen::generate_rsa_2048().unwrap();
            let key = PublicKey::from_pem(&generated.public_spki_pem).unwrap();
            s.api_keys.entry(u.into()).or_default().insert(
                key.fingerprint(),
                ApiKey {
                    created: None,
                    pem: Some(generated.public_spki_pem.clone()),
                },
            );
        }
        s.api_keys.entry("admin".into()).or_default().insert(
            Fingerprint::parse("00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff").unwrap(),
            ApiKey {
                created: None,
                pem: None,
            },
        );
        s
    }

    #[test]
    fn an_exported_manifest_plans_no_change_against_its_tenancy() {
        let live = tenancy();
        let exported = export(&live, &["imported for a test".into()]).unwrap();
        let files = Files(exported.key_files.iter().cloned().collect());
        let loaded = load(&exported.manifest, "imported.yaml", &files)
            .unwrap_or_else(|e| panic!("{e:?}\n{}", exported.manifest));
        let errors: Vec<_> = loaded
            .diagnostics
            .iter()
            .filter(|d| d.severity == crate::rules::Severity::Error)
            .collect();
        assert!(errors.is_empty(), "{errors:?}\n{}", exported.manifest);
        let plan = plan_as_admin(&loaded.desired, &live);
        assert!(
            plan.changes.is_empty(),
            "{:#?}\n{}",
            plan.changes,
            exported.manifest
        );
        assert_eq!(
            exported.key_files.len(),
            2,
            "one file per key with a known PEM, none for the user whose API keys are off"
        );
        assert!(
            exported.manifest.contains("fingerprint: 00:11:22"),
            "{}",
            exported.manifest
        );
        assert!(
            exported.manifest.contains("name: \"yes\""),
            "YAML booleans are quoted"
        );
        assert!(
            exported
                .manifest
                .contains("federated_api_keys: acknowledged")
        );
        assert!(exported.manifest.contains("reset: 3"));
    }

    #[test]
    fn names_are_exported_as_the_tenancy_spells_them_and_plan_without_name_case() {
        let mut live = tenancy();
        live.users.insert("Erin.Q".into(), user("mixed case"));
        live.groups.insert(
            GroupName::from("DevOps"),
            Group {
                id: None,
                description: String::new(),
                managed: false,
            },
        );
        live.memberships.insert(
            Membership {
                user: "Erin.Q".into(),
                group: "DevOps".into(),
            },
            None,
        );
        let exported = export(&live, &[]).unwrap();
        assert!(
            exported.manifest.contains("  - name: Erin.Q\n"),
            "{}",
            exported.manifest
        );
        assert!(exported.manifest.contains("    groups: [DevOps]\n"));
        let files = Files(exported.key_files.iter().cloned().collect());
        let loaded = load(&exported.manifest, "imported.yaml", &files)
            .unwrap_or_else(|e| panic!("{e:?}\n{}", exported.manifest));
        let plan = plan_as_admin(&loaded.desired, &live);
        assert!(plan.changes.is_empty(), "{:#?}", plan.changes);
        assert!(
            plan.diagnostics
                .iter()
                .all(|d| d.rule != crate::rules::Rule::NameCase),
            "{:#?}",
            plan.diagnostics
        );
    }
}
