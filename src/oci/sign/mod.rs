//! OCI HTTP request signing, signature version 1: the draft-cavage-http-signatures-08 profile
//! in the `Authorization: Signature …` scheme, `rsa-sha256` (RSASSA-PKCS1-v1_5 over SHA-256),
//! exactly as `oci/API.md` §6 describes it. This module holds the constants of the profile and
//! re-exports its parts, so callers name everything as `oci::sign::…`:
//!
//! - `key`: private-key loading ([`SigningKey`], [`KeyLoadError`]);
//! - `request`: the signing string, signing a request and the `Authorization` header (Go SDK
//!   parameter order) ([`sign_request`], [`signing_string`], [`authorization_header`]);
//! - `verify`: parsing `Authorization` headers and the verifier the emulator uses ([`verify`]);
//! - `date`: HTTP dates ([`http_date`], [`parse_http_date`]), the one place the crate formats
//!   or parses them (also used by `oci::client` for `Retry-After`).
//!
//! Pure core: no I/O, no clock, no randomness, no environment. The request date is injected as
//! a string (see [`http_date`]) and the verifier's "now" as Unix seconds. (aws-lc-rs's RSA
//! `sign` takes an RNG argument; PKCS#1 v1.5 is deterministic and aws-lc-rs ignores it, so no
//! randomness is consumed.) Private keys and passphrases are never printed, logged or
//! returned: [`SigningKey`]'s `Debug` is redacted and every error describes, never echoes.
//!
//! aws-lc-rs signs only with 2048- to 8192-bit RSA keys (`RsaKeyPair` rejects smaller keys
//! with `KeyRejected("TooSmall")`, and no other public aws-lc-rs API performs a raw RSA private
//! operation), so the 1024-bit OCI documentation test key cannot be loaded for signing; its
//! known-answer vectors are checked through the signing string and through verification with
//! `RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY`, which is byte-for-byte equivalent for a
//! deterministic signature scheme (see the tests). OCI itself refuses keys under 2048 bits.

mod date;
mod key;
mod request;
#[cfg(test)]
mod vectors;
mod verify;

pub use date::{http_date, parse_http_date};
pub use key::{KeyLoadError, SigningKey};
pub use request::{
    Method, RequestToSign, SignError, SignedRequest, authorization_header, content_sha256, key_id,
    sign_request, signing_string,
};
pub use verify::{
    AuthorizationParams, HeaderLookup, KeyId, VerifyError, VerifyRequest, parse_authorization,
    verify, verify_signature,
};

/// Allowed clock skew between a request's date and the verifier's clock, in seconds.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;
/// The only signature algorithm OCI uses.
pub const ALGORITHM: &str = "rsa-sha256";
/// Headers signed on GET, HEAD and DELETE, in OCI SDK order.
pub const HEADERS_WITHOUT_BODY: &[&str] = &["date", "(request-target)", "host"];
/// Headers signed on POST, PUT and PATCH (even with an empty body), in OCI SDK order.
pub const HEADERS_WITH_BODY: &[&str] = &[
    "date",
    "(request-target)",
    "host",
    "content-length",
    "content-type",
    "x-content-sha256",
];
