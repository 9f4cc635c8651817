//! Planner benchmark (not a timed test): builds a 100,000-user, 300,000-key snapshot as JSON,
//! parses it, converts it to the live state, and plans a manifest that rotates one key of
//! every tenth user and changes a few descriptions. Prints the wall time of each phase and the
//! process's peak resident memory.
//!
//! Run: `cargo bench --bench plan` (optionally `-- USERS`).

use std::fmt::Write as _;
use std::time::Instant;

use ociam::model::{Desired, DesiredKey, Fingerprint, Location, UserName};
use ociam::plan::{self, ActorSpec, Options};
use ociam::snapshot;

const TENANCY: &str = "ocid1.tenancy.oc1..bench";

fn fingerprint(n: u64) -> String {
    let bytes = (u128::from(n) * 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835).to_be_bytes();
    let mut s = String::with_capacity(47);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn snapshot_json(users: u64) -> String {
    let mut out = String::with_capacity(users as usize * 900);
    let _ = write!(
        out,
        "{{\"format_version\":1,\"tenancy\":\"{TENANCY}\",\"users\":["
    );
    for u in 0..users {
        if u > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"id\":\"ocid1.user.oc1..u{u}\",\"compartmentId\":\"{TENANCY}\",\"name\":\"user{u}\",\
             \"description\":\"User {u}\",\"email\":\"user{u}@example.com\",\"lifecycleState\":\"ACTIVE\",\
             \"timeCreated\":\"2026-01-01T00:00:00.000Z\",\"freeformTags\":{{}},\"definedTags\":{{}},\
             \"capabilities\":{{\"canUseApiKeys\":true,\"canUseConsolePassword\":true}}}}"
        );
    }
    out.push_str("],\"groups\":[");
    for g in 0..100 {
        if g > 0 {
            out.push(',');
        }
        let name = if g == 0 {
            "Administrators".to_owned()
        } else {
            format!("group{g}")
        };
        let _ = write!(
            out,
            "{{\"id\":\"ocid1.group.oc1..g{g}\",\"compartmentId\":\"{TENANCY}\",\"name\":\"{name}\",\"description\":\"\"}}"
        );
    }
    out.push_str("],\"memberships\":[");
    for u in 0..users {
        if u > 0 {
            out.push(',');
        }
        let g = if u == 0 { 0 } else { 1 + u % 99 };
        let _ = write!(
            out,
            "{{\"id\":\"ocid1.groupmembership.oc1..m{u}\",\"groupId\":\"ocid1.group.oc1..g{g}\",\"userId\":\"ocid1.user.oc1..u{u}\"}}"
        );
    }
    out.push_str("],\"api_keys\":{");
    for u in 0..users {
        if u > 0 {
            out.push(',');
        }
        let _ = write!(out, "\"ocid1.user.oc1..u{u}\":[");
        for k in 0..3 {
            if k > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "{{\"fingerprint\":\"{}\",\"timeCreated\":\"2026-10-01T00:00:00.000Z\"}}",
                fingerprint(u * 3 + k)
            );
        }
        out.push(']');
    }
    out.push_str("},\"policies\":[]}");
    out
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn main() {
    let users: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let t = Instant::now();
    let json = snapshot_json(users);
    let built = t.elapsed();

    let t = Instant::now();
    let snap = snapshot::parse(&json, "bench.json").expect("snapshot parses");
    let live = snap.to_state("bench.json").expect("snapshot is consistent");
    let digest = snap.digest();
    let parsed = t.elapsed();
    drop(json);

    let mut desired = Desired::mirror(&live);
    let mut rotated = 0;
    for (i, (name, user)) in desired.users.iter_mut().enumerate() {
        if i % 10 == 0 {
            let keys = user.api_keys.get_or_insert_with(Vec::new);
            keys.remove(0);
            keys.push(DesiredKey {
                fingerprint: Fingerprint::new(fingerprint(10_000_000 + i as u64)),
                pem: Some("-----BEGIN PUBLIC KEY-----\n…\n-----END PUBLIC KEY-----\n".into()),
                expires: None,
                weakness: None,
                location: Location::default(),
            });
            rotated += 1;
        }
        if i % 100 == 1 {
            user.description = Some(format!("{name} (updated)"));
        }
    }

    let t = Instant::now();
    let plan = plan::plan(
        &desired,
        &live,
        &ActorSpec {
            user: UserName::from("user0"),
            fingerprint: None,
        },
        &Options {
            today: 20_600,
            live_digest: digest,
            ..Options::default()
        },
    );
    let planned = t.elapsed();
    assert!(!plan.is_rejected(), "{:?}", plan.diagnostics.first());
    let keys: usize = live
        .api_keys
        .values()
        .map(std::collections::BTreeMap::len)
        .sum();
    println!("users {users}, keys {keys}, rotated {rotated}");
    println!("build snapshot JSON  {:>8.2} s", built.as_secs_f64());
    println!("parse + to_state     {:>8.2} s", parsed.as_secs_f64());
    println!(
        "plan                 {:>8.2} s  ({} changes, {} diagnostics)",
        planned.as_secs_f64(),
        plan.changes.len(),
        plan.diagnostics.len()
    );
    println!("peak RSS             {:>8.0} MiB", peak_rss_mib());
}
