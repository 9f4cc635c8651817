//! ociam keeps OCI IAM users, groups, memberships, API keys and console-password resets as
//! code. The library holds everything; `main.rs` only calls [`cli::run`].
//!
//! Pure core (no files, network, environment, clock or randomness), from the bottom up:
//! [`limits`], [`model`], [`hex`], [`recipient`], [`oci::wire`], [`keys`], [`rules`],
//! [`oci::sign`], [`oci::config`], [`manifest`], [`snapshot`], [`plan`], [`drift`],
//! [`render`] (plans, drift issue bodies and annotations). Shell: [`cli`] (arguments and
//! dispatch), [`files`] (the operator's files: manifests, snapshots and saved plans in;
//! reports and imports out), [`backend`] (profiles and the live state), [`oci::client`],
//! [`apply`] (the executor and its report), [`journal`], [`deliver`], `emulator` (cargo
//! feature `emulator`, on by default), [`keygen`], and [`durable`], the one implementation of
//! writing a file (create-new or atomic replace, the file and its directory fsynced), which
//! every writer uses.
//!
//! Layers: a core module uses only core modules, and no two modules depend on each other,
//! directly or through others; what two sides share moves down to a module both can use
//! (rule ids and diagnostics: [`rules`]; age recipients: [`recipient`]; [`hex`]).
//! `.ci/layers.py`, run by `.ci/run`, checks both rules and holds these lists.

pub mod apply;
pub mod backend;
pub mod cli;
pub mod deliver;
pub mod drift;
pub mod durable;
#[cfg(feature = "emulator")]
pub mod emulator;
pub mod files;
pub mod hex;
pub mod journal;
pub mod keygen;
pub mod keys;
pub mod limits;
pub mod manifest;
pub mod model;
pub mod oci;
pub mod plan;
pub mod recipient;
pub mod render;
pub mod rules;
pub mod snapshot;
