//! The one integration test binary: the CLI end to end (exit codes, messages, annotations),
//! plan cases from fixture directories, every example, the generated schemas, the emulator over
//! loopback sockets, Oracle's own `oci` CLI against it, the CI recipes' forge script against a
//! fake forge, and the one-time-password canary.

mod against_emulator;
mod annotations;
mod authority;
mod cli;
mod client;
mod emulator;
mod examples;
mod forge;
mod oci_cli;
mod plan_cases;
mod private_keys;
mod schema;
mod secrets;
mod util;
