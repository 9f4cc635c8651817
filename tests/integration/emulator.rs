//! The emulator over real loopback sockets, with a client signing requests the way the OCI
//! SDKs do (`oci::sign::sign_request` + reqwest): authentication failures, authority, the key
//! rules, retry tokens, etags, paging, fault injection, the bootstrap files, and durability of
//! an acknowledged write across `kill -9` of a separate emulator process.
//!
//! Every server binds 127.0.0.1:0; tests wait on the printed URL or the started emulator,
//! never on sleeps.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use ociam::emulator::{Config, Emulator};
use ociam::keygen;
use ociam::oci::sign::{self, RequestToSign, SigningKey};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::sync::oneshot;

const T: &str = "ocid1.tenancy.oc1..itest";
const ALICE: &str = "ocid1.user.oc1..alice";
const BOB: &str = "ocid1.user.oc1..bob";
const CAROL: &str = "ocid1.user.oc1..carol";
const DOC_PUB_1024: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/oci/signing-vectors/oci-doc-test-key.pub.pem"
));
const NOT_AUTHENTICATED: &str =
    "The required information to complete authentication was not provided or was incorrect.";

/// Who signs a request: a private key and the `keyId` it is registered under.
pub(crate) struct Signer {
    key: SigningKey,
    key_id: String,
}

impl Signer {
    pub(crate) fn new(pem: &str, tenancy: &str, user: &str) -> Self {
        let key = SigningKey::from_pem(pem, None).unwrap();
        let key_id = format!("{tenancy}/{user}/{}", key.fingerprint());
        Self { key, key_id }
    }

    /// The signer from an `oci-config` file's `DEFAULT` profile.
    fn from_config(path: &Path) -> Self {
        let text = std::fs::read_to_string(path).unwrap();
        let profile =
            ociam::oci::config::load_profile(&text, "oci-config", "DEFAULT", None, true).unwrap();
        let pem = std::fs::read_to_string(&profile.key_file).unwrap();
        Self {
            key: SigningKey::from_pem(&pem, None).unwrap(),
            key_id: profile.key_id(),
        }
    }
}

/// How to deviate from a correctly signed request.
#[derive(Default)]
struct Tweak<'a> {
    /// Seconds added to the signed `date`.
    date_offset: i64,
    /// Send this body instead of the signed one.
    body_sent: Option<&'a str>,
    /// Extra headers.
    headers: Vec<(&'a str, String)>,
}

pub(crate) struct Reply {
    pub(crate) status: u16,
    headers: reqwest::header::HeaderMap,
    pub(crate) json: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or_default()
    }

    #[track_caller]
    fn expect(self, status: u16) -> Self {
        assert_eq!(self.status, status, "{}", self.json);
        self
    }

    #[track_caller]
    fn expect_error(self, status: u16, code: &str) -> Self {
        assert_eq!((self.status, self.code()), (status, code), "{}", self.json);
        assert!(self.header("opc-request-id").is_some());
        self
    }
}

pub(crate) struct Api {
    http: reqwest::Client,
    url: String,
}

fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

impl Api {
    fn new(url: &str) -> Self {
        Self {
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            url: url.to_owned(),
        }
    }

    async fn send(
        &self,
        signer: Option<&Signer>,
        method: &str,
        path: &str,
        body: Option<&str>,
        tweak: Tweak<'_>,
    ) -> Reply {
        let path = format!("/20160918{path}");
        let host = self.url.trim_start_matches("http://").to_owned();
        let method_value = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(method_value, format!("{}{path}", self.url));
        if let Some(signer) = signer {
            let date = sign::http_date(now() + tweak.date_offset);
            let signed = sign::sign_request(
                &signer.key,
                &signer.key_id,
                &RequestToSign {
                    method,
                    path_and_query: &path,
                    host: &host,
                    date: &date,
                    body: body.map(str::as_bytes),
                    content_type: "application/json",
                },
            )
            .unwrap();
            for (name, value) in signed.headers {
                req = req.header(name, value);
            }
            req = req.header("authorization", signed.authorization);
        }
        for (name, value) in tweak.headers {
            req = req.header(name, value);
        }
        if let Some(b) = tweak.body_sent.or(body) {
            req = req.body(b.to_owned());
        } else if matches!(method, "POST" | "PUT") {
            req = req.body(Vec::new());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap();
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        Reply {
            status,
            headers,
            json,
        }
    }

    pub(crate) async fn get(&self, s: &Signer, path: &str) -> Reply {
        self.send(Some(s), "GET", path, None, Tweak::default())
            .await
    }

    pub(crate) async fn post(&self, s: &Signer, path: &str, body: &Value) -> Reply {
        let text = body.to_string();
        self.send(Some(s), "POST", path, Some(&text), Tweak::default())
            .await
    }

    pub(crate) async fn delete(&self, s: &Signer, path: &str) -> Reply {
        self.send(Some(s), "DELETE", path, None, Tweak::default())
            .await
    }

    pub(crate) async fn put(&self, s: &Signer, path: &str, body: &Value) -> Reply {
        let text = body.to_string();
        self.send(Some(s), "PUT", path, Some(&text), Tweak::default())
            .await
    }
}

/// An in-process emulator on 127.0.0.1:0 with its admin signer.
pub(crate) struct Running {
    pub(crate) api: Api,
    admin: Signer,
    tenancy: String,
    config_file: PathBuf,
    data_dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), ociam::emulator::EmulatorError>>>,
}

impl Running {
    pub(crate) async fn start(
        data_dir: &Path,
        seed: Option<&Value>,
        tune: impl FnOnce(&mut Config),
    ) -> Self {
        let mut config = Config {
            data_dir: data_dir.to_path_buf(),
            ..Config::default()
        };
        if let Some(seed) = seed {
            let path = data_dir.with_extension("seed.json");
            std::fs::write(&path, seed.to_string()).unwrap();
            config.seed = Some(path);
        }
        tune(&mut config);
        let emulator = Emulator::start(config).await.unwrap();
        let api = Api::new(emulator.url());
        let config_file = emulator.config_file().to_path_buf();
        let data_dir = emulator.data_dir().to_path_buf();
        let admin = Signer::from_config(&config_file);
        let tenancy = admin.key_id.split('/').next().unwrap().to_owned();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(emulator.run(async {
            let _ = stopped.await;
        }));
        Self {
            api,
            admin,
            tenancy,
            config_file,
            data_dir,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

/// A seeded tenancy: alice (with a key), bob (with a key), carol (no key), all non-admins;
/// bob is in group `ops`. Returns the seed and the private keys of alice and bob.
fn seeded() -> (Value, String, String) {
    let alice = keygen::generate_rsa_2048().unwrap();
    let bob = keygen::generate_rsa_2048().unwrap();
    let user = |id: &str, name: &str| {
        json!({"id": id, "compartmentId": T, "name": name, "description": name,
               "lifecycleState": "ACTIVE"})
    };
    let seed = json!({
        "format_version": 1,
        "tenancy": T,
        "users": [user(ALICE, "alice"), user(BOB, "bob"), user(CAROL, "carol")],
        "groups": [{"id": "ocid1.group.oc1..ops", "compartmentId": T, "name": "ops",
                    "description": "ops"}],
        "memberships": [{"id": "ocid1.groupmembership.oc1..m", "compartmentId": T,
                         "groupId": "ocid1.group.oc1..ops", "userId": BOB}],
        "api_keys": {
            ALICE: [{"fingerprint": alice.fingerprint.as_str(), "keyValue": alice.public_spki_pem}],
            BOB: [{"fingerprint": bob.fingerprint.as_str(), "keyValue": bob.public_spki_pem}]
        }
    });
    (
        seed,
        alice.private_pkcs8_pem.to_string(),
        bob.private_pkcs8_pem.to_string(),
    )
}

fn users_path(tenancy: &str) -> String {
    format!("/users?compartmentId={tenancy}")
}

fn new_user(tenancy: &str, name: &str) -> Value {
    json!({"compartmentId": tenancy, "name": name, "description": format!("user {name}")})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_tampered_unregistered_and_skewed_requests_are_401() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Running::start(&dir.path().join("data"), None, |_| {}).await;
    let api = &emu.api;
    let list = users_path(&emu.tenancy);
    // The control: correctly signed, it works.
    api.get(&emu.admin, &list).await.expect(200);
    let body = new_user(&emu.tenancy, "mallory").to_string();
    let mut attempts = vec![
        (
            "unsigned",
            api.send(None, "GET", &list, None, Tweak::default()).await,
        ),
        (
            "tampered body",
            api.send(
                Some(&emu.admin),
                "POST",
                "/users",
                Some(&body),
                Tweak {
                    body_sent: Some(&body.replace("mallory", "mallorx")),
                    ..Tweak::default()
                },
            )
            .await,
        ),
        (
            "date 6 min in the past",
            api.send(
                Some(&emu.admin),
                "GET",
                &list,
                None,
                Tweak {
                    date_offset: -360,
                    ..Tweak::default()
                },
            )
            .await,
        ),
        (
            "date 6 min in the future",
            api.send(
                Some(&emu.admin),
                "GET",
                &list,
                None,
                Tweak {
                    date_offset: 360,
                    ..Tweak::default()
                },
            )
            .await,
        ),
    ];
    // A generated key that was never uploaded, under its own fingerprint and under the
    // admin's (signature by the wrong private key).
    let stranger = keygen::generate_rsa_2048().unwrap();
    let admin_user = emu.admin.key_id.split('/').nth(1).unwrap();
    let unregistered = Signer::new(&stranger.private_pkcs8_pem, &emu.tenancy, admin_user);
    attempts.push(("unregistered key", api.get(&unregistered, &list).await));
    let impostor = Signer {
        key: SigningKey::from_pem(&stranger.private_pkcs8_pem, None).unwrap(),
        key_id: emu.admin.key_id.clone(),
    };
    attempts.push(("wrong private key", api.get(&impostor, &list).await));
    for (what, reply) in attempts {
        let reply = reply.expect_error(401, "NotAuthenticated");
        assert_eq!(reply.json["message"], NOT_AUTHENTICATED, "{what}");
        assert_eq!(reply.header("content-type"), Some("application/json"));
    }
    // Nothing was created by the tampered request.
    let found = api
        .get(&emu.admin, &format!("{list}&name=mallory"))
        .await
        .expect(200);
    assert_eq!(found.json, json!([]));
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_admin_manages_only_its_own_keys_and_a_keyless_user_cannot_sign() {
    let dir = tempfile::tempdir().unwrap();
    let (seed, alice_pem, _) = seeded();
    let emu = Running::start(&dir.path().join("data"), Some(&seed), |_| {}).await;
    let api = &emu.api;
    let alice = Signer::new(&alice_pem, T, ALICE);
    // Bob's key, as alice: delete → 404, upload to bob → 404.
    let bob_keys = api
        .get(&emu.admin, &format!("/users/{BOB}/apiKeys"))
        .await
        .expect(200);
    let bob_fp = bob_keys.json[0]["fingerprint"].as_str().unwrap().to_owned();
    api.delete(&alice, &format!("/users/{BOB}/apiKeys/{bob_fp}"))
        .await
        .expect_error(404, "NotAuthorizedOrNotFound");
    let extra = keygen::generate_rsa_2048().unwrap();
    api.post(
        &alice,
        &format!("/users/{BOB}/apiKeys"),
        &json!({"key": extra.public_spki_pem}),
    )
    .await
    .expect_error(404, "NotAuthorizedOrNotFound");
    api.get(&alice, &format!("/users/{BOB}"))
        .await
        .expect_error(404, "NotAuthorizedOrNotFound");
    api.get(&alice, &users_path(T))
        .await
        .expect_error(404, "NotAuthorizedOrNotFound");
    // Her own second key: 200, and she can read herself and her keys.
    let second = keygen::generate_rsa_2048().unwrap();
    let uploaded = api
        .post(
            &alice,
            &format!("/users/{ALICE}/apiKeys"),
            &json!({"key": second.public_spki_pem}),
        )
        .await
        .expect(200);
    assert_eq!(uploaded.json["fingerprint"], second.fingerprint.as_str());
    assert_eq!(uploaded.json["userId"], ALICE);
    assert!(uploaded.header("location").is_some());
    let mine = api
        .get(&alice, &format!("/users/{ALICE}/apiKeys"))
        .await
        .expect(200);
    assert_eq!(mine.json.as_array().unwrap().len(), 2);
    api.get(&alice, &format!("/users/{ALICE}"))
        .await
        .expect(200);
    // Bob's key is still there.
    let bob_keys = api
        .get(&emu.admin, &format!("/users/{BOB}/apiKeys"))
        .await
        .expect(200);
    assert_eq!(bob_keys.json[0]["fingerprint"], bob_fp.as_str());
    // Carol has no key: whatever she signs with is unknown (OCI's no-api-key-yet) ...
    let carol_key = keygen::generate_rsa_2048().unwrap();
    let carol = Signer::new(&carol_key.private_pkcs8_pem, T, CAROL);
    api.get(&carol, &format!("/users/{CAROL}"))
        .await
        .expect_error(401, "NotAuthenticated");
    // ... until an administrator uploads her first key.
    api.post(
        &emu.admin,
        &format!("/users/{CAROL}/apiKeys"),
        &json!({"key": carol_key.public_spki_pem}),
    )
    .await
    .expect(200);
    api.get(&carol, &format!("/users/{CAROL}"))
        .await
        .expect(200);
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fourth_key_is_409_and_weak_or_private_keys_are_400() {
    let dir = tempfile::tempdir().unwrap();
    let (seed, _, _) = seeded();
    let emu = Running::start(&dir.path().join("data"), Some(&seed), |_| {}).await;
    let api = &emu.api;
    let keys = format!("/users/{BOB}/apiKeys");
    api.post(&emu.admin, &keys, &json!({"key": DOC_PUB_1024}))
        .await
        .expect_error(400, "InvalidParameter");
    let private = keygen::generate_rsa_2048().unwrap();
    let refused = api
        .post(
            &emu.admin,
            &keys,
            &json!({"key": private.private_pkcs8_pem.as_str()}),
        )
        .await
        .expect_error(400, "InvalidParameter");
    let line = private.private_pkcs8_pem.lines().nth(1).unwrap();
    assert!(!refused.json.to_string().contains(line), "never echoed");
    api.post(&emu.admin, &keys, &json!({}))
        .await
        .expect_error(400, "MissingParameter");
    // Larger than anything can sign or verify with (`keys::MAX_RSA_BITS`): refused too.
    api.post(
        &emu.admin,
        &keys,
        &json!({"key": crate::util::public_key_of_bits(8193)}),
    )
    .await
    .expect_error(400, "InvalidParameter");
    // Bob has one key: two more fit, the fourth does not.
    for _ in 0..2 {
        let k = keygen::generate_rsa_2048().unwrap();
        api.post(&emu.admin, &keys, &json!({"key": k.public_spki_pem}))
            .await
            .expect(200);
    }
    let fourth = keygen::generate_rsa_2048().unwrap();
    api.post(&emu.admin, &keys, &json!({"key": fourth.public_spki_pem}))
        .await
        .expect_error(409, "ApiKeyLimitExceeded");
    let listed = api.get(&emu.admin, &keys).await.expect(200);
    assert_eq!(listed.json.as_array().unwrap().len(), 3);
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_token_replays_the_first_response_and_rejects_another_body() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Running::start(&dir.path().join("data"), None, |_| {}).await;
    let api = &emu.api;
    let create = |body: String| {
        let api = &emu.api;
        let admin = &emu.admin;
        async move {
            api.send(
                Some(admin),
                "POST",
                "/users",
                Some(&body),
                Tweak {
                    headers: vec![("opc-retry-token", "token-1".to_owned())],
                    ..Tweak::default()
                },
            )
            .await
        }
    };
    let body = new_user(&emu.tenancy, "retried").to_string();
    let first = create(body.clone()).await.expect(200);
    let second = create(body).await.expect(200);
    assert_eq!(first.json, second.json);
    assert_eq!(first.header("etag"), second.header("etag"));
    assert_eq!(first.header("location"), second.header("location"));
    assert_ne!(
        first.header("opc-request-id"),
        second.header("opc-request-id")
    );
    let found = api
        .get(
            &emu.admin,
            &format!("{}&name=retried", users_path(&emu.tenancy)),
        )
        .await
        .expect(200);
    assert_eq!(
        found.json.as_array().unwrap().len(),
        1,
        "one user was created"
    );
    create(new_user(&emu.tenancy, "other").to_string())
        .await
        .expect_error(409, "InvalidatedRetryToken");
    let other = api
        .get(
            &emu.admin,
            &format!("{}&name=other", users_path(&emu.tenancy)),
        )
        .await
        .expect(200);
    assert_eq!(other.json, json!([]));
    // The same for a key upload: two identical uploads, one key.
    let admin_user = emu.admin.key_id.split('/').nth(1).unwrap().to_owned();
    let key = keygen::generate_rsa_2048().unwrap();
    let upload = json!({"key": key.public_spki_pem}).to_string();
    for _ in 0..2 {
        api.send(
            Some(&emu.admin),
            "POST",
            &format!("/users/{admin_user}/apiKeys"),
            Some(&upload),
            Tweak {
                headers: vec![("opc-retry-token", "token-2".to_owned())],
                ..Tweak::default()
            },
        )
        .await
        .expect(200);
    }
    let keys = api
        .get(&emu.admin, &format!("/users/{admin_user}/apiKeys"))
        .await
        .expect(200);
    assert_eq!(
        keys.json.as_array().unwrap().len(),
        2,
        "bootstrap key + one upload"
    );
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outdated_if_match_is_409_no_etag_match() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Running::start(&dir.path().join("data"), None, |_| {}).await;
    let api = &emu.api;
    let created = api
        .post(&emu.admin, "/users", &new_user(&emu.tenancy, "etagged"))
        .await
        .expect(200);
    let id = created.json["id"].as_str().unwrap().to_owned();
    let etag = created.header("etag").unwrap().to_owned();
    assert_eq!(etag.len(), 40);
    let got = api
        .get(&emu.admin, &format!("/users/{id}"))
        .await
        .expect(200);
    assert_eq!(got.header("etag"), Some(etag.as_str()));
    let update = |if_match: String, description: &'static str| {
        let api = &emu.api;
        let admin = &emu.admin;
        let path = format!("/users/{id}");
        async move {
            let body = json!({"description": description}).to_string();
            api.send(
                Some(admin),
                "PUT",
                &path,
                Some(&body),
                Tweak {
                    headers: vec![("if-match", if_match)],
                    ..Tweak::default()
                },
            )
            .await
        }
    };
    let stale = update("0123456789abcdef0123456789abcdef01234567".into(), "x")
        .await
        .expect_error(409, "NoEtagMatch");
    assert_eq!(
        stale.json["message"],
        format!("The entity {id} has been modified. Etag is outdated.")
    );
    let updated = update(etag.clone(), "changed").await.expect(200);
    assert_eq!(updated.json["description"], "changed");
    let new_etag = updated.header("etag").unwrap().to_owned();
    assert_ne!(new_etag, etag);
    // The first etag is now outdated too, for updates and for deletes.
    update(etag.clone(), "again")
        .await
        .expect_error(409, "NoEtagMatch");
    api.send(
        Some(&emu.admin),
        "DELETE",
        &format!("/users/{id}"),
        None,
        Tweak {
            headers: vec![("if-match", etag)],
            ..Tweak::default()
        },
    )
    .await
    .expect_error(409, "NoEtagMatch");
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_with_page_size_1_returns_each_of_5_users_once() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Running::start(&dir.path().join("data"), None, |c| c.page_size = 1).await;
    let api = &emu.api;
    for name in ["p1", "p2", "p3", "p4"] {
        api.post(&emu.admin, "/users", &new_user(&emu.tenancy, name))
            .await
            .expect(200);
    }
    let mut names = Vec::new();
    let mut pages = 0;
    let mut next: Option<String> = None;
    loop {
        let mut path = format!("{}&limit=100", users_path(&emu.tenancy));
        if let Some(token) = next.take() {
            path.push_str(&format!("&page={token}"));
        }
        let page = api.get(&emu.admin, &path).await.expect(200);
        pages += 1;
        let items = page.json.as_array().unwrap();
        assert!(items.len() <= 1, "limit is capped at the page size");
        names.extend(items.iter().map(|u| u["name"].as_str().unwrap().to_owned()));
        match page.header("opc-next-page") {
            Some(token) => next = Some(token.to_owned()),
            None => break,
        }
        assert!(pages < 20, "paging does not end");
    }
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, ["admin", "p1", "p2", "p3", "p4"], "{names:?}");
    assert_eq!(names.len(), 5, "each user exactly once: {names:?}");
    assert_eq!(pages, 6, "five full pages and a trailing empty one");
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_user_still_in_a_group_is_409_until_the_membership_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Running::start(&dir.path().join("data"), None, |_| {}).await;
    let api = &emu.api;
    let t = emu.tenancy.clone();
    let user = api
        .post(&emu.admin, "/users", &new_user(&t, "member"))
        .await
        .expect(200);
    let user_id = user.json["id"].as_str().unwrap().to_owned();
    let group = api
        .post(
            &emu.admin,
            "/groups",
            &json!({"compartmentId": t, "name": "team", "description": ""}),
        )
        .await
        .expect(200);
    let group_id = group.json["id"].as_str().unwrap().to_owned();
    let m = api
        .post(
            &emu.admin,
            "/userGroupMemberships",
            &json!({"userId": user_id, "groupId": group_id}),
        )
        .await
        .expect(200);
    let m_id = m.json["id"].as_str().unwrap().to_owned();
    api.delete(&emu.admin, &format!("/users/{user_id}"))
        .await
        .expect_error(409, "Conflict");
    api.delete(&emu.admin, &format!("/groups/{group_id}"))
        .await
        .expect_error(409, "Conflict");
    let removed = api
        .delete(&emu.admin, &format!("/userGroupMemberships/{m_id}"))
        .await
        .expect(204);
    assert_eq!(removed.json, Value::Null, "204 has an empty body");
    api.delete(&emu.admin, &format!("/users/{user_id}"))
        .await
        .expect(204);
    api.delete(&emu.admin, &format!("/groups/{group_id}"))
        .await
        .expect(204);
    api.get(&emu.admin, &format!("/users/{user_id}"))
        .await
        .expect_error(404, "NotAuthorizedOrNotFound");
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_wire_details_slashes_encodings_spellings_passwords_and_request_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (seed, _, _) = seeded();
    let emu = Running::start(&dir.path().join("data"), Some(&seed), |_| {}).await;
    let api = &emu.api;
    // Trailing slash (2018 SDKs) and a form-encoded name: `%2B` is `+`, a bare `+` a space.
    let created = api
        .post(
            &emu.admin,
            "/users/",
            &new_user(T, "ann.lee+ci@example.com"),
        )
        .await
        .expect(200);
    assert_eq!(
        created.header("location"),
        Some(
            format!(
                "{}/20160918/users/{}",
                api.url,
                created.json["id"].as_str().unwrap()
            )
            .as_str()
        )
    );
    let hit = api
        .get(
            &emu.admin,
            &format!("/users/?compartmentId={T}&name=ann.lee%2Bci%40example.com"),
        )
        .await
        .expect(200);
    assert_eq!(hit.json.as_array().unwrap().len(), 1);
    let miss = api
        .get(
            &emu.admin,
            &format!("/users?compartmentId={T}&name=ann.lee+ci%40example.com"),
        )
        .await
        .expect(200);
    assert_eq!(miss.json, json!([]));
    // Fingerprints in the path, raw and percent-encoded.
    let keys = format!("/users/{ALICE}/apiKeys");
    let mut fps = Vec::new();
    for _ in 0..2 {
        let k = keygen::generate_rsa_2048().unwrap();
        api.post(&emu.admin, &keys, &json!({"key": k.public_spki_pem}))
            .await
            .expect(200);
        fps.push(k.fingerprint.to_string());
    }
    api.delete(
        &emu.admin,
        &format!("{keys}/{}", fps[0].replace(':', "%3A")),
    )
    .await
    .expect(204);
    api.delete(&emu.admin, &format!("{keys}/{}/", fps[1]))
        .await
        .expect(204);
    let left = api.get(&emu.admin, &keys).await.expect(200);
    assert_eq!(left.json.as_array().unwrap().len(), 1);
    // Capabilities: the request spells canUseDBCredentials, the response canUseDbCredentials.
    let caps = api
        .send(
            Some(&emu.admin),
            "PUT",
            &format!("/users/{ALICE}/capabilities"),
            Some(&json!({"canUseDBCredentials": false}).to_string()),
            Tweak::default(),
        )
        .await
        .expect(200);
    assert_eq!(caps.json["capabilities"]["canUseDbCredentials"], false);
    assert_eq!(caps.json["capabilities"]["canUseApiKeys"], true);
    // UI password: POST with an empty body returns a fresh password; GET never shows it.
    let first = api
        .send(
            Some(&emu.admin),
            "POST",
            &format!("/users/{BOB}/uiPassword"),
            None,
            Tweak::default(),
        )
        .await
        .expect(200);
    let second = api
        .send(
            Some(&emu.admin),
            "POST",
            &format!("/users/{BOB}/uiPassword"),
            None,
            Tweak::default(),
        )
        .await
        .expect(200);
    let (p1, p2) = (
        first.json["password"].as_str().unwrap(),
        second.json["password"].as_str().unwrap(),
    );
    assert_ne!(p1, p2);
    let info = api
        .get(&emu.admin, &format!("/users/{BOB}/uiPassword"))
        .await
        .expect(200);
    assert!(info.json.get("password").is_none());
    assert_eq!(info.json["userId"], BOB);
    // Tenancy and home region.
    let tenancy = api
        .get(&emu.admin, &format!("/tenancies/{T}"))
        .await
        .expect(200);
    assert_eq!(tenancy.json["homeRegionKey"], "IAD");
    let regions = api
        .get(&emu.admin, &format!("/tenancies/{T}/regionSubscriptions"))
        .await
        .expect(200);
    assert_eq!(
        regions.json,
        json!([{"regionKey": "IAD", "regionName": "us-ashburn-1", "status": "READY", "isHomeRegion": true}])
    );
    // The caller's request id is echoed as CALLERID/<32hex>/<32hex>.
    let echoed = api
        .send(
            Some(&emu.admin),
            "GET",
            &format!("/users/{ALICE}"),
            None,
            Tweak {
                headers: vec![("opc-request-id", "CALLER123".to_owned())],
                ..Tweak::default()
            },
        )
        .await
        .expect(200);
    let id = echoed.header("opc-request-id").unwrap();
    let parts: Vec<&str> = id.split('/').collect();
    assert_eq!(parts[0], "CALLER123");
    assert!(
        parts[1..]
            .iter()
            .all(|p| p.len() == 32 && p.bytes().all(|b| b.is_ascii_hexdigit()))
    );
    // Unknown paths are 404 and wrong methods 405, both OCI-shaped.
    api.get(&emu.admin, "/dynamicGroups")
        .await
        .expect_error(404, "NotAuthorizedOrNotFound");
    api.send(
        Some(&emu.admin),
        "PUT",
        "/policies",
        Some("{}"),
        Tweak::default(),
    )
    .await
    .expect_error(405, "MethodNotAllowed");
    // Bodies over 64 KiB are refused before anything reads them.
    let huge = json!({"compartmentId": T, "name": "big", "description": "x".repeat(70_000)});
    api.post(&emu.admin, "/users", &huge)
        .await
        .expect_error(413, "PayloadTooLarge");
    // UpdateUser never renames.
    api.send(
        Some(&emu.admin),
        "PUT",
        &format!("/users/{ALICE}"),
        Some(&json!({"name": "alicia"}).to_string()),
        Tweak::default(),
    )
    .await
    .expect_error(400, "InvalidParameter");
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_faults_answer_429_or_503_before_any_write() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let emu = Running::start(&data, None, |c| c.fail_rate = 1.0).await;
    let tenancy = emu.tenancy.clone();
    for name in ["f1", "f2", "f3", "f4"] {
        let reply = emu
            .api
            .post(&emu.admin, "/users", &new_user(&tenancy, name))
            .await;
        assert!(
            matches!(
                (reply.status, reply.code()),
                (429, "TooManyRequests") | (503, "ServiceUnavailable")
            ),
            "{} {}",
            reply.status,
            reply.json
        );
        assert_eq!(reply.header("retry-after"), Some("1"));
    }
    emu.stop().await;
    let emu = Running::start(&data, None, |_| {}).await;
    let all = emu
        .api
        .get(&emu.admin, &users_path(&tenancy))
        .await
        .expect(200);
    let names: Vec<&str> = all
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin"], "no faulted request wrote anything");
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_writes_a_0600_key_and_an_oci_config_that_authenticates() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Running::start(&dir.path().join("data"), None, |_| {}).await;
    let key_file = emu.data_dir.join("admin-key.pem");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&key_file), 0o600);
        assert_eq!(mode(&emu.config_file), 0o600);
        assert_eq!(mode(&emu.data_dir), 0o700);
    }
    let text = std::fs::read_to_string(&emu.config_file).unwrap();
    let profile =
        ociam::oci::config::load_profile(&text, "oci-config", "DEFAULT", None, false).unwrap();
    assert_eq!(profile.region.as_deref(), Some("us-ashburn-1"));
    assert_eq!(Path::new(&profile.key_file), key_file.as_path());
    assert!(Path::new(&profile.key_file).is_absolute());
    // A request signed with exactly what the config names authenticates, as an admin.
    let signer = Signer::from_config(&emu.config_file);
    let me = emu
        .api
        .get(&signer, &format!("/users/{}", profile.user))
        .await
        .expect(200);
    assert_eq!(me.json["name"], "admin");
    let tenancy = emu
        .api
        .get(&signer, &format!("/tenancies/{}", profile.tenancy))
        .await
        .expect(200);
    assert_eq!(tenancy.json["id"], profile.tenancy.as_str());
    let groups = emu
        .api
        .get(
            &signer,
            &format!(
                "/userGroupMemberships?compartmentId={}&userId={}",
                profile.tenancy, profile.user
            ),
        )
        .await
        .expect(200);
    assert_eq!(groups.json.as_array().unwrap().len(), 1);
    emu.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The emulator as a separate process

/// A running `ociam emulator` process; its stdout stays open while it lives.
struct Process {
    child: tokio::process::Child,
    _stdout: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

/// `ociam emulator --data DIR --listen 127.0.0.1:0`, with the URL read from its first line.
async fn spawn_emulator(data: &Path) -> (Process, String) {
    let mut child = tokio::process::Command::new(assert_cmd::cargo::cargo_bin!("ociam"))
        .args(["emulator", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines
        .next_line()
        .await
        .unwrap()
        .expect("the emulator prints its URL");
    let url = line
        .strip_prefix("ociam emulator listening on ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    (
        Process {
            child,
            _stdout: lines,
        },
        url,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_create_survives_kill_9_and_the_data_dir_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut first, url) = spawn_emulator(&data).await;
    let admin = Signer::from_config(&data.join("oci-config"));
    let tenancy = admin.key_id.split('/').next().unwrap().to_owned();
    let api = Api::new(&url);
    let created = api
        .post(&admin, "/users", &new_user(&tenancy, "durable"))
        .await
        .expect(200);
    let id = created.json["id"].as_str().unwrap().to_owned();
    // A second emulator on the same directory refuses to start, saying why.
    let second = tokio::process::Command::new(assert_cmd::cargo::cargo_bin!("ociam"))
        .args(["emulator", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    assert_eq!(second.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("another emulator is already running on data directory"),
        "{stderr}"
    );
    // SIGKILL: no shutdown code runs.
    first.child.kill().await.unwrap();
    let status = first.child.wait().await.unwrap();
    assert!(!status.success());
    let (mut again, url) = spawn_emulator(&data).await;
    let api = Api::new(&url);
    let got = api.get(&admin, &format!("/users/{id}")).await.expect(200);
    assert_eq!(got.json["name"], "durable");
    assert_eq!(got.header("etag"), created.header("etag"));
    again.child.kill().await.unwrap();
}

/// A value of `limit`'s field exactly `chars` characters long (an address for email).
fn value_of_length(limit: &ociam::limits::FieldLimit, chars: usize) -> String {
    match limit.charset {
        ociam::limits::Charset::Email => format!("{}@example.com", "a".repeat(chars - 12)),
        _ => "a".repeat(chars),
    }
}

/// Every entry of the one limits table (the one `ociam validate` also reads): the emulator
/// takes a value at the limit and answers 400 `InvalidParameter` one character past it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_limit_of_the_table_is_enforced_at_its_edge() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Running::start(&dir.path().join("data"), None, |_| {}).await;
    let api = &emu.api;
    let t = emu.tenancy.clone();
    let users = users_path(&t);
    let groups = format!("/groups?compartmentId={t}");
    let mut n = 0;
    let mut unique = || {
        n += 1;
        format!("u{n}")
    };
    for limit in ociam::limits::ALL {
        for (chars, status) in [(limit.max_chars, 200), (limit.max_chars + 1, 400)] {
            let value = value_of_length(limit, chars);
            let (path, body) = match limit.field {
                "user name" => (
                    &users,
                    json!({"compartmentId": t, "name": value, "description": ""}),
                ),
                "group name" => (
                    &groups,
                    json!({"compartmentId": t, "name": value, "description": ""}),
                ),
                "description" => (
                    &users,
                    json!({"compartmentId": t, "name": unique(), "description": value}),
                ),
                "email" => (
                    &users,
                    json!({"compartmentId": t, "name": unique(), "description": "", "email": value}),
                ),
                "tag key" => (
                    &users,
                    json!({"compartmentId": t, "name": unique(), "description": "",
                                             "freeformTags": {value.as_str(): "v"}}),
                ),
                "tag value" => (
                    &users,
                    json!({"compartmentId": t, "name": unique(), "description": "",
                                               "freeformTags": {"k": value}}),
                ),
                other => panic!("the test does not know the field `{other}`; add it"),
            };
            let reply = api.post(&emu.admin, path, &body).await;
            if status == 200 {
                reply.expect(200);
            } else {
                let reply = reply.expect_error(400, "InvalidParameter");
                assert!(
                    !reply.json.to_string().contains(&value),
                    "{}: the refusal echoes the value",
                    limit.field
                );
            }
        }
    }
    emu.stop().await;
}

/// Private-key material in any field of a write (not only `key`) is 400 and never echoed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_key_material_in_any_stored_field_is_400_and_never_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Running::start(&dir.path().join("data"), None, |_| {}).await;
    let api = &emu.api;
    let t = emu.tenancy.clone();
    let private = keygen::generate_rsa_2048().unwrap();
    let pem = private.private_pkcs8_pem.to_string();
    let body_lines: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let users = users_path(&t);
    let bodies = [
        (
            "description",
            json!({"compartmentId": t, "name": "a", "description": pem}),
        ),
        (
            "email",
            json!({"compartmentId": t, "name": "b", "description": "", "email": pem}),
        ),
        (
            "freeformTags.note",
            json!({"compartmentId": t, "name": "c", "description": "",
                                     "freeformTags": {"note": body_lines.join("")}}),
        ),
        (
            "unknownField",
            json!({"compartmentId": t, "name": "d", "description": "",
                                "unknownField": pem.replace('\n', "\\n")}),
        ),
    ];
    for (field, body) in bodies {
        let reply = api
            .post(&emu.admin, &users, &body)
            .await
            .expect_error(400, "InvalidParameter");
        let shown = reply.json.to_string();
        assert!(shown.contains(field), "{field}: {shown}");
        for line in &body_lines {
            assert!(!shown.contains(line), "{field}: echoed");
        }
    }
    let listed = api.get(&emu.admin, &users).await.expect(200);
    assert!(
        !listed.json.to_string().contains(body_lines[1]),
        "nothing was stored"
    );
    emu.stop().await;
}

/// `--identity-domains`: ListDomains answers (a classic tenancy answers 404), CreateUser needs
/// an email (400 `IdcsConversionError`), a reset answers no password; the kind survives a
/// restart without the flag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_domains_change_list_domains_create_user_and_resets_and_persist() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("classic");
    let classic = Running::start(&data, None, |_| {}).await;
    let domains = format!("/domains?compartmentId={}", classic.tenancy);
    classic
        .api
        .get(&classic.admin, &domains)
        .await
        .expect_error(404, "NotAuthorizedOrNotFound");
    let created = classic
        .api
        .post(
            &classic.admin,
            "/users",
            &new_user(&classic.tenancy, "nomail"),
        )
        .await
        .expect(200);
    let path = format!("/users/{}/uiPassword", created.json["id"].as_str().unwrap());
    let reset = classic
        .api
        .send(Some(&classic.admin), "POST", &path, None, Tweak::default())
        .await
        .expect(200);
    assert!(
        reset.json["password"].is_string(),
        "classic returns a password"
    );
    classic.stop().await;

    let data = dir.path().join("domains");
    let emu = Running::start(&data, None, |c| c.identity_domains = true).await;
    let domains = format!("/domains?compartmentId={}", emu.tenancy);
    let listed = emu.api.get(&emu.admin, &domains).await.expect(200);
    assert_eq!(listed.json[0]["type"], "DEFAULT", "{}", listed.json);
    assert_eq!(listed.json[0]["compartmentId"], emu.tenancy.as_str());
    let refused = emu
        .api
        .post(&emu.admin, "/users", &new_user(&emu.tenancy, "nomail"))
        .await
        .expect_error(400, "IdcsConversionError");
    assert!(
        refused.json["message"]
            .as_str()
            .unwrap()
            .contains("The primary email must be specified."),
        "{}",
        refused.json
    );
    let mut body = new_user(&emu.tenancy, "mailed");
    body["email"] = json!("mailed@example.com");
    let created = emu.api.post(&emu.admin, "/users", &body).await.expect(200);
    let path = format!("/users/{}/uiPassword", created.json["id"].as_str().unwrap());
    let reset = emu
        .api
        .send(Some(&emu.admin), "POST", &path, None, Tweak::default())
        .await
        .expect(200);
    assert!(reset.json["password"].is_null(), "{}", reset.json);
    emu.stop().await;

    // Restarted without the flag: still a tenancy with identity domains.
    let again = Running::start(&data, None, |_| {}).await;
    again.api.get(&again.admin, &domains).await.expect(200);
    again
        .api
        .post(&again.admin, "/users", &new_user(&again.tenancy, "nomail"))
        .await
        .expect_error(400, "IdcsConversionError");
    again.stop().await;
}

/// `--rate-limit 5` (a token bucket: burst 5, 5 per second): 20 signed reads fired at once
/// get at most 5 + 5 × elapsed seconds answers; the rest are 429 `TooManyRequests` with an
/// `opc-request-id` and no `retry-after`, answered before authentication or any store work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_throttles_a_burst_with_429_and_no_retry_after() {
    const RATE: u128 = 5;
    const FIRED: usize = 20;
    let emu = crate::util::Emulator::start(&["--rate-limit", "5"]);
    let admin = Signer::from_config(&emu.config_file());
    let tenancy = admin.key_id.split('/').next().unwrap().to_owned();
    let api = Api::new(&emu.url);
    let list = users_path(&tenancy);
    let started = std::time::Instant::now();
    let replies = futures_util::future::join_all((0..FIRED).map(|_| api.get(&admin, &list))).await;
    let elapsed = started.elapsed();
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let throttled: Vec<&Reply> = replies.iter().filter(|r| r.status != 200).collect();
    for r in &throttled {
        assert_eq!((r.status, r.code()), (429, "TooManyRequests"), "{}", r.json);
        assert!(r.json["message"].is_string(), "{}", r.json);
        assert!(r.header("opc-request-id").is_some());
        assert_eq!(
            r.header("retry-after"),
            None,
            "no retry-after, as OCI often does"
        );
    }
    // The bucket starts full: the first 5 always pass. Then 5 per second of the window
    // (+1 for the millisecond the emulator's clock rounds to).
    let bound = usize::try_from(RATE + RATE * elapsed.as_millis() / 1000 + 1).unwrap();
    assert!(ok >= 5, "the burst passes: {ok} of {FIRED}");
    assert!(
        ok <= bound,
        "{ok} of {FIRED} answered in {elapsed:?}; the bucket allows at most {bound}"
    );
    assert_eq!(ok + throttled.len(), FIRED);
    assert!(
        !throttled.is_empty(),
        "{FIRED} requests in {elapsed:?} at 5/s: some must be throttled"
    );
}

/// Every database file the emulator makes (`emulator.db` and SQLite's `-wal` and `-shm`) is
/// mode 0600: retry-token records hold the replies they replay.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_database_file_is_0600_after_a_write() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let emu = Running::start(&dir.path().join("data"), None, |_| {}).await;
    emu.api
        .send(
            Some(&emu.admin),
            "POST",
            "/users",
            Some(&new_user(&emu.tenancy, "written").to_string()),
            Tweak {
                headers: vec![("opc-retry-token", "mode-check-1".to_owned())],
                ..Tweak::default()
            },
        )
        .await
        .expect(200);
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&emu.data_dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.contains(".db") {
            let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{name} is {mode:o}");
            seen.push(name);
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        ["emulator.db", "emulator.db-shm", "emulator.db-wal"],
        "the database and its WAL files while the emulator runs"
    );
    emu.stop().await;
}

/// Two fresh data directories are two tenancies (each with its own OCID, so its own apply
/// journal); a restart keeps a directory's tenancy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_data_dirs_get_distinct_tenancies_that_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let one = Running::start(&dir.path().join("one"), None, |_| {}).await;
    let two = Running::start(&dir.path().join("two"), None, |_| {}).await;
    let (first, second) = (one.tenancy.clone(), two.tenancy.clone());
    assert_ne!(first, second);
    for t in [&first, &second] {
        let suffix = t.strip_prefix("ocid1.tenancy.oc1..").unwrap();
        assert!(
            suffix
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()),
            "{t}"
        );
    }
    one.api
        .get(&one.admin, &format!("/tenancies/{first}"))
        .await
        .expect(200);
    one.stop().await;
    two.stop().await;
    let again = Running::start(&dir.path().join("one"), None, |_| {}).await;
    assert_eq!(again.tenancy, first);
    again
        .api
        .get(&again.admin, &format!("/tenancies/{first}"))
        .await
        .expect(200);
    again.stop().await;
}
