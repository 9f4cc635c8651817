//! Where a command's live state comes from (`--live FILE`, `--emulator [DIR]`, or an OCI
//! profile: `--profile`, `--config-file`, `--endpoint` and the environment). Glue: reading is
//! `backend::live`'s.

use std::io::{self, Write};

use anyhow::{Result, bail};

use super::args::{Clock, LiveArgs};
use super::output::progress_bar;
use crate::backend::live::{self, Live};
use crate::backend::{self, ProfileSpec};
#[cfg(feature = "emulator")]
use crate::emulator;

/// The profile `args` name: `--profile`/`--config-file`/`--endpoint` and the environment, or
/// the embedded emulator's (started here) with `--emulator`.
pub(super) fn profile_spec(args: &LiveArgs, clock: Clock) -> Result<ProfileSpec> {
    #[cfg(feature = "emulator")]
    if let Some(dir) = &args.emulator {
        let embedded = emulator::embedded::start_once(dir, clock.offset_ms, live::runtime()?)?;
        if embedded.started_now {
            writeln!(
                io::stderr(),
                "ociam: using the embedded emulator at {} (data: {})",
                embedded.url,
                dir.display()
            )?;
        }
        return Ok(ProfileSpec {
            config_file: embedded.config_file,
            profile: "DEFAULT".to_owned(),
            endpoint: Some(embedded.url),
            parallelism: args.parallelism,
            passphrase_env: None,
            home: std::env::var("HOME").ok(),
        });
    }
    let _ = clock; // dates only the embedded emulator
    let home = std::env::var("HOME").ok();
    Ok(ProfileSpec {
        config_file: args
            .config_file
            .clone()
            .unwrap_or_else(|| backend::default_config_file(home.as_deref())),
        profile: args.profile.clone().unwrap_or_else(|| "DEFAULT".to_owned()),
        endpoint: args.endpoint.clone(),
        parallelism: args.parallelism,
        passphrase_env: std::env::var("OCI_CLI_PASSPHRASE").ok(),
        home,
    })
}

/// Reads the live state from the source `args` name: a snapshot file, the embedded emulator
/// or a profile.
pub(super) fn read_live(args: &LiveArgs, clock: Clock) -> Result<Live> {
    if let Some(path) = &args.live {
        return live::from_snapshot_file(
            path,
            args.actor.as_deref(),
            args.actor_fingerprint.as_deref(),
        );
    }
    if args.actor.is_some() || args.actor_fingerprint.is_some() {
        bail!(
            "--actor and --actor-fingerprint go with --live; with a profile the actor is the profile's user"
        );
    }
    let spec = profile_spec(args, clock)?;
    let bar = progress_bar("reading the tenancy");
    let read = live::read_tenancy(&spec, &|done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    let live = read?;
    if let Some(actor) = &live.scope {
        writeln!(
            io::stderr(),
            "ociam: {actor} may not read the whole tenancy (OCI answered 404 to its lists); it reads (and plans) only its own user and API keys"
        )?;
    }
    Ok(live)
}
