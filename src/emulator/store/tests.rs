//! Store rules, authority, retry tokens, bootstrap and seeding, against a real SQLite file.

use std::sync::Arc;

use super::*;
use crate::emulator::ManualClock;
use crate::keygen;
use crate::snapshot::Snapshot;

const T: &str = "ocid1.tenancy.oc1..seeded";
const ALICE: &str = "ocid1.user.oc1..alice";
const BOB: &str = "ocid1.user.oc1..bob";
const OPS: &str = "ocid1.group.oc1..ops";
const DOC_PUB_1024: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/oci/signing-vectors/oci-doc-test-key.pub.pem"
));
/// The RFC 8410 example Ed25519 public key.
const ED25519_PUB: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
/// The tenancy OCID the shell hands the bootstrap (used when no seed names one).
const GENERATED: &str = "ocid1.tenancy.oc1..emu0123456789abcdef";
/// 2023-11-14T22:13:20.123Z.
const NOW: i64 = 1_700_000_000_123;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    clock: Arc<ManualClock>,
    admin: Ocid,
}

fn seed(policies: serde_json::Value) -> Snapshot {
    let alice_key = keygen::generate_rsa_2048().unwrap();
    serde_json::from_value(serde_json::json!({
        "format_version": 1,
        "tenancy": T,
        "users": [
            {"id": ALICE, "compartmentId": T, "name": "alice", "description": "Alice",
             "lifecycleState": "ACTIVE", "isMfaActivated": true},
            {"id": BOB, "compartmentId": T, "name": "bob", "description": "Bob",
             "lifecycleState": "ACTIVE"},
            {"id": "ocid1.user.oc1..gone", "compartmentId": T, "name": "gone",
             "description": "", "lifecycleState": "DELETED"}
        ],
        "groups": [{"id": OPS, "compartmentId": T, "name": "ops", "description": "Ops"}],
        "memberships": [{"id": "ocid1.groupmembership.oc1..m1", "compartmentId": T,
                         "groupId": OPS, "userId": BOB}],
        "api_keys": {ALICE: [{"fingerprint": alice_key.fingerprint.as_str(),
                              "keyValue": alice_key.public_spki_pem}]},
        "policies": policies
    }))
    .unwrap()
}

fn fixture_with(seed: Option<&Snapshot>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(NOW));
    let store = Store::open(&dir.path().join("e.db"), clock.clone()).unwrap();
    let admin_key = keygen::generate_rsa_2048().unwrap();
    let outcome = store
        .initialize(
            seed,
            &Bootstrap {
                admin_public_pem: admin_key.public_spki_pem,
                tenancy_name: "test".into(),
                tenancy_id: Ocid::new(GENERATED),
            },
            |_| Ok(()),
        )
        .unwrap()
        .unwrap();
    Fixture {
        _dir: dir,
        store,
        clock,
        admin: outcome.admin_user,
    }
}

fn fixture() -> Fixture {
    fixture_with(Some(&seed(serde_json::json!([]))))
}

fn new_user(name: &str) -> NewUser {
    NewUser {
        compartment_id: Some(T.into()),
        name: Some(name.into()),
        description: Some(String::new()),
        ..NewUser::default()
    }
}

fn new_group(name: &str) -> NewGroup {
    NewGroup {
        compartment_id: Some(T.into()),
        name: Some(name.into()),
        description: Some(String::new()),
        ..NewGroup::default()
    }
}

impl Fixture {
    fn as_user<R>(
        &self,
        who: &str,
        f: impl FnOnce(&Tx<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut out = None;
        self.store
            .write(&Ocid::new(who), None, |tx| {
                out = Some(f(tx)?);
                Ok(Reply::no_content())
            })
            .map(|_| out.expect("ran"))
    }

    fn admin<R>(&self, f: impl FnOnce(&Tx<'_>) -> Result<R, StoreError>) -> Result<R, StoreError> {
        let id = self.admin.to_string();
        self.as_user(&id, f)
    }
}

fn page(limit: usize) -> PageRequest {
    PageRequest {
        limit,
        page: None,
        sort: Sort::default(),
    }
}

fn tenancy_filter() -> UserFilter {
    UserFilter {
        compartment_id: Some(T.into()),
        ..UserFilter::default()
    }
}

#[test]
fn bootstrap_makes_an_admin_in_administrators_with_its_key_and_the_tenant_policy() {
    let f = fixture_with(None);
    let tenancy = f.store.tenancy().unwrap().unwrap();
    assert_eq!(
        tenancy.as_str(),
        GENERATED,
        "the shell's OCID, not a counter"
    );
    assert!(f.admin.as_str().starts_with("ocid1.user.oc1..emu"));
    let (users, groups, keys, policies) = f
        .store
        .read(&f.admin, |tx| {
            let me = tx.actor()?;
            assert!(
                me.policies.is_admin(&me.principal),
                "admin is a tenancy administrator"
            );
            let filter = UserFilter {
                compartment_id: Some(tenancy.to_string()),
                ..UserFilter::default()
            };
            let users = tx.list_users(&filter, &page(100))?.items;
            let groups = tx
                .list_groups(
                    &GroupFilter {
                        compartment_id: Some(tenancy.to_string()),
                        ..GroupFilter::default()
                    },
                    &page(100),
                )?
                .items;
            let keys = tx.list_api_keys(f.admin.as_str())?;
            let policies = tx
                .list_policies(
                    &GroupFilter {
                        compartment_id: Some(tenancy.to_string()),
                        ..GroupFilter::default()
                    },
                    &page(100),
                )?
                .items;
            Ok((users, groups, keys, policies))
        })
        .unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].name, "admin");
    assert_eq!(groups[0].name, "Administrators");
    assert_eq!(keys.len(), 1);
    assert_eq!(policies[0].name, "Tenant Admin Policy");
    // Initializing again changes nothing.
    let again = f
        .store
        .initialize(
            None,
            &Bootstrap {
                admin_public_pem: String::new(),
                tenancy_name: String::new(),
                tenancy_id: Ocid::new("ocid1.tenancy.oc1..other"),
            },
            |_| panic!("not called"),
        )
        .unwrap();
    assert!(again.is_none());
    assert_eq!(
        f.store.tenancy().unwrap().unwrap().as_str(),
        GENERATED,
        "a later start keeps the tenancy"
    );
}

#[test]
fn a_seeded_tenancy_keeps_the_seed_s_ocid() {
    let f = fixture();
    assert_eq!(f.store.tenancy().unwrap().unwrap().as_str(), T);
}

#[test]
fn a_failed_bootstrap_hook_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("e.db"), Arc::new(ManualClock::new(NOW))).unwrap();
    let key = keygen::generate_rsa_2048().unwrap();
    let boot = Bootstrap {
        admin_public_pem: key.public_spki_pem,
        tenancy_name: "t".into(),
        tenancy_id: Ocid::new(GENERATED),
    };
    let err = store
        .initialize(None, &boot, |_| Err("disk full".into()))
        .unwrap_err();
    assert!(matches!(err, StoreError::Bootstrap(_)));
    assert!(!store.is_initialized().unwrap());
    assert!(store.tenancy().unwrap().is_none());
    store.initialize(None, &boot, |_| Ok(())).unwrap().unwrap();
    assert!(store.is_initialized().unwrap());
}

#[test]
fn the_database_is_durable_wal_with_full_sync_and_foreign_keys() {
    let f = fixture();
    let conn = f.store.lock();
    let get = |p: &str| -> String {
        conn.query_row(&format!("PRAGMA {p}"), [], |r| {
            r.get::<_, rusqlite::types::Value>(0)
        })
        .map(|v| match v {
            rusqlite::types::Value::Integer(i) => i.to_string(),
            rusqlite::types::Value::Text(t) => t,
            other => format!("{other:?}"),
        })
        .unwrap()
    };
    assert_eq!(get("journal_mode"), "wal");
    assert_eq!(get("synchronous"), "2", "2 = FULL");
    assert_eq!(get("foreign_keys"), "1");
}

#[test]
fn seeded_objects_keep_their_ocids_and_fields_and_deleted_ones_are_skipped() {
    let f = fixture();
    let (alice, users) = f
        .admin(|tx| {
            let alice = tx.get_user(ALICE)?.0;
            let users = tx.list_users(&tenancy_filter(), &page(100))?.items;
            Ok((alice, users))
        })
        .unwrap();
    assert_eq!(alice.extra["isMfaActivated"], serde_json::Value::Bool(true));
    let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["alice", "bob", "admin"]);
}

#[test]
fn user_names_are_unique_case_insensitively_and_follow_oci_rules() {
    let f = fixture();
    let (user, etag) = f
        .admin(|tx| tx.create_user(new_user("carol@example.com")))
        .unwrap();
    assert_eq!(etag.len(), 40);
    assert!(
        etag.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(
        user.time_created.as_deref(),
        Some("2023-11-14T22:13:20.123Z")
    );
    assert_eq!(user.lifecycle_state.as_deref(), Some("ACTIVE"));
    let caps = user.capabilities.unwrap();
    assert_eq!(caps.can_use_api_keys, Some(true));
    assert_eq!(
        caps.extra["canUseDbCredentials"],
        serde_json::Value::Bool(true)
    );
    let err = f.admin(|tx| tx.create_user(new_user("ALICE"))).unwrap_err();
    assert_eq!(
        err.status_and_code(),
        (409, "NotAuthorizedOrResourceAlreadyExists")
    );
    for bad in ["with space", "", "semi;colon", &"x".repeat(101)] {
        let err = f.admin(|tx| tx.create_user(new_user(bad))).unwrap_err();
        assert_eq!(err.status_and_code(), (400, "InvalidParameter"), "{bad:?}");
    }
    let mut long = new_user("dave");
    long.description = Some("d".repeat(401));
    let err = f.admin(|tx| tx.create_user(long)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "description size must be between 0 and 400"
    );
    let mut ok = new_user("dave");
    ok.description = Some("é".repeat(400));
    f.admin(|tx| tx.create_user(ok)).unwrap();
    let mut missing = new_user("erin");
    missing.description = None;
    let err = f.admin(|tx| tx.create_user(missing)).unwrap_err();
    assert_eq!(err.status_and_code(), (400, "MissingParameter"));
    let mut elsewhere = new_user("erin");
    elsewhere.compartment_id = Some("ocid1.compartment.oc1..c".into());
    let err = f.admin(|tx| tx.create_user(elsewhere)).unwrap_err();
    assert_eq!(err.status_and_code(), (400, "InvalidParameter"));
    let mut a = new_user("frank");
    a.email = Some("same@example.com".into());
    f.admin(|tx| tx.create_user(a)).unwrap();
    let mut b = new_user("gina");
    b.email = Some("SAME@example.com".into());
    let err = f.admin(|tx| tx.create_user(b)).unwrap_err();
    assert_eq!(err.status_and_code().0, 409);
}

#[test]
fn group_names_follow_oci_rules_and_are_unique() {
    let f = fixture();
    f.admin(|tx| tx.create_group(new_group("dev-ops_2.x")))
        .unwrap();
    let err = f.admin(|tx| tx.create_group(new_group("OPS"))).unwrap_err();
    assert_eq!(err.status_and_code().0, 409);
    let err = f
        .admin(|tx| tx.create_group(new_group("dev@ops")))
        .unwrap_err();
    assert_eq!(err.status_and_code(), (400, "InvalidParameter"));
}

#[test]
fn every_write_changes_the_etag_and_if_match_guards_it() {
    let f = fixture();
    let etag0 = f.admin(|tx| tx.get_user(BOB)).unwrap().1;
    let patch = UserPatch {
        description: Some("new".into()),
        ..UserPatch::default()
    };
    let err = f
        .admin(|tx| tx.update_user(BOB, Some("0000"), patch.clone()))
        .unwrap_err();
    assert_eq!(err.status_and_code(), (409, "NoEtagMatch"));
    assert_eq!(
        err.to_string(),
        format!("The entity {BOB} has been modified. Etag is outdated.")
    );
    let (user, etag1) = f
        .admin(|tx| tx.update_user(BOB, Some(&etag0), patch.clone()))
        .unwrap();
    assert_eq!(user.description, "new");
    assert_eq!(user.name, "bob");
    assert_ne!(etag0, etag1);
    let (_, etag2) = f.admin(|tx| tx.update_user(BOB, Some("*"), patch)).unwrap();
    assert_ne!(etag1, etag2);
    assert_eq!(f.admin(|tx| tx.get_user(BOB)).unwrap().1, etag2);
}

#[test]
fn a_user_in_a_group_cannot_be_deleted_nor_a_group_with_members() {
    let f = fixture();
    let err = f.admin(|tx| tx.delete_user(BOB, None)).unwrap_err();
    assert_eq!(err.status_and_code(), (409, "Conflict"));
    let err = f.admin(|tx| tx.delete_group(OPS, None)).unwrap_err();
    assert_eq!(err.status_and_code(), (409, "Conflict"));
    f.admin(|tx| tx.remove_membership("ocid1.groupmembership.oc1..m1", None))
        .unwrap();
    f.admin(|tx| tx.delete_user(BOB, None)).unwrap();
    f.admin(|tx| tx.delete_group(OPS, None)).unwrap();
    let err = f.admin(|tx| tx.get_user(BOB)).unwrap_err();
    assert_eq!(err.status_and_code(), (404, "NotAuthorizedOrNotFound"));
    // Alice's keys go with her.
    f.admin(|tx| tx.delete_user(ALICE, None)).unwrap();
    let left: i64 = f
        .store
        .lock()
        .query_row(
            "SELECT count(*) FROM iam_api_keys WHERE user_id = ?1",
            [ALICE],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 0);
}

#[test]
fn memberships_are_unique_and_need_existing_users_and_groups() {
    let f = fixture();
    let err = f
        .admin(|tx| tx.add_user_to_group(Some(BOB), Some(OPS)))
        .unwrap_err();
    assert_eq!(err.status_and_code().0, 409);
    let err = f
        .admin(|tx| tx.add_user_to_group(Some("ocid1.user.oc1..nope"), Some(OPS)))
        .unwrap_err();
    assert_eq!(err.status_and_code().0, 404);
    let (m, _) = f
        .admin(|tx| tx.add_user_to_group(Some(ALICE), Some(OPS)))
        .unwrap();
    assert_eq!(m.extra["description"], format!("GRP_MBR:{OPS}-{ALICE}"));
    let both = f
        .admin(|tx| {
            tx.list_memberships(
                &MembershipFilter {
                    compartment_id: Some(T.into()),
                    user_id: Some(ALICE.into()),
                    group_id: Some(OPS.into()),
                },
                &page(10),
            )
        })
        .unwrap();
    assert_eq!(both.items.len(), 1);
    let err = f
        .admin(|tx| {
            tx.list_memberships(
                &MembershipFilter {
                    compartment_id: Some(T.into()),
                    ..MembershipFilter::default()
                },
                &page(10),
            )
        })
        .unwrap_err();
    assert_eq!(err.status_and_code(), (400, "MissingParameter"));
}

#[test]
fn api_key_rules_weak_private_duplicate_and_the_fourth_key() {
    let f = fixture();
    let err = f
        .admin(|tx| tx.upload_api_key(BOB, DOC_PUB_1024))
        .unwrap_err();
    assert_eq!(err.status_and_code(), (400, "InvalidParameter"));
    assert!(err.to_string().contains("1024"), "{err}");
    let err = f
        .admin(|tx| tx.upload_api_key(BOB, ED25519_PUB))
        .unwrap_err();
    assert_eq!(err.status_and_code(), (400, "InvalidParameter"));
    let private = keygen::generate_rsa_2048().unwrap();
    let err = f
        .admin(|tx| tx.upload_api_key(BOB, &private.private_pkcs8_pem))
        .unwrap_err();
    assert_eq!(err.status_and_code(), (400, "InvalidParameter"));
    for line in private
        .private_pkcs8_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
    {
        assert!(!err.to_string().contains(line), "the key is not echoed");
    }
    let first = keygen::generate_rsa_2048().unwrap();
    let trimmed = first.public_spki_pem.trim_end().to_owned();
    let (key, _) = f.admin(|tx| tx.upload_api_key(BOB, &trimmed)).unwrap();
    assert_eq!(
        key.key_value.as_deref(),
        Some(trimmed.as_str()),
        "echoed as uploaded"
    );
    assert_eq!(key.fingerprint, first.fingerprint.as_str());
    assert_eq!(
        key.key_id.as_deref(),
        Some(format!("{T}/{BOB}/{}", first.fingerprint).as_str())
    );
    let err = f
        .admin(|tx| tx.upload_api_key(BOB, &first.public_spki_pem))
        .unwrap_err();
    assert_eq!(err.status_and_code().0, 409, "duplicate");
    for _ in 0..2 {
        let k = keygen::generate_rsa_2048().unwrap();
        f.admin(|tx| tx.upload_api_key(BOB, &k.public_spki_pem))
            .unwrap();
    }
    let fourth = keygen::generate_rsa_2048().unwrap();
    let err = f
        .admin(|tx| tx.upload_api_key(BOB, &fourth.public_spki_pem))
        .unwrap_err();
    assert_eq!(err.status_and_code(), (409, "ApiKeyLimitExceeded"));
    // Deleting one (fingerprint in any case) makes room again.
    let upper = first.fingerprint.as_str().to_ascii_uppercase();
    f.admin(|tx| tx.delete_api_key(BOB, &upper, None)).unwrap();
    f.admin(|tx| tx.upload_api_key(BOB, &fourth.public_spki_pem))
        .unwrap();
    let err = f
        .admin(|tx| tx.delete_api_key(BOB, "not-a-fingerprint", None))
        .unwrap_err();
    assert_eq!(err.status_and_code().0, 404);
}

#[test]
fn non_admins_manage_only_their_own_credentials_and_read_only_themselves() {
    let f = fixture();
    // Bob is in `ops`, which no policy empowers.
    let me = f.as_user(BOB, |tx| Ok(tx.actor()?.clone())).unwrap();
    assert!(!me.policies.is_admin(&me.principal));
    f.as_user(BOB, |tx| tx.get_user(BOB)).unwrap();
    f.as_user(BOB, |tx| tx.list_api_keys(BOB)).unwrap();
    let key = keygen::generate_rsa_2048().unwrap();
    f.as_user(BOB, |tx| tx.upload_api_key(BOB, &key.public_spki_pem))
        .unwrap();
    let (pw, _) = f
        .as_user(BOB, |tx| tx.create_ui_password(BOB, "Secret-1"))
        .unwrap();
    assert_eq!(pw.password.as_deref(), Some("Secret-1"));
    for (what, result) in [
        (
            "get other",
            f.as_user(BOB, |tx| tx.get_user(ALICE).map(drop)),
        ),
        (
            "list keys of other",
            f.as_user(BOB, |tx| tx.list_api_keys(ALICE).map(drop)),
        ),
        (
            "upload for other",
            f.as_user(BOB, |tx| {
                tx.upload_api_key(ALICE, &key.public_spki_pem).map(drop)
            }),
        ),
        (
            "reset other",
            f.as_user(BOB, |tx| tx.create_ui_password(ALICE, "x").map(drop)),
        ),
        (
            "list users",
            f.as_user(BOB, |tx| {
                tx.list_users(&tenancy_filter(), &page(5)).map(drop)
            }),
        ),
        (
            "create group",
            f.as_user(BOB, |tx| tx.create_group(new_group("x")).map(drop)),
        ),
        (
            "get group",
            f.as_user(BOB, |tx| tx.get_group(OPS).map(drop)),
        ),
        (
            "leave group",
            f.as_user(BOB, |tx| {
                tx.remove_membership("ocid1.groupmembership.oc1..m1", None)
            }),
        ),
    ] {
        let err = result.unwrap_err();
        assert_eq!(
            err.status_and_code(),
            (404, "NotAuthorizedOrNotFound"),
            "{what}"
        );
    }
    // Everyone may read the tenancy and its home region.
    let regions = f.as_user(BOB, |tx| tx.region_subscriptions(T)).unwrap();
    assert!(regions[0].is_home_region);
    assert!(
        f.as_user(BOB, |tx| tx.get_tenancy("ocid1.tenancy.oc1..other"))
            .is_err()
    );
}

#[test]
fn a_tenancy_policy_makes_a_group_admin_but_a_compartment_policy_does_not() {
    for (compartment, admin) in [(T, true), ("ocid1.compartment.oc1..c", false)] {
        let f = fixture_with(Some(&seed(serde_json::json!([{
            "id": "ocid1.policy.oc1..p", "compartmentId": compartment, "name": "ops-admin",
            "statements": ["Allow group ops to manage users in tenancy"]
        }]))));
        let result = f.as_user(BOB, |tx| tx.list_users(&tenancy_filter(), &page(5)));
        assert_eq!(result.is_ok(), admin, "{compartment}");
    }
}

#[test]
fn a_deleted_signer_is_not_authenticated() {
    let f = fixture();
    let err = f
        .as_user("ocid1.user.oc1..nobody", |tx| tx.get_user(BOB))
        .unwrap_err();
    assert_eq!(err.status_and_code(), (401, "NotAuthenticated"));
}

#[test]
fn retry_tokens_replay_reject_other_requests_and_expire_after_a_day() {
    let f = fixture();
    let create = |key: &RetryKey, name: &'static str| {
        f.store.write(&f.admin, Some(key), move |tx| {
            let (u, etag) = tx.create_user(new_user(name))?;
            Ok(Reply::ok(&u)?
                .with_etag(etag)
                .with_location(format!("/users/{}", u.id)))
        })
    };
    let key = RetryKey::new(
        "tok-1",
        "CreateUser",
        f.admin.as_str(),
        "/20160918/users",
        b"carol",
    );
    let first = create(&key, "carol").unwrap();
    assert!(!first.replayed);
    f.clock.advance(1000);
    let again = create(&key, "carol").unwrap();
    assert!(again.replayed);
    assert_eq!(
        (again.status, &again.etag, &again.location, &again.body),
        (first.status, &first.etag, &first.location, &first.body)
    );
    let count = |name: &str| -> i64 {
        f.store
            .lock()
            .query_row(
                "SELECT count(*) FROM iam_users WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .unwrap()
    };
    assert_eq!(count("carol"), 1, "the replay wrote nothing");
    let other = RetryKey::new(
        "tok-1",
        "CreateUser",
        f.admin.as_str(),
        "/20160918/users",
        b"dave",
    );
    let err = create(&other, "dave").unwrap_err();
    assert_eq!(err.status_and_code(), (409, "InvalidatedRetryToken"));
    assert_eq!(count("dave"), 0);
    // A failed request does not consume a token.
    let fresh = RetryKey::new(
        "tok-2",
        "CreateUser",
        f.admin.as_str(),
        "/20160918/users",
        b"bob",
    );
    assert!(create(&fresh, "bob").is_err());
    create(
        &RetryKey::new(
            "tok-2",
            "CreateUser",
            f.admin.as_str(),
            "/20160918/users",
            b"x",
        ),
        "erin",
    )
    .unwrap();
    // After 24 hours the token is forgotten: the request runs again (and now conflicts).
    f.clock.advance(RETRY_TOKEN_TTL_MS);
    let err = create(&key, "carol").unwrap_err();
    assert_eq!(err.status_and_code().0, 409);
    assert!(matches!(err, StoreError::AlreadyExists(_)));
}

#[test]
fn ui_password_information_never_holds_the_password() {
    let f = fixture();
    let err = f.admin(|tx| tx.ui_password_information(BOB)).unwrap_err();
    assert_eq!(err.status_and_code().0, 404);
    let (pw, etag) = f
        .admin(|tx| tx.create_ui_password(BOB, "Once-Only-1"))
        .unwrap();
    assert_eq!(pw.user_id, BOB);
    let (info, etag2) = f.admin(|tx| tx.ui_password_information(BOB)).unwrap();
    assert_eq!(etag, etag2);
    let json = serde_json::to_string(&info).unwrap();
    assert!(!json.contains("Once-Only-1"));
    assert!(
        !format!("{pw:?}").contains("Once-Only-1"),
        "Debug redacts it"
    );
    let stored: String = f
        .store
        .lock()
        .query_row("SELECT doc || password_sha256 FROM ui_passwords", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(!stored.contains("Once-Only-1"));
}

#[test]
fn capabilities_and_state_updates() {
    let f = fixture();
    let patch = CapabilitiesPatch(vec![
        ("canUseApiKeys", false),
        ("canUseDbCredentials", false),
    ]);
    let (user, _) = f
        .admin(|tx| tx.update_user_capabilities(ALICE, None, &patch))
        .unwrap();
    let caps = user.capabilities.unwrap();
    assert_eq!(caps.can_use_api_keys, Some(false));
    assert_eq!(
        caps.extra["canUseDbCredentials"],
        serde_json::Value::Bool(false)
    );
    // A user whose API-key capability is off cannot sign requests.
    let fp = f.admin(|tx| tx.list_api_keys(ALICE)).unwrap()[0]
        .fingerprint
        .clone();
    let fp = crate::model::Fingerprint::parse(&fp).unwrap();
    assert_eq!(f.store.signing_key(T, ALICE, &fp).unwrap(), None);
    let err = f
        .admin(|tx| tx.update_user_state(ALICE, None, Some(true)))
        .unwrap_err();
    assert_eq!(err.status_and_code(), (400, "InvalidParameter"));
    f.admin(|tx| tx.update_user_state(ALICE, None, Some(false)))
        .unwrap();
}

#[test]
fn signing_keys_are_found_only_in_this_tenancy() {
    let f = fixture();
    let fp = f.admin(|tx| tx.list_api_keys(ALICE)).unwrap()[0]
        .fingerprint
        .clone();
    let fp = crate::model::Fingerprint::parse(&fp).unwrap();
    assert!(f.store.signing_key(T, ALICE, &fp).unwrap().is_some());
    assert!(
        f.store
            .signing_key("ocid1.tenancy.oc1..other", ALICE, &fp)
            .unwrap()
            .is_none()
    );
    assert!(f.store.signing_key(T, BOB, &fp).unwrap().is_none());
}

#[test]
fn bad_seeds_are_refused_with_clear_messages() {
    let mut with_admin = seed(serde_json::json!([]));
    with_admin.users[1].name = "Admin".into();
    let mut too_many = seed(serde_json::json!([]));
    let keys = too_many.api_keys.get_mut(ALICE).unwrap();
    for _ in 0..3 {
        let k = keygen::generate_rsa_2048().unwrap();
        keys.push(crate::oci::wire::ApiKey {
            key_id: None,
            key_value: Some(k.public_spki_pem),
            fingerprint: k.fingerprint.to_string(),
            user_id: None,
            time_created: None,
            lifecycle_state: None,
            extra: Default::default(),
        });
    }
    let private = keygen::generate_rsa_2048().unwrap();
    let mut with_private = seed(serde_json::json!([]));
    with_private.api_keys.get_mut(ALICE).unwrap()[0].key_value =
        Some(private.private_pkcs8_pem.to_string());
    let mut dangling = seed(serde_json::json!([]));
    dangling.memberships[0].group_id = "ocid1.group.oc1..nope".into();
    for (snap, needle) in [
        (with_admin, "named `Admin`"),
        (too_many, "4 API keys"),
        (with_private, "private key"),
        (dangling, "unknown group"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("e.db"), Arc::new(ManualClock::new(NOW))).unwrap();
        let err = store
            .initialize(
                Some(&snap),
                &Bootstrap {
                    admin_public_pem: keygen::generate_rsa_2048().unwrap().public_spki_pem,
                    tenancy_name: "t".into(),
                    tenancy_id: Ocid::new(GENERATED),
                },
                |_| Ok(()),
            )
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains(needle), "{text}");
        for line in private
            .private_pkcs8_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
        {
            assert!(!text.contains(line));
        }
        assert!(!store.is_initialized().unwrap());
    }
}

#[test]
fn list_filters_and_paging_through_the_store() {
    let f = fixture();
    for name in ["u1", "u2", "u3"] {
        f.admin(|tx| tx.create_user(new_user(name))).unwrap();
    }
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let req = PageRequest {
            limit: 2,
            page: token.take(),
            sort: Sort::default(),
        };
        let p = f
            .admin(|tx| tx.list_users(&tenancy_filter(), &req))
            .unwrap();
        seen.extend(p.items.into_iter().map(|u| u.name));
        match p.next {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(seen, ["alice", "bob", "admin", "u1", "u2", "u3"]);
    let by_name = UserFilter {
        name: Some("u2".into()),
        ..tenancy_filter()
    };
    assert_eq!(
        f.admin(|tx| tx.list_users(&by_name, &page(10)))
            .unwrap()
            .items
            .len(),
        1
    );
    let wrong_case = UserFilter {
        name: Some("U2".into()),
        ..tenancy_filter()
    };
    assert!(
        f.admin(|tx| tx.list_users(&wrong_case, &page(10)))
            .unwrap()
            .items
            .is_empty()
    );
    let inactive = UserFilter {
        lifecycle_state: Some("inactive".into()),
        ..tenancy_filter()
    };
    assert!(
        f.admin(|tx| tx.list_users(&inactive, &page(10)))
            .unwrap()
            .items
            .is_empty()
    );
    let err = f
        .admin(|tx| tx.list_users(&UserFilter::default(), &page(10)))
        .unwrap_err();
    assert_eq!(err.status_and_code(), (400, "MissingParameter"));
    let other = UserFilter {
        compartment_id: Some("ocid1.compartment.oc1..c".into()),
        ..UserFilter::default()
    };
    assert_eq!(
        f.admin(|tx| tx.list_users(&other, &page(10)))
            .unwrap_err()
            .status_and_code()
            .0,
        404
    );
}

/// Every list filter is applied in SQL (before the page's `LIMIT`) and matches what the
/// stored documents say: case-insensitive states, exact names, federation fields, the
/// tenancy's policies only, memberships by user, group or both.
#[test]
fn list_filters_in_sql_match_the_documents() {
    let mut snap = seed(serde_json::json!([
        {"id": "ocid1.policy.oc1..p1", "compartmentId": T, "name": "ops-policy",
         "statements": ["ALLOW GROUP ops to inspect users IN TENANCY"]},
        {"id": "ocid1.policy.oc1..p2", "compartmentId": "ocid1.compartment.oc1..c",
         "name": "elsewhere", "statements": ["ALLOW GROUP ops to inspect users IN TENANCY"]}
    ]));
    snap.users[0].identity_provider_id = Some("ocid1.saml2idp.oc1..idp".into());
    snap.users[0].external_identifier = Some("ext-alice".into());
    snap.users[1].lifecycle_state = Some("INACTIVE".into());
    let f = fixture_with(Some(&snap));
    let names = |filter: UserFilter| {
        f.admin(|tx| tx.list_users(&filter, &page(10)))
            .unwrap()
            .items
            .into_iter()
            .map(|u| u.name)
            .collect::<Vec<_>>()
    };
    let inactive = UserFilter {
        lifecycle_state: Some("inactive".into()),
        ..tenancy_filter()
    };
    assert_eq!(names(inactive), ["bob"]);
    let active = UserFilter {
        lifecycle_state: Some("Active".into()),
        ..tenancy_filter()
    };
    assert_eq!(names(active), ["alice", "admin"]);
    let federated = UserFilter {
        identity_provider_id: Some("ocid1.saml2idp.oc1..idp".into()),
        external_identifier: Some("ext-alice".into()),
        ..tenancy_filter()
    };
    assert_eq!(names(federated), ["alice"]);
    let other_idp = UserFilter {
        identity_provider_id: Some("ocid1.saml2idp.oc1..other".into()),
        ..tenancy_filter()
    };
    assert!(names(other_idp).is_empty());

    let groups = GroupFilter {
        compartment_id: Some(T.into()),
        ..GroupFilter::default()
    };
    let group_names = |filter: &GroupFilter, sort: Sort| {
        f.admin(|tx| {
            tx.list_groups(
                filter,
                &PageRequest {
                    limit: 10,
                    page: None,
                    sort,
                },
            )
        })
        .unwrap()
        .items
        .into_iter()
        .map(|g| g.name)
        .collect::<Vec<_>>()
    };
    let by_name = Sort::parse(Some("NAME"), None).unwrap();
    assert_eq!(group_names(&groups, by_name), ["Administrators", "ops"]);
    let exact = GroupFilter {
        name: Some("OPS".into()),
        ..groups.clone()
    };
    assert!(
        group_names(&exact, Sort::default()).is_empty(),
        "names match exactly"
    );

    let policies = f
        .admin(|tx| tx.list_policies(&groups, &page(10)))
        .unwrap()
        .items;
    let policy_names: Vec<&str> = policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        policy_names,
        ["ops-policy", "Tenant Admin Policy"],
        "only the tenancy's policies"
    );

    let memberships = |user: Option<&str>, group: Option<&str>| {
        f.admin(|tx| {
            tx.list_memberships(
                &MembershipFilter {
                    compartment_id: Some(T.into()),
                    user_id: user.map(str::to_owned),
                    group_id: group.map(str::to_owned),
                },
                &page(10),
            )
        })
        .map(|p| p.items.len())
    };
    assert_eq!(memberships(Some(BOB), None).unwrap(), 1);
    assert_eq!(memberships(None, Some(OPS)).unwrap(), 1);
    assert_eq!(memberships(Some(BOB), Some(OPS)).unwrap(), 1);
    assert_eq!(memberships(Some(ALICE), Some(OPS)).unwrap(), 0);
    assert_eq!(
        memberships(None, None).unwrap_err().status_and_code(),
        (400, "MissingParameter")
    );
}
