//! Live benchmarks against the emulator running as a separate process (not timed tests):
//!
//! 1. **load**: signed `GetUser` requests per second the emulator sustains, from this process,
//!    with `CONCURRENCY` requests in flight, for `SECONDS`;
//! 2. **read-rate-limit**: `ociam snapshot` of a 500-user tenancy from an emulator with
//!    `--rate-limit 100` (429 without `retry-after`): wall, successful calls, wall over
//!    calls / 100 (goal ≤ 1.15) and failed requests (goal 0);
//! 3. **read-bound**: `ociam snapshot` of 2,000 users × 50 groups at `--latency 20`,
//!    `--parallelism 16`: wall against the bound pages × latency + ⌈fan-out / 16⌉ × latency
//!    (goal ≤ 1.2);
//! 4. **snapshot-plan-apply**: wall time of `ociam snapshot` of a 2,000-user tenancy with two
//!    keys each at `--latency 20` for several `--parallelism` values, then `ociam plan` and
//!    `ociam apply` of a manifest that changes that tenancy (new users with memberships,
//!    description updates, key deletions).
//!
//! Run: `cargo bench --bench live` (release build of ociam; takes a few minutes), or only some:
//! `cargo bench --bench live -- read` runs those whose name contains `read`.

use std::collections::BTreeMap;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
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
    /// Answers per (path kind, status), from the emulator's request log (see [`start_counted`]).
    answers: Answers,
    /// The thread reading that log.
    reader: Option<std::thread::JoinHandle<()>>,
}

/// Answers the emulator logged, by what was asked (`users` pages, `apiKeys`, `memberships`,
/// `other`) and status.
type Answers = Arc<Mutex<BTreeMap<(&'static str, u16), u64>>>;

/// What a logged request path asks for.
fn kind_of(path: &str) -> &'static str {
    if path == "/20160918/users" {
        "users"
    } else if path.ends_with("/apiKeys") {
        "apiKeys"
    } else if path == "/20160918/userGroupMemberships" {
        "memberships"
    } else {
        "other"
    }
}

/// The path and status of one emulator request-log line (`... path=/x status=200 ...`, colour
/// codes tolerated).
fn parse_request_line(line: &str) -> Option<(&'static str, u16)> {
    let after = |key: &str| -> Option<&str> {
        let at = line.find(key)? + key.len();
        Some(line[at..].trim_start_matches(|c: char| !c.is_ascii_alphanumeric() && c != '/'))
    };
    let path = after("path")?.split_whitespace().next()?;
    let path = path.split('\u{1b}').next()?;
    let status = after("status")?;
    let digits: String = status.chars().take_while(char::is_ascii_digit).collect();
    Some((kind_of(path), digits.parse().ok()?))
}

impl Emulator {
    /// Stops the emulator and waits until its request log is read to the end, so the counts
    /// are complete (each request is logged before its answer is sent).
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            reader.join().expect("log reader");
        }
    }

    fn total(&self) -> u64 {
        self.answers.lock().expect("counts").values().sum()
    }

    fn count(&self, kind: &str, status: u16) -> u64 {
        self.answers
            .lock()
            .expect("counts")
            .iter()
            .filter(|((k, s), _)| (kind == "*" || *k == kind) && *s == status)
            .map(|(_, n)| n)
            .sum()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data: &Path, extra: &[&str]) -> Emulator {
    start_emulator(data, extra, false)
}

/// [`start`], with the emulator's request log read to count its answers.
fn start_counted(data: &Path, extra: &[&str]) -> Emulator {
    start_emulator(data, extra, true)
}

fn start_emulator(data: &Path, extra: &[&str], counted: bool) -> Emulator {
    let mut command = Command::new(ociam());
    command
        .args(["emulator", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .args(extra)
        .stdout(Stdio::piped());
    if counted {
        command
            .env("RUST_LOG", "ociam::emulator=info")
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped());
    }
    let mut child = command.spawn().expect("emulator starts");
    let answers = Answers::default();
    let mut reader = None;
    if let Some(stderr) = child.stderr.take() {
        let answers = answers.clone();
        reader = Some(std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(key) = parse_request_line(&line) {
                    *answers.lock().expect("counts").entry(key).or_default() += 1;
                }
            }
        }));
    }
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
        answers,
        reader,
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

/// A seed snapshot: `users` users with two fingerprint-only keys each, `groups` groups, one
/// membership per user.
fn seed(path: &Path, users: usize, groups: usize) {
    let (user_count, group_count) = (users, groups);
    let tenancy = "ocid1.tenancy.oc1..bench";
    let users: Vec<_> = (0..user_count)
        .map(|u| {
            serde_json::json!({"id": format!("ocid1.user.oc1..u{u}"), "compartmentId": tenancy,
                "name": format!("user{u:04}"), "description": format!("User {u}")})
        })
        .collect();
    let groups: Vec<_> = (0..group_count)
        .map(|g| {
            serde_json::json!({"id": format!("ocid1.group.oc1..g{g}"), "compartmentId": tenancy,
                "name": format!("group{g:02}"), "description": ""})
        })
        .collect();
    let memberships: Vec<_> = (0..user_count)
        .map(|u| {
            serde_json::json!({"id": format!("ocid1.groupmembership.oc1..m{u}"),
                "compartmentId": tenancy, "groupId": format!("ocid1.group.oc1..g{}", u % group_count),
                "userId": format!("ocid1.user.oc1..u{u}")})
        })
        .collect();
    let keys: serde_json::Map<_, _> = (0..user_count)
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

/// One benchmark: it works in the directory it is given.
type Bench = fn(&Path);

/// The benchmarks, by name (the command line's words filter them by substring).
const BENCHES: &[(&str, Bench)] = &[
    ("load", load),
    ("read-rate-limit", read_under_rate_limit),
    ("read-bound", read_near_the_bound),
    ("snapshot-plan-apply", snapshot_plan_apply),
];

fn main() {
    // `cargo bench` passes `--bench`; any other word picks benchmarks by name.
    let words: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let tmp = tempfile::tempdir().expect("tempdir");
    for (name, bench) in BENCHES {
        if words.is_empty() || words.iter().any(|w| name.contains(w.as_str())) {
            let dir = tmp.path().join(name);
            std::fs::create_dir_all(&dir).expect("bench dir");
            bench(&dir);
        }
    }
}

/// The `ociam` arguments that read from `emulator`.
fn source_args(emulator: &Emulator) -> Vec<String> {
    vec![
        "--config-file".into(),
        emulator.config.to_str().expect("utf-8").to_owned(),
        "--endpoint".into(),
        emulator.url.clone(),
    ]
}

/// `ociam snapshot` of a 500-user tenancy (2 keys each, 10 groups) from an emulator with
/// `--rate-limit 100`, at the default `--parallelism`. The ideal is the token bucket's pace:
/// calls / 100 seconds (less the 1 s burst the full bucket allows at the start).
fn read_under_rate_limit(dir: &Path) {
    const RATE: u32 = 100;
    const READ_USERS: usize = 500;
    let seed_path = dir.join("seed.json");
    seed(&seed_path, READ_USERS, 10);
    let rate = RATE.to_string();
    let emulator = start_counted(
        &dir.join("tenancy"),
        &[
            "--seed",
            seed_path.to_str().expect("utf-8"),
            "--rate-limit",
            &rate,
        ],
    );
    let source = source_args(&emulator);
    let mut args = vec!["snapshot", "--out", "live.json"];
    args.extend(source.iter().map(String::as_str));
    let started = Instant::now();
    let out = Command::new(ociam())
        .args(&args)
        .current_dir(dir)
        .output()
        .expect("ociam runs");
    let wall = started.elapsed().as_secs_f64();
    let mut emulator = emulator;
    emulator.stop();
    let throttled = emulator.count("*", 429);
    // Every answer but a throttle took a token: 404 (ListDomains in a classic tenancy) too.
    let calls = emulator.total() - throttled;
    let failed = u64::from(!out.status.success());
    #[allow(clippy::cast_precision_loss)]
    let ideal = calls as f64 / f64::from(RATE);
    println!(
        "read-rate-limit: {READ_USERS} users at --rate-limit {RATE}: wall {wall:.2} s, {calls} calls, \
         wall / (calls / {RATE}) = {:.2} (goal <= 1.15), {throttled} answers 429, \
         {failed} failed (goal 0)",
        wall / ideal
    );
    if !out.status.success() {
        println!(
            "read-rate-limit: ociam snapshot failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `ociam snapshot` of 2,000 users × 50 groups at `--latency 20`, `--parallelism 16`, against
/// the bound pages × latency + ⌈fan-out calls / 16⌉ × latency, where pages are the users
/// listing's sequential pages and fan-out the per-user key and per-group membership lists.
fn read_near_the_bound(dir: &Path) {
    const PARALLELISM: u64 = 16;
    const GROUPS: usize = 50;
    let seed_path = dir.join("seed.json");
    seed(&seed_path, USERS, GROUPS);
    let emulator = start_counted(
        &dir.join("tenancy"),
        &[
            "--seed",
            seed_path.to_str().expect("utf-8"),
            "--latency",
            LATENCY_MS,
        ],
    );
    let source = source_args(&emulator);
    let parallelism = PARALLELISM.to_string();
    let mut args = vec![
        "snapshot",
        "--out",
        "live.json",
        "--parallelism",
        &parallelism,
    ];
    args.extend(source.iter().map(String::as_str));
    let (took, ok, stderr) = run(&args, dir);
    assert!(ok, "{stderr}");
    let mut emulator = emulator;
    emulator.stop();
    let pages = emulator.count("users", 200);
    let fan_out = emulator.count("apiKeys", 200) + emulator.count("memberships", 200);
    let latency: u64 = LATENCY_MS.parse().expect("ms");
    let bound_ms = pages * latency + fan_out.div_ceil(PARALLELISM) * latency;
    #[allow(clippy::cast_precision_loss)]
    let bound = bound_ms as f64 / 1000.0;
    let wall = took.as_secs_f64();
    println!(
        "read-bound: {USERS} users x {GROUPS} groups at --latency {LATENCY_MS}, --parallelism \
         {PARALLELISM}: wall {wall:.2} s, bound {bound:.2} s ({pages} pages + ceil({fan_out} \
         fan-out / {PARALLELISM}) x {LATENCY_MS} ms), ratio {:.2} (goal <= 1.2)",
        wall / bound
    );
}

/// `ociam snapshot` at several `--parallelism`, then `plan` and `apply` of a changed manifest.
fn snapshot_plan_apply(dir: &Path) {
    let seed_path = dir.join("seed.json");
    seed(&seed_path, USERS, 20);
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
    let mut manifest = std::fs::read_to_string(&manifest_path).expect("imported");
    // 200 description updates, 100 key deletions (keep one key), 100 new users in a group.
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
    std::fs::write(&manifest_path, manifest).expect("manifest written");

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

    let mut args = vec![
        "apply",
        "imported/manifest.yaml",
        "--auto-approve",
        "--parallelism",
        "16",
        "--secrets-dir",
        "secrets",
    ];
    args.extend(source);
    let (took, ok, stderr) = run(&args, dir);
    assert!(
        ok,
        "{}",
        stderr.lines().rev().take(5).collect::<Vec<_>>().join("\n")
    );
    let applied = stderr.lines().filter(|l| l.ends_with(": done")).count();
    println!(
        "apply: {applied} changes on {USERS} users at --latency {LATENCY_MS} (plan, apply, re-read, re-plan): {:.2} s",
        took.as_secs_f64()
    );
}
