//! Live benchmarks against the emulator running as a separate process (not timed tests):
//!
//! 1. **load**: signed `GetUser` requests per second the emulator sustains, from this process,
//!    with `CONCURRENCY` requests in flight, for `SECONDS`;
//! 2. **snapshot**: wall time of `ociam snapshot` of a 2,000-user tenancy with two keys each,
//!    at `--latency 20`, for several `--parallelism` values;
//! 3. **plan**: wall time of `ociam plan` of a manifest that changes that tenancy by 500 steps
//!    (new users with memberships, description updates, key deletions);
//! 4. **apply**: the write phase of `ociam apply` of those 500 changes at `--parallelism 16`
//!    and at `--parallelism 1`, on two identical tenancies, and their ratio (the binary's own
//!    `wrote N of M steps in S s` line).
//!
//! Run: `cargo bench --bench live` (release build of ociam; takes a few minutes).

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ociam::backend::{self, ProfileSpec};

const USERS: usize = 2_000;
const LATENCY_MS: &str = "20";
const CONCURRENCY: usize = 16;
const SECONDS: u64 = 10;

fn ociam() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ociam"))
}

struct Emulator {
    child: Child,
    url: String,
    config: PathBuf,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data: &Path, extra: &[&str]) -> Emulator {
    let mut child = Command::new(ociam())
        .args(["emulator", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("emulator starts");
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let url = loop {
        let line = lines.next().expect("a line").expect("readable");
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().expect("url").to_owned();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    Emulator {
        child,
        url,
        config: data.join("oci-config"),
    }
}

fn fingerprint(n: usize) -> String {
    let bytes = (n as u128 * 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835).to_be_bytes();
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A seed snapshot: `USERS` users with two fingerprint-only keys each, 20 groups, one
/// membership per user.
fn seed(path: &Path) {
    let tenancy = "ocid1.tenancy.oc1..bench";
    let users: Vec<_> = (0..USERS)
        .map(|u| {
            serde_json::json!({"id": format!("ocid1.user.oc1..u{u}"), "compartmentId": tenancy,
                "name": format!("user{u:04}"), "description": format!("User {u}")})
        })
        .collect();
    let groups: Vec<_> = (0..20)
        .map(|g| {
            serde_json::json!({"id": format!("ocid1.group.oc1..g{g}"), "compartmentId": tenancy,
                "name": format!("group{g:02}"), "description": ""})
        })
        .collect();
    let memberships: Vec<_> = (0..USERS)
        .map(|u| {
            serde_json::json!({"id": format!("ocid1.groupmembership.oc1..m{u}"),
                "compartmentId": tenancy, "groupId": format!("ocid1.group.oc1..g{}", u % 20),
                "userId": format!("ocid1.user.oc1..u{u}")})
        })
        .collect();
    let keys: serde_json::Map<_, _> = (0..USERS)
        .map(|u| {
            let list: Vec<_> = (0..2)
                .map(|k| serde_json::json!({"fingerprint": fingerprint(u * 2 + k)}))
                .collect();
            (
                format!("ocid1.user.oc1..u{u}"),
                serde_json::Value::Array(list),
            )
        })
        .collect();
    let snapshot = serde_json::json!({"format_version": 1, "tenancy": tenancy, "users": users,
        "groups": groups, "memberships": memberships, "api_keys": keys, "policies": []});
    std::fs::write(path, serde_json::to_vec(&snapshot).expect("json")).expect("seed written");
}

fn run(args: &[&str], dir: &Path) -> (Duration, bool, String) {
    let started = Instant::now();
    let out = Command::new(ociam())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("ociam runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (
        started.elapsed(),
        out.status.success() || out.status.code() == Some(2),
        stderr,
    )
}

fn load(dir: &Path) {
    let emulator = start(&dir.join("load"), &[]);
    let spec = ProfileSpec {
        config_file: emulator.config.clone(),
        profile: "DEFAULT".into(),
        endpoint: Some(emulator.url.clone()),
        parallelism: 1,
        passphrase_env: None,
        home: None,
    };
    let connected = backend::connect(&spec).expect("connects");
    let client = std::sync::Arc::new(connected.client);
    let actor = connected.actor;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let (ok, failed) = rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..CONCURRENCY {
            let client = client.clone();
            let actor = actor.clone();
            tasks.push(tokio::spawn(async move {
                let (mut ok, mut failed) = (0u64, 0u64);
                while Instant::now() < deadline {
                    match client.get_user(&actor).await {
                        Ok(_) => ok += 1,
                        Err(_) => failed += 1,
                    }
                }
                (ok, failed)
            }));
        }
        let mut total = (0, 0);
        for t in tasks {
            let (o, f) = t.await.expect("task");
            total.0 += o;
            total.1 += f;
        }
        total
    });
    #[allow(clippy::cast_precision_loss)]
    let rate = ok as f64 / SECONDS as f64;
    println!(
        "load: {ok} signed GetUser in {SECONDS} s with {CONCURRENCY} in flight = {rate:.0} req/s ({failed} failed)"
    );
}

fn main() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    load(dir);

    let seed_path = dir.join("seed.json");
    seed(&seed_path);
    let data = dir.join("tenancy");
    let emulator = start(
        &data,
        &[
            "--seed",
            seed_path.to_str().expect("utf-8"),
            "--latency",
            LATENCY_MS,
        ],
    );
    let config = emulator.config.to_str().expect("utf-8").to_owned();
    let source = [
        "--config-file",
        config.as_str(),
        "--endpoint",
        emulator.url.as_str(),
    ];
    for parallelism in ["8", "16", "32"] {
        let mut args = vec![
            "snapshot",
            "--out",
            "live.json",
            "--parallelism",
            parallelism,
        ];
        args.extend(source);
        let (took, ok, stderr) = run(&args, dir);
        assert!(ok, "{stderr}");
        println!(
            "snapshot: {USERS} users x 2 keys at --latency {LATENCY_MS}, --parallelism {parallelism}: {:.2} s",
            took.as_secs_f64()
        );
    }

    let mut args = vec!["import", "--out", "imported"];
    args.extend(source);
    let (_, ok, stderr) = run(&args, dir);
    assert!(ok, "{stderr}");
    let manifest_path = dir.join("imported/manifest.yaml");
    let manifest = std::fs::read_to_string(&manifest_path).expect("imported");
    std::fs::write(&manifest_path, five_hundred_changes(manifest)).expect("manifest written");

    let mut args = vec![
        "plan",
        "imported/manifest.yaml",
        "--out",
        "plan.json",
        "--parallelism",
        "16",
    ];
    args.extend(source);
    let (took, ok, stderr) = run(&args, dir);
    assert!(ok, "{stderr}");
    println!(
        "plan: {USERS} users at --latency {LATENCY_MS}: {:.2} s",
        took.as_secs_f64()
    );

    apply_in_parallel_and_one_at_a_time(dir, &seed_path);
}

/// The `wrote N of M steps in S s` line apply prints at the end of its write phase: (N, S).
fn write_phase(stderr: &str) -> Option<(usize, f64)> {
    let line = stderr.lines().rev().find(|l| l.starts_with("wrote "))?;
    let mut words = line.split_whitespace();
    let done = words.nth(1)?.parse().ok()?;
    let seconds = words.nth(4)?.parse().ok()?;
    Some((done, seconds))
}

/// The same 500 changes (200 description updates, 100 key deletions, 100 new users and their
/// memberships) applied to two identical emulated tenancies at `--latency 20`, once at
/// `--parallelism 16` and once at `--parallelism 1`: the write phases' ratio.
fn apply_in_parallel_and_one_at_a_time(dir: &Path, seed_path: &Path) {
    let mut phases = Vec::new();
    for parallelism in ["16", "1"] {
        let data = dir.join(format!("apply-p{parallelism}"));
        let emulator = start(
            &data,
            &[
                "--seed",
                seed_path.to_str().expect("utf-8"),
                "--latency",
                LATENCY_MS,
            ],
        );
        let config = emulator.config.to_str().expect("utf-8").to_owned();
        let source = [
            "--config-file",
            config.as_str(),
            "--endpoint",
            emulator.url.as_str(),
            "--parallelism",
            parallelism,
        ];
        let work = dir.join(format!("work-p{parallelism}"));
        std::fs::create_dir_all(&work).expect("work dir");
        let mut args = vec!["import", "--out", "imported"];
        args.extend(source);
        let (_, ok, stderr) = run(&args, &work);
        assert!(ok, "{stderr}");
        let manifest_path = work.join("imported/manifest.yaml");
        let manifest = std::fs::read_to_string(&manifest_path).expect("imported");
        std::fs::write(&manifest_path, five_hundred_changes(manifest)).expect("manifest written");

        let mut args = vec![
            "apply",
            "imported/manifest.yaml",
            "--auto-approve",
            "--secrets-dir",
            "secrets",
        ];
        args.extend(source);
        let (took, ok, stderr) = run(&args, &work);
        assert!(
            ok,
            "{}",
            stderr.lines().rev().take(5).collect::<Vec<_>>().join("\n")
        );
        let (written, seconds) = write_phase(&stderr).expect("apply reports its write phase");
        assert_eq!(written, 500, "every change written");
        println!(
            "apply: {written} changes on {USERS} users at --latency {LATENCY_MS}, --parallelism {parallelism}: write phase {seconds:.2} s (whole command with its reads and re-plan {:.2} s)",
            took.as_secs_f64()
        );
        phases.push(seconds);
    }
    println!(
        "apply: the write phase at --parallelism 16 is {:.1}x faster than one at a time (goal >= 12x)",
        phases[1] / phases[0]
    );
}

/// The imported manifest with 200 description updates, 100 key deletions (each user keeps
/// one key) and 100 new users in a group: 500 changes.
fn five_hundred_changes(mut manifest: String) -> String {
    for u in 0..200 {
        manifest = manifest.replacen(
            &format!("description: \"User {u}\"\n"),
            &format!("description: \"User {u} (renamed)\"\n"),
            1,
        );
    }
    for u in 200..300 {
        let line = format!("      - fingerprint: {}\n", fingerprint(u * 2 + 1));
        manifest = manifest.replacen(&line, "", 1);
    }
    for n in 0..100 {
        manifest.push_str(&format!(
            "  - name: newcomer{n:03}\n    description: \"New user {n}\"\n    groups: [group01]\n"
        ));
    }
    manifest
}
