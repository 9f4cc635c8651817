//! The live state a command works against ([`Live`]) and how it is read: from a snapshot file,
//! with the actor named on the command line, or from a tenancy through a profile, the actor
//! being the profile's user. A profile's user that may not read the whole tenancy (OCI answers
//! 404 to its tenancy-wide lists) falls back to reading its own user and keys, and the result
//! says so ([`Live::scope`]).
//!
//! Shell: files and the network. Whatever is read is checked like a snapshot file before the
//! core sees it: no private-key material reaches a plan, a report or an imported manifest.

use std::path::Path;

use anyhow::{Context, Result, bail};

use super::{Connected, ProfileSpec, ReadProgress};
use crate::model::{Fingerprint, State, UserName};
use crate::plan::ActorSpec;
use crate::snapshot::{self, Snapshot};

/// The live state, where it came from, and the actor.
pub struct Live {
    /// What was read, as the service sent it.
    pub snapshot: Snapshot,
    /// The same, as the planner's state.
    pub state: State,
    /// [`Snapshot::digest`] of `snapshot`, computed once when it was read (a plan records it).
    pub digest: String,
    /// Where it came from, for messages (a file, or a tenancy and profile).
    pub name: String,
    /// Who runs the plan.
    pub actor: ActorSpec,
    /// The client, when the state was read from a tenancy (not a snapshot file).
    pub connected: Option<Connected>,
    /// Set when the actor may read only its own user (not a tenancy administrator).
    pub scope: Option<UserName>,
}

/// The process's async runtime, started on first use.
///
/// # Errors
/// The runtime cannot be started.
pub fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let _ = RUNTIME.set(rt);
    RUNTIME.get().context("cannot start the async runtime")
}

/// Reads a snapshot file; `actor` (required) names the user that will run the plan, as
/// `--actor` does, matched ignoring case; `fingerprint` is the key it signs with, if known.
///
/// # Errors
/// An unreadable or invalid snapshot, no actor, an actor not in it, a malformed fingerprint.
pub fn from_snapshot_file(
    path: &Path,
    actor: Option<&str>,
    fingerprint: Option<&str>,
) -> Result<Live> {
    let name = path.display().to_string();
    let snap = snapshot::parse(&crate::files::read_text(path, "snapshot")?, &name)?;
    let state = snap.to_state(&name)?;
    let Some(actor) = actor else {
        bail!("--live needs --actor NAME: the user that will run the plan");
    };
    let wanted = UserName::new(actor);
    // Names match ignoring case; the plan names the actor as the tenancy spells it.
    let Some((actor, _)) = state.users.get_key_value(&wanted) else {
        bail!("--actor {wanted} is not a user in {name}; name the user that will run the plan");
    };
    let actor = actor.clone();
    let fingerprint = match fingerprint {
        None => None,
        Some(s) => Some(Fingerprint::parse(s).with_context(|| {
            format!("--actor-fingerprint `{s}` is not a fingerprint (16 hex bytes joined by `:`)")
        })?),
    };
    Ok(Live {
        digest: snap.digest(),
        snapshot: snap,
        state,
        name,
        actor: ActorSpec {
            user: actor,
            fingerprint,
        },
        connected: None,
        scope: None,
    })
}

/// Connects with `spec` and reads the tenancy; `progress` is told how the read goes (lists
/// done and known, the limiter's concurrency and throttles). An actor that may not read the whole tenancy gets its own user and keys, with
/// [`Live::scope`] set.
///
/// # Errors
/// The profile cannot be used, a request fails, the answer holds private-key material, or the
/// profile's user is not in the tenancy it reads.
pub fn read_tenancy(spec: &ProfileSpec, progress: &(dyn Fn(&ReadProgress) + Sync)) -> Result<Live> {
    let connected = super::connect(spec)?;
    let name = match &spec.endpoint {
        Some(url) => format!("{url} (profile {})", spec.profile),
        None => format!(
            "tenancy {} (profile {})",
            connected.profile.tenancy, spec.profile
        ),
    };
    let rt = runtime()?;
    let fetched = rt.block_on(connected.client.fetch_snapshot_with_progress(progress));
    let (snap, scoped) = match fetched {
        Ok(snap) => (snap, false),
        Err(e) if e.status() == Some(404) => {
            // OCI answers 404 to the tenancy-wide lists of a user that is not an
            // administrator; such a user may still read (and manage) its own credentials.
            let own = rt
                .block_on(connected.client.fetch_own_snapshot(&connected.actor))
                .with_context(|| format!("after {e}"))?;
            (own, true)
        }
        Err(e) => return Err(e.into()),
    };
    // What the tenancy returns is checked like a snapshot file: no private-key material may
    // reach a plan, a report, an imported manifest or a snapshot written from it.
    snap.check_no_private_key(&name)?;
    let state = snap.to_state(&name)?;
    let actor = snap
        .users
        .iter()
        .find(|u| u.id == connected.actor.as_str())
        .map(|u| UserName::new(&u.name))
        .with_context(|| {
            format!(
                "the profile's user {} is not in the tenancy it reads",
                connected.actor
            )
        })?;
    Ok(Live {
        digest: snap.digest(),
        snapshot: snap,
        state,
        name,
        actor: ActorSpec {
            user: actor.clone(),
            fingerprint: Some(connected.fingerprint.clone()),
        },
        connected: Some(connected),
        scope: scoped.then_some(actor),
    })
}
