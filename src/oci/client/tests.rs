//! Tests of the Identity client against wiremock servers on loopback: paging, retries and
//! retry tokens, `retry-after`, errors, signatures (verified with the emulator's verifier),
//! the encoded fingerprint path, eventual consistency, home-region routing, `fetch_snapshot`
//! and one-time-password hygiene. Test keys are generated at run time; no test sleeps.

use std::sync::atomic::AtomicI64;
use std::sync::{Mutex, OnceLock};

use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::*;
use crate::keygen::{self, GeneratedKey};
use crate::oci::sign::{
    self, HeaderLookup as _, SigningKey, VerifyRequest, parse_authorization, verify,
};
use crate::snapshot::Snapshot;

const TENANCY: &str = "ocid1.tenancy.oc1..aaaatenancy";
const ACTOR: &str = "ocid1.user.oc1..aaaaactor";
/// 2026-01-01T00:00:00Z, the injected clock.
const NOW: i64 = 1_767_225_600;
const PASSWORD: &str = "vHt.dm1cS]#d8Lm5+d7W";

fn test_key() -> &'static GeneratedKey {
    static KEY: OnceLock<GeneratedKey> = OnceLock::new();
    KEY.get_or_init(|| keygen::generate_rsa_2048().expect("RSA key generation"))
}

fn signing_key() -> SigningKey {
    SigningKey::from_pem(&test_key().private_pkcs8_pem, None).expect("generated key loads")
}

fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 8,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        jitter: Duration::from_millis(1),
        max_total: Duration::from_secs(10),
        max_retry_after: Duration::from_millis(20),
        ec_max_attempts: 3,
    }
}

fn config_for(uri: &str) -> ClientConfig {
    let key = signing_key();
    ClientConfig {
        endpoint: explicit_endpoint(uri).unwrap(),
        region: None,
        tenancy: Ocid::new(TENANCY),
        user: Ocid::new(ACTOR),
        fingerprint: key.fingerprint().clone(),
        key,
        retry: fast_policy(),
        parallelism: 3,
        clock: Arc::new(|| NOW),
        ec_window: DEFAULT_EC_WINDOW,
        on_retry: None,
    }
}

fn client(server: &MockServer) -> IdentityClient {
    IdentityClient::new(config_for(&server.uri())).unwrap()
}

/// The path and query exactly as the mock received them.
fn raw_target(req: &Request) -> String {
    match req.url.query() {
        Some(q) => format!("{}?{q}", req.url.path()),
        None => req.url.path().to_owned(),
    }
}

fn headers_of(req: &Request) -> Vec<(String, String)> {
    req.headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Verifies a received request's signature with the emulator's verifier, against
/// `path_and_query` (normally the raw target).
fn check_signature(req: &Request, path_and_query: &str) -> Result<(), String> {
    let headers = headers_of(req);
    let auth = headers
        .header("authorization")
        .ok_or("no authorization header")?;
    let params = parse_authorization(auth).map_err(|e| e.to_string())?;
    let want_key_id = format!("{TENANCY}/{ACTOR}/{}", test_key().fingerprint);
    if params.key_id != want_key_id {
        return Err(format!("keyId {} != {want_key_id}", params.key_id));
    }
    let spki = signing_key().public_key_spki_der().to_vec();
    verify(
        &params,
        &VerifyRequest {
            method: req.method.as_str(),
            path_and_query,
            headers: &headers,
            body: &req.body,
        },
        &spki,
        Some(NOW),
    )
    .map_err(|e| e.to_string())
}

/// Every request the server received, each checked to carry a valid OCI signature.
async fn signed_requests(server: &MockServer) -> Vec<Request> {
    let requests = server.received_requests().await.unwrap();
    for req in &requests {
        if let Err(e) = check_signature(req, &raw_target(req)) {
            panic!("{} {}: bad signature: {e}", req.method, raw_target(req));
        }
    }
    requests
}

fn header_of<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

fn ok_json(body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("opc-request-id", "SRV/0001/0002")
        .set_body_json(body)
}

fn api_error(status: u16, code: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("opc-request-id", "CALLER/AAAA/BBBB")
        .set_body_json(json!({"code": code, "message": format!("{code} happened")}))
}

fn user_json(id: &str, name: &str, state: &str) -> Value {
    json!({
        "capabilities": {"canUseConsolePassword": true, "canUseApiKeys": true,
                         "canUseAuthTokens": true, "canUseSmtpCredentials": true,
                         "canUseCustomerSecretKeys": true},
        "identityProviderId": null, "externalIdentifier": null, "email": null,
        "id": id, "compartmentId": TENANCY, "name": name, "description": format!("{name} user"),
        "timeCreated": "2018-06-22T02:34:05.154Z", "freeformTags": {"ociam-managed": "true"},
        "definedTags": {}, "lifecycleState": state, "isMfaActivated": false
    })
}

fn group_json(id: &str, name: &str) -> Value {
    json!({"id": id, "compartmentId": TENANCY, "name": name, "description": name,
           "timeCreated": "2018-06-22T02:34:10.000Z", "freeformTags": {}, "definedTags": {},
           "lifecycleState": "ACTIVE"})
}

fn membership_json(id: &str, user: &str, group: &str) -> Value {
    json!({"userId": user, "groupId": group, "id": id, "compartmentId": TENANCY,
           "description": format!("GRP_MBR:{group}-{user}"),
           "timeCreated": "2018-06-22T02:34:12.000Z", "lifecycleState": "ACTIVE"})
}

fn key_json(user: &str, fingerprint: &str) -> Value {
    json!({"keyId": format!("{TENANCY}/{user}/{fingerprint}"),
           "keyValue": "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----",
           "fingerprint": fingerprint, "userId": user,
           "timeCreated": "2018-06-22T02:34:15.205Z", "lifecycleState": "ACTIVE",
           "inactiveStatus": null})
}

fn create_user_details() -> CreateUserDetails {
    CreateUserDetails {
        compartment_id: TENANCY.into(),
        name: "alice".into(),
        description: "Alice".into(),
        ..CreateUserDetails::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Paging

#[tokio::test]
async fn paging_follows_next_page_until_absent_and_tolerates_an_empty_trailing_page() {
    let server = MockServer::start().await;
    let pages: [(Option<&str>, Vec<&str>, Option<&str>); 4] = [
        (None, vec!["u1", "u2"], Some("AAAAAAAAAAFySZZ8w7Ml_-1")),
        (
            Some("AAAAAAAAAAFySZZ8w7Ml_-1"),
            vec!["u3"],
            Some("AAAAAAAAAAEQ1KBd-2"),
        ),
        (Some("AAAAAAAAAAEQ1KBd-2"), vec!["u4", "u5"], Some("tok3")),
        (Some("tok3"), vec![], None),
    ];
    for (page, ids, next) in pages {
        let users: Vec<Value> = ids.iter().map(|id| user_json(id, id, "ACTIVE")).collect();
        let mut response = ok_json(&Value::Array(users));
        if let Some(next) = next {
            response = response.insert_header("opc-next-page", next);
        }
        let mock = Mock::given(method("GET"))
            .and(path("/20160918/users"))
            .and(query_param("compartmentId", TENANCY));
        let mock = match page {
            None => mock.and(query_param_is_missing("page")),
            Some(p) => mock.and(query_param("page", p)),
        };
        mock.respond_with(response).expect(1).mount(&server).await;
    }

    let users = client(&server).list_users().await.unwrap();
    let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["u1", "u2", "u3", "u4", "u5"]);

    let requests = signed_requests(&server).await;
    assert_eq!(requests.len(), 4);
    let base = format!("/20160918/users?compartmentId={TENANCY}&limit=100");
    assert_eq!(raw_target(&requests[0]), base);
    assert_eq!(
        raw_target(&requests[1]),
        format!("{base}&page=AAAAAAAAAAFySZZ8w7Ml_-1")
    );
    assert_eq!(
        raw_target(&requests[2]),
        format!("{base}&page=AAAAAAAAAAEQ1KBd-2")
    );
    assert_eq!(raw_target(&requests[3]), format!("{base}&page=tok3"));
}

#[tokio::test]
async fn a_repeated_page_token_is_an_error_not_a_loop() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/20160918/groups"))
        .respond_with(ok_json(&json!([])).insert_header("opc-next-page", "same"))
        .mount(&server)
        .await;
    let err = client(&server).list_groups().await.unwrap_err();
    assert!(matches!(err, ClientError::Paging { .. }), "{err:?}");
    assert!(err.to_string().contains("GET /20160918/groups"), "{err}");
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn pages_are_read_one_request_at_a_time_until_the_last() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/20160918/groups"))
        .and(query_param_is_missing("page"))
        .respond_with(
            ok_json(&json!([group_json("g1", "one"), group_json("g2", "two")]))
                .insert_header("opc-next-page", "next"),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/20160918/groups"))
        .and(query_param("page", "next"))
        .respond_with(ok_json(&json!([group_json("g3", "three")])))
        .expect(1)
        .mount(&server)
        .await;
    let mut pages = client(&server).list_groups_pages();
    let ids = |page: Vec<crate::oci::wire::Group>| -> Vec<String> {
        page.into_iter().map(|g| g.id).collect()
    };
    let first = pages.next_page().await.unwrap().expect("a first page");
    assert_eq!(ids(first), ["g1", "g2"]);
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    let second = pages.next_page().await.unwrap().expect("a second page");
    assert_eq!(ids(second), ["g3"]);
    assert!(pages.next_page().await.unwrap().is_none());
    assert!(pages.next_page().await.unwrap().is_none());
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        2,
        "nothing is asked after the last page"
    );
}

// ---------------------------------------------------------------------------------------------
// Retries

#[tokio::test]
async fn throttled_create_is_retried_with_one_retry_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/20160918/users"))
        .respond_with(api_error(429, "TooManyRequests"))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/20160918/users"))
        .respond_with(ok_json(&user_json(
            "ocid1.user.oc1..alice",
            "alice",
            "ACTIVE",
        )))
        .mount(&server)
        .await;

    let created = client(&server)
        .create_user(&create_user_details())
        .await
        .unwrap();
    assert_eq!(created.value.id, "ocid1.user.oc1..alice");
    assert_eq!(created.opc_request_id, "SRV/0001/0002");

    let requests = signed_requests(&server).await;
    assert_eq!(requests.len(), 3, "429, 429, 200");
    let tokens: Vec<&str> = requests
        .iter()
        .map(|r| header_of(r, "opc-retry-token").expect("retry token on every attempt"))
        .collect();
    assert_eq!(tokens[0].len(), 30);
    assert!(tokens[0].bytes().all(|b| b.is_ascii_alphanumeric()));
    assert!(
        tokens.iter().all(|t| *t == tokens[0]),
        "one token across retries: {tokens:?}"
    );
    for req in &requests {
        assert_eq!(header_of(req, "opc-client-retries"), Some("true"));
        assert_eq!(
            req.body_json::<Value>().unwrap(),
            json!({"compartmentId": TENANCY, "name": "alice", "description": "Alice"})
        );
    }

    // A caller-held token (the apply journal's) is sent as given.
    server.reset().await;
    Mock::given(method("POST"))
        .and(path("/20160918/users"))
        .and(header("opc-retry-token", "journal-42"))
        .respond_with(ok_json(&user_json(
            "ocid1.user.oc1..alice",
            "alice",
            "ACTIVE",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let token = RetryToken::new("journal-42").unwrap();
    client(&server)
        .create_user_with_token(&create_user_details(), &token)
        .await
        .unwrap();
}

#[tokio::test]
async fn throttles_bring_the_limit_down_from_its_cap_and_every_request_still_succeeds() {
    let server = MockServer::start().await;
    let actor = user_json(ACTOR, "actor", "ACTIVE");
    Mock::given(method("GET"))
        .and(path(format!("/20160918/users/{ACTOR}")))
        .respond_with(api_error(429, "TooManyRequests"))
        .up_to_n_times(6)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/20160918/users/{ACTOR}")))
        .respond_with(ok_json(&actor))
        .mount(&server)
        .await;
    let mut config = config_for(&server.uri());
    config.parallelism = 8;
    let client = IdentityClient::new(config).unwrap();
    let start = client.throughput();
    assert_eq!((start.limit, start.cap, start.throttles), (8, 8, 0));
    let actor_id = Ocid::new(ACTOR);
    let gets = (0..6).map(|_| client.get_user(&actor_id));
    for got in futures_util::future::join_all(gets).await {
        assert_eq!(got.expect("retried until it succeeds").value.id, ACTOR);
    }
    let end = client.throughput();
    assert_eq!(end.throttles, 6, "{end:?}");
    assert!(
        end.limit < 8,
        "halved at least once, not yet grown back: {end:?}"
    );
    assert_eq!(end.in_flight, 0);
    assert_eq!(
        signed_requests(&server).await.len(),
        12,
        "6 throttled + 6 retried"
    );
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/20160918/users/ocid1.user.oc1..u1"))
        .respond_with(api_error(503, "ServiceUnavailable").insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/20160918/users/ocid1.user.oc1..u1"))
        .respond_with(ok_json(&user_json("ocid1.user.oc1..u1", "u1", "ACTIVE")))
        .mount(&server)
        .await;
    let notices = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&notices);
    let mut config = config_for(&server.uri());
    config.on_retry = Some(Arc::new(move |n: &RetryNotice| {
        seen.lock().unwrap().push(n.clone());
    }));
    let client = IdentityClient::new(config).unwrap();
    client
        .get_user(&Ocid::new("ocid1.user.oc1..u1"))
        .await
        .unwrap();

    let notices = notices.lock().unwrap().clone();
    assert_eq!(
        notices,
        [RetryNotice {
            operation: "GetUser",
            request: "GET /20160918/users/ocid1.user.oc1..u1".into(),
            attempt: 1,
            // `retry-after: 1` (capped by this policy at 20 ms) beats the 1–2 ms backoff.
            delay: Duration::from_millis(20),
            status: Some(503),
        }]
    );
    // Uncapped, the policy sleeps the server's full second.
    let mut policy = fast_policy();
    policy.max_retry_after = Duration::from_secs(60);
    assert_eq!(
        policy.delay(1, parse_retry_after("1", NOW), 0.3),
        Duration::from_secs(1)
    );
    assert_eq!(signed_requests(&server).await.len(), 2);
}

#[tokio::test]
async fn client_errors_are_not_retried_and_name_the_request() {
    let cases = [
        (400, "InvalidParameter"),
        (401, "NotAuthenticated"),
        (403, "NotAllowed"),
        (404, "NotAuthorizedOrNotFound"),
        (409, "NotAuthorizedOrResourceAlreadyExists"),
        (409, "InvalidatedRetryToken"),
        (412, "NoEtagMatch"),
        (501, "MethodNotImplemented"),
    ];
    let server = MockServer::start().await;
    for (status, code) in cases {
        server.reset().await;
        Mock::given(method("POST"))
            .and(path("/20160918/users"))
            .respond_with(api_error(status, code))
            .mount(&server)
            .await;
        let err = client(&server)
            .create_user(&create_user_details())
            .await
            .unwrap_err();
        let requests = signed_requests(&server).await;
        assert_eq!(requests.len(), 1, "{status} {code} must not be retried");
        assert_eq!(err.status(), Some(status));
        assert_eq!(err.code(), Some(code));
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("POST /20160918/users failed: {status} ")),
            "{shown}"
        );
        assert!(
            shown.contains(&format!("({code}: {code} happened)")),
            "{shown}"
        );
        assert!(
            shown.contains("[opc-request-id: CALLER/AAAA/BBBB]"),
            "{shown}"
        );
        if status == 401 {
            assert!(matches!(err, ClientError::NotAuthenticated(_)));
            assert!(
                shown.contains("clock is more than 5 minutes off"),
                "{shown}"
            );
            assert!(shown.contains("not active yet"), "{shown}");
        } else {
            assert!(matches!(err, ClientError::Api(_)));
        }
    }
    // The 409 message as the brief spells it.
    let e = ApiError {
        operation: "CreateUser",
        method: "POST",
        path: "/20160918/users".into(),
        status: 409,
        code: "NotAuthorizedOrResourceAlreadyExists".into(),
        message: "taken".into(),
        opc_request_id: "X".into(),
    };
    assert_eq!(
        e.to_string(),
        "POST /20160918/users failed: 409 Conflict (NotAuthorizedOrResourceAlreadyExists: \
         taken) [opc-request-id: X]"
    );
}

#[tokio::test]
async fn server_errors_throttling_and_incorrect_state_are_retried() {
    let server = MockServer::start().await;
    for (status, code) in [
        (429, "TooManyRequests"),
        (409, "IncorrectState"),
        (409, "LockConflict"),
        (500, "InternalServerError"),
        (502, "BadGateway"),
        (503, "ServiceUnavailable"),
        (504, "GatewayTimeout"),
    ] {
        server.reset().await;
        Mock::given(method("DELETE"))
            .and(path("/20160918/groups/ocid1.group.oc1..g"))
            .respond_with(api_error(status, code))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(method("DELETE"))
            .and(path("/20160918/groups/ocid1.group.oc1..g"))
            .respond_with(ResponseTemplate::new(204).insert_header("opc-request-id", "DEL"))
            .mount(&server)
            .await;
        let done = client(&server)
            .delete_group(&Ocid::new("ocid1.group.oc1..g"), None)
            .await
            .unwrap();
        assert_eq!(done.opc_request_id, "DEL");
        assert_eq!(signed_requests(&server).await.len(), 2, "{status} {code}");
    }

    // Retries stop after max_attempts.
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/20160918/groups"))
        .respond_with(api_error(500, "InternalServerError"))
        .mount(&server)
        .await;
    let err = client(&server).list_groups().await.unwrap_err();
    assert_eq!(err.status(), Some(500));
    assert_eq!(signed_requests(&server).await.len(), 8);
}

#[tokio::test]
async fn connection_errors_are_retried_then_reported() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut config = config_for(&format!("http://127.0.0.1:{port}"));
    config.retry.max_attempts = 3;
    let err = IdentityClient::new(config)
        .unwrap()
        .list_users()
        .await
        .unwrap_err();
    match &err {
        ClientError::Transport {
            operation,
            attempts,
            ..
        } => {
            assert_eq!(*operation, "ListUsers");
            assert_eq!(*attempts, 3);
        }
        other => panic!("expected a transport error, got {other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with("GET /20160918/users (ListUsers) failed after 3 attempt(s)"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Signing and headers

#[tokio::test]
async fn requests_carry_sdk_headers_and_a_valid_signature() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/20160918/users/ocid1.user.oc1..u1"))
        .and(header("if-match", "etag-1"))
        .and(body_json(
            json!({"description": "new", "email": "a@example.com"}),
        ))
        .respond_with(
            ok_json(&user_json("ocid1.user.oc1..u1", "u1", "ACTIVE"))
                .insert_header("etag", "etag-2"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let updated = client(&server)
        .update_user(
            &Ocid::new("ocid1.user.oc1..u1"),
            &UpdateUserDetails {
                description: Some("new".into()),
                email: Some("a@example.com".into()),
                ..UpdateUserDetails::default()
            },
            Some("etag-1"),
        )
        .await
        .unwrap();
    assert_eq!(updated.etag.as_deref(), Some("etag-2"));

    let requests = signed_requests(&server).await;
    let req = &requests[0];
    assert_eq!(header_of(req, "accept"), Some("application/json"));
    assert_eq!(header_of(req, "content-type"), Some("application/json"));
    assert_eq!(header_of(req, "date"), Some(sign::http_date(NOW).as_str()));
    assert_eq!(
        header_of(req, "user-agent"),
        Some(concat!("ociam/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(
        header_of(req, "x-content-sha256"),
        Some(sign::content_sha256(&req.body).as_str())
    );
    let id = header_of(req, "opc-request-id").unwrap();
    assert!(
        id.len() == 32
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)),
        "{id}"
    );
    let auth = parse_authorization(header_of(req, "authorization").unwrap()).unwrap();
    assert_eq!(
        auth.headers,
        [
            "date",
            "(request-target)",
            "host",
            "content-length",
            "content-type",
            "x-content-sha256"
        ]
    );
    // The check is real: the same signature does not verify for another path.
    assert!(check_signature(req, "/20160918/users/ocid1.user.oc1..u2").is_err());

    // GETs sign date, (request-target) and host, and also send content-type.
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/20160918/userGroupMemberships"))
        .respond_with(ok_json(&json!([])))
        .mount(&server)
        .await;
    let (user, group) = (
        Ocid::new("ocid1.user.oc1..u"),
        Ocid::new("ocid1.group.oc1..g"),
    );
    client(&server)
        .list_user_group_memberships(MembershipFilter::UserAndGroup {
            user: &user,
            group: &group,
        })
        .await
        .unwrap();
    let requests = signed_requests(&server).await;
    assert_eq!(
        raw_target(&requests[0]),
        format!(
            "/20160918/userGroupMemberships?compartmentId={TENANCY}&limit=100\
             &userId=ocid1.user.oc1..u&groupId=ocid1.group.oc1..g"
        )
    );
    assert_eq!(
        header_of(&requests[0], "content-type"),
        Some("application/json")
    );
    let auth = parse_authorization(header_of(&requests[0], "authorization").unwrap()).unwrap();
    assert_eq!(auth.headers, ["date", "(request-target)", "host"]);
}

#[tokio::test]
async fn delete_api_key_encodes_the_fingerprint_and_signs_the_encoded_path() {
    let server = MockServer::start().await;
    let fp = Fingerprint::new("9c:4c:e2:dd:65:73:c9:1d:c7:a4:f0:ba:c8:09:44:b0");
    let encoded = "/20160918/users/ocid1.user.oc1..u1/apiKeys/\
                   9c%3A4c%3Ae2%3Add%3A65%3A73%3Ac9%3A1d%3Ac7%3Aa4%3Af0%3Aba%3Ac8%3A09%3A44%3Ab0";
    Mock::given(method("DELETE"))
        .and(path(encoded))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    client(&server)
        .delete_api_key(&Ocid::new("ocid1.user.oc1..u1"), &fp, None)
        .await
        .unwrap();
    let requests = signed_requests(&server).await;
    assert_eq!(raw_target(&requests[0]), encoded);
    // The signature covers the encoded form, not the raw colons.
    let raw = format!("/20160918/users/ocid1.user.oc1..u1/apiKeys/{fp}");
    assert!(check_signature(&requests[0], &raw).is_err());
}

// ---------------------------------------------------------------------------------------------
// One-time passwords

#[tokio::test]
async fn ui_password_is_posted_without_body_and_never_shown() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/20160918/users/ocid1.user.oc1..u1/uiPassword"))
        .respond_with(ok_json(&json!({
            "timeCreated": "2018-06-22T02:34:19.596Z", "userId": "ocid1.user.oc1..u1",
            "lifecycleState": "ACTIVE", "password": PASSWORD
        })))
        .expect(1)
        .mount(&server)
        .await;
    let reset = client(&server)
        .create_or_reset_ui_password(&Ocid::new("ocid1.user.oc1..u1"))
        .await
        .unwrap();
    assert_eq!(
        reset.value.password.as_ref().map(|p| p.expose_secret()),
        Some(PASSWORD)
    );
    let shown = format!("{reset:?}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    assert!(shown.contains("[REDACTED]"), "{shown}");

    let requests = signed_requests(&server).await;
    let req = &requests[0];
    assert!(req.body.is_empty());
    assert_eq!(header_of(req, "content-length"), Some("0"));
    assert_eq!(
        header_of(req, "x-content-sha256"),
        Some("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
    );
    assert_eq!(
        header_of(req, "opc-retry-token").map(str::len),
        Some(30),
        "CreateOrResetUIPassword carries a retry token"
    );

    // An answer that does not decode: neither the error's text nor its Debug quotes it.
    server.reset().await;
    Mock::given(method("POST"))
        .and(path("/20160918/users/ocid1.user.oc1..u1/uiPassword"))
        .respond_with(ResponseTemplate::new(200).set_body_string(format!(
            "{{\"password\": \"{PASSWORD}\", \"userId\": [\"{PASSWORD}\"]}}"
        )))
        .mount(&server)
        .await;
    let err = client(&server)
        .create_or_reset_ui_password(&Ocid::new("ocid1.user.oc1..u1"))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Decode(_)), "{err:?}");
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(!shown.contains(PASSWORD), "{shown}");
        assert!(shown.contains("withheld"), "{shown}");
    }
}

#[tokio::test]
async fn undecodable_answers_name_the_type_and_quote_the_start() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/20160918/users"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("opc-request-id", "RID")
                .set_body_string("{\"not\": \"a list\"}"),
        )
        .mount(&server)
        .await;
    let err = client(&server).list_users().await.unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains("GET /20160918/users"), "{shown}");
    assert!(
        shown.contains("alloc::vec::Vec<ociam::oci::wire::User>"),
        "{shown}"
    );
    assert!(shown.contains("{\"not\": \"a list\"}"), "{shown}");
    assert!(shown.contains("[opc-request-id: RID]"), "{shown}");
}

// ---------------------------------------------------------------------------------------------
// Eventual consistency

#[tokio::test]
async fn reads_after_a_write_retry_a_stale_404_briefly() {
    let server = MockServer::start().await;
    let user = Ocid::new("ocid1.user.oc1..alice");
    Mock::given(method("POST"))
        .and(path("/20160918/users"))
        .respond_with(ok_json(&user_json(user.as_str(), "alice", "ACTIVE")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/20160918/users/ocid1.user.oc1..alice"))
        .respond_with(api_error(404, "NotAuthorizedOrNotFound"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/20160918/users/ocid1.user.oc1..alice"))
        .respond_with(ok_json(&user_json(user.as_str(), "alice", "ACTIVE")))
        .mount(&server)
        .await;

    // Without a write, 404 is final.
    let fresh = client(&server);
    assert!(fresh.get_user(&user).await.unwrap_err().is_not_found());
    assert_eq!(server.received_requests().await.unwrap().len(), 1);

    // After a write, the same stale 404 is retried.
    server.reset().await;
    Mock::given(method("POST"))
        .and(path("/20160918/users"))
        .respond_with(ok_json(&user_json(user.as_str(), "alice", "ACTIVE")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/20160918/users/ocid1.user.oc1..alice"))
        .respond_with(api_error(404, "NotAuthorizedOrNotFound"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/20160918/users/ocid1.user.oc1..alice"))
        .respond_with(ok_json(&user_json(user.as_str(), "alice", "ACTIVE")))
        .mount(&server)
        .await;
    let clock = Arc::new(AtomicI64::new(NOW));
    let mut config = config_for(&server.uri());
    let now = Arc::clone(&clock);
    config.clock = Arc::new(move || now.load(Ordering::Relaxed));
    let c = IdentityClient::new(config).unwrap();
    c.create_user(&create_user_details()).await.unwrap();
    assert_eq!(c.get_user(&user).await.unwrap().value.name, "alice");
    let gets = |reqs: &[Request]| reqs.iter().filter(|r| r.method.as_str() == "GET").count();
    assert_eq!(gets(&server.received_requests().await.unwrap()), 2);

    // A 404 that stays is given up after ec_max_attempts, and after the window at once.
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/20160918/users/ocid1.user.oc1..gone"))
        .respond_with(api_error(404, "NotAuthorizedOrNotFound"))
        .mount(&server)
        .await;
    let gone = Ocid::new("ocid1.user.oc1..gone");
    assert!(c.get_user(&gone).await.unwrap_err().is_not_found());
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/20160918/users/ocid1.user.oc1..gone"))
        .respond_with(api_error(404, "NotAuthorizedOrNotFound"))
        .mount(&server)
        .await;
    clock.store(NOW + 241, Ordering::Relaxed);
    assert!(c.get_user(&gone).await.unwrap_err().is_not_found());
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Home region

#[tokio::test]
async fn home_region_comes_from_region_subscriptions() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/20160918/tenancies/{TENANCY}/regionSubscriptions"
        )))
        .respond_with(ok_json(&json!([
            {"regionKey": "IAD", "regionName": "us-ashburn-1", "status": "READY",
             "isHomeRegion": false},
            {"regionKey": "PHX", "regionName": "us-phoenix-1", "status": "READY",
             "isHomeRegion": true}
        ])))
        .mount(&server)
        .await;
    let home = client(&server).home_region_endpoint().await.unwrap();
    assert_eq!(
        home.as_str(),
        "https://identity.us-phoenix-1.oci.oraclecloud.com/"
    );

    // Built from a region, a write needs the home region; with none listed it stops there.
    server.reset().await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/20160918/tenancies/{TENANCY}/regionSubscriptions"
        )))
        .respond_with(ok_json(&json!([
            {"regionKey": "IAD", "regionName": "us-ashburn-1", "isHomeRegion": false}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    let mut config = config_for(&server.uri());
    config.region = Some("us-ashburn-1".into());
    let err = IdentityClient::new(config)
        .unwrap()
        .create_group(&CreateGroupDetails::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::NoHomeRegion), "{err:?}");
}

#[tokio::test]
async fn writes_go_to_the_home_region_only_when_built_from_a_region() {
    let configured = MockServer::start().await;
    let home = MockServer::start().await;
    for server in [&configured, &home] {
        Mock::given(method("POST"))
            .and(path("/20160918/groups"))
            .respond_with(ok_json(&group_json("ocid1.group.oc1..g", "devs")))
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path("/20160918/groups"))
            .respond_with(ok_json(&json!([])))
            .mount(server)
            .await;
    }
    let details = CreateGroupDetails {
        compartment_id: TENANCY.into(),
        name: "devs".into(),
        description: "devs".into(),
        ..CreateGroupDetails::default()
    };

    // From a region: reads go to the configured region until the home region is known; writes
    // (and then reads) go home.
    let mut config = config_for(&configured.uri());
    config.region = Some("us-ashburn-1".into());
    let c = IdentityClient::new(config).unwrap();
    c.list_groups().await.unwrap();
    c.inner
        .home
        .set(explicit_endpoint(&home.uri()).unwrap())
        .unwrap();
    c.create_group(&details).await.unwrap();
    c.list_groups().await.unwrap();
    let methods =
        |reqs: Vec<Request>| -> Vec<String> { reqs.iter().map(|r| r.method.to_string()).collect() };
    assert_eq!(methods(signed_requests(&configured).await), ["GET"]);
    assert_eq!(methods(signed_requests(&home).await), ["POST", "GET"]);

    // An explicit endpoint takes everything, with no region lookup.
    configured.reset().await;
    Mock::given(method("POST"))
        .and(path("/20160918/groups"))
        .respond_with(ok_json(&group_json("ocid1.group.oc1..g", "devs")))
        .expect(1)
        .mount(&configured)
        .await;
    client(&configured).create_group(&details).await.unwrap();
    assert_eq!(configured.received_requests().await.unwrap().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Snapshot

#[tokio::test]
async fn fetch_snapshot_returns_the_tenancy_exactly_and_sorted() {
    let server = MockServer::start().await;
    let u1 = "ocid1.user.oc1..u1";
    let u2 = "ocid1.user.oc1..u2";
    let u3 = "ocid1.user.oc1..u3";
    let g1 = "ocid1.group.oc1..g1";
    let g2 = "ocid1.group.oc1..g2";
    let users = [
        user_json(u2, "bob", "ACTIVE"),
        user_json(u3, "gone", "DELETED"),
        user_json(u1, "alice", "ACTIVE"),
    ];
    let groups = [
        group_json(g2, "developers"),
        group_json(g1, "Administrators"),
    ];
    let m1 = membership_json("ocid1.groupmembership.oc1..m1", u1, g1);
    let m2 = membership_json("ocid1.groupmembership.oc1..m2", u2, g2);
    let m3 = membership_json("ocid1.groupmembership.oc1..m3", u1, g2);
    let keys = [
        key_json(u1, "bb:00:00:00:00:00:00:00:00:00:00:00:00:00:00:02"),
        key_json(u1, "aa:00:00:00:00:00:00:00:00:00:00:00:00:00:00:01"),
    ];
    let policy = json!({"statements": ["Allow group developers to inspect users in tenancy"],
                        "id": "ocid1.policy.oc1..p", "compartmentId": TENANCY, "name": "dev-policy",
                        "description": "d", "timeCreated": "2018-06-22T02:34:20.000Z",
                        "lifecycleState": "ACTIVE"});

    let list = |p: &str| Mock::given(method("GET")).and(path(p.to_owned()));
    list("/20160918/users")
        .and(query_param_is_missing("page"))
        .respond_with(ok_json(&json!([users[0], users[1]])).insert_header("opc-next-page", "p2"))
        .mount(&server)
        .await;
    list("/20160918/users")
        .and(query_param("page", "p2"))
        .respond_with(ok_json(&json!([users[2]])))
        .mount(&server)
        .await;
    list("/20160918/groups")
        .respond_with(ok_json(&json!(groups)))
        .mount(&server)
        .await;
    list("/20160918/policies")
        .and(query_param("compartmentId", TENANCY))
        .respond_with(ok_json(&json!([policy])))
        .mount(&server)
        .await;
    list("/20160918/userGroupMemberships")
        .and(query_param("groupId", g1))
        .respond_with(ok_json(&json!([m1])))
        .mount(&server)
        .await;
    list("/20160918/userGroupMemberships")
        .and(query_param("groupId", g2))
        .and(query_param_is_missing("page"))
        .respond_with(ok_json(&json!([m3])).insert_header("opc-next-page", "m-2"))
        .mount(&server)
        .await;
    list("/20160918/userGroupMemberships")
        .and(query_param("groupId", g2))
        .and(query_param("page", "m-2"))
        .respond_with(ok_json(&json!([m2])))
        .mount(&server)
        .await;
    list(&format!("/20160918/users/{u1}/apiKeys"))
        .respond_with(ok_json(&json!(keys)))
        .mount(&server)
        .await;
    list(&format!("/20160918/users/{u2}/apiKeys"))
        .respond_with(ok_json(&json!([])))
        .mount(&server)
        .await;
    // No mock for u3 (DELETED): asking for its keys would fail the fetch.
    list("/20160918/domains")
        .and(query_param("compartmentId", TENANCY))
        .respond_with(api_error(404, "NotAuthorizedOrNotFound"))
        .mount(&server)
        .await;

    let calls = Mutex::new(Vec::new());
    let snapshot = client(&server)
        .fetch_snapshot_with_progress(&|p| calls.lock().unwrap().push((p.done, p.total)))
        .await
        .unwrap();

    let expected = json!({
        "format_version": 1,
        "tenancy": TENANCY,
        "users": [users[2], users[0], users[1]],
        "groups": [groups[1], groups[0]],
        "memberships": [m1, m2, m3],
        "api_keys": {(u1): [keys[1], keys[0]]},
        "policies": [policy],
    });
    let expected: Snapshot = serde_json::from_value(expected).unwrap();
    assert_eq!(snapshot, expected);
    // Objects are exactly what the service sent, field for field.
    assert_eq!(serde_json::to_value(&snapshot.users[0]).unwrap(), users[2]);
    assert_eq!(
        serde_json::to_value(&snapshot.groups[1]).unwrap(),
        groups[0]
    );
    assert_eq!(
        serde_json::to_value(&snapshot.api_keys[u1][0]).unwrap(),
        keys[1]
    );
    assert_eq!(serde_json::to_value(&snapshot.policies[0]).unwrap(), policy);

    let calls = calls.into_inner().unwrap();
    assert_eq!(calls.first(), Some(&(0, 4)));
    assert_eq!(
        calls.last(),
        Some(&(8, 8)),
        "3 lists + ListDomains + 2 groups + 2 live users"
    );
    assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0), "{calls:?}");
    // users ×2 pages, groups, policies, domains (404: classic), g1 members, g2 members ×2
    // pages, keys of u1 and u2.
    assert_eq!(signed_requests(&server).await.len(), 10);
    assert!(
        !snapshot.identity_domains,
        "ListDomains answered 404: classic"
    );
}

#[tokio::test]
async fn a_tenancy_whose_list_domains_answers_has_identity_domains() {
    let server = MockServer::start().await;
    for p in ["/20160918/users", "/20160918/groups", "/20160918/policies"] {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(ok_json(&json!([])))
            .mount(&server)
            .await;
    }
    let domain = json!({"id": "ocid1.domain.oc1..d", "compartmentId": TENANCY,
                        "displayName": "Default", "description": "Default domain",
                        "url": "https://idcs-0123.identity.oraclecloud.com:443",
                        "homeRegionUrl": "https://idcs-0123.identity.oraclecloud.com:443",
                        "homeRegion": "us-ashburn-1", "replicaRegions": [], "type": "DEFAULT",
                        "licenseType": "free", "isHiddenOnLogin": false,
                        "timeCreated": "2024-01-01T00:00:00.000Z", "lifecycleState": "ACTIVE"});
    Mock::given(method("GET"))
        .and(path("/20160918/domains"))
        .and(query_param("compartmentId", TENANCY))
        .respond_with(ok_json(&json!([domain])))
        .mount(&server)
        .await;
    let snapshot = client(&server).fetch_snapshot().await.unwrap();
    assert!(snapshot.identity_domains);
    // Any other failure of ListDomains is an error, not a guess.
    server.reset().await;
    for p in ["/20160918/users", "/20160918/groups", "/20160918/policies"] {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(ok_json(&json!([])))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/20160918/domains"))
        .respond_with(api_error(400, "InvalidParameter"))
        .mount(&server)
        .await;
    let err = client(&server).fetch_snapshot().await.unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
}

#[tokio::test]
async fn fetch_snapshot_fails_on_the_first_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/20160918/users"))
        .respond_with(ok_json(&json!([user_json(
            "ocid1.user.oc1..u1",
            "a",
            "ACTIVE"
        )])))
        .mount(&server)
        .await;
    for p in ["/20160918/groups", "/20160918/policies"] {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(ok_json(&json!([])))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/20160918/users/ocid1.user.oc1..u1/apiKeys"))
        .respond_with(api_error(403, "NotAllowed"))
        .mount(&server)
        .await;
    let err = client(&server).fetch_snapshot().await.unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert!(
        err.to_string()
            .contains("GET /20160918/users/ocid1.user.oc1..u1/apiKeys"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Construction

#[test]
fn construction_checks_the_endpoint_and_the_key() {
    let mut config = config_for("http://127.0.0.1:9");
    config.endpoint = Url::parse("http://10.1.2.3:8080").unwrap();
    assert!(matches!(
        IdentityClient::new(config),
        Err(ClientError::Endpoint(EndpointError::InsecureHttp(_)))
    ));
    let mut config = config_for("http://127.0.0.1:9");
    config.fingerprint = Fingerprint::new("00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00");
    let err = IdentityClient::new(config).unwrap_err();
    assert!(matches!(err, ClientError::KeyMismatch { .. }));
    assert!(err.to_string().contains(test_key().fingerprint.as_str()));

    let key = signing_key();
    let fp = key.fingerprint().clone();
    let c = ClientConfig::for_region("iad", Ocid::new(TENANCY), Ocid::new(ACTOR), fp, key).unwrap();
    assert_eq!(
        c.endpoint.as_str(),
        "https://identity.us-ashburn-1.oci.oraclecloud.com/"
    );
    assert_eq!(c.region.as_deref(), Some("us-ashburn-1"));
    assert_eq!(c.retry, RetryPolicy::sdk_default());
    assert_eq!(c.parallelism, DEFAULT_PARALLELISM);
    let shown = format!("{c:?}");
    assert!(shown.contains("[REDACTED]"), "{shown}");
    let client = IdentityClient::new(c).unwrap();
    assert!(format!("{client:?}").contains("us-ashburn-1"));
}

#[test]
fn bad_if_match_values_are_refused() {
    let call = || Call::new("DeleteUser", "DELETE", "/users/x".into(), Access::Delete);
    assert!(call().if_match(Some("ok-etag")).unwrap().if_match.is_some());
    assert!(call().if_match(None).unwrap().if_match.is_none());
    for bad in ["", "a\r\nx-evil: 1"] {
        assert!(matches!(
            call().if_match(Some(bad)),
            Err(ClientError::InvalidHeader("if-match"))
        ));
    }
}
