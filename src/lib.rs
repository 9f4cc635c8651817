//! ociam keeps OCI IAM users, groups, memberships, API keys and console-password resets as
//! code. The library holds everything; `main.rs` only calls [`cli::run`].
//!
//! Pure core (no files, network, environment, clock or randomness): [`model`], [`limits`],
//! [`keys`], [`manifest`], [`snapshot`], [`plan`], [`render`], [`drift`], [`oci::config`],
//! [`oci::sign`], [`oci::wire`]. Shell: [`cli`], [`backend`], [`oci::client`], [`apply`],
//! [`journal`], [`deliver`] (except its pure [`deliver::check_recipient`], which the manifest
//! loader calls), [`emulator`], [`keygen`].

pub mod apply;
pub mod backend;
pub mod cli;
pub mod deliver;
pub mod drift;
pub mod emulator;
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
