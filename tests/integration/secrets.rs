//! One-time console passwords end to end, against a separate `ociam emulator` process: the
//! secret canary (no password in any output, plan, or file ociam leaves besides the delivered
//! ones, at `RUST_LOG=trace`), age sealing to per-user recipients, 0600 files, the reset tag
//! honoured on a re-run, `--reveal-passwords`, and a malformed `deliver_to` as a manifest error.
//!
//! The passwords are learned only from the delivered files (decrypted with age identities the
//! test generates) and proven to be the ones the emulator issued by comparing their SHA-256
//! with the `ui_passwords.password_sha256` the emulator records, read from its database.
//! Nothing here sleeps; no key or identity is committed.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use age::x25519;
use sha2::{Digest as _, Sha256};

use crate::util::{Emulator, Outcome, ociam};

/// An emulator plus a working directory; every `ociam` runs there at `RUST_LOG=trace`.
struct Env {
    emu: Emulator,
    tenancy: String,
    dir: tempfile::TempDir,
}

impl Env {
    fn start() -> Self {
        let emu = Emulator::start(&[]);
        let config = fs::read_to_string(emu.config_file()).unwrap();
        let tenancy = config
            .lines()
            .find_map(|l| l.strip_prefix("tenancy="))
            .expect("oci-config names the tenancy")
            .trim()
            .to_owned();
        Self {
            emu,
            tenancy,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn secrets(&self) -> PathBuf {
        self.path().join(".ociam/secrets")
    }

    /// The `ociam args... --config-file … --endpoint …` command line, as words.
    fn words(&self, args: &[&str]) -> Vec<String> {
        let mut all: Vec<String> = args.iter().map(|&a| a.to_owned()).collect();
        all.extend([
            "--config-file".to_owned(),
            self.emu.config_file().display().to_string(),
            "--endpoint".to_owned(),
            self.emu.url.clone(),
        ]);
        all
    }

    /// Runs `ociam` with piped stdout and stderr.
    fn run(&self, args: &[&str]) -> Outcome {
        let out = ociam()
            .current_dir(self.path())
            .env("RUST_LOG", "trace")
            .args(self.words(args))
            .output()
            .expect("ociam runs");
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn manifest(&self, file: &str, body: &str) {
        fs::write(
            self.path().join(file),
            format!("version: 1\ntenancy: {}\n{body}", self.tenancy),
        )
        .unwrap();
    }

    /// User name → the SHA-256 (hex) of the UI password the emulator last issued to it.
    fn issued(&self) -> BTreeMap<String, String> {
        let db = rusqlite::Connection::open_with_flags(
            self.emu.data.path().join("emulator.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
        let mut q = db
            .prepare(
                "SELECT u.name, p.password_sha256 FROM ui_passwords p \
                 JOIN iam_users u ON u.id = p.user_id",
            )
            .unwrap();
        q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// The files in the secrets directory, by name.
    fn delivered(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.secrets())
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

fn sha256_hex(s: &str) -> String {
    ociam::hex::lower(&Sha256::digest(s.as_bytes()))
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Every regular file under `dir`, recursively (symlinks are not followed).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            out.extend(files_under(&entry.path()));
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
    out
}

/// Fails if any haystack holds a password, or either half of one (a truncated leak).
#[track_caller]
fn assert_no_password(passwords: &[&str], haystacks: &[(String, Vec<u8>)]) {
    for pw in passwords {
        let (a, b) = pw.split_at(pw.len() / 2);
        for needle in [*pw, a, b] {
            for (name, hay) in haystacks {
                let found = hay.windows(needle.len()).any(|w| w == needle.as_bytes());
                assert!(!found, "a one-time password (or half of one) is in {name}");
            }
        }
    }
}

fn outputs(label: &str, out: &Outcome) -> [(String, Vec<u8>); 2] {
    [
        (format!("{label} stdout"), out.stdout.clone().into_bytes()),
        (format!("{label} stderr"), out.stderr.clone().into_bytes()),
    ]
}

/// The password in a delivered file: its text without the trailing newline.
fn password_of(bytes: Vec<u8>) -> String {
    let text = String::from_utf8(bytes).expect("the password is text");
    text.strip_suffix('\n')
        .expect("the file ends with a newline")
        .to_owned()
}

const ARMOR: &str = "-----BEGIN AGE ENCRYPTED FILE-----\n";

/// The canary: three resets (two sealed to test recipients, one plain), planned to a file and
/// applied from it at `RUST_LOG=trace`. No password is in stdout or stderr of plan or apply,
/// the plan file, or any file left in the working directory (which holds `.ociam/`) besides
/// the three delivered ones. The delivered passwords are the emulator's (SHA-256 match),
/// distinct, sealed to the right identity, 0600; a re-run resets nothing.
#[test]
fn one_time_passwords_are_delivered_sealed_or_0600_and_leak_nowhere() {
    let env = Env::start();
    let ana_id = x25519::Identity::generate();
    let ben_id = x25519::Identity::generate();
    env.manifest(
        "team.yaml",
        &format!(
            "users:
  - name: ana
    description: Ana
    console_password:
      reset: 1
      deliver_to: {}
  - name: ben
    description: Ben
    console_password:
      reset: 1
      deliver_to: {}
  - name: cho
    description: Cho
    console_password:
      reset: 1
",
            ana_id.to_public(),
            ben_id.to_public()
        ),
    );

    let planned = env.run(&["plan", "team.yaml", "--out", "plan.json"]);
    assert_eq!(planned.code, 0, "{}", planned.transcript());
    let plan_json = fs::read_to_string(env.path().join("plan.json")).unwrap();
    assert!(
        plan_json.contains(&ana_id.to_public().to_string()),
        "the plan carries ana's recipient"
    );
    assert!(env.issued().is_empty(), "planning reset nothing");

    let applied = env.run(&["apply", "plan.json", "--auto-approve"]);
    assert_eq!(applied.code, 0, "{}", applied.transcript());
    assert!(
        applied.stderr.contains("DEBUG") || applied.stderr.contains("TRACE"),
        "the most verbose logs are on and captured\n{}",
        applied.transcript()
    );

    // Exactly the three files, 0600, in a 0700 directory.
    assert_eq!(
        env.delivered(),
        ["ana.reset-1.age", "ben.reset-1.age", "cho.reset-1.txt"],
        "{}",
        applied.transcript()
    );
    assert_eq!(mode(&env.secrets()), 0o700);
    let file = |name: &str| env.secrets().join(name);
    for name in env.delivered() {
        assert_eq!(mode(&file(&name)), 0o600, "{name}");
    }
    for (user, name, how) in [
        ("ana", "ana.reset-1.age", "sealed with age to"),
        ("ben", "ben.reset-1.age", "sealed with age to"),
        ("cho", "cho.reset-1.txt", "plain text"),
    ] {
        let line = applied
            .stderr
            .lines()
            .find(|l| l.contains(&format!("reset_console_password password.{user}")))
            .unwrap_or_else(|| panic!("no step line for {user}\n{}", applied.transcript()));
        assert!(line.contains(name) && line.contains(how), "{line}");
    }

    // Learn the passwords only from the delivered files.
    let sealed = |name: &str| {
        let bytes = fs::read(file(name)).unwrap();
        let text = String::from_utf8(bytes.clone()).expect("armored age is text");
        assert!(text.starts_with(ARMOR), "{name} is armored age:\n{text}");
        bytes
    };
    let (ana_file, ben_file) = (sealed("ana.reset-1.age"), sealed("ben.reset-1.age"));
    assert!(
        age::decrypt(&ben_id, &ana_file).is_err(),
        "ana's file is sealed to ana's recipient only"
    );
    assert!(age::decrypt(&ana_id, &ben_file).is_err());
    let ana = password_of(age::decrypt(&ana_id, &ana_file).unwrap());
    let ben = password_of(age::decrypt(&ben_id, &ben_file).unwrap());
    let cho = password_of(fs::read(file("cho.reset-1.txt")).unwrap());

    // They are the passwords the emulator issued: distinct, and each matches the SHA-256 the
    // emulator recorded for that user when it answered CreateOrResetUIPassword.
    let passwords = [ana.as_str(), ben.as_str(), cho.as_str()];
    for pw in passwords {
        assert!(pw.len() >= 12, "a real password, not a stub");
    }
    assert!(
        ana != ben && ben != cho && ana != cho,
        "three distinct passwords"
    );
    let issued = env.issued();
    let expected: BTreeMap<String, String> = [("ana", &ana), ("ben", &ben), ("cho", &cho)]
        .into_iter()
        .map(|(u, pw)| (u.to_owned(), sha256_hex(pw)))
        .collect();
    assert_eq!(
        issued, expected,
        "the delivered passwords are the issued ones"
    );

    // The canary, over everything ociam printed or left behind except the three files.
    let mut haystacks: Vec<(String, Vec<u8>)> = Vec::new();
    haystacks.extend(outputs("plan", &planned));
    haystacks.extend(outputs("apply", &applied));
    let delivered: Vec<PathBuf> = env.delivered().iter().map(|n| file(n)).collect();
    for path in files_under(env.path()) {
        if !delivered.contains(&path) {
            haystacks.push((path.display().to_string(), fs::read(&path).unwrap()));
        }
    }
    let scanned: Vec<&str> = haystacks.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        scanned.iter().any(|n| n.ends_with("plan.json"))
            && scanned.iter().any(|n| n.ends_with("team.yaml")),
        "the canary looked at the plan and the manifest: {scanned:?}"
    );
    assert_no_password(&passwords, &haystacks);

    // The reset tag is honoured: applying the manifest again resets nothing.
    let again = env.run(&["apply", "team.yaml", "--auto-approve"]);
    assert_eq!(again.code, 0, "{}", again.transcript());
    assert!(
        again.stdout.contains("No changes."),
        "{}",
        again.transcript()
    );
    assert_eq!(env.issued(), expected, "no new password was issued");
    assert_eq!(env.delivered().len(), 3, "no new file");
    assert_no_password(&passwords, &outputs("re-apply", &again));
}

/// `--reveal-passwords` with stdout on a pipe is refused before anything happens: no user is
/// created, no password reset, no directory made.
#[test]
fn reveal_passwords_is_refused_when_stdout_is_not_a_terminal() {
    let env = Env::start();
    env.manifest(
        "m.yaml",
        "users:\n  - name: dee\n    console_password:\n      reset: 1\n",
    );
    let out = env.run(&["apply", "m.yaml", "--auto-approve", "--reveal-passwords"]);
    assert_eq!(out.code, 1, "{}", out.transcript());
    assert!(
        out.stderr.contains("--reveal-passwords") && out.stderr.contains("not a terminal"),
        "{}",
        out.transcript()
    );
    assert!(
        out.stdout.is_empty(),
        "nothing planned or shown: {}",
        out.transcript()
    );
    assert!(!env.path().join(".ociam").exists());
    let plan = env.run(&["plan", "m.yaml", "--detailed-exitcode"]);
    assert_eq!(
        plan.code,
        2,
        "dee still to be created: {}",
        plan.transcript()
    );
    assert!(env.issued().is_empty());
}

/// With stdout on a terminal (a pty from util-linux `script`), `--reveal-passwords` shows each
/// one-time password exactly once, and the files are still written.
#[test]
fn reveal_passwords_on_a_terminal_shows_each_password_once() {
    let env = Env::start();
    let id = x25519::Identity::generate();
    env.manifest(
        "m.yaml",
        &format!(
            "users:
  - name: eve
    console_password:
      reset: 1
      deliver_to: {}
  - name: fay
    console_password:
      reset: 1
",
            id.to_public()
        ),
    );
    let bin = assert_cmd::cargo::cargo_bin!("ociam").display().to_string();
    let mut words = vec![bin];
    words.extend(env.words(&["apply", "m.yaml", "--auto-approve", "--reveal-passwords"]));
    let quoted: Vec<String> = words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', r"'\''")))
        .collect();
    let out = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &quoted.join(" "), "/dev/null"])
        .current_dir(env.path())
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "trace")
        .env_remove("OCI_CLI_PROFILE")
        .env_remove("OCI_CONFIG_FILE")
        .output()
        .expect("util-linux `script` runs");
    let terminal = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{terminal}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        env.delivered(),
        ["eve.reset-1.age", "fay.reset-1.txt"],
        "{terminal}"
    );
    let eve = password_of(
        age::decrypt(
            &id,
            &fs::read(env.secrets().join("eve.reset-1.age")).unwrap(),
        )
        .unwrap(),
    );
    let fay = password_of(fs::read(env.secrets().join("fay.reset-1.txt")).unwrap());
    for (user, pw) in [("eve", &eve), ("fay", &fay)] {
        assert_eq!(
            terminal.matches(pw.as_str()).count(),
            1,
            "{user}'s password shown once"
        );
        assert!(
            terminal.contains(&format!("one-time console password of {user}: {pw}")),
            "{user}"
        );
    }
}

/// A malformed `deliver_to` is a manifest error at `file:line:column`, naming the user and the
/// value, before anything is read or planned.
#[test]
fn a_malformed_deliver_to_is_a_manifest_error_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("m.yaml"),
        "version: 1
tenancy: ocid1.tenancy.oc1..x
users:
  - name: gus
    console_password:
      reset: 4
      deliver_to: age1notarecipient
",
    )
    .unwrap();
    let out = crate::util::run_in(dir.path(), &["validate", "m.yaml"]);
    assert_eq!(out.code, 1, "{}", out.transcript());
    assert!(
        out.stderr
            .contains("m.yaml:6:14: console_password.deliver_to of user `gus` `age1notarecipient` is not an age X25519 recipient"),
        "{}",
        out.transcript()
    );
    assert!(out.stderr.contains("age-keygen -y"), "{}", out.transcript());
}
