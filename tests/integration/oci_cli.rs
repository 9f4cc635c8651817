//! Oracle's own `oci` CLI against the emulator, with nothing but `--config-file` and
//! `--endpoint`: users, groups, memberships, API keys (the fourth is refused with
//! `ApiKeyLimitExceeded`), UI passwords, paging with a page size of 1.
//!
//! The CLI comes from PyPI, at the version pinned in `.ci/oci-cli-version`, into a virtual
//! environment under `target/oci-cli-venv`; `.ci/run` installs it first, and this test
//! installs it itself when it is missing or another version, so it never skips.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::{Emulator, root};

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

/// The `oci` CLI version the tests drive, pinned in one place for `.ci/run` and here.
const OCI_CLI_VERSION: &str = include_str!("../../.ci/oci-cli-version");

/// The `oci` executable at [`OCI_CLI_VERSION`], installed into `target/oci-cli-venv` when
/// missing or another version.
fn oci_cli() -> PathBuf {
    let pinned = OCI_CLI_VERSION.trim();
    let venv = target_dir().join("oci-cli-venv");
    let oci = venv.join("bin/oci");
    let installed = Command::new(&oci)
        .arg("--version")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_default();
    if installed != pinned {
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 runs");
        assert!(status.success(), "python3 -m venv failed");
        let status = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", &format!("oci-cli=={pinned}")])
            .status()
            .expect("pip runs");
        assert!(status.success(), "pip install oci-cli=={pinned} failed");
    }
    oci
}

struct Oci<'a> {
    exe: PathBuf,
    emulator: &'a Emulator,
}

impl Oci<'_> {
    /// Runs `oci --config-file … --endpoint … args…`; returns (success, stdout JSON or Null, stderr).
    fn run(&self, args: &[&str]) -> (bool, Value, String) {
        let out = Command::new(&self.exe)
            .arg("--config-file")
            .arg(self.emulator.config_file())
            .arg("--endpoint")
            .arg(&self.emulator.url)
            .args(args)
            .env("OCI_CLI_SUPPRESS_FILE_PERMISSIONS_WARNING", "True")
            .env("SUPPRESS_LABEL_WARNING", "True")
            .output()
            .expect("oci runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
        (
            out.status.success(),
            json,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> Value {
        let (ok, json, stderr) = self.run(args);
        assert!(ok, "oci {args:?} failed: {stderr}");
        json
    }
}

fn write_public_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let generated = ociam::keygen::generate_rsa_2048().unwrap();
    let path = dir.join(name);
    std::fs::write(&path, &generated.public_spki_pem).unwrap();
    (path, generated.fingerprint.to_string())
}

#[test]
fn oracles_oci_cli_works_against_the_emulator() {
    let exe = oci_cli();
    let emulator = Emulator::start(&["--page-size", "1"]);
    let oci = Oci {
        exe,
        emulator: &emulator,
    };

    let mut ids = Vec::new();
    for name in ["cli-alice", "cli-bob", "cli-carol"] {
        let user = oci.ok(&[
            "iam",
            "user",
            "create",
            "--name",
            name,
            "--description",
            "made by oci",
        ]);
        assert_eq!(user["data"]["name"], name);
        ids.push(user["data"]["id"].as_str().unwrap().to_owned());
    }
    let alice = ids[0].as_str();

    // --all with a page size of 1 walks every page: the bootstrap admin and three users.
    let listed = oci.ok(&["iam", "user", "list", "--all", "--page-size", "1"]);
    let mut names: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["admin", "cli-alice", "cli-bob", "cli-carol"]);

    let got = oci.ok(&["iam", "user", "get", "--user-id", alice]);
    assert_eq!(got["data"]["description"], "made by oci");
    let updated = oci.ok(&[
        "iam",
        "user",
        "update",
        "--user-id",
        alice,
        "--description",
        "updated by oci",
        "--force",
    ]);
    assert_eq!(updated["data"]["description"], "updated by oci");

    let group = oci.ok(&[
        "iam",
        "group",
        "create",
        "--name",
        "cli-devs",
        "--description",
        "devs",
    ]);
    let group_id = group["data"]["id"].as_str().unwrap().to_owned();
    let groups = oci.ok(&["iam", "group", "list", "--all"]);
    assert!(
        groups["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "cli-devs")
    );
    let membership = oci.ok(&[
        "iam",
        "group",
        "add-user",
        "--user-id",
        alice,
        "--group-id",
        &group_id,
    ]);
    assert_eq!(membership["data"]["user-id"], alice, "{membership}");

    let dir = tempfile::tempdir().unwrap();
    let mut fingerprints = Vec::new();
    for i in 0..3 {
        let (path, fingerprint) = write_public_key(dir.path(), &format!("k{i}.pem"));
        let key = oci.ok(&[
            "iam",
            "user",
            "api-key",
            "upload",
            "--user-id",
            alice,
            "--key-file",
            path.to_str().unwrap(),
        ]);
        assert_eq!(key["data"]["fingerprint"], fingerprint.as_str());
        fingerprints.push(fingerprint);
    }
    let (fourth, _) = write_public_key(dir.path(), "k3.pem");
    let (ok, _, stderr) = oci.run(&[
        "iam",
        "user",
        "api-key",
        "upload",
        "--user-id",
        alice,
        "--key-file",
        fourth.to_str().unwrap(),
    ]);
    assert!(!ok, "a fourth key must be refused");
    assert!(stderr.contains("ApiKeyLimitExceeded"), "{stderr}");

    let keys = oci.ok(&["iam", "user", "api-key", "list", "--user-id", alice]);
    assert_eq!(keys["data"].as_array().unwrap().len(), 3);
    oci.ok(&[
        "iam",
        "user",
        "api-key",
        "delete",
        "--user-id",
        alice,
        "--fingerprint",
        &fingerprints[0],
        "--force",
    ]);
    let keys = oci.ok(&["iam", "user", "api-key", "list", "--user-id", alice]);
    assert_eq!(keys["data"].as_array().unwrap().len(), 2);

    let password = oci.ok(&[
        "iam",
        "user",
        "ui-password",
        "create-or-reset",
        "--user-id",
        alice,
    ]);
    assert!(
        password["data"]["password"]
            .as_str()
            .is_some_and(|p| p.len() >= 12),
        "a one-time password comes back"
    );

    let (ok, _, stderr) = oci.run(&["iam", "user", "delete", "--user-id", alice, "--force"]);
    assert!(!ok, "a user still in a group cannot be deleted: {stderr}");
    oci.ok(&[
        "iam",
        "group",
        "remove-user",
        "--user-id",
        alice,
        "--group-id",
        &group_id,
        "--force",
    ]);
    let (ok, _, stderr) = oci.run(&["iam", "user", "delete", "--user-id", alice, "--force"]);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = oci.run(&["iam", "user", "get", "--user-id", alice]);
    assert!(
        !ok && stderr.contains("NotAuthorizedOrNotFound"),
        "{stderr}"
    );
}
