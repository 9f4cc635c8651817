//! A local emulator of the OCI Identity API (classic IAM, `/20160918`): users, capabilities,
//! API keys, UI passwords, groups, memberships, policies (read only), the tenancy and its region
//! subscription (and ListDomains, with `--identity-domains`), with OCI's shapes, status codes,
//! headers, error bodies, paging, etags and retry tokens (see `oci/API.md`). Oracle's `oci` CLI and ociam's own client work against it
//! unchanged: point them at the printed URL with the written `oci-config`.
//!
//! Shell: this module owns the data directory (lock, first-start bootstrap files), the socket,
//! the tokio runtime, the clock and randomness (request ids, one-time passwords, a new data
//! directory's tenancy OCID, fault injection). The pieces: [`store`] (durable tenancy and the rules), [`auth`] (request
//! signatures), [`handlers`] (thin axum handlers), [`http`] (error bodies, extractors, decoding), `middleware` (request ids, faults),
//! [`ratelimit`] (the `--rate-limit` token bucket), [`stall`] (a test aid: the hidden `--stall`
//! that holds one write before or after it is applied), `datadir` (lock, bootstrap files, the
//! tenancy OCID of a new data directory), [`embedded`] (the in-process emulator of
//! `--emulator`).
//!
//! Must not: bind anything but loopback unless told to explicitly, log or return private keys,
//! one-time passwords or request bodies, or acknowledge a write before it is committed.

pub mod auth;
mod datadir;
pub mod embedded;
pub mod handlers;
pub mod http;
mod middleware;
pub mod ratelimit;
pub mod stall;
pub mod store;

use std::future::Future;
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use tokio::net::TcpListener;

use crate::keygen::KeygenError;
use crate::snapshot::SnapshotError;
use store::{Store, StoreError};

/// The API version path every route lives under.
pub const API_PREFIX: &str = "/20160918";
/// Largest request body accepted, in bytes (IAM payloads are tiny).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Default `--page-size`: the most items one list page returns.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Items per page when a client sends no `limit` (capped by the page size).
pub const DEFAULT_LIMIT: usize = 25;
/// Default `--data` directory.
pub const DEFAULT_DATA_DIR: &str = ".ociam/emulator";

/// How to run the emulator.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The data directory (`emulator.db`, `emulator.lock`, `admin-key.pem`, `oci-config`).
    pub data_dir: PathBuf,
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// A snapshot whose objects are added on first start.
    pub seed: Option<PathBuf>,
    /// Delay before handling each request, in milliseconds.
    pub latency_ms: u64,
    /// Fraction (0 to 1) of requests answered 429 or 503 with `retry-after: 1`, before any
    /// authentication or write.
    pub fail_rate: f64,
    /// Requests per second the tenancy accepts (`--rate-limit`): a token bucket with a burst
    /// of this many, refilled at this many per second (see [`ratelimit`]); over it, 429
    /// `TooManyRequests` without `retry-after`, before authentication. `None`: no limit.
    pub rate_limit: Option<u32>,
    /// The most items a list page returns (`limit` is honoured up to this).
    pub page_size: usize,
    /// Reject request dates more than 5 minutes from the clock (off only for known-answer
    /// signing vectors).
    pub skew_check: bool,
    /// Allow listening on a non-loopback address.
    pub allow_non_loopback: bool,
    /// Added to the clock for the timestamps the emulator stamps on objects (`timeCreated`,
    /// retry-token ages), in milliseconds: `OCIAM_NOW` moves them; 0 keeps the clock. The
    /// signature-skew check always uses the clock unshifted.
    pub time_offset_ms: i64,
    /// Behave like a tenancy with identity domains (kept in the data directory once set):
    /// ListDomains answers, CreateUser needs an email, and CreateOrResetUIPassword returns no
    /// password (OCI emails a reset link).
    pub identity_domains: bool,
    /// Writes to hold (a test aid, see [`stall`]); empty: none.
    pub stalls: Vec<stall::Stall>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: None,
            latency_ms: 0,
            fail_rate: 0.0,
            rate_limit: None,
            page_size: DEFAULT_PAGE_SIZE,
            skew_check: true,
            allow_non_loopback: false,
            time_offset_ms: 0,
            identity_domains: false,
            stalls: Vec::new(),
        }
    }
}

/// The emulator's time source (injected so tests control token expiry and timestamps).
pub trait Clock: Send + Sync {
    /// Now, in Unix milliseconds.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        jiff::Timestamp::now().as_millisecond()
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock reading `ms`.
    #[must_use]
    pub fn new(ms: i64) -> Self {
        Self(AtomicI64::new(ms))
    }

    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Another clock moved by a fixed offset (object timestamps under `OCIAM_NOW`).
struct Shifted {
    clock: Arc<dyn Clock>,
    offset_ms: i64,
}

impl Clock for Shifted {
    fn now_ms(&self) -> i64 {
        self.clock.now_ms().saturating_add(self.offset_ms)
    }
}

/// Why the emulator could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// A setting is out of range.
    #[error("invalid emulator setting: {0}")]
    InvalidConfig(String),
    /// `--listen` names a non-loopback address without the explicit opt-in.
    #[error(
        "refusing to listen on {addr}: it is not a loopback address; the emulator accepts \
         signed requests from anyone who can reach it, so it binds 127.0.0.1 or ::1 unless \
         you pass --allow-non-loopback"
    )]
    NonLoopback {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The data directory cannot be created or used.
    #[error("emulator data directory {path}: {source}")]
    DataDir {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Another emulator holds the data directory's lock.
    #[error(
        "another emulator is already running on data directory {dir} (it holds {lock}); stop \
         it or pass another --data directory"
    )]
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// The seed snapshot cannot be read.
    #[error("cannot read seed snapshot {path}: {source}")]
    SeedRead {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The seed snapshot is not a valid snapshot.
    #[error(transparent)]
    SeedParse(#[from] SnapshotError),
    /// The admin key pair cannot be generated.
    #[error("cannot generate the admin key: {0}")]
    Keygen(#[from] KeygenError),
    /// The OS random number generator failed while making the named value.
    #[error("the OS random number generator failed; cannot make {0}")]
    Random(&'static str),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The listening socket cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: io::Error,
    },
    /// Serving failed, or the runtime could not start.
    #[error("emulator server: {0}")]
    Serve(io::Error),
}

/// What every handler and middleware shares.
#[derive(Clone)]
pub struct AppState {
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    page_size: usize,
    skew_check: bool,
    latency_ms: u64,
    fail_rate: f64,
    throttle: Option<Arc<Mutex<ratelimit::TokenBucket>>>,
    stalls: Option<Arc<stall::Stalls>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("page_size", &self.page_size)
            .field("skew_check", &self.skew_check)
            .field("latency_ms", &self.latency_ms)
            .field("fail_rate", &self.fail_rate)
            .field("throttle", &self.throttle)
            .field("stalls", &self.stalls)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The state for `store` with `config`'s serving settings.
    #[must_use]
    pub fn new(store: Arc<Store>, clock: Arc<dyn Clock>, config: &Config) -> Self {
        let throttle = config.rate_limit.map(|rate| {
            Arc::new(Mutex::new(ratelimit::TokenBucket::new(
                rate,
                clock.now_ms(),
            )))
        });
        Self {
            store,
            clock,
            throttle,
            stalls: stall::Stalls::new(&config.stalls),
            page_size: config.page_size.max(1),
            skew_check: config.skew_check,
            latency_ms: config.latency_ms,
            fail_rate: config.fail_rate,
        }
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }
}

/// The emulator's HTTP application: every route, authentication, fault injection, the rate
/// limit, request ids and the 64 KiB body limit.
pub fn app(state: AppState) -> Router {
    handlers::routes()
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            stall::layer,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate_layer,
        ))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            MAX_BODY_BYTES,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::faults,
        ))
        .layer(axum::middleware::from_fn(middleware::common_headers))
        .with_state(state)
}

/// A started emulator: data directory locked and initialized, socket bound, not yet serving.
pub struct Emulator {
    listener: TcpListener,
    url: String,
    data_dir: PathBuf,
    config_file: PathBuf,
    state: AppState,
    _lock: std::fs::File,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("url", &self.url)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Locks and (on first start) bootstraps the data directory, opens the store and binds the
    /// socket, with the system clock.
    ///
    /// # Errors
    /// See [`EmulatorError`].
    pub async fn start(config: Config) -> Result<Self, EmulatorError> {
        Self::start_with_clock(config, Arc::new(SystemClock)).await
    }

    /// [`Emulator::start`] with an injected clock.
    ///
    /// # Errors
    /// See [`EmulatorError`].
    pub async fn start_with_clock(
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, EmulatorError> {
        if !(0.0..=1.0).contains(&config.fail_rate) {
            return Err(EmulatorError::InvalidConfig(
                "--fail-rate must be between 0 and 1".to_owned(),
            ));
        }
        if config.rate_limit == Some(0) {
            return Err(EmulatorError::InvalidConfig(
                "--rate-limit must be at least 1 request per second".to_owned(),
            ));
        }
        if config.page_size == 0 {
            return Err(EmulatorError::InvalidConfig(
                "--page-size must be at least 1".to_owned(),
            ));
        }
        if !config.listen.ip().is_loopback() && !config.allow_non_loopback {
            return Err(EmulatorError::NonLoopback {
                addr: config.listen,
            });
        }
        let (data_dir, lock) = datadir::prepare(&config.data_dir)?;
        let stamps: Arc<dyn Clock> = if config.time_offset_ms == 0 {
            clock.clone()
        } else {
            Arc::new(Shifted {
                clock: clock.clone(),
                offset_ms: config.time_offset_ms,
            })
        };
        datadir::secure_database(&data_dir)?;
        let store = Arc::new(Store::open(&data_dir.join(datadir::DB_FILE), stamps)?);
        // Now that the `-wal` and `-shm` files exist (SQLite keeps them while it is open).
        datadir::secure_database(&data_dir)?;
        datadir::initialize(&store, &data_dir, config.seed.as_deref())?;
        if config.identity_domains {
            store.enable_identity_domains()?;
        }
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| EmulatorError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let addr = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind {
                addr: config.listen,
                source,
            })?;
        Ok(Self {
            listener,
            url: format!("http://{addr}"),
            config_file: data_dir.join(datadir::CONFIG_FILE),
            data_dir,
            state: AppState::new(store, clock, &config),
            _lock: lock,
        })
    }

    /// `http://127.0.0.1:PORT`: the endpoint for `--endpoint`.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The (absolute) data directory.
    #[must_use]
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// `DATA/oci-config`, profile `DEFAULT`, for the bootstrap admin.
    #[must_use]
    pub fn config_file(&self) -> &Path {
        &self.config_file
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests and returns (the
    /// data directory lock is released on return).
    ///
    /// # Errors
    /// [`EmulatorError::Serve`].
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), EmulatorError> {
        let app = app(self.state.clone());
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(EmulatorError::Serve)
    }
}

/// Starts the emulator, prints `ociam emulator listening on URL (data: DIR)` and the config
/// file's path to stdout (flushed; tests parse the first line), and serves until `shutdown`.
///
/// # Errors
/// See [`EmulatorError`].
pub async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), EmulatorError> {
    let emulator = Emulator::start(config).await?;
    if let Some(stalls) = &emulator.state.stalls {
        stalls.release_on_stdin();
    }
    let banner = format!(
        "ociam emulator listening on {url} (data: {data})\n\
         oci config: {config} (profile DEFAULT); try: oci --config-file {config} --endpoint {url} iam user list\n",
        url = emulator.url(),
        data = emulator.data_dir().display(),
        config = emulator.config_file().display(),
    );
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_all(banner.as_bytes()).and_then(|()| out.flush()) {
        // Nobody reads stdout any more (a closed pipe): keep serving regardless.
        tracing::warn!(error = %e, "cannot print the emulator's URL to stdout");
    }
    drop(out);
    emulator.run(shutdown).await
}

/// Completes on ctrl-c or (on Unix) SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// The `ociam emulator` subcommand: a runtime, [`serve`], and a graceful stop on ctrl-c or
/// SIGTERM.
///
/// # Errors
/// See [`EmulatorError`].
pub fn run_emulator(config: Config) -> Result<(), EmulatorError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(EmulatorError::Serve)?;
    runtime.block_on(serve(config, shutdown_signal()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bad_settings_and_non_loopback_addresses_are_refused_before_anything_happens() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let base = Config {
            data_dir: data.clone(),
            ..Config::default()
        };
        let public = Config {
            listen: SocketAddr::from(([0, 0, 0, 0], 0)),
            ..base.clone()
        };
        let err = Emulator::start(public).await.unwrap_err();
        assert!(matches!(err, EmulatorError::NonLoopback { .. }), "{err}");
        assert!(err.to_string().contains("--allow-non-loopback"), "{err}");
        for bad in [
            Config {
                fail_rate: 1.5,
                ..base.clone()
            },
            Config {
                page_size: 0,
                ..base.clone()
            },
            Config {
                rate_limit: Some(0),
                ..base.clone()
            },
        ] {
            let err = Emulator::start(bad).await.unwrap_err();
            assert!(matches!(err, EmulatorError::InvalidConfig(_)), "{err}");
        }
        assert!(!data.exists(), "nothing was created");
    }

    /// GET without a signature: 401 when it passes the throttle, 429 when the bucket is empty.
    async fn unsigned_get(http: &reqwest::Client, url: &str) -> reqwest::Response {
        http.get(format!("{url}{API_PREFIX}/users?compartmentId=x"))
            .send()
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_rate_limit_answers_429_without_retry_after_before_authentication() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(1_700_000_000_000));
        let config = Config {
            data_dir: dir.path().join("data"),
            rate_limit: Some(2),
            ..Config::default()
        };
        let emulator = Emulator::start_with_clock(config, clock.clone())
            .await
            .unwrap();
        let url = emulator.url().to_owned();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(emulator.run(async {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut statuses = Vec::new();
        for _ in 0..4 {
            statuses.push(unsigned_get(&http, &url).await.status().as_u16());
        }
        assert_eq!(
            statuses,
            [401, 401, 429, 429],
            "a burst of 2, then throttled"
        );
        let throttled = unsigned_get(&http, &url).await;
        assert_eq!(throttled.status().as_u16(), 429);
        assert!(throttled.headers().get("retry-after").is_none());
        assert!(throttled.headers().get("opc-request-id").is_some());
        let body: serde_json::Value = throttled.json().await.unwrap();
        assert_eq!(body["code"], "TooManyRequests");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        // 2 per second: one token every 500 ms of the injected clock.
        clock.advance(499);
        assert_eq!(unsigned_get(&http, &url).await.status().as_u16(), 429);
        clock.advance(1);
        assert_eq!(unsigned_get(&http, &url).await.status().as_u16(), 401);
        assert_eq!(unsigned_get(&http, &url).await.status().as_u16(), 429);
        let _ = stop.send(());
        task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn each_new_data_dir_gets_its_own_tenancy_and_a_restart_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let config = |name: &str| Config {
            data_dir: dir.path().join(name),
            ..Config::default()
        };
        let tenancy = |e: &Emulator| e.state.store().tenancy().unwrap().unwrap();
        let first = Emulator::start(config("one")).await.unwrap();
        let second = Emulator::start(config("two")).await.unwrap();
        let (one, two) = (tenancy(&first), tenancy(&second));
        assert_ne!(one, two, "two data directories, two tenancies");
        for t in [&one, &two] {
            assert!(t.as_str().starts_with("ocid1.tenancy.oc1..emu"), "{t}");
        }
        let text = std::fs::read_to_string(first.config_file()).unwrap();
        assert!(text.contains(&format!("tenancy={one}\n")), "{text}");
        drop(first);
        let again = Emulator::start(config("one")).await.unwrap();
        assert_eq!(tenancy(&again), one, "a restart keeps the tenancy");
    }

    #[tokio::test]
    async fn a_second_emulator_on_a_locked_data_dir_fails_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        let first = Emulator::start(config.clone()).await.unwrap();
        let err = Emulator::start(config.clone()).await.unwrap_err();
        assert!(matches!(err, EmulatorError::Locked { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("another emulator is already running on data directory"),
            "{err}"
        );
        drop(first);
        Emulator::start(config).await.unwrap();
    }
}
