//! A test aid, hidden from `--help`: `ociam emulator --stall ACTION:N:before|after` holds the
//! N-th write of ACTION (an apply step's action name: `create_user`, `update_user`,
//! `update_capabilities`, `upload_api_key`, `delete_api_key`, `reset_console_password`,
//! `delete_user`, `create_group`, `update_group`, `delete_group`, `add_to_group`,
//! `remove_from_group`) that passes authentication, either **before** it is applied or
//! **after** it is committed but before it is answered, and prints
//! `ociam emulator: stalled ACTION #N before|after: PATH` to stdout (the request's path, which
//! names the object by its OCID). Tests wait for that line and
//! then kill the client (a kill before or after the request reached the tenancy) or change the
//! object out of band; a line on the emulator's stdin releases every held request. Without a
//! release the request is held until the emulator stops. The flag may be repeated.
//!
//! Shell: stdout, stdin. Must not: hold anything but the matching request (the store is not
//! locked while a request is held), or match reads.

use std::io::{BufRead as _, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use super::{API_PREFIX, AppState};

/// When a held write is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// Before the handler runs: nothing is written.
    Before,
    /// After the handler committed, before the answer is sent.
    After,
}

/// One `--stall ACTION:N:before|after`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stall {
    /// The action name.
    pub action: String,
    /// Which matching write (1-based).
    pub nth: u32,
    /// Before or after it is applied.
    pub when: When,
}

const ACTIONS: [&str; 12] = [
    "create_user",
    "update_user",
    "update_capabilities",
    "upload_api_key",
    "delete_api_key",
    "reset_console_password",
    "delete_user",
    "create_group",
    "update_group",
    "delete_group",
    "add_to_group",
    "remove_from_group",
];

impl std::str::FromStr for Stall {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let usage = || format!("`{s}`: expected ACTION:N:before|after, e.g. create_user:2:after");
        let mut parts = s.split(':');
        let (Some(action), Some(nth), Some(when), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(usage());
        };
        if !ACTIONS.contains(&action) {
            return Err(format!(
                "{}; ACTION is one of {}",
                usage(),
                ACTIONS.join(", ")
            ));
        }
        let nth = nth
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(usage)?;
        let when = match when {
            "before" => When::Before,
            "after" => When::After,
            _ => return Err(usage()),
        };
        Ok(Self {
            action: action.to_owned(),
            nth,
            when,
        })
    }
}

/// The configured stalls, their counters and the release signal.
#[derive(Debug)]
pub(super) struct Stalls {
    stalls: Vec<(Stall, AtomicU32)>,
    released: tokio::sync::watch::Sender<u64>,
}

impl Stalls {
    /// `None` without stalls.
    pub(super) fn new(stalls: &[Stall]) -> Option<Arc<Self>> {
        (!stalls.is_empty()).then(|| {
            Arc::new(Self {
                stalls: stalls
                    .iter()
                    .map(|s| (s.clone(), AtomicU32::new(0)))
                    .collect(),
                released: tokio::sync::watch::channel(0).0,
            })
        })
    }

    /// Releases every held request on each line read from stdin (a blocking thread; ends at
    /// end of input).
    pub(super) fn release_on_stdin(self: &Arc<Self>) {
        let stalls = Arc::clone(self);
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                if line.is_err() {
                    break;
                }
                stalls.released.send_modify(|n| *n += 1);
            }
        });
    }

    /// The stall this request is, if any (counting it).
    fn matching(&self, action: &str) -> Option<&Stall> {
        self.stalls
            .iter()
            .filter(|(s, _)| s.action == action)
            .find(|(s, count)| count.fetch_add(1, Ordering::SeqCst) + 1 == s.nth)
            .map(|(s, _)| s)
    }

    /// Prints the line tests wait for, then waits for a release.
    async fn hold(&self, stall: &Stall, path: &str) {
        let mut released = self.released.subscribe();
        let seen = *released.borrow_and_update();
        let when = match stall.when {
            When::Before => "before",
            When::After => "after",
        };
        {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "ociam emulator: stalled {} #{} {when}: {path}",
                stall.action, stall.nth
            );
            let _ = out.flush();
        }
        let _ = released.wait_for(|n| *n > seen).await;
    }
}

/// The apply action a request performs, from its method and path; `None` for reads.
fn action(method: &Method, path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix(API_PREFIX)?.trim_end_matches('/');
    let segments: Vec<&str> = rest.split('/').skip(1).collect();
    Some(match (method.as_str(), segments.as_slice()) {
        ("POST", ["users"]) => "create_user",
        ("PUT", ["users", _]) => "update_user",
        ("DELETE", ["users", _]) => "delete_user",
        ("PUT", ["users", _, "capabilities"]) => "update_capabilities",
        ("POST", ["users", _, "apiKeys"]) => "upload_api_key",
        ("DELETE", ["users", _, "apiKeys", _]) => "delete_api_key",
        ("POST", ["users", _, "uiPassword"]) => "reset_console_password",
        ("POST", ["groups"]) => "create_group",
        ("PUT", ["groups", _]) => "update_group",
        ("DELETE", ["groups", _]) => "delete_group",
        ("POST", ["userGroupMemberships"]) => "add_to_group",
        ("DELETE", ["userGroupMemberships", _]) => "remove_from_group",
        _ => return None,
    })
}

/// Holds the configured writes (see the module header); passes everything else through.
pub(super) async fn layer(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let Some(stalls) = app.stalls.clone() else {
        return next.run(req).await;
    };
    let path = req.uri().path().to_owned();
    let stall = action(req.method(), &path)
        .and_then(|a| stalls.matching(a))
        .cloned();
    match stall {
        None => next.run(req).await,
        Some(stall) if stall.when == When::Before => {
            stalls.hold(&stall, &path).await;
            next.run(req).await
        }
        Some(stall) => {
            let resp = next.run(req).await;
            stalls.hold(&stall, &path).await;
            resp
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_bad_ones_say_what_is_expected() {
        assert_eq!(
            "delete_api_key:2:after".parse::<Stall>().unwrap(),
            Stall {
                action: "delete_api_key".into(),
                nth: 2,
                when: When::After
            }
        );
        for bad in [
            "create_user",
            "create_user:0:before",
            "read:1:before",
            "create_user:1:later",
            "create_user:1:before:x",
        ] {
            let err = bad.parse::<Stall>().unwrap_err();
            assert!(err.contains("ACTION:N:before|after"), "{bad}: {err}");
        }
    }

    #[test]
    fn writes_map_to_their_action_and_reads_to_none() {
        let p = |s: &str| format!("{API_PREFIX}{s}");
        assert_eq!(action(&Method::POST, &p("/users")), Some("create_user"));
        assert_eq!(action(&Method::POST, &p("/users/")), Some("create_user"));
        assert_eq!(action(&Method::PUT, &p("/users/u1")), Some("update_user"));
        assert_eq!(
            action(&Method::DELETE, &p("/users/u1/apiKeys/aa:bb")),
            Some("delete_api_key")
        );
        assert_eq!(
            action(&Method::DELETE, &p("/userGroupMemberships/m")),
            Some("remove_from_group")
        );
        assert_eq!(action(&Method::GET, &p("/users/u1")), None);
        assert_eq!(action(&Method::PUT, &p("/users/u1/state")), None);
    }

    #[test]
    fn only_the_nth_matching_write_is_held() {
        let stalls = Stalls::new(&["add_to_group:2:before".parse().unwrap()]).unwrap();
        assert!(stalls.matching("create_user").is_none());
        assert!(stalls.matching("add_to_group").is_none());
        assert!(stalls.matching("add_to_group").is_some());
        assert!(stalls.matching("add_to_group").is_none());
    }
}
