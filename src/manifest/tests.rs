//! Unit tests of [`load`]: what a manifest loads to, and the location, message and hint of
//! each problem, with key files from an in-memory [`KeyFiles`].

use super::*;

struct NoFiles;

impl KeyFiles for NoFiles {
    fn read(&self, _: &str) -> Result<String, String> {
        Err("no files in this test".into())
    }
}

fn errors(body: &str) -> Vec<ManifestError> {
    let text = format!("version: 1\ntenancy: ocid1.tenancy.oc1..t\n{body}");
    load(&text, "m.yaml", &NoFiles)
        .expect_err("the manifest is refused")
        .0
}

#[test]
fn two_users_or_groups_differing_only_in_case_are_an_error_naming_both_lines() {
    let errs = errors("users:\n  - name: Bob\n  - name: alice\n  - name: bob\n");
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].location.to_string(), "m.yaml:6:11");
    assert!(
        errs[0]
            .message
            .contains("user `bob` and user `Bob` (at m.yaml:4:11) differ only in case"),
        "{}",
        errs[0].message
    );
    assert!(errs[0].help.contains("keep one entry"), "{}", errs[0].help);

    let errs = errors("groups:\n  - name: devs\n  - name: DEVS\n");
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].location.to_string(), "m.yaml:5:11");
    assert!(
        errs[0]
            .message
            .contains("group `DEVS` and group `devs` (at m.yaml:4:11)"),
        "{}",
        errs[0].message
    );

    // The same spelling twice keeps its old message.
    let errs = errors("users:\n  - name: a\n  - name: a\n");
    assert!(
        errs[0]
            .message
            .contains("user `a` is listed twice (first at m.yaml:4:11)"),
        "{}",
        errs[0].message
    );
}

#[test]
fn a_membership_spelled_unlike_the_group_entry_is_an_error_naming_both_lines() {
    let errs = errors("groups:\n  - name: devs\nusers:\n  - name: carol\n    groups: [Devs]\n");
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].location.to_string(), "m.yaml:7:14");
    assert!(
        errs[0].message.contains(
            "group `Devs`, but the manifest declares that group as `devs` (at m.yaml:4:11)"
        ),
        "{}",
        errs[0].message
    );
    assert!(errs[0].help.contains("spell it `devs`"), "{}", errs[0].help);

    let errs = errors("users:\n  - name: carol\n    groups: [ops, OPS]\n");
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].location.to_string(), "m.yaml:5:19");
    assert!(
        errs[0].message.contains(
            "groups `ops` (at m.yaml:5:14) and `OPS` of user `carol` differ only in case"
        ),
        "{}",
        errs[0].message
    );
}

#[test]
fn names_in_one_spelling_load_with_that_spelling() {
    let text = "version: 1\ntenancy: ocid1.tenancy.oc1..t\ngroups:\n  - name: Devs\nusers:\n  - name: Carol\n    groups: [Devs]\n";
    let loaded = load(text, "m.yaml", &NoFiles).expect("loads");
    let (name, carol) = loaded.desired.users.iter().next().expect("one user");
    assert_eq!(name.as_str(), "Carol");
    let groups: Vec<&str> = carol
        .groups
        .iter()
        .flatten()
        .map(|(g, _)| g.as_str())
        .collect();
    assert_eq!(groups, ["Devs"]);
}

/// A real RSA public key (the OCI documentation's test key) and its private half.
const PUBLIC: &str =
    include_str!("../../tests/fixtures/oci/signing-vectors/oci-doc-test-key.pub.pem");
const PRIVATE: &str = include_str!("../../tests/fixtures/oci/signing-vectors/oci-doc-test-key.pem");

/// Key files held in memory, by relative path; any other path is refused.
#[derive(Default)]
struct Files(BTreeMap<&'static str, String>);

impl Files {
    fn with(mut self, path: &'static str, text: &str) -> Self {
        self.0.insert(path, text.to_owned());
        self
    }
}

impl KeyFiles for Files {
    fn read(&self, relative: &str) -> Result<String, String> {
        self.0
            .get(relative)
            .cloned()
            .ok_or_else(|| "no such file in the fake".to_owned())
    }
}

const HEAD: &str = "version: 1\ntenancy: ocid1.tenancy.oc1..t\n";

/// The body lines of a PEM block (what must never be echoed), without the armor.
fn pem_body(pem: &str) -> Vec<&str> {
    pem.lines()
        .filter(|l| !l.starts_with("-----") && !l.trim().is_empty())
        .collect()
}

fn assert_no_key_text(errs: &[ManifestError]) {
    for e in errs {
        let all = format!("{e} {} {:?}", e.help, e.snippet);
        for line in pem_body(PRIVATE) {
            assert!(!all.contains(line), "private key text in {all}");
        }
        assert!(!all.contains("MII"), "key text in {all}");
    }
}

#[test]
fn a_valid_manifest_loads_its_users_groups_and_keys() {
    let text = format!(
        "{HEAD}limits:\n  max_deletions: 2\n  max_key_age: 30d\ngroups:\n  - name: devs\n    description: Developers\n  - name: old\n    state: absent\nusers:\n  - name: alice\n    description: Alice\n    email: alice@example.com\n    groups: [devs]\n    api_keys:\n      - file: keys/alice.pem\n        expires: 2027-03-01\n  - name: gone\n    state: absent\n"
    );
    let files = Files::default().with("keys/alice.pem", PUBLIC);
    let loaded = load(&text, "m.yaml", &files).expect("loads");
    let d = &loaded.desired;
    assert_eq!(d.tenancy, Ocid::new("ocid1.tenancy.oc1..t"));
    assert_eq!((d.limits.max_deletions, d.limits.max_key_age_days), (2, 30));
    let groups: Vec<(&str, bool)> = d
        .groups
        .iter()
        .map(|(n, g)| (n.as_str(), g.present))
        .collect();
    assert_eq!(groups, [("devs", true), ("old", false)]);
    assert_eq!(
        d.groups[&GroupName::from("devs")].description.as_deref(),
        Some("Developers")
    );
    let users: Vec<(&str, bool)> = d
        .users
        .iter()
        .map(|(n, u)| (n.as_str(), u.present))
        .collect();
    assert_eq!(users, [("alice", true), ("gone", false)]);
    let alice = &d.users[&UserName::from("alice")];
    assert_eq!(alice.description.as_deref(), Some("Alice"));
    assert_eq!(alice.email.as_deref(), Some("alice@example.com"));
    assert_eq!(alice.location.to_string(), "m.yaml:12:11");
    let in_groups: Vec<&str> = alice
        .groups
        .iter()
        .flatten()
        .map(|(g, _)| g.as_str())
        .collect();
    assert_eq!(in_groups, ["devs"]);
    let keys = alice.api_keys.as_deref().expect("keys listed");
    assert_eq!(keys.len(), 1);
    let expected = keys::PublicKey::from_pem(PUBLIC).expect("fixture parses");
    assert_eq!(keys[0].fingerprint, expected.fingerprint());
    assert_eq!(
        keys[0].pem.as_deref(),
        Some(expected.to_spki_pem().as_str())
    );
    assert_eq!(keys[0].expires, Some(jiff::civil::date(2027, 3, 1)));
    assert_eq!(keys[0].location.to_string(), "m.yaml:17:15");
    assert!(loaded.digest.starts_with("sha256:"), "{}", loaded.digest);
}

#[test]
fn a_key_file_the_reader_refuses_is_an_error_at_its_file_line_and_column() {
    let text =
        format!("{HEAD}users:\n  - name: bob\n    api_keys:\n      - file: keys/missing.pem\n");
    let errs = load(&text, "m.yaml", &Files::default())
        .expect_err("refused")
        .0;
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].location.to_string(), "m.yaml:6:15");
    assert_eq!(
        errs[0].message,
        "cannot read key file `keys/missing.pem`: no such file in the fake"
    );
    assert!(
        errs[0].help.contains("relative to the manifest"),
        "{}",
        errs[0].help
    );
}

#[test]
fn a_key_file_outside_the_manifest_directory_is_refused_before_reading() {
    for path in ["/etc/key.pem", "../key.pem", "keys/../../key.pem"] {
        let text = format!("{HEAD}users:\n  - name: bob\n    api_keys:\n      - file: {path}\n");
        // The fake would serve the file; the loader must not ask for it.
        let files = Files::default()
            .with("/etc/key.pem", PUBLIC)
            .with("../key.pem", PUBLIC)
            .with("keys/../../key.pem", PUBLIC);
        let errs = load(&text, "m.yaml", &files).expect_err(path).0;
        assert_eq!(errs.len(), 1, "{path}: {errs:#?}");
        assert_eq!(errs[0].location.to_string(), "m.yaml:6:15", "{path}");
        assert!(
            errs[0].message.contains("must be a relative path"),
            "{path}: {}",
            errs[0].message
        );
    }
}

#[test]
fn an_unknown_field_is_an_error_naming_its_line_and_column() {
    let errs = errors("users:\n  - name: carol\n    emial: carol@example.com\n");
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(
        (errs[0].location.line, errs[0].location.column),
        (5, 5),
        "{errs:#?}"
    );
    assert!(errs[0].message.contains("emial"), "{}", errs[0].message);
}

#[test]
fn a_private_key_pasted_inline_is_refused_without_echoing_it() {
    let indented: String = PRIVATE
        .lines()
        .map(|l| format!("          {l}\n"))
        .collect();
    let text = format!("{HEAD}users:\n  - name: dave\n    api_keys:\n      - pem: |\n{indented}");
    let errs = load(&text, "m.yaml", &NoFiles).expect_err("refused").0;
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].location.line, 7, "{errs:#?}");
    assert!(
        errs[0].message.contains("PRIVATE key"),
        "{}",
        errs[0].message
    );
    assert!(errs[0].help.contains("rotate"), "{}", errs[0].help);
    assert_eq!(errs[0].snippet, None);
    assert_no_key_text(&errs);
}

#[test]
fn a_private_key_in_a_key_file_is_refused_without_echoing_it() {
    let text =
        format!("{HEAD}users:\n  - name: dave\n    api_keys:\n      - file: keys/dave.pem\n");
    let files = Files::default().with("keys/dave.pem", PRIVATE);
    let errs = load(&text, "m.yaml", &files).expect_err("refused").0;
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].location.to_string(), "m.yaml:6:15");
    assert!(
        errs[0].message.contains("PRIVATE key"),
        "{}",
        errs[0].message
    );
    assert_no_key_text(&errs);
}

#[test]
fn every_problem_is_reported_in_source_order() {
    let errs = errors(
        "limits:\n  max_key_age: soon\nusers:\n  - name: erin\n    api_keys:\n      - fingerprint: nope\n        expires: someday\n",
    );
    let found: Vec<(u64, bool)> = errs
        .iter()
        .map(|e| (e.location.line, e.message.contains('`')))
        .collect();
    assert_eq!(found, [(4, true), (8, true), (9, true)], "{errs:#?}");
    assert!(errs[0].message.contains("`soon` is not a duration in days"));
    assert!(
        errs[1]
            .message
            .contains("`nope` is not an OCI key fingerprint")
    );
    assert!(errs[2].message.contains("`someday` is not a date"));
}

#[test]
fn the_digest_is_stable_and_covers_the_text_and_every_key_file() {
    let text = format!("{HEAD}users:\n  - name: fay\n    api_keys:\n      - file: keys/fay.pem\n");
    let digest = |text: &str, files: &Files| load(text, "m.yaml", files).expect("loads").digest;
    let files = Files::default().with("keys/fay.pem", PUBLIC);
    let base = digest(&text, &files);
    assert_eq!(digest(&text, &files), base, "same input, same digest");
    // The file name used in messages is not part of it.
    assert_eq!(
        load(&text, "other.yaml", &files).expect("loads").digest,
        base
    );
    // A comment changes the text, so the digest.
    assert_ne!(digest(&format!("{text}# reviewed\n"), &files), base);
    // So does the key file's content, even when it is the same key.
    let reformatted = Files::default().with("keys/fay.pem", &format!("{PUBLIC}\n"));
    assert_ne!(digest(&text, &reformatted), base);
    // And the key file's name.
    let renamed = text.replace("keys/fay.pem", "keys/fay2.pem");
    let files2 = Files::default().with("keys/fay2.pem", PUBLIC);
    assert_ne!(digest(&renamed, &files2), base);
}

/// More YAML nodes than serde-saphyr's default budget (250,000): 40,000 users of 9 nodes each
/// parse, because the budget grows with the file.
#[test]
fn a_large_honest_manifest_is_within_the_yaml_budget() {
    use std::fmt::Write as _;
    let mut text = String::from("version: 1\ntenancy: ocid1.tenancy.oc1..t\nusers:\n");
    for i in 0..40_000 {
        let _ = write!(
            text,
            "  - name: user{i}\n    description: d\n    groups: [team]\n"
        );
    }
    let manifest = raw::parse(&text, "m.yaml").expect("parses");
    assert_eq!(manifest.users.len(), 40_000);
}

/// The decoded-scalar private-key check runs under the same growing budgets as the typed
/// parse: in a manifest past serde-saphyr's default node budget, a key hidden by escapes in
/// the last user's description is still refused, at its line, without being echoed.
#[test]
fn a_private_key_escaped_in_a_large_manifest_is_refused() {
    use std::fmt::Write as _;
    let mut text = format!("{HEAD}users:\n");
    for i in 0..60_000 {
        let _ = write!(text, "  - name: user{i}\n    description: d\n");
    }
    let escaped = PRIVATE
        .replace('\n', "\\n")
        .replace('-', "\\x2D")
        .replacen("MII", "\\x4DII", 1);
    let _ = write!(text, "  - name: eve\n    description: \"{escaped}\"\n");
    assert_eq!(
        keys::find_private_key(&text),
        None,
        "only the decoded scalar shows the key"
    );
    let errs = load(&text, "m.yaml", &NoFiles).expect_err("refused").0;
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].location.line, 3 + 2 * 60_000 + 2, "{errs:#?}");
    assert!(
        errs[0].message.contains("PRIVATE key"),
        "{}",
        errs[0].message
    );
    assert_no_key_text(&errs);
}

/// Without escapes or tags the decoded-scalar parse is skipped when the text, its line breaks
/// and indentation folded to spaces, holds no key. Armor whose label a plain scalar folds
/// across lines (no escape anywhere, so the raw-text check cannot see it) is still found, and
/// so is armor hidden in a `!!binary` scalar's base64 (a tag sends it to the full parse).
#[test]
fn keys_hidden_by_folding_or_a_binary_tag_are_refused_without_escapes() {
    use base64::Engine as _;
    let folded = format!(
        "{HEAD}users:\n  - name: eve\n    description: -----BEGIN RSA\n      PRIVATE KEY-----\n"
    );
    assert_eq!(keys::find_private_key(&folded), None, "not in the raw text");
    assert!(!folded.contains(['\\', '!']));
    let errs = load(&folded, "m.yaml", &NoFiles).expect_err("refused").0;
    assert_eq!(errs[0].location.line, 5, "{errs:#?}");
    assert_no_key_text(&errs);

    let encoded = base64::engine::general_purpose::STANDARD.encode(PRIVATE);
    let binary = format!("{HEAD}users:\n  - name: eve\n    description: !!binary {encoded}\n");
    assert_eq!(keys::find_private_key(&binary), None, "not in the raw text");
    let errs = load(&binary, "m.yaml", &NoFiles).expect_err("refused").0;
    assert_eq!(errs[0].location.line, 5, "{errs:#?}");
    assert_no_key_text(&errs);

    // An honest manifest with neither: loads (the fast path says "no key").
    let honest = format!("{HEAD}users:\n  - name: eve\n    description: Eve, on call\n");
    assert!(load(&honest, "m.yaml", &NoFiles).is_ok());
}

/// The limits that stop YAML bombs do not grow with the file: 50,001 anchors are refused, and
/// the error says which limit and that it cannot be raised.
#[test]
fn anchors_past_the_fixed_limit_are_refused_naming_the_limit() {
    use std::fmt::Write as _;
    let mut text = String::from("version: 1\ntenancy: ocid1.tenancy.oc1..t\nusers:\n");
    for i in 0..50_001 {
        let _ = writeln!(text, "  - name: &a{i} user{i}");
    }
    let err = raw::parse(&text, "m.yaml").expect_err("refused");
    assert!(err.message.contains("budget breached"), "{}", err.message);
    assert!(
        err.message.to_ascii_lowercase().contains("anchor"),
        "{}",
        err.message
    );
    assert!(err.help.contains("cannot be raised"), "{}", err.help);
}
