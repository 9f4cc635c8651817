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
//! 4. **snapshot-plan**: wall time of `ociam snapshot` of a 2,000-user tenancy with two keys
//!    each at `--latency 20` for several `--parallelism` values, then of `ociam plan` of a
//!    manifest that changes it by 500 steps (new users with memberships, description updates,
//!    key deletions);
//! 5. **apply**: the write phase of `ociam apply` of those 500 changes at `--parallelism 16`
//!    and at `--parallelism 1`, on two identical tenancies, and their ratio (the binary's own
//!    `wrote N of M steps in S s` line; goal ≥ 12×);
//! 6. **plan_files**: wall time and peak RSS of `ociam plan` of 10,000- and 100,000-user
//!    manifests (three keys each) against snapshot files of the same tenancies, generated at
//!    bench time (no emulator; the binary parses both files, as a user runs it; goal for
//!    100,000 users < 10 s and < 1 GiB).
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
/// An emulator seeded from `seed` at `--latency LATENCY_MS`.
fn start_seeded(data: &Path, seed: &Path) -> Emulator {
    start(
        data,
        &[
            "--seed",
            seed.to_str().expect("utf-8"),
            "--latency",
            LATENCY_MS,
        ],
    )
}

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
    ("snapshot-plan", snapshot_plan),
    ("apply", apply_in_parallel_and_one_at_a_time),
    ("plan_files", plan_files),
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

/// `ociam snapshot` at several `--parallelism`, then `plan` of a manifest changed by 500 steps.
fn snapshot_plan(dir: &Path) {
    let seed_path = dir.join("seed.json");
    seed(&seed_path, USERS, 20);
    let data = dir.join("tenancy");
    let emulator = start_seeded(&data, &seed_path);
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

    import_with_500_changes(&source, dir);

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
}

/// `plan_files`: the tenancy sizes `ociam plan` is timed on, from files.
const PLAN_FILE_USERS: [usize; 2] = [10_000, 100_000];
/// Groups in the generated tenancy (besides `Administrators`); each user is in one or two.
const PLAN_FILE_GROUPS: usize = 50;
/// Users whose third key is replaced by a freshly generated one (`file:` in the manifest).
const PLAN_FILE_ROTATIONS: usize = 20;
/// Users in the manifest that the tenancy does not have yet.
const PLAN_FILE_NEW_USERS: usize = 10;
/// The injected "now" (`OCIAM_NOW`): key ages are relative to it, not to today.
const PLAN_FILE_NOW: &str = "2026-11-01T00:00:00Z";
/// The goals of issue 11 item 9 for 100,000 users.
const PLAN_FILE_GOAL_SECONDS: f64 = 10.0;
const PLAN_FILE_GOAL_RSS_MIB: u64 = 1024;

/// What one generated manifest/snapshot pair should plan to.
struct PlanFiles {
    manifest: PathBuf,
    snapshot: PathBuf,
    actor_fingerprint: String,
    /// The number of changes the plan must hold.
    changes: usize,
}

/// The groups user `u` is in live: `u % 50`, and for every third user a second one.
fn live_groups(u: usize) -> Vec<usize> {
    let first = u % PLAN_FILE_GROUPS;
    let second = (u * 7 + 13) % PLAN_FILE_GROUPS;
    if u.is_multiple_of(3) && second != first {
        vec![first, second]
    } else {
        vec![first]
    }
}

/// Writes a manifest and a snapshot of the same `users`-user tenancy into `dir` (3 API keys
/// per user, listed by fingerprint; 50 groups; an `admin` actor in `Administrators`) with a
/// small diff between them: 1% of users with a new description, 0.5% with a key removed,
/// 0.5% moved to another group, `PLAN_FILE_ROTATIONS` key rotations and
/// `PLAN_FILE_NEW_USERS` new users; 1% of the live keys are older than 90 days.
fn generate_plan_files(dir: &Path, users: usize) -> PlanFiles {
    use std::fmt::Write as _;
    use std::io::Write as _;

    let tenancy = "ocid1.tenancy.oc1..aaaaaaaabenchplanfiles";
    let now: jiff::Timestamp = PLAN_FILE_NOW.parse().expect("an RFC 3339 time");
    let ago = |days: usize| {
        let days = i64::try_from(days).expect("small");
        (now - jiff::SignedDuration::from_hours(24 * days)).to_string()
    };
    let created = "2026-01-05T09:00:00Z";
    // Every user's keys are fingerprints `fingerprint(3u + k)`; the admin's is past the users'.
    let admin_fp = fingerprint(3 * users + 7);
    let rotated: Vec<usize> = (0..PLAN_FILE_ROTATIONS)
        .map(|i| 5 + i * (users / PLAN_FILE_ROTATIONS))
        .collect();
    std::fs::create_dir_all(dir.join("keys")).expect("keys dir");
    let mut changes = 0;

    // The manifest.
    let mut m = String::with_capacity(users * 260);
    m.push_str("version: 1\ntenancy: ");
    m.push_str(tenancy);
    m.push_str("\ngroups:\n  - name: Administrators\n");
    for g in 0..PLAN_FILE_GROUPS {
        let _ = write!(m, "  - name: group{g:02}\n    description: \"Group {g}\"\n");
    }
    let _ = write!(
        m,
        "users:\n  - name: admin\n    description: \"Administrator\"\n    groups: [Administrators]\n    api_keys:\n      - fingerprint: {admin_fp}\n"
    );
    for u in 0..users {
        let description = if u % 100 == 1 {
            changes += 1; // update_user
            format!("User {u} (moved to billing)")
        } else {
            format!("User {u}")
        };
        let live = live_groups(u);
        let mut desired = live.clone();
        if u % 200 == 3 {
            desired[0] = (desired[0] + 1) % PLAN_FILE_GROUPS;
            desired.dedup();
            changes += desired.iter().filter(|g| !live.contains(g)).count(); // add_to_group
            changes += live.iter().filter(|g| !desired.contains(g)).count(); // remove_from_group
        }
        let groups = desired
            .iter()
            .map(|g| format!("group{g:02}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = write!(
            m,
            "  - name: user{u:06}\n    description: \"{description}\"\n    email: user{u:06}@example.com\n    groups: [{groups}]\n    api_keys:\n"
        );
        let kept = if u % 200 == 2 || rotated.contains(&u) {
            changes += 1; // delete_api_key
            2
        } else {
            3
        };
        for k in 0..kept {
            let _ = writeln!(m, "      - fingerprint: {}", fingerprint(3 * u + k));
        }
        if let Some(i) = rotated.iter().position(|&r| r == u) {
            let key = ociam::keygen::generate_rsa_2048().expect("a key");
            std::fs::write(
                dir.join(format!("keys/rotated{i}.pem")),
                key.public_spki_pem,
            )
            .expect("key file");
            let _ = writeln!(m, "      - file: keys/rotated{i}.pem");
            changes += 1; // upload_api_key
        }
    }
    for n in 0..PLAN_FILE_NEW_USERS {
        let _ = write!(
            m,
            "  - name: newcomer{n:02}\n    description: \"New user {n}\"\n    groups: [group{:02}]\n",
            n % PLAN_FILE_GROUPS
        );
        changes += 2; // create_user, add_to_group
    }
    let manifest = dir.join("manifest.yaml");
    std::fs::write(&manifest, m).expect("manifest written");

    // The snapshot, as `ociam snapshot` writes its objects (keys without their PEM).
    let snapshot = dir.join("live.json");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&snapshot).expect("snapshot"));
    let user = |out: &mut dyn std::io::Write,
                id: &str,
                name: &str,
                description: &str,
                email: &str| {
        write!(
            out,
            r#"{{"id":"{id}","compartmentId":"{tenancy}","name":"{name}","description":"{description}","email":"{email}","emailVerified":true,"identityProviderId":null,"externalIdentifier":null,"timeCreated":"{created}","lifecycleState":"ACTIVE","inactiveStatus":null,"freeformTags":{{}},"definedTags":{{}},"capabilities":{{"canUseConsolePassword":true,"canUseApiKeys":true,"canUseAuthTokens":true,"canUseSmtpCredentials":true,"canUseDbCredentials":true,"canUseCustomerSecretKeys":true,"canUseOAuth2ClientCredentials":true}},"isMfaActivated":false,"lastSuccessfulLoginTime":null}}"#
        )
    };
    let user_id = |u: usize| format!("ocid1.user.oc1..aaaaaaaabenchuser{u:06}");
    let group_id = |g: usize| format!("ocid1.group.oc1..aaaaaaaabenchgroup{g:02}");
    let admins_id = "ocid1.group.oc1..aaaaaaaabenchadministrators";
    let admin_id = "ocid1.user.oc1..aaaaaaaabenchadmin";
    let key = |out: &mut dyn std::io::Write, owner: &str, fp: &str, time: &str| {
        write!(
            out,
            r#"{{"keyId":"{tenancy}/{owner}/{fp}","fingerprint":"{fp}","userId":"{owner}","timeCreated":"{time}","lifecycleState":"ACTIVE","inactiveStatus":null}}"#
        )
    };
    let membership = |out: &mut dyn std::io::Write, id: &str, group: &str, owner: &str| {
        write!(
            out,
            r#"{{"id":"{id}","compartmentId":"{tenancy}","groupId":"{group}","userId":"{owner}","timeCreated":"{created}","lifecycleState":"ACTIVE","inactiveStatus":null}}"#
        )
    };
    let w = &mut out;
    (|| -> std::io::Result<()> {
        write!(w, r#"{{"format_version":1,"tenancy":"{tenancy}","users":["#)?;
        user(w, admin_id, "admin", "Administrator", "admin@example.com")?;
        for u in 0..users {
            w.write_all(b",")?;
            let name = format!("user{u:06}");
            let email = format!("{name}@example.com");
            user(w, &user_id(u), &name, &format!("User {u}"), &email)?;
        }
        write!(
            w,
            r#"],"groups":[{{"id":"{admins_id}","compartmentId":"{tenancy}","name":"Administrators","description":"Administrators","timeCreated":"{created}","lifecycleState":"ACTIVE","inactiveStatus":null,"freeformTags":{{}},"definedTags":{{}}}}"#
        )?;
        for g in 0..PLAN_FILE_GROUPS {
            write!(
                w,
                r#",{{"id":"{}","compartmentId":"{tenancy}","name":"group{g:02}","description":"Group {g}","timeCreated":"{created}","lifecycleState":"ACTIVE","inactiveStatus":null,"freeformTags":{{}},"definedTags":{{}}}}"#,
                group_id(g)
            )?;
        }
        w.write_all(br#"],"memberships":["#)?;
        membership(w, "ocid1.groupmembership.oc1..aaaaaaaabenchadmin", admins_id, admin_id)?;
        for u in 0..users {
            for g in live_groups(u) {
                w.write_all(b",")?;
                let id = format!("ocid1.groupmembership.oc1..aaaaaaaabenchu{u:06}g{g:02}");
                membership(w, &id, &group_id(g), &user_id(u))?;
            }
        }
        write!(w, r#"],"api_keys":{{"{admin_id}":["#)?;
        key(w, admin_id, &admin_fp, &ago(10))?;
        w.write_all(b"]")?;
        for u in 0..users {
            let owner = user_id(u);
            write!(w, r#","{owner}":["#)?;
            for k in 0..3 {
                if k > 0 {
                    w.write_all(b",")?;
                }
                // 1% of the keys are past the 90-day key-age limit (warnings, not errors).
                let days = if u % 100 == 50 && k == 0 { 120 } else { (u + 29 * k) % 80 };
                key(w, &owner, &fingerprint(3 * u + k), &ago(days))?;
            }
            w.write_all(b"]")?;
        }
        write!(
            w,
            r#"}},"policies":[{{"id":"ocid1.policy.oc1..aaaaaaaabenchadmins","compartmentId":"{tenancy}","name":"Tenant Admin Policy","description":"Tenant Admin Policy","statements":["ALLOW GROUP Administrators to manage all-resources IN TENANCY"],"timeCreated":"{created}","lifecycleState":"ACTIVE","inactiveStatus":null,"freeformTags":{{}},"definedTags":{{}}}}]}}"#
        )?;
        w.write_all(b"\n")
    })()
    .expect("snapshot written");
    out.flush().expect("snapshot flushed");

    PlanFiles {
        manifest,
        snapshot,
        actor_fingerprint: admin_fp,
        changes,
    }
}

/// Runs `ociam` with `args` in `dir` (stdout to `stdout`, stderr to `dir/stderr.txt`) and
/// returns its wall time, exit code and peak resident set size in KiB (`ru_maxrss` of the
/// child, from `wait4`).
fn run_measured(args: &[&str], dir: &Path, stdout: &Path) -> (Duration, i32, u64, String) {
    let stderr_path = dir.join("stderr.txt");
    let started = Instant::now();
    let child = Command::new(ociam())
        .args(args)
        .current_dir(dir)
        .env("OCIAM_NOW", PLAN_FILE_NOW)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(stdout).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("ociam runs");
    let pid = libc::pid_t::try_from(child.id()).expect("a pid");
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain data that `wait4` fills in; `pid` is our own unreaped child
    // (std's `Child` is dropped without being waited on).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &raw mut status, 0, &raw mut usage) };
    let took = started.elapsed();
    assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
    drop(child);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    (
        took,
        code,
        u64::try_from(usage.ru_maxrss).unwrap_or(0),
        stderr,
    )
}

/// `ociam plan` (the binary, as a user runs it) of a generated manifest against a snapshot
/// file of the same tenancy, at each of `PLAN_FILE_USERS`: wall time and peak RSS.
fn plan_files(parent: &Path) {
    for users in PLAN_FILE_USERS {
        let tmp = tempfile::tempdir_in(parent).expect("tempdir");
        let dir = tmp.path();
        let files = generate_plan_files(dir, users);
        let size = |p: &Path| std::fs::metadata(p).expect("generated").len();
        let (manifest_bytes, snapshot_bytes) = (size(&files.manifest), size(&files.snapshot));
        let plan_json = dir.join("plan.json");
        let (took, code, rss_kib, stderr) = run_measured(
            &[
                "plan",
                "manifest.yaml",
                "--live",
                "live.json",
                "--actor",
                "admin",
                "--actor-fingerprint",
                &files.actor_fingerprint,
                "--format",
                "json",
                "--detailed-exitcode",
            ],
            dir,
            &plan_json,
        );
        assert_eq!(code, 2, "exit 2 (changes present) expected:\n{stderr}");
        let plan: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&plan_json).expect("plan")).expect("plan JSON");
        let changes = plan["changes"].as_array().map_or(0, Vec::len);
        assert_eq!(changes, files.changes, "changes in the plan");
        assert_eq!(plan["summary"]["rejected"], false);
        #[allow(clippy::cast_precision_loss)]
        let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        let goal = if users == 100_000 {
            format!(
                " (goal < {PLAN_FILE_GOAL_SECONDS:.0} s, < {} GiB)",
                PLAN_FILE_GOAL_RSS_MIB / 1024
            )
        } else {
            String::new()
        };
        println!(
            "plan {users} users / {} keys: {:.2} s, {} MiB peak RSS{goal} [manifest {:.1} MiB, snapshot {:.1} MiB, {changes} changes]",
            3 * users,
            took.as_secs_f64(),
            rss_kib / 1024,
            mib(manifest_bytes),
            mib(snapshot_bytes),
        );
    }
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
fn apply_in_parallel_and_one_at_a_time(dir: &Path) {
    let seed_path = &dir.join("seed.json");
    seed(seed_path, USERS, 20);
    let mut phases = Vec::new();
    for parallelism in ["16", "1"] {
        let data = dir.join(format!("apply-p{parallelism}"));
        let emulator = start_seeded(&data, seed_path);
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
        import_with_500_changes(&source, &work);

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

/// `ociam import --out imported` in `dir` from `source`, then the manifest changed by
/// [`five_hundred_changes`]: `imported/manifest.yaml`.
fn import_with_500_changes(source: &[&str], dir: &Path) {
    let mut args = vec!["import", "--out", "imported"];
    args.extend(source);
    let (_, ok, stderr) = run(&args, dir);
    assert!(ok, "{stderr}");
    let manifest_path = dir.join("imported/manifest.yaml");
    let manifest = std::fs::read_to_string(&manifest_path).expect("imported");
    std::fs::write(&manifest_path, five_hundred_changes(manifest)).expect("manifest written");
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
