//! Everything that speaks OCI's language: the config file ([`config`]), request signing and
//! HTTP dates ([`sign`]) and the Identity API's JSON objects ([`wire`]). All three are pure;
//! the HTTP client ([`client`]) and the emulator are the shell around them.

pub mod client;
pub mod config;
pub mod sign;
pub mod wire;
