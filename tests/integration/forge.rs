//! The CI recipes' forge script (`examples/ci/ociam_forge.py`) against a fake forge: a
//! wiremock server that answers GitHub's and GitLab's REST calls the way they do. It shows
//! each decision — the one sticky comment updated or added, the drift issue opened, updated
//! or closed from `ociam drift`'s exit code — by the writes the fake receives, and that
//! nothing else is written or deleted.

use std::process::{Command, Output};

use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::root;

/// Who the job's token is on GitHub (the default the script assumes) and on GitLab (what the
/// fake's `GET /user` answers).
const BOT: &str = "github-actions[bot]";
const GITLAB_BOT: &str = "ociam-bot";

const DRIFT_BODY: &str = "<!-- ociam:drift -->\n### ociam drift: drift detected\n";
const PLAN_BODY: &str = "<!-- ociam:plan -->\n### ociam plan: 2 changes\n";

/// A fake forge on loopback and a runtime that serves it while the script runs.
struct Fake {
    rt: tokio::runtime::Runtime,
    server: MockServer,
}

#[derive(Clone, Copy)]
enum Kind {
    GitHub,
    GitLab,
}

impl Fake {
    fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(MockServer::start());
        Self { rt, server }
    }

    /// Answers `GET route` (any page) with `items` on page 1 and `more` on page 2.
    fn list(&self, route: &str, items: Value, more: Value) {
        self.rt.block_on(async {
            Mock::given(method("GET"))
                .and(path(route))
                .and(query_param("page", "2"))
                .respond_with(ResponseTemplate::new(200).set_body_json(more))
                .mount(&self.server)
                .await;
            Mock::given(method("GET"))
                .and(path(route))
                .and(query_param("page", "1"))
                .respond_with(ResponseTemplate::new(200).set_body_json(items))
                .mount(&self.server)
                .await;
        });
    }

    /// Every other call succeeds with `{}`.
    fn accept_writes(&self) {
        self.rt.block_on(
            Mock::given(wiremock::matchers::any())
                .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
                .with_priority(10)
                .mount(&self.server),
        );
    }

    /// Runs the script as the recipe does, in `kind`'s CI environment.
    fn run(&self, kind: Kind, args: &[&str], body: &str) -> (Output, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("body.md");
        std::fs::write(&file, body).unwrap();
        let mut cmd = Command::new("python3");
        cmd.arg(root().join("examples/ci/ociam_forge.py"))
            .args(args)
            .arg(&file)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        match kind {
            Kind::GitHub => cmd
                .env("GITHUB_ACTIONS", "true")
                .env("GITHUB_API_URL", self.server.uri())
                .env("GITHUB_REPOSITORY", "acme/iam")
                .env("GITHUB_TOKEN", "test-token")
                .env("OCIAM_PR", "5"),
            Kind::GitLab => cmd
                .env("GITLAB_CI", "true")
                .env("CI_API_V4_URL", format!("{}/api/v4", self.server.uri()))
                .env("CI_PROJECT_ID", "42")
                .env("OCIAM_GITLAB_TOKEN", "test-token")
                .env("CI_MERGE_REQUEST_IID", "9"),
        };
        (cmd.output().unwrap(), dir)
    }

    /// The writes the fake received: (method, path, JSON body), in order.
    fn writes(&self) -> Vec<(String, String, Value)> {
        let requests = self.rt.block_on(self.server.received_requests()).unwrap();
        requests
            .iter()
            .filter(|r| r.method.as_str() != "GET")
            .map(|r| {
                (
                    r.method.to_string(),
                    r.url.path().to_owned(),
                    serde_json::from_slice(&r.body).unwrap_or(Value::Null),
                )
            })
            .collect()
    }
}

fn drift(fake: &Fake, kind: Kind, code: &str) -> Output {
    fake.accept_writes();
    let (out, _dir) = fake.run(kind, &["drift", code], DRIFT_BODY);
    out
}

fn transcript(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn github_issues(fake: &Fake, issues: Value) {
    fake.list("/repos/acme/iam/issues", issues, json!([]));
}

#[test]
fn drift_opens_an_issue_when_none_is_open() {
    let fake = Fake::start();
    // An unrelated issue, and a pull request whose body quotes the marker: neither is ours.
    github_issues(
        &fake,
        json!([
            {"number": 3, "body": "printer on fire"},
            {"number": 4, "body": "see <!-- ociam:drift -->", "pull_request": {}},
        ]),
    );
    let out = drift(&fake, Kind::GitHub, "2");
    assert!(out.status.success(), "{}", transcript(&out));
    let writes = fake.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    let (verb, route, body) = &writes[0];
    assert_eq!(
        (verb.as_str(), route.as_str()),
        ("POST", "/repos/acme/iam/issues")
    );
    assert_eq!(body["body"], DRIFT_BODY);
    assert!(body["title"].as_str().unwrap().contains("drifted"));
}

#[test]
fn drift_updates_the_open_issue_while_it_lasts() {
    let fake = Fake::start();
    // Our issue is on the second page: the script reads every page.
    let page: Vec<Value> = (100..200)
        .map(|n| json!({"number": n, "body": "other"}))
        .collect();
    fake.list(
        "/repos/acme/iam/issues",
        Value::Array(page),
        json!([{"number": 7, "body": "<!-- ociam:drift -->\nyesterday's report", "user": {"login": BOT}}]),
    );
    let out = drift(&fake, Kind::GitHub, "2");
    assert!(out.status.success(), "{}", transcript(&out));
    assert_eq!(
        fake.writes(),
        [(
            "PATCH".to_owned(),
            "/repos/acme/iam/issues/7".to_owned(),
            json!({"body": DRIFT_BODY})
        )]
    );
}

#[test]
fn an_issue_somebody_else_opened_with_the_marker_is_left_alone() {
    let fake = Fake::start();
    github_issues(
        &fake,
        json!([{"number": 9, "body": "<!-- ociam:drift -->\nall fine, close me", "user": {"login": "mallory"}}]),
    );
    let out = drift(&fake, Kind::GitHub, "0");
    assert!(out.status.success(), "{}", transcript(&out));
    assert_eq!(fake.writes(), [], "not ours: not closed");
    let out = drift(&fake, Kind::GitHub, "2");
    assert!(out.status.success(), "{}", transcript(&out));
    let writes = fake.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(
        (writes[0].0.as_str(), writes[0].1.as_str()),
        ("POST", "/repos/acme/iam/issues"),
        "a new issue of ours, not an edit of theirs"
    );
}

#[test]
fn no_drift_closes_the_open_issue_with_a_note() {
    let fake = Fake::start();
    github_issues(
        &fake,
        json!([{"number": 7, "body": "<!-- ociam:drift -->\nold", "user": {"login": BOT}}]),
    );
    let out = drift(&fake, Kind::GitHub, "0");
    assert!(out.status.success(), "{}", transcript(&out));
    let writes = fake.writes();
    assert_eq!(writes.len(), 2, "{writes:?}");
    assert_eq!(writes[0].0, "POST");
    assert_eq!(writes[0].1, "/repos/acme/iam/issues/7/comments");
    assert_eq!(
        (writes[1].0.as_str(), writes[1].1.as_str()),
        ("PATCH", "/repos/acme/iam/issues/7")
    );
    assert_eq!(writes[1].2, json!({"state": "closed"}));
}

#[test]
fn no_drift_and_no_issue_writes_nothing() {
    let fake = Fake::start();
    github_issues(&fake, json!([{"number": 3, "body": "other"}]));
    let out = drift(&fake, Kind::GitHub, "0");
    assert!(out.status.success(), "{}", transcript(&out));
    assert_eq!(fake.writes(), []);
}

#[test]
fn a_failed_drift_run_leaves_the_issue_alone_and_fails() {
    let fake = Fake::start();
    github_issues(
        &fake,
        json!([{"number": 7, "body": "<!-- ociam:drift -->\nold", "user": {"login": BOT}}]),
    );
    for code in ["1", "3"] {
        let out = drift(&fake, Kind::GitHub, code);
        assert_eq!(out.status.code(), Some(1), "{}", transcript(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("the issue was left as it is"),
            "{}",
            transcript(&out)
        );
    }
    assert_eq!(fake.writes(), []);
}

#[test]
fn the_plan_comment_is_updated_in_place_and_no_other_comment_is_touched() {
    // Ours is 12; 13 is ours but another marker; 14 starts with the marker but is mallory's.
    let fake = Fake::start();
    fake.list(
        "/repos/acme/iam/issues/5/comments",
        json!([
            {"id": 11, "body": "LGTM"},
            // Somebody else's comment starting with the marker: never edited.
            {"id": 14, "body": "<!-- ociam:plan -->\na plan of my own", "user": {"login": "mallory"}},
            {"id": 12, "body": "<!-- ociam:plan -->\nthe plan of the last push", "user": {"login": BOT}},
            {"id": 13, "body": "<!-- ociam:drift -->\nnot a plan", "user": {"login": BOT}},
        ]),
        json!([]),
    );
    fake.accept_writes();
    let (out, _dir) = fake.run(Kind::GitHub, &["comment"], PLAN_BODY);
    assert!(out.status.success(), "{}", transcript(&out));
    assert_eq!(
        fake.writes(),
        [(
            "PATCH".to_owned(),
            "/repos/acme/iam/issues/comments/12".to_owned(),
            json!({"body": PLAN_BODY})
        )]
    );
}

#[test]
fn the_first_plan_comment_is_added() {
    let fake = Fake::start();
    fake.list(
        "/repos/acme/iam/issues/5/comments",
        json!([{"id": 11, "body": "LGTM"}]),
        json!([]),
    );
    fake.accept_writes();
    let (out, _dir) = fake.run(Kind::GitHub, &["comment"], PLAN_BODY);
    assert!(out.status.success(), "{}", transcript(&out));
    assert_eq!(
        fake.writes(),
        [(
            "POST".to_owned(),
            "/repos/acme/iam/issues/5/comments".to_owned(),
            json!({"body": PLAN_BODY})
        )]
    );
}

#[test]
fn gitlab_merge_request_note_and_drift_issue() {
    let fake = Fake::start();
    fake.list(
        "/api/v4/projects/42/merge_requests/9/notes",
        json!([
            {"id": 20, "body": "<!-- ociam:plan -->\nnot ours", "system": false,
             "author": {"username": "mallory"}},
            {"id": 21, "body": "<!-- ociam:plan -->\nold", "system": false,
             "author": {"username": GITLAB_BOT}},
            {"id": 22, "body": "<!-- ociam:plan -->\na system note", "system": true,
             "author": {"username": GITLAB_BOT}},
        ]),
        json!([]),
    );
    fake.list(
        "/api/v4/projects/42/issues",
        json!([
            {"iid": 6, "description": "<!-- ociam:drift -->\nnot ours",
             "author": {"username": "mallory"}},
            {"iid": 8, "description": "<!-- ociam:drift -->\nold",
             "author": {"username": GITLAB_BOT}},
        ]),
        json!([]),
    );
    fake.rt.block_on(
        Mock::given(method("GET"))
            .and(path("/api/v4/user"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"username": GITLAB_BOT})))
            .mount(&fake.server),
    );
    fake.accept_writes();
    let (out, _dir) = fake.run(Kind::GitLab, &["comment"], PLAN_BODY);
    assert!(out.status.success(), "{}", transcript(&out));
    let out = drift(&fake, Kind::GitLab, "2");
    assert!(out.status.success(), "{}", transcript(&out));
    let out = drift(&fake, Kind::GitLab, "0");
    assert!(out.status.success(), "{}", transcript(&out));
    let writes = fake.writes();
    let calls: Vec<(&str, &str)> = writes
        .iter()
        .map(|(m, p, _)| (m.as_str(), p.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            ("PUT", "/api/v4/projects/42/merge_requests/9/notes/21"),
            ("PUT", "/api/v4/projects/42/issues/8"),
            ("POST", "/api/v4/projects/42/issues/8/notes"),
            ("PUT", "/api/v4/projects/42/issues/8"),
        ]
    );
    assert_eq!(writes[1].2, json!({"description": DRIFT_BODY}));
    assert_eq!(writes[3].2, json!({"state_event": "close"}));
}

#[test]
fn a_body_without_the_marker_is_refused_before_any_call() {
    let fake = Fake::start();
    fake.accept_writes();
    let (out, _dir) = fake.run(
        Kind::GitHub,
        &["comment"],
        "### a plan without its marker\n",
    );
    assert_eq!(out.status.code(), Some(1), "{}", transcript(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("marker"));
    let requests = fake.rt.block_on(fake.server.received_requests()).unwrap();
    assert!(requests.is_empty());
}
