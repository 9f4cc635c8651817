//! The private-key canary across every command: a private key generated at test time, put in
//! odd places of a manifest (double-quoted with `\n` escapes, single-quoted, escaped armor,
//! description, email, an unknown field, a comment, inline `pem:`, a key file as bare base64)
//! and of a snapshot (a user's description, an API key's `keyValue`, a freeform tag, an unknown
//! field), is refused by `validate`, `plan` (every format), `drift`, `import`, `fingerprint` and
//! `emulator --seed` with exit 1 — and no line of the key appears in stdout, stderr or any file
//! left behind. `import` writes nothing at all.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use crate::util::{Outcome, ociam, root, run_in};

const TENANCY: &str = "ocid1.tenancy.oc1..aaaaaaaaexampletenancy";

/// (what, manifest body after the head, extra files, the location that must be named).
type ManifestCase = (
    &'static str,
    String,
    Vec<(&'static str, String)>,
    &'static str,
);
/// A change that puts the key into a snapshot.
type Mutate<'a> = Box<dyn Fn(&mut Value) + 'a>;

/// A private key and the lines that must never be shown.
struct Secret {
    pem: String,
    /// The base64 body lines of the PEM.
    lines: Vec<String>,
    /// The DER, as one base64 string (a key pasted without armor).
    bare: String,
}

impl Secret {
    fn generate() -> Self {
        let key = ociam::keygen::generate_rsa_2048().unwrap();
        let pem = key.private_pkcs8_pem.to_string();
        let lines: Vec<String> = pem
            .lines()
            .filter(|l| !l.starts_with("-----") && !l.trim().is_empty())
            .map(str::to_owned)
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(lines.concat())
            .unwrap();
        let bare = base64::engine::general_purpose::STANDARD.encode(der);
        Self { pem, lines, bare }
    }

    /// The PEM as the body of a YAML double-quoted scalar: `\n` escapes, one source line.
    fn double_quoted(&self) -> String {
        format!("\"{}\"", self.pem.replace('\n', "\\n"))
    }

    /// The same, with the armor's dashes and the body's first letter escaped too, so the raw
    /// text holds no armor and no base64 DER: only the decoded scalar shows the key.
    fn fully_escaped(&self) -> String {
        let body = self.pem.replace('\n', "\\n").replace('-', "\\x2D");
        format!("\"{}\"", body.replacen("\\nMII", "\\n\\x4DII", 1))
    }

    /// The PEM as a YAML single-quoted scalar spread over indented lines (folded on reading).
    fn single_quoted(&self, indent: &str) -> String {
        let joined = self
            .pem
            .trim_end()
            .lines()
            .collect::<Vec<_>>()
            .join(&format!("\n\n{indent}"));
        format!("'{joined}'")
    }

    /// Asserts no line (nor a 24-character piece of one) of the key appears in `text`.
    #[track_caller]
    fn assert_absent(&self, what: &str, text: &str) {
        for line in &self.lines {
            for piece in line.as_bytes().chunks(24).filter(|c| c.len() == 24) {
                let piece = std::str::from_utf8(piece).unwrap();
                assert!(!text.contains(piece), "{what} shows key text `{piece}`");
            }
        }
        assert!(!text.contains(&self.bare[..40]), "{what} shows the key");
    }

    #[track_caller]
    fn assert_not_in(&self, what: &str, out: &Outcome) {
        self.assert_absent(&format!("{what} stdout"), &out.stdout);
        self.assert_absent(&format!("{what} stderr"), &out.stderr);
    }
}

/// Every file under `dir` (recursively) with its bytes.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = fs::read(&path).unwrap();
                out.push((path, bytes));
            }
        }
    }
    out.sort();
    out
}

/// A valid snapshot with public keys only (the `no-changes` plan fixture).
fn base_snapshot() -> Value {
    let text = fs::read_to_string(root().join("tests/fixtures/plan/no-changes/live.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Runs every manifest-reading command on `manifest.yaml` in `dir` against a clean snapshot;
/// each must exit 1, name `at` and show nothing of the key; no file may appear.
fn refuse_everywhere(secret: &Secret, dir: &Path, what: &str, at: &str) {
    let snap = dir.join("live.json");
    fs::write(&snap, base_snapshot().to_string()).unwrap();
    let before: Vec<PathBuf> = files(dir).into_iter().map(|(p, _)| p).collect();
    let live = ["--live", "live.json", "--actor", "deploy-bot"];
    let mut runs: Vec<(String, Vec<&str>)> =
        vec![("validate".into(), vec!["validate", "manifest.yaml"])];
    for format in ["text", "json", "markdown"] {
        let mut args = vec![
            "plan",
            "manifest.yaml",
            "--format",
            format,
            "--out",
            "plan.json",
        ];
        args.extend(live);
        runs.push((format!("plan --format {format}"), args));
    }
    let mut drift = vec!["drift", "manifest.yaml", "--out", "drift.json"];
    drift.extend(live);
    runs.push(("drift".into(), drift));
    for (label, args) in runs {
        let out = run_in(dir, &args);
        assert_eq!(out.code, 1, "{what}: {label}\n{}", out.transcript());
        assert!(
            out.stderr.contains(at),
            "{what}: {label} should name {at}\n{}",
            out.transcript()
        );
        assert!(
            out.stderr.to_lowercase().contains("private"),
            "{what}: {label}\n{}",
            out.transcript()
        );
        secret.assert_not_in(&format!("{what}: {label}"), &out);
    }
    let after: Vec<PathBuf> = files(dir).into_iter().map(|(p, _)| p).collect();
    assert_eq!(before, after, "{what}: a refused command wrote a file");
}

#[test]
fn a_private_key_anywhere_in_a_manifest_is_refused_by_every_command_and_never_shown() {
    let secret = Secret::generate();
    let public = ociam::keygen::generate_rsa_2048().unwrap().public_spki_pem;
    let head = format!("version: 1\ntenancy: {TENANCY}\n");
    let cases: Vec<ManifestCase> = vec![
        (
            "user description, double-quoted with \\n escapes",
            format!(
                "users:\n  - name: dev\n    description: {}\n",
                secret.double_quoted()
            ),
            vec![],
            "manifest.yaml:5:",
        ),
        (
            "armor and body escaped (only the decoded scalar shows the key)",
            format!(
                "users:\n  - name: dev\n    description: {}\n",
                secret.fully_escaped()
            ),
            vec![],
            "manifest.yaml:5:18",
        ),
        (
            "group description, single-quoted over several lines",
            format!(
                "groups:\n  - name: devs\n    description: {}\n",
                secret.single_quoted("      ")
            ),
            vec![],
            "manifest.yaml:5:",
        ),
        (
            "email, escaped",
            format!(
                "users:\n  - name: dev\n    email: {}\n",
                secret.fully_escaped()
            ),
            vec![],
            "manifest.yaml:5:12",
        ),
        (
            "an unknown field, escaped",
            format!(
                "users:\n  - name: dev\n    notes: {}\n",
                secret.fully_escaped()
            ),
            vec![],
            "manifest.yaml:5:12",
        ),
        (
            "a top-level unknown key's value, bare base64 DER",
            format!("x-note: {}\n", secret.bare),
            vec![],
            "manifest.yaml:3:9",
        ),
        (
            "a comment",
            format!("# {}\nusers: []\n", secret.pem.replace('\n', "\n# ")),
            vec![],
            "manifest.yaml:3:3",
        ),
        (
            "inline pem, escaped",
            format!(
                "users:\n  - name: dev\n    api_keys:\n      - pem: {}\n",
                secret.fully_escaped()
            ),
            vec![],
            "manifest.yaml:6:14",
        ),
        (
            "a key file holding the bare base64 DER",
            "users:\n  - name: dev\n    api_keys:\n      - file: keys/dev.pem\n".to_owned(),
            vec![("keys/dev.pem", format!("{}\n", secret.bare))],
            "manifest.yaml:6:15",
        ),
    ];
    for (what, body, extra, at) in cases {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("manifest.yaml"), format!("{head}{body}")).unwrap();
        fs::create_dir_all(dir.path().join("keys")).unwrap();
        fs::write(dir.path().join("keys/ok.pem"), &public).unwrap();
        for (path, text) in extra {
            fs::write(dir.path().join(path), text).unwrap();
        }
        refuse_everywhere(&secret, dir.path(), what, at);
    }
}

#[test]
fn a_private_key_anywhere_in_a_snapshot_is_refused_and_import_writes_nothing() {
    let secret = Secret::generate();
    let cases: Vec<(&str, &str, Mutate<'_>)> = vec![
        (
            "a key's keyValue",
            "keyValue",
            Box::new(|v: &mut Value| {
                let keys = v["api_keys"].as_object_mut().unwrap();
                let first = keys.values_mut().next().unwrap();
                first[0]["keyValue"] = Value::String(secret.pem.clone());
            }),
        ),
        (
            "a user's description",
            "users[1].description",
            Box::new(|v: &mut Value| {
                v["users"][1]["description"] = Value::String(secret.pem.clone());
            }),
        ),
        (
            "a freeform tag, as bare base64",
            "users[0].freeformTags.note",
            Box::new(|v: &mut Value| {
                v["users"][0]["freeformTags"]["note"] = Value::String(secret.bare.clone());
            }),
        ),
        (
            "an unknown user field",
            "users[2].notes",
            Box::new(|v: &mut Value| {
                v["users"][2]["notes"] = Value::String(secret.pem.clone());
            }),
        ),
    ];
    for (what, path, mutate) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut snap = base_snapshot();
        mutate(&mut snap);
        fs::write(
            dir.path().join("live.json"),
            serde_json::to_string_pretty(&snap).unwrap(),
        )
        .unwrap();
        fs::write(
            dir.path().join("manifest.yaml"),
            format!("version: 1\ntenancy: {TENANCY}\n"),
        )
        .unwrap();
        let live = ["--live", "live.json", "--actor", "deploy-bot"];
        let mut runs: Vec<Vec<&str>> = Vec::new();
        for format in ["text", "json", "markdown"] {
            let mut args = vec!["plan", "manifest.yaml", "--format", format];
            args.extend(live);
            runs.push(args);
        }
        let mut drift = vec!["drift", "manifest.yaml"];
        drift.extend(live);
        runs.push(drift);
        let mut import = vec!["import", "--out", "imported"];
        import.extend(live);
        runs.push(import);
        for args in runs {
            let out = run_in(dir.path(), &args);
            assert_eq!(out.code, 1, "{what}: {args:?}\n{}", out.transcript());
            assert!(
                out.stderr.contains(path),
                "{what}: {args:?} should name {path}\n{}",
                out.transcript()
            );
            secret.assert_not_in(&format!("{what}: {args:?}"), &out);
        }
        assert!(
            !dir.path().join("imported").exists(),
            "{what}: import wrote {:?}",
            files(&dir.path().join("imported"))
        );
        // The emulator refuses the same snapshot as a seed (and never starts serving).
        let data = dir.path().join("data");
        let out = ociam()
            .current_dir(dir.path())
            .args(["emulator", "--data"])
            .arg(&data)
            .args(["--seed", "live.json"])
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap();
        let out = Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert_eq!(out.code, 1, "{what}: emulator --seed\n{}", out.transcript());
        secret.assert_not_in(&format!("{what}: emulator --seed"), &out);
        for (file, bytes) in files(dir.path()) {
            if file.ends_with("live.json") {
                continue;
            }
            secret.assert_absent(
                &file.display().to_string(),
                &String::from_utf8_lossy(&bytes),
            );
        }
    }
}

#[test]
fn fingerprint_refuses_private_key_files_without_showing_them() {
    let secret = Secret::generate();
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("armored.pem", secret.pem.clone()),
        ("bare.txt", format!("{}\n", secret.bare)),
        ("escaped.txt", secret.pem.replace('\n', "\\n")),
    ] {
        fs::write(dir.path().join(name), &text).unwrap();
        let out = run_in(dir.path(), &["fingerprint", name]);
        assert_eq!(out.code, 1, "{name}\n{}", out.transcript());
        assert!(
            out.stderr.to_lowercase().contains("private key"),
            "{name}\n{}",
            out.transcript()
        );
        secret.assert_not_in(name, &out);
    }
}

#[test]
fn import_writes_checked_public_keys_readable_but_not_writable_by_others() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("live.json"), base_snapshot().to_string()).unwrap();
    let out = run_in(
        dir.path(),
        &[
            "import",
            "--out",
            "imported",
            "--live",
            "live.json",
            "--actor",
            "deploy-bot",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.transcript());
    let written = files(&dir.path().join("imported/keys"));
    assert!(!written.is_empty());
    for (path, bytes) in written {
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            ociam::keys::PublicKey::from_pem(&text).is_ok(),
            "{}",
            path.display()
        );
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode & !0o644,
            0,
            "{} is {mode:o}, more than 0644",
            path.display()
        );
        assert_eq!(mode & 0o600, 0o600, "{} is {mode:o}", path.display());
    }
}
