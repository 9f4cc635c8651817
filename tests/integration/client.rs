//! ociam's `IdentityClient` against separate `ociam emulator` processes on 127.0.0.1:0: with
//! one item per page every list is followed to its end; with 30% of requests answered 429/503
//! the retries still return the complete, correct tenancy; under `--rate-limit` the adaptive
//! limiter comes down and no request fails; and a create retried with the same
//! `opc-retry-token` happens once.
//!
//! The client is built from the emulator's own `oci-config` with a retry policy in
//! milliseconds (the emulator's `retry-after: 1` is capped to zero), so faults cost no
//! wall-clock seconds. Nothing sleeps to synchronise.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ociam::oci::client::{
    ClientConfig, IdentityClient, RetryNotice, RetryObserver, RetryPolicy, RetryToken,
};
use ociam::oci::sign::SigningKey;
use ociam::oci::wire;
use ociam::snapshot::Snapshot;
use serde_json::{Value, json};

use crate::util::Emulator;

const T: &str = "ocid1.tenancy.oc1..clienttest";
const TIME: &str = "2026-09-01T10:00:00.000Z";
const USERS: usize = 20;
const GROUPS: usize = 4;

/// A fast retry policy: many attempts, millisecond backoff, the server's `retry-after` capped
/// at zero.
fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 25,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(10),
        jitter: Duration::from_millis(2),
        max_total: Duration::from_secs(60),
        max_retry_after: Duration::ZERO,
        ec_max_attempts: 3,
    }
}

/// A client signing as the emulator's admin, from its `oci-config`, counting retries.
fn client(emu: &Emulator, retries: Option<Arc<AtomicUsize>>) -> IdentityClient {
    let text = std::fs::read_to_string(emu.config_file()).unwrap();
    let profile =
        ociam::oci::config::load_profile(&text, "oci-config", "DEFAULT", None, true).unwrap();
    let pem = std::fs::read_to_string(&profile.key_file).unwrap();
    let key = SigningKey::from_pem(&pem, None).unwrap();
    let mut config = ClientConfig::from_profile(&profile, key, Some(&emu.url)).unwrap();
    config.retry = fast_retries();
    config.parallelism = 4;
    if let Some(count) = retries {
        let observer: RetryObserver = Arc::new(move |notice: &RetryNotice| {
            assert!(
                matches!(notice.status, Some(429 | 503)),
                "only injected faults are retried here: {notice:?}"
            );
            count.fetch_add(1, Ordering::SeqCst);
        });
        config.on_retry = Some(observer);
    }
    IdentityClient::new(config).unwrap()
}

/// The seed: `USERS` users, `GROUPS` groups, two memberships for most users, and 1 or 2 keys
/// (real generated PEMs) for every third user. Every object has its `timeCreated` so two
/// emulators seeded with it hold identical objects.
fn seed() -> Value {
    let groups: Vec<Value> = (0..GROUPS)
        .map(|g| {
            json!({"id": format!("ocid1.group.oc1..cg{g}"), "compartmentId": T,
                   "name": format!("cgroup-{g}"), "description": format!("group {g}"),
                   "timeCreated": TIME, "lifecycleState": "ACTIVE"})
        })
        .collect();
    let mut users = Vec::new();
    let mut memberships = Vec::new();
    let mut api_keys = serde_json::Map::new();
    for i in 0..USERS {
        let id = format!("ocid1.user.oc1..cu{i:02}");
        users.push(
            json!({"id": id, "compartmentId": T, "name": format!("cuser-{i:02}"),
                          "description": format!("user {i}"), "timeCreated": TIME,
                          "lifecycleState": "ACTIVE"}),
        );
        let mut gs = BTreeSet::from([i % GROUPS]);
        if i % 5 != 0 {
            gs.insert((i + 1) % GROUPS);
        }
        for g in gs {
            memberships.push(
                json!({"id": format!("ocid1.groupmembership.oc1..cm{i:02}{g}"),
                                    "compartmentId": T,
                                    "groupId": format!("ocid1.group.oc1..cg{g}"),
                                    "userId": id, "timeCreated": TIME,
                                    "lifecycleState": "ACTIVE"}),
            );
        }
        if i % 3 == 0 {
            let keys: Vec<Value> = (0..1 + i % 2)
                .map(|_| {
                    let k = ociam::keygen::generate_rsa_2048().unwrap();
                    json!({"fingerprint": k.fingerprint.as_str(),
                           "keyValue": k.public_spki_pem, "userId": id,
                           "timeCreated": TIME, "lifecycleState": "ACTIVE"})
                })
                .collect();
            api_keys.insert(id, Value::Array(keys));
        }
    }
    json!({"format_version": 1, "tenancy": T, "users": users, "groups": groups,
           "memberships": memberships, "api_keys": api_keys})
}

/// Writes the seed to a temp file (kept alive by the returned guard).
fn seed_file(seed: &Value) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.json");
    std::fs::write(&path, seed.to_string()).unwrap();
    let path = path.to_str().unwrap().to_owned();
    (dir, path)
}

/// The seeded part of a snapshot (the bootstrap admin, its key, group, membership and policy
/// differ between emulators), as JSON, each list sorted by id: comparable across emulators.
fn seeded_part(snapshot: &Snapshot) -> Value {
    let seeded = |id: &str| id.contains("..c");
    let mut users: Vec<&wire::User> = snapshot.users.iter().filter(|u| seeded(&u.id)).collect();
    users.sort_by(|a, b| a.id.cmp(&b.id));
    let mut groups: Vec<&wire::Group> = snapshot.groups.iter().filter(|g| seeded(&g.id)).collect();
    groups.sort_by(|a, b| a.id.cmp(&b.id));
    let mut memberships: Vec<&wire::UserGroupMembership> = snapshot
        .memberships
        .iter()
        .filter(|m| seeded(&m.id))
        .collect();
    memberships.sort_by(|a, b| a.id.cmp(&b.id));
    let keys: BTreeMap<&String, Vec<&wire::ApiKey>> = snapshot
        .api_keys
        .iter()
        .filter(|(owner, _)| seeded(owner))
        .map(|(owner, keys)| {
            let mut keys: Vec<&wire::ApiKey> = keys.iter().collect();
            keys.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
            (owner, keys)
        })
        .collect();
    json!({"users": users, "groups": groups, "memberships": memberships, "api_keys": keys})
}

/// Checks a fetched snapshot against the seed itself: every seeded user, group, membership and
/// key is there once, with its name, references and fingerprint.
#[track_caller]
fn assert_holds_the_seed(snapshot: &Snapshot, seed: &Value) {
    assert_eq!(snapshot.tenancy, T);
    let names = |items: &[Value]| -> BTreeSet<(String, String)> {
        items
            .iter()
            .map(|i| {
                (
                    i["id"].as_str().unwrap().to_owned(),
                    i["name"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let users: Vec<(String, String)> = snapshot
        .users
        .iter()
        .filter(|u| u.name != "admin")
        .map(|u| (u.id.clone(), u.name.clone()))
        .collect();
    assert_eq!(users.len(), USERS, "each user once: {users:?}");
    assert_eq!(
        users.into_iter().collect::<BTreeSet<_>>(),
        names(seed["users"].as_array().unwrap())
    );
    let groups: Vec<(String, String)> = snapshot
        .groups
        .iter()
        .filter(|g| g.name != "Administrators")
        .map(|g| (g.id.clone(), g.name.clone()))
        .collect();
    assert_eq!(groups.len(), GROUPS, "{groups:?}");
    assert_eq!(
        groups.into_iter().collect::<BTreeSet<_>>(),
        names(seed["groups"].as_array().unwrap())
    );
    let members: BTreeSet<(String, String, String)> = snapshot
        .memberships
        .iter()
        .filter(|m| m.id.contains("..cm"))
        .map(|m| (m.id.clone(), m.user_id.clone(), m.group_id.clone()))
        .collect();
    let seeded_members: BTreeSet<(String, String, String)> = seed["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap().to_owned(),
                m["userId"].as_str().unwrap().to_owned(),
                m["groupId"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(members, seeded_members);
    // Plus the admin's one membership, nothing else.
    assert_eq!(snapshot.memberships.len(), seeded_members.len() + 1);
    for (owner, keys) in seed["api_keys"].as_object().unwrap() {
        let want: BTreeSet<&str> = keys
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["fingerprint"].as_str().unwrap())
            .collect();
        let got: BTreeSet<&str> = snapshot
            .api_keys
            .get(owner)
            .unwrap_or_else(|| panic!("no keys for {owner}"))
            .iter()
            .map(|k| k.fingerprint.as_str())
            .collect();
        assert_eq!(got, want, "keys of {owner}");
    }
    // The seeded key owners plus the admin.
    assert_eq!(
        snapshot.api_keys.len(),
        seed["api_keys"].as_object().unwrap().len() + 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_size_1_snapshot_equals_the_unpaged_one() {
    let seed = seed();
    let (_guard, path) = seed_file(&seed);
    let paged = Emulator::start(&["--seed", &path, "--page-size", "1"]);
    let unpaged = Emulator::start(&["--seed", &path]);
    let got = client(&paged, None).fetch_snapshot().await.unwrap();
    let reference = client(&unpaged, None).fetch_snapshot().await.unwrap();
    assert_holds_the_seed(&got, &seed);
    assert_holds_the_seed(&reference, &seed);
    assert_eq!(seeded_part(&got), seeded_part(&reference));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_percent_429_503_with_page_size_1_still_returns_the_complete_state() {
    let seed = seed();
    let (_guard, path) = seed_file(&seed);
    let faulty = Emulator::start(&["--seed", &path, "--page-size", "1", "--fail-rate", "0.3"]);
    let healthy = Emulator::start(&["--seed", &path]);
    let retries = Arc::new(AtomicUsize::new(0));
    let got = client(&faulty, Some(retries.clone()))
        .fetch_snapshot()
        .await
        .unwrap();
    let reference = client(&healthy, None).fetch_snapshot().await.unwrap();
    assert!(
        retries.load(Ordering::SeqCst) > 0,
        "the faults were injected and retried"
    );
    assert_holds_the_seed(&got, &seed);
    assert_eq!(seeded_part(&got), seeded_part(&reference));
    // The admin's side is complete too: its user, key, group and membership.
    let admin = got.users.iter().find(|u| u.name == "admin").unwrap();
    assert_eq!(got.api_keys[&admin.id].len(), 1);
    assert!(
        got.memberships
            .iter()
            .any(|m| m.user_id == admin.id && !m.id.contains("..cm"))
    );
}

/// Under `--rate-limit 15` (429 without `retry-after`) the limiter comes down from its cap,
/// throttles are counted, and the read still returns the whole tenancy: no request fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_rate_limit_the_limiter_shrinks_and_no_request_fails() {
    let seed = seed();
    let (_guard, path) = seed_file(&seed);
    let limited = Emulator::start(&["--seed", &path, "--page-size", "5", "--rate-limit", "15"]);
    let healthy = Emulator::start(&["--seed", &path]);
    let client = client(&limited, None);
    assert_eq!(client.parallelism(), 4);
    let lowest = std::sync::Mutex::new(usize::MAX);
    let got = client
        .fetch_snapshot_with_progress(&|p| {
            let mut lowest = lowest.lock().unwrap();
            *lowest = (*lowest).min(p.throughput.limit);
            assert!(p.throughput.limit <= p.throughput.cap);
        })
        .await
        .expect("no request fails under the rate limit");
    let reference = self::client(&healthy, None).fetch_snapshot().await.unwrap();
    assert_holds_the_seed(&got, &seed);
    assert_eq!(seeded_part(&got), seeded_part(&reference));
    let t = client.throughput();
    assert!(t.throttles > 0, "the emulator throttled: {t:?}");
    assert!(
        lowest.into_inner().unwrap() < t.cap,
        "the limit came down from its cap: {t:?}"
    );
    assert_eq!(t.in_flight, 0);
}

fn new_user(name: &str, tenancy: &str) -> wire::CreateUserDetails {
    wire::CreateUserDetails {
        compartment_id: tenancy.to_owned(),
        name: name.to_owned(),
        description: format!("user {name}"),
        ..wire::CreateUserDetails::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_retried_with_the_same_token_happens_once() {
    let emu = Emulator::start(&[]);
    let c = client(&emu, None);
    let tenancy = c.tenancy().to_string();
    let token = RetryToken::new("itest-create-once-1").unwrap();
    let details = new_user("once", &tenancy);
    let first = c.create_user_with_token(&details, &token).await.unwrap();
    let second = c.create_user_with_token(&details, &token).await.unwrap();
    assert_eq!(first.value.id, second.value.id);
    assert_eq!(first.etag, second.etag);
    let named: Vec<wire::User> = c
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .filter(|u| u.name == "once")
        .collect();
    assert_eq!(named.len(), 1, "{named:?}");
    assert_eq!(named[0].id, first.value.id);
    // A fresh token for the same name is a new create, refused because the name is taken.
    let again = c.create_user(&details).await;
    assert!(again.is_err(), "{again:?}");
    assert_eq!(
        c.list_users()
            .await
            .unwrap()
            .iter()
            .filter(|u| u.name == "once")
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_under_30_percent_faults_each_happen_exactly_once() {
    let emu = Emulator::start(&["--fail-rate", "0.3"]);
    let retries = Arc::new(AtomicUsize::new(0));
    let c = client(&emu, Some(retries.clone()));
    let tenancy = c.tenancy().to_string();
    let existing = c.list_users().await.unwrap().len();
    const N: usize = 25;
    let mut ids = BTreeSet::new();
    for i in 0..N {
        let token = RetryToken::generate().unwrap();
        let created = c
            .create_user_with_token(&new_user(&format!("burst-{i:02}"), &tenancy), &token)
            .await
            .unwrap();
        assert_eq!(created.value.name, format!("burst-{i:02}"));
        ids.insert(created.value.id);
    }
    assert_eq!(ids.len(), N);
    let users = c.list_users().await.unwrap();
    assert_eq!(users.len(), N + existing, "{users:#?}");
    let names: BTreeSet<&str> = users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names.len(), users.len(), "no name twice");
    assert!(retries.load(Ordering::SeqCst) > 0, "faults were injected");
}
