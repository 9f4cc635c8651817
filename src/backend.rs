//! Where live state comes from: an OCI profile (the config file, its key file, an optional
//! endpoint) turned into a connected [`IdentityClient`], plus the actor that profile names;
//! and the tenancy read through that client as a snapshot (`fetch`:
//! [`IdentityClient::fetch_snapshot`], [`IdentityClient::fetch_own_snapshot`]); and [`live`],
//! the live state a command works against, read from a snapshot file or a tenancy (with the
//! own-user fallback of an actor that may not read the whole tenancy).
//!
//! Shell: reads the config and key files and the environment (`OCI_CLI_PASSPHRASE`, `HOME`).
//! It never prints or stores key material or passphrases; errors name the file and the cause.

mod fetch;
pub use fetch::ReadProgress;
pub mod live;

use std::path::{Path, PathBuf};

use crate::model::{Fingerprint, Ocid};
use crate::oci::client::{ClientConfig, ClientError, IdentityClient, RetryPolicy, system_clock};
use crate::oci::config::{self, ConfigError, Profile};
use crate::oci::sign::{KeyLoadError, SigningKey};

/// Why a profile cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// A file could not be read.
    #[error("cannot read {what} {path}: {source}")]
    Read {
        /// What the file is.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The config file is malformed or lacks the profile or an entry.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The private key cannot be loaded.
    #[error("the private key {path} of profile {profile} cannot be used: {source}")]
    Key {
        /// Key file.
        path: PathBuf,
        /// Profile name.
        profile: String,
        /// Why.
        source: KeyLoadError,
    },
    /// The endpoint or region is unusable.
    #[error("profile {profile}: {message}")]
    Endpoint {
        /// Profile name.
        profile: String,
        /// What is wrong.
        message: String,
    },
    /// The client could not be built or a request failed.
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// Which profile to use, and how.
#[derive(Clone, Debug)]
pub struct ProfileSpec {
    /// The config file (`--config-file`, `OCI_CONFIG_FILE`, default `~/.oci/config`).
    pub config_file: PathBuf,
    /// The profile name (`--profile`, `OCI_CLI_PROFILE`, default `DEFAULT`).
    pub profile: String,
    /// `--endpoint URL`, overriding the region.
    pub endpoint: Option<String>,
    /// How many users' keys are listed at once.
    pub parallelism: usize,
    /// `OCI_CLI_PASSPHRASE`, used when the profile has no `pass_phrase`.
    pub passphrase_env: Option<String>,
    /// `$HOME`, for `~` in the config file.
    pub home: Option<String>,
}

/// A client connected with a profile, and who it acts as.
pub struct Connected {
    /// The Identity client.
    pub client: IdentityClient,
    /// The profile's user OCID (the actor).
    pub actor: Ocid,
    /// The fingerprint of the key it signs with.
    pub fingerprint: Fingerprint,
    /// The profile as loaded.
    pub profile: Profile,
}

/// The default config file, `~/.oci/config`.
#[must_use]
pub fn default_config_file(home: Option<&str>) -> PathBuf {
    Path::new(home.unwrap_or(".")).join(".oci").join("config")
}

fn read(path: &Path, what: &'static str) -> Result<String, BackendError> {
    std::fs::read_to_string(path).map_err(|source| BackendError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

/// Loads the profile and its key, and builds the client.
///
/// # Errors
/// Unreadable or malformed config or key, an unusable endpoint, or a client setup failure.
pub fn connect(spec: &ProfileSpec) -> Result<Connected, BackendError> {
    let file_name = spec.config_file.display().to_string();
    let text = read(&spec.config_file, "OCI config file")?;
    let profile = config::load_profile(
        &text,
        &file_name,
        &spec.profile,
        spec.home.as_deref(),
        spec.endpoint.is_some(),
    )?;
    let key_path = {
        let p = PathBuf::from(&profile.key_file);
        if p.is_relative() {
            spec.config_file
                .parent()
                .map_or(p.clone(), |dir| dir.join(&p))
        } else {
            p
        }
    };
    let key_text = zeroize::Zeroizing::new(read(&key_path, "private key file")?);
    let passphrase: Option<zeroize::Zeroizing<Vec<u8>>> = {
        use secrecy::ExposeSecret as _;
        profile
            .pass_phrase
            .as_ref()
            .map(|p| zeroize::Zeroizing::new(p.expose_secret().as_bytes().to_vec()))
            .or_else(|| {
                spec.passphrase_env
                    .as_ref()
                    .map(|p| zeroize::Zeroizing::new(p.as_bytes().to_vec()))
            })
    };
    let key = SigningKey::from_pem(&key_text, passphrase.as_deref().map(Vec::as_slice)).map_err(
        |source| BackendError::Key {
            path: key_path.clone(),
            profile: profile.name.clone(),
            source,
        },
    )?;
    let mut config =
        ClientConfig::from_profile(&profile, key, spec.endpoint.as_deref()).map_err(|e| {
            BackendError::Endpoint {
                profile: profile.name.clone(),
                message: e.to_string(),
            }
        })?;
    config.parallelism = spec.parallelism.max(1);
    config.retry = RetryPolicy::sdk_default();
    config.clock = system_clock();
    let client = IdentityClient::new(config)?;
    Ok(Connected {
        client,
        actor: profile.user.clone(),
        fingerprint: profile.fingerprint.clone(),
        profile,
    })
}
