//! The command line end to end: every exit code, manifest errors with `file:line:column`,
//! private keys refused without an echo, and `--out` writing nothing on bad input.

use std::fs;
use std::path::Path;

use crate::util::{public_key_of_bits, root, run_in};

const TENANCY: &str = "ocid1.tenancy.oc1..aaaaaaaaexampletenancy";

fn case(name: &str) -> std::path::PathBuf {
    root().join("tests/fixtures/plan").join(name)
}

fn write(dir: &Path, name: &str, text: &str) {
    fs::write(dir.join(name), text).unwrap();
}

fn manifest(body: &str) -> String {
    format!("version: 1\ntenancy: {TENANCY}\n{body}")
}

fn public_key() -> String {
    ociam::keygen::generate_rsa_2048().unwrap().public_spki_pem
}

#[test]
fn validate_accepts_a_good_manifest_with_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "k.pem", &public_key());
    write(
        dir.path(),
        "m.yaml",
        &manifest("users:\n  - name: alice\n    api_keys:\n      - file: k.pem\n"),
    );
    let out = run_in(dir.path(), &["validate", "m.yaml"]);
    assert_eq!(out.code, 0, "{}", out.transcript());
    assert!(
        out.stdout.contains("m.yaml is valid: 1 user(s)"),
        "{}",
        out.transcript()
    );
}

#[test]
fn four_keys_for_one_user_is_rejected_naming_the_rule_and_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let mut body = String::from("users:\n  - name: carol\n    api_keys:\n");
    for i in 0..4 {
        write(dir.path(), &format!("k{i}.pem"), &public_key());
        body.push_str(&format!("      - file: k{i}.pem\n"));
    }
    write(dir.path(), "m.yaml", &manifest(&body));
    let out = run_in(dir.path(), &["validate", "m.yaml"]);
    assert_eq!(out.code, 3, "{}", out.transcript());
    assert!(out.stderr.contains("max-api-keys"), "{}", out.transcript());
    assert!(out.stderr.contains("carol"), "{}", out.transcript());
    assert!(out.stderr.contains("m.yaml:4:11"), "{}", out.transcript());
}

/// Each malformed manifest names its exact line and column and exits 1.
#[test]
fn manifest_errors_name_line_and_column() {
    let cases = [
        (
            "unknown field",
            "users:\n  - name: a\n    emial: a@example.com\n",
            "m.yaml:5:5",
            "unknown field `emial`",
        ),
        (
            "duplicate key",
            "users:\n  - name: a\n    name: b\n",
            "m.yaml:5:5",
            "duplicate mapping key",
        ),
        ("tab", "users:\n\t- name: a\n", "m.yaml:4:1", "tab"),
        (
            "tab after a value (the parser stops on the line before)",
            "users:\n  - name: a\n\t  email: a@b\n",
            "m.yaml:5:1",
            "tab",
        ),
        (
            "tab inside an indentation",
            "users:\n  - name: a\n    groups:\n   \t- x\n",
            "m.yaml:6:4",
            "tab",
        ),
        (
            "wrong type",
            "limits:\n  max_deletions: many\n",
            "m.yaml:4:18",
            "invalid",
        ),
        (
            "duplicate user",
            "users:\n  - name: a\n  - name: a\n",
            "m.yaml:5:11",
            "listed twice",
        ),
        (
            "two users differing only in case",
            "users:\n  - name: Bob\n  - name: bob\n",
            "m.yaml:5:11",
            "user `bob` and user `Bob` (at m.yaml:4:11) differ only in case",
        ),
    ];
    for (what, body, at, message) in cases {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "m.yaml", &manifest(body));
        let out = run_in(dir.path(), &["validate", "m.yaml"]);
        assert_eq!(out.code, 1, "{what}: {}", out.transcript());
        assert!(
            out.stderr.contains(at),
            "{what}: expected {at}\n{}",
            out.transcript()
        );
        assert!(
            out.stderr.contains(message),
            "{what}: expected {message}\n{}",
            out.transcript()
        );
        assert!(
            out.stderr.contains("help:"),
            "{what}: no hint\n{}",
            out.transcript()
        );
    }
}

/// A private key pasted inline or in a key file is refused, and none of its lines is echoed.
#[test]
fn a_pasted_private_key_is_refused_without_echoing_it() {
    let generated = ociam::keygen::generate_rsa_2048().unwrap();
    let private: &str = &generated.private_pkcs8_pem;
    let secret_lines: Vec<&str> = private
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let indented: String = private
        .lines()
        .map(|l| format!("          {l}\n"))
        .collect();
    let inline = manifest(&format!(
        "users:\n  - name: a\n    api_keys:\n      - pem: |\n{indented}"
    ));
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "inline.yaml", &inline);
    write(dir.path(), "id.pem", private);
    write(
        dir.path(),
        "file.yaml",
        &manifest("users:\n  - name: a\n    api_keys:\n      - file: id.pem\n"),
    );
    for (file, at) in [
        ("inline.yaml", "inline.yaml:7:11"),
        ("file.yaml", "file.yaml:6:15"),
    ] {
        for command in ["validate", "plan"] {
            let mut args = vec![command, file];
            if command == "plan" {
                args.extend(["--live", "nowhere.json", "--actor", "a"]);
            }
            let out = run_in(dir.path(), &args);
            assert_eq!(out.code, 1, "{}", out.transcript());
            assert!(out.stderr.contains("PRIVATE key"), "{}", out.transcript());
            assert!(
                out.stderr.contains(at),
                "expected {at}: {}",
                out.transcript()
            );
            for line in &secret_lines {
                assert!(
                    !out.stderr.contains(line) && !out.stdout.contains(line),
                    "echoed key material"
                );
            }
        }
    }
    let out = run_in(dir.path(), &["fingerprint", "id.pem"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("PRIVATE key"), "{}", out.transcript());
    for line in &secret_lines {
        assert!(!out.stderr.contains(line) && !out.stdout.contains(line));
    }
}

#[test]
fn key_files_may_not_escape_the_manifest_directory() {
    let outer = tempfile::tempdir().unwrap();
    let dir = outer.path().join("repo");
    fs::create_dir(&dir).unwrap();
    write(outer.path(), "outside.pem", &public_key());
    std::os::unix::fs::symlink(outer.path().join("outside.pem"), dir.join("link.pem")).unwrap();
    for file in ["../outside.pem", "/etc/hostname", "link.pem"] {
        write(
            &dir,
            "m.yaml",
            &manifest(&format!(
                "users:\n  - name: a\n    api_keys:\n      - file: {file}\n"
            )),
        );
        let out = run_in(&dir, &["validate", "m.yaml"]);
        assert_eq!(out.code, 1, "{file}: {}", out.transcript());
        assert!(
            out.stderr.contains("m.yaml:6:15"),
            "{file}: {}",
            out.transcript()
        );
    }
}

#[test]
fn plan_exit_codes_are_0_2_and_3() {
    let no_changes = case("no-changes");
    let base = [
        "plan",
        "manifest.yaml",
        "--live",
        "live.json",
        "--actor",
        "deploy-bot",
    ];
    let out = run_in(&no_changes, &base);
    assert_eq!(out.code, 0, "{}", out.transcript());
    assert!(out.stdout.contains("No changes"), "{}", out.transcript());
    let out = run_in(&no_changes, &[&base[..], &["--detailed-exitcode"]].concat());
    assert_eq!(out.code, 0, "no changes with --detailed-exitcode is 0");

    let rotate = case("rotate-at-cap");
    let out = run_in(&rotate, &base);
    assert_eq!(out.code, 0, "{}", out.transcript());
    let out = run_in(&rotate, &[&base[..], &["--detailed-exitcode"]].concat());
    assert_eq!(out.code, 2, "{}", out.transcript());

    let other = case("non-admin-other-key");
    let out = run_in(
        &other,
        &[
            "plan",
            "manifest.yaml",
            "--live",
            "live.json",
            "--actor",
            "dev",
        ],
    );
    assert_eq!(out.code, 3, "{}", out.transcript());
    assert!(
        out.stdout.contains("not-authorized"),
        "{}",
        out.transcript()
    );
}

#[test]
fn plan_errors_exit_1_and_write_nothing() {
    let rotate = case("rotate-at-cap");
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("plan.json");
    let out_arg = out_file.to_str().unwrap();
    for (args, expect) in [
        (
            vec!["--live", "missing.json", "--actor", "deploy-bot"],
            "missing.json",
        ),
        (
            vec!["--live", "live.json", "--actor", "nobody"],
            "--actor nobody is not a user",
        ),
        (
            vec!["--live", "manifest.yaml", "--actor", "deploy-bot"],
            "manifest.yaml:1:1",
        ),
    ] {
        let mut all = vec!["plan", "manifest.yaml", "--out", out_arg];
        all.extend(args);
        let out = run_in(&rotate, &all);
        assert_eq!(out.code, 1, "{}", out.transcript());
        assert!(
            out.stderr.contains(expect),
            "expected {expect}: {}",
            out.transcript()
        );
        assert!(!out_file.exists(), "nothing may be written on bad input");
    }
    // A manifest for another tenancy.
    write(
        dir.path(),
        "m.yaml",
        "version: 1\ntenancy: ocid1.tenancy.oc1..other\n",
    );
    let live = rotate.join("live.json");
    let out = run_in(
        dir.path(),
        &[
            "plan",
            "m.yaml",
            "--live",
            live.to_str().unwrap(),
            "--actor",
            "deploy-bot",
            "--out",
            out_arg,
        ],
    );
    assert_eq!(out.code, 1, "{}", out.transcript());
    assert!(out.stderr.contains("tenancy"), "{}", out.transcript());
    assert!(!out_file.exists());
}

#[test]
fn plan_out_writes_the_json_plan() {
    let rotate = case("rotate-at-cap");
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("plan.json");
    let out = run_in(
        &rotate,
        &[
            "plan",
            "manifest.yaml",
            "--live",
            "live.json",
            "--actor",
            "deploy-bot",
            "--format",
            "markdown",
            "--out",
            out_file.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.transcript());
    assert!(
        out.stdout.contains('|'),
        "markdown on stdout: {}",
        out.stdout
    );
    let plan: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&out_file).unwrap()).unwrap();
    assert_eq!(plan["format_version"], 1);
    let actions: Vec<&str> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["delete_api_key", "upload_api_key"]);
}

#[test]
fn fingerprint_prints_the_oci_fingerprint() {
    let vectors: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(root().join("tests/fixtures/oci/fingerprint-vectors.json")).unwrap(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for v in vectors["vectors"].as_array().unwrap() {
        write(dir.path(), "k.pem", v["public_key_pem"].as_str().unwrap());
        let out = run_in(dir.path(), &["fingerprint", "k.pem"]);
        assert_eq!(out.code, 0, "{}", out.transcript());
        assert_eq!(out.stdout.trim(), v["fingerprint"].as_str().unwrap());
    }
    let out = run_in(dir.path(), &["fingerprint", "nope.pem"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("nope.pem"), "{}", out.transcript());
}

#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(run_in(dir.path(), &["plan"]).code, 1);
    assert_eq!(run_in(dir.path(), &["frobnicate"]).code, 1);
    let help = run_in(dir.path(), &["--help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("Exit codes"), "{}", help.stdout);
}

/// A snapshot of `users` (name, managed) plus `admin` in `Administrators`.
fn name_case_snapshot(users: &[(&str, &str)]) -> String {
    let user = |id: &str, name: &str, managed: bool| {
        let tags = if managed {
            serde_json::json!({"ociam-managed": "true"})
        } else {
            serde_json::json!({})
        };
        serde_json::json!({"id": id, "compartmentId": TENANCY, "name": name, "description": "",
                           "freeformTags": tags})
    };
    let mut list = vec![user("ocid1.user.oc1..admin", "admin", false)];
    for (i, (name, _)) in users.iter().enumerate() {
        list.push(user(&format!("ocid1.user.oc1..u{i}"), name, true));
    }
    serde_json::json!({
        "format_version": 1, "tenancy": TENANCY, "users": list,
        "groups": [{"id": "ocid1.group.oc1..admins", "compartmentId": TENANCY,
                    "name": "Administrators", "description": ""}],
        "memberships": [{"id": "ocid1.groupmembership.oc1..m", "compartmentId": TENANCY,
                         "groupId": "ocid1.group.oc1..admins", "userId": "ocid1.user.oc1..admin"}],
        "api_keys": {}, "policies": []
    })
    .to_string()
}

/// `Bob` in the manifest against a live `bob`: rejected (exit 3) with the live spelling, and
/// with `prune` nothing deletes `bob` to create `Bob`. `drift` reports it (exit 2).
#[test]
fn a_manifest_name_matching_a_live_one_only_ignoring_case_is_refused_with_the_live_spelling() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "live.json", &name_case_snapshot(&[("bob", "")]));
    write(
        dir.path(),
        "m.yaml",
        &manifest(
            "prune: {users: true}\nusers:\n  - name: admin\n    groups: [Administrators]\n  - name: Bob\n    description: Bob\n",
        ),
    );
    let base = ["m.yaml", "--live", "live.json", "--actor", "ADMIN"];
    let out = run_in(
        dir.path(),
        &[&["plan"][..], &base, &["--format", "json"]].concat(),
    );
    assert_eq!(out.code, 3, "{}", out.transcript());
    let plan: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(plan["changes"], serde_json::json!([]), "{}", out.stdout);
    assert_eq!(
        plan["actor"]["user"], "admin",
        "the actor as the tenancy spells it"
    );
    let finding = &plan["diagnostics"][0];
    assert_eq!(finding["rule"], "name-case", "{}", out.stdout);
    assert_eq!(finding["subject"], "user.Bob");
    assert_eq!(finding["location"]["line"], 7);
    assert!(
        finding["message"]
            .as_str()
            .unwrap()
            .contains("spells it `bob`"),
        "{finding}"
    );

    let out = run_in(dir.path(), &[&["plan"][..], &base].concat());
    assert_eq!(out.code, 3, "{}", out.transcript());
    assert!(out.stdout.contains("name-case"), "{}", out.transcript());
    assert!(
        out.stdout.contains("write it `bob`"),
        "{}",
        out.transcript()
    );
    assert!(!out.stdout.contains("create_user"), "{}", out.transcript());
    assert!(!out.stdout.contains("delete_user"), "{}", out.transcript());

    let out = run_in(dir.path(), &[&["drift"][..], &base].concat());
    assert_eq!(out.code, 2, "{}", out.transcript());
    assert!(
        out.stdout.contains("spells it `bob`"),
        "{}",
        out.transcript()
    );
}

/// A snapshot OCI could not have produced is refused, naming both objects, by every command
/// that reads one: `--live FILE` and `emulator --seed FILE`.
#[test]
fn a_snapshot_with_one_name_in_two_spellings_is_refused_everywhere_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "live.json",
        &name_case_snapshot(&[("bob", ""), ("BOB", "")]),
    );
    write(dir.path(), "m.yaml", &manifest("users: []\n"));
    let expect = "users[1] `bob` (ocid1.user.oc1..u0) and users[2] `BOB` (ocid1.user.oc1..u1) are two users with one name";
    let out = run_in(
        dir.path(),
        &["plan", "m.yaml", "--live", "live.json", "--actor", "admin"],
    );
    assert_eq!(out.code, 1, "{}", out.transcript());
    assert!(out.stderr.contains("live.json: "), "{}", out.transcript());
    assert!(out.stderr.contains(expect), "{}", out.transcript());

    let out = run_in(
        dir.path(),
        &[
            "emulator",
            "--data",
            "data",
            "--seed",
            "live.json",
            "--listen",
            "127.0.0.1:0",
        ],
    );
    assert_eq!(out.code, 1, "{}", out.transcript());
    assert!(
        out.stderr.contains(&format!("live.json: {expect}")),
        "the error names the seed file: {}",
        out.transcript()
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.transcript());
}

/// Every limit of the one table the emulator also enforces (`ociam::limits::ALL`) that a
/// manifest can express: `validate` accepts the value at the limit and refuses one character
/// past it, naming the field's line and column, with a hint.
#[test]
fn validate_refuses_every_oci_field_limit_just_past_it() {
    use ociam::limits::{ALL, Charset};
    let mut checked = 0;
    for limit in ALL {
        let value = |chars: usize| match limit.charset {
            Charset::Email => format!("{}@example.com", "a".repeat(chars - 12)),
            _ => "a".repeat(chars),
        };
        // (manifest body, where the value sits) for a value.
        let body = |v: &str| match limit.field {
            "user name" => (format!("users:\n  - name: {v}\n"), "m.yaml:4:11"),
            "group name" => (format!("groups:\n  - name: {v}\n"), "m.yaml:4:11"),
            "description" => (
                format!("users:\n  - name: dev\n    description: {v}\n"),
                "m.yaml:5:18",
            ),
            "email" => (
                format!("users:\n  - name: dev\n    email: {v}\n"),
                "m.yaml:5:12",
            ),
            other => panic!("the test does not know the field `{other}`; add it"),
        };
        if limit.manifest_key.is_none() {
            // Tags are ociam's own (ownership and reset tags); `limits` tests that they fit.
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let (ok, _) = body(&value(limit.max_chars));
        write(dir.path(), "m.yaml", &manifest(&ok));
        let out = run_in(dir.path(), &["validate", "m.yaml"]);
        assert_eq!(
            out.code,
            0,
            "{} at the limit\n{}",
            limit.field,
            out.transcript()
        );
        let (bad, at) = body(&value(limit.max_chars + 1));
        write(dir.path(), "m.yaml", &manifest(&bad));
        let out = run_in(dir.path(), &["validate", "m.yaml"]);
        assert_eq!(
            out.code,
            1,
            "{} past the limit\n{}",
            limit.field,
            out.transcript()
        );
        assert!(
            out.stderr.contains(at),
            "{}: expected {at}\n{}",
            limit.field,
            out.transcript()
        );
        assert!(
            out.stderr.contains(&limit.max_chars.to_string()),
            "{}: the limit is named\n{}",
            limit.field,
            out.transcript()
        );
        assert!(
            out.stderr.contains("help:"),
            "{}\n{}",
            limit.field,
            out.transcript()
        );
        checked += 1;
    }
    assert_eq!(checked, 4, "user name, group name, description, email");
    // Characters and shape, too.
    for (body, at) in [
        ("users:\n  - name: \"al ice\"\n", "m.yaml:4:11"),
        ("groups:\n  - name: ops+x\n", "m.yaml:4:11"),
        ("users:\n  - name: dev\n    email: a@b@c\n", "m.yaml:5:12"),
        (
            "groups:\n  - name: ops\n    description: \"x\"\n  - name: \"\"\n",
            "m.yaml:6:11",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "m.yaml", &manifest(body));
        let out = run_in(dir.path(), &["validate", "m.yaml"]);
        assert_eq!(out.code, 1, "{body}\n{}", out.transcript());
        assert!(
            out.stderr.contains(at),
            "{body}: expected {at}\n{}",
            out.transcript()
        );
    }
}

/// `validate` accepts exactly the RSA sizes that can sign and be verified (2048 to 8192 bits,
/// `keys::MAX_RSA_BITS`, the bound the emulator's upload check uses too).
#[test]
fn validate_accepts_only_key_sizes_that_can_sign() {
    for (bits, code) in [(8192, 0), (8193, 3), (2047, 3)] {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("keys")).unwrap();
        write(dir.path(), "keys/k.pem", &public_key_of_bits(bits));
        write(
            dir.path(),
            "m.yaml",
            &manifest("users:\n  - name: a\n    api_keys:\n      - file: keys/k.pem\n"),
        );
        let out = run_in(dir.path(), &["validate", "m.yaml"]);
        assert_eq!(out.code, code, "{bits} bits\n{}", out.transcript());
        if code != 0 {
            assert!(out.stderr.contains("weak-key"), "{}", out.transcript());
            assert!(out.stderr.contains("m.yaml:6:15"), "{}", out.transcript());
        }
    }
}

/// `ociam completions SHELL` prints a script for every shell clap_complete knows, naming the
/// subcommands; `ociam man` prints a roff man page.
#[test]
fn completions_and_man_page() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = run_in(dir.path(), &["completions", shell]);
        assert_eq!(out.code, 0, "{shell}: {}", out.transcript());
        for word in ["validate", "drift", "detailed-exitcode"] {
            assert!(out.stdout.contains(word), "{shell} completion lacks {word}");
        }
    }
    let bad = run_in(dir.path(), &["completions", "cmd.exe"]);
    assert_eq!(bad.code, 1, "{}", bad.transcript());
    let man = run_in(dir.path(), &["man"]);
    assert_eq!(man.code, 0, "{}", man.transcript());
    assert!(man.stdout.contains(".TH ociam"), "{}", &man.stdout[..200]);
    assert!(man.stdout.contains("drift"));
}

/// `--color always|never` decides; `auto` (the default) follows `NO_COLOR` and
/// `CLICOLOR_FORCE` off a terminal.
#[test]
fn color_follows_the_flag_then_the_environment() {
    let dir = case("rotate-at-cap");
    let mut base = vec!["plan", "manifest.yaml", "--live", "live.json"];
    let extra = crate::util::extra_args(&dir);
    base.extend(extra.iter().map(String::as_str));
    let colored = |out: &crate::util::Outcome| out.stdout.contains('\u{1b}');

    let plain = run_in(&dir, &base);
    assert!(
        !colored(&plain),
        "NO_COLOR (set by the test harness) and no terminal"
    );
    let always = run_in(&dir, &[&base[..], &["--color", "always"]].concat());
    assert_eq!(always.code, plain.code, "{}", always.transcript());
    assert!(colored(&always), "--color always wins over NO_COLOR");
    let never = run_in(&dir, &[&base[..], &["--color", "never"]].concat());
    assert!(!colored(&never));

    let forced = crate::util::ociam()
        .env_remove("NO_COLOR")
        .env("CLICOLOR_FORCE", "1")
        .env("OCIAM_NOW", crate::util::FIXTURE_NOW)
        .current_dir(&dir)
        .args(&base)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&forced.stdout).contains('\u{1b}'),
        "CLICOLOR_FORCE colours a pipe under --color auto"
    );
    let forced_never = crate::util::ociam()
        .env_remove("NO_COLOR")
        .env("CLICOLOR_FORCE", "1")
        .env("OCIAM_NOW", crate::util::FIXTURE_NOW)
        .current_dir(&dir)
        .args([&base[..], &["--color", "never"]].concat())
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&forced_never.stdout).contains('\u{1b}'));
}

/// `drift --format markdown` is an issue body: the marker first, exit 2 on drift, the same
/// categories as the JSON report.
#[test]
fn drift_markdown_is_an_issue_body_with_the_marker() {
    let dir = case("rotate-at-cap");
    let mut base = vec!["drift", "manifest.yaml", "--live", "live.json"];
    let extra = crate::util::extra_args(&dir);
    base.extend(extra.iter().map(String::as_str));
    let md = run_in(&dir, &[&base[..], &["--format", "markdown"]].concat());
    assert_eq!(md.code, 2, "{}", md.transcript());
    assert!(
        md.stdout.starts_with("<!-- ociam:drift -->\n"),
        "{}",
        md.stdout
    );
    assert!(md.stdout.contains("drift detected"), "{}", md.stdout);
    let json = run_in(&dir, &[&base[..], &["--format", "json"]].concat());
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let missing = report["categories"]["missing"].as_array().unwrap().len();
    assert!(
        md.stdout.contains(&format!(
            "| Missing (in the manifest, not live) | {missing} |"
        )),
        "{}",
        md.stdout
    );
}
