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
use crate::oci::client::Throughput;

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
    let read = live::read_tenancy(&spec, &|p| {
        bar.set_length(p.total as u64);
        bar.set_position(p.done as u64);
        bar.set_message(throughput_message("reading the tenancy", &p.throughput));
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

/// The progress bar's message while reading: the limiter's concurrency, and the throttles seen
/// (and the pace) once there are any, e.g. `reading the tenancy (concurrency 16 of 16)` or
/// `reading the tenancy (concurrency 1 of 16, 12 throttled, paced at 95/s)`.
/// What a progress bar says while `doing`: the limiter's concurrency, and the throttles and
/// pace once there are any.
pub(super) fn throughput_message(doing: &str, t: &Throughput) -> String {
    let mut message = format!("{doing} (concurrency {} of {}", t.limit, t.cap);
    if t.throttles > 0 {
        message.push_str(&format!(", {} throttled", t.throttles));
    }
    if let Some(pace) = t.pace_per_second {
        message.push_str(&format!(", paced at {pace:.0}/s"));
    }
    message.push(')');
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_message_shows_concurrency_and_throttles_once_seen() {
        let mut t = Throughput {
            limit: 16,
            cap: 16,
            in_flight: 3,
            throttles: 0,
            pace_per_second: None,
        };
        assert_eq!(
            throughput_message("reading the tenancy", &t),
            "reading the tenancy (concurrency 16 of 16)"
        );
        t.limit = 1;
        t.throttles = 12;
        t.pace_per_second = Some(95.4);
        assert_eq!(
            throughput_message("applying", &t),
            "applying (concurrency 1 of 16, 12 throttled, paced at 95/s)"
        );
    }
}
