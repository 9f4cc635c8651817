//! OCI HTTP request signing, signature version 1: the draft-cavage-http-signatures-08 profile
//! in the `Authorization: Signature …` scheme, `rsa-sha256` (RSASSA-PKCS1-v1_5 over SHA-256),
//! exactly as `oci/API.md` §6 describes it. Owns private-key loading ([`SigningKey`]), the
//! signing string, the `Authorization` header (Go SDK parameter order), and the verifier the
//! emulator uses.
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

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::BuildHasher;

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::signature::{self, KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use pkcs8::der::{Decode as _, Tagged as _};
use sha2::{Digest as _, Sha256};

use crate::keys::{self, PemError};
use crate::model::{Fingerprint, Ocid};

/// Largest RSA modulus aws-lc-rs signs with, in bits (shared with `keys::strength_problem`).
const MAX_SIGNING_BITS: usize = keys::MAX_RSA_BITS;
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

// ---------------------------------------------------------------------------------------------
// Private keys

/// Why a private key could not be loaded for signing. No variant carries key bytes or the
/// passphrase.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyLoadError {
    /// The text holds no PEM block.
    #[error(
        "no PEM private key found: expected a `BEGIN RSA PRIVATE KEY`, `BEGIN PRIVATE KEY` \
         or `BEGIN ENCRYPTED PRIVATE KEY` block"
    )]
    NotPem,
    /// The PEM block is a public key where the private key was needed.
    #[error(
        "this is a public key; signing needs the private key (the profile's `key_file` must \
         point at the private key, not the public one)"
    )]
    PublicKey,
    /// The key is in OpenSSH's own private-key format.
    #[error(
        "this is an OpenSSH-format private key; convert a copy to PKCS#8 with \
         `ssh-keygen -p -m PKCS8 -f COPY_OF_KEY` (this rewrites that file in place)"
    )]
    OpenSsh,
    /// The PEM block is not a private key at all (a certificate, parameters, …).
    #[error("the PEM block is a `{0}`, not an RSA private key")]
    Unsupported(&'static str),
    /// The PEM block has no `-----END …-----` line.
    #[error("the private key has no matching `-----END …-----` line (is the file truncated?)")]
    Unterminated,
    /// Legacy OpenSSL PEM encryption (`Proc-Type: 4,ENCRYPTED` headers), which is not
    /// supported.
    #[error(
        "this private key uses legacy OpenSSL PEM encryption (`Proc-Type: 4,ENCRYPTED`), which \
         is not supported; convert it to encrypted PKCS#8 with \
         `openssl pkcs8 -topk8 -v2 aes-256-cbc -in old.pem -out new.pem`"
    )]
    LegacyEncrypted,
    /// An encrypted PKCS#8 key and no passphrase.
    #[error(
        "the private key is encrypted but no passphrase was given (set `pass_phrase` in the \
         OCI config profile)"
    )]
    PassphraseRequired,
    /// Decryption failed: the passphrase is wrong.
    #[error("the private key could not be decrypted: the passphrase is wrong")]
    WrongPassphrase,
    /// The PKCS#8 encryption scheme is not supported (PBES1, DES, …).
    #[error(
        "the private key's encryption scheme is not supported; re-encrypt it with \
         `openssl pkcs8 -topk8 -v2 aes-256-cbc -in old.pem -out new.pem`"
    )]
    UnsupportedEncryption,
    /// The key is not an RSA key (EC, Ed25519, DSA, …).
    #[error("the private key is not an RSA key ({0}); OCI API keys are RSA")]
    NotRsa(&'static str),
    /// The RSA key's size is outside what aws-lc-rs signs with (2048 to 8192 bits).
    #[error(
        "the RSA private key has {bits} bits; signing needs 2048 to 8192 bits (OCI requires \
         at least 2048)"
    )]
    UnsupportedSize {
        /// The modulus length in bits.
        bits: usize,
    },
    /// The PEM framing is fine but the content is not a valid key.
    #[error("malformed private key: {0}")]
    Malformed(&'static str),
}

/// An RSA private key ready to sign requests. `Debug` shows only the public fingerprint.
pub struct SigningKey {
    pair: RsaKeyPair,
    spki_der: Vec<u8>,
    fingerprint: Fingerprint,
    bits: usize,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("bits", &self.bits)
            .field("fingerprint", &self.fingerprint.as_str())
            .field("private_key", &"[REDACTED]")
            .finish()
    }
}

impl SigningKey {
    /// Loads a PEM private key: PKCS#1 `BEGIN RSA PRIVATE KEY`, PKCS#8 `BEGIN PRIVATE KEY`, or
    /// encrypted PKCS#8 `BEGIN ENCRYPTED PRIVATE KEY` (PBES2: PBKDF2 or scrypt with AES-CBC or
    /// AES-GCM) decrypted with `passphrase`. CRLF, surrounding whitespace and text after the
    /// END line (OCI's `OCI_API_KEY` label) are tolerated. A passphrase given for an
    /// unencrypted key is ignored, as the OCI SDKs do.
    ///
    /// # Errors
    /// A [`KeyLoadError`] variant naming the problem, with a fix where there is one.
    pub fn from_pem(text: &str, passphrase: Option<&[u8]>) -> Result<Self, KeyLoadError> {
        let block = keys::decode_pem(text).map_err(|e| match e {
            PemError::NoBlock => KeyLoadError::NotPem,
            PemError::Unterminated => KeyLoadError::Unterminated,
            PemError::MismatchedEnd => KeyLoadError::Malformed("the END line names another label"),
            PemError::BadBase64 => KeyLoadError::Malformed("the PEM body is not valid base64"),
            PemError::Empty => KeyLoadError::Malformed("the PEM block is empty"),
        })?;
        if block.legacy_encrypted {
            return Err(KeyLoadError::LegacyEncrypted);
        }
        match block.label.as_str() {
            "RSA PRIVATE KEY" => Self::from_pkcs1_der(&block.der),
            "PRIVATE KEY" => Self::from_pkcs8_der(&block.der),
            "ENCRYPTED PRIVATE KEY" => {
                let passphrase = passphrase.ok_or(KeyLoadError::PassphraseRequired)?;
                let info =
                    pkcs8::EncryptedPrivateKeyInfoRef::from_der(&block.der).map_err(|_| {
                        // A well-formed DER SEQUENCE whose scheme pkcs8 cannot decode is
                        // PBES1 or PKCS#12-style encryption (e.g. `-v1 PBE-SHA1-3DES`).
                        match pkcs8::der::asn1::AnyRef::from_der(&block.der) {
                            Ok(any) if any.tag() == pkcs8::der::Tag::Sequence => {
                                KeyLoadError::UnsupportedEncryption
                            }
                            _ => KeyLoadError::Malformed(
                                "not a valid PKCS#8 EncryptedPrivateKeyInfo",
                            ),
                        }
                    })?;
                let plain = info.decrypt(passphrase).map_err(|e| match e {
                    pkcs8::Error::EncryptedPrivateKey(
                        pkcs8::pkcs5::Error::DecryptFailed | pkcs8::pkcs5::Error::EncryptFailed,
                    )
                    | pkcs8::Error::Asn1(_) => KeyLoadError::WrongPassphrase,
                    _ => KeyLoadError::UnsupportedEncryption,
                })?;
                Self::from_pkcs8_der(plain.as_bytes()).map_err(|e| match e {
                    // Garbage that happened to decrypt with valid padding.
                    KeyLoadError::Malformed(_) => KeyLoadError::WrongPassphrase,
                    other => other,
                })
            }
            "OPENSSH PRIVATE KEY" => Err(KeyLoadError::OpenSsh),
            "EC PRIVATE KEY" => Err(KeyLoadError::NotRsa("EC")),
            "DSA PRIVATE KEY" => Err(KeyLoadError::NotRsa("DSA")),
            "PUBLIC KEY" | "RSA PUBLIC KEY" => Err(KeyLoadError::PublicKey),
            other => Err(KeyLoadError::Unsupported(keys::describe_label(other))),
        }
    }

    /// Loads a DER PKCS#1 `RSAPrivateKey`.
    ///
    /// # Errors
    /// [`KeyLoadError::Malformed`] for invalid DER or inconsistent key components,
    /// [`KeyLoadError::UnsupportedSize`] outside 2048 to 8192 bits.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyLoadError> {
        let bits = pkcs1_private_bits(der)?;
        let pair = RsaKeyPair::from_der(der).map_err(|_| {
            KeyLoadError::Malformed("the RSA key was rejected (inconsistent components)")
        })?;
        Self::from_pair(pair, bits)
    }

    /// Loads a DER PKCS#8 `PrivateKeyInfo` holding an RSA key (what [`crate::keygen`] writes).
    ///
    /// # Errors
    /// [`KeyLoadError::NotRsa`] for other algorithms, [`KeyLoadError::Malformed`] for invalid
    /// DER, [`KeyLoadError::UnsupportedSize`] outside 2048 to 8192 bits.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyLoadError> {
        let info = pkcs8::PrivateKeyInfoRef::from_der(der)
            .map_err(|_| KeyLoadError::Malformed("not a valid PKCS#8 PrivateKeyInfo"))?;
        let oid = info.algorithm.oid.to_string();
        if oid != "1.2.840.113549.1.1.1" {
            return Err(KeyLoadError::NotRsa(
                keys::algorithm_name(&oid).unwrap_or("unrecognized algorithm"),
            ));
        }
        let bits = pkcs1_private_bits(info.private_key.as_bytes())?;
        let pair = RsaKeyPair::from_pkcs8(der).map_err(|_| {
            KeyLoadError::Malformed("the RSA key was rejected (inconsistent components)")
        })?;
        Self::from_pair(pair, bits)
    }

    fn from_pair(pair: RsaKeyPair, bits: usize) -> Result<Self, KeyLoadError> {
        let spki = pair
            .public_key()
            .as_der()
            .map_err(|_| KeyLoadError::Malformed("the public key cannot be encoded"))?;
        let spki_der = spki.as_ref().to_vec();
        let fingerprint = keys::fingerprint_of_spki_der(&spki_der);
        Ok(Self {
            pair,
            spki_der,
            fingerprint,
            bits,
        })
    }

    /// The DER SubjectPublicKeyInfo of the key's public half.
    #[must_use]
    pub fn public_key_spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The OCI fingerprint of the key's public half.
    #[must_use]
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    /// The RSA modulus length in bits.
    #[must_use]
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// RSASSA-PKCS1-v1_5 / SHA-256 signature of `message` (deterministic).
    ///
    /// # Errors
    /// [`SignError::Crypto`] if aws-lc-rs fails.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        // Ignored by aws-lc-rs for PKCS#1 v1.5; constructing it reads no randomness.
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut signature)
            .map_err(|_| SignError::Crypto)?;
        Ok(signature)
    }
}

/// Modulus bits of a DER PKCS#1 private key, checked against aws-lc-rs's signing range.
fn pkcs1_private_bits(der: &[u8]) -> Result<usize, KeyLoadError> {
    let key = pkcs1::RsaPrivateKeyRef::from_der(der)
        .map_err(|_| KeyLoadError::Malformed("not a valid PKCS#1 RSAPrivateKey"))?;
    let bits = keys::uint_bits(key.modulus.as_bytes());
    if !(keys::MIN_RSA_BITS..=MAX_SIGNING_BITS).contains(&bits) {
        return Err(KeyLoadError::UnsupportedSize { bits });
    }
    Ok(bits)
}

// ---------------------------------------------------------------------------------------------
// Signing

/// The HTTP methods OCI signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `DELETE`
    Delete,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
}

impl Method {
    /// Parses a method name in any letter case.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Get,
            Self::Head,
            Self::Delete,
            Self::Post,
            Self::Put,
            Self::Patch,
        ]
        .into_iter()
        .find(|m| m.lowercase().eq_ignore_ascii_case(name))
    }

    /// The lowercase name, as it appears in `(request-target)`.
    #[must_use]
    pub fn lowercase(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Head => "head",
            Self::Delete => "delete",
            Self::Post => "post",
            Self::Put => "put",
            Self::Patch => "patch",
        }
    }

    /// Whether the body headers (`content-length`, `content-type`, `x-content-sha256`) are
    /// signed: POST, PUT and PATCH.
    #[must_use]
    pub fn signs_body(self) -> bool {
        matches!(self, Self::Post | Self::Put | Self::Patch)
    }

    /// The headers OCI requires to be signed for this method, in SDK order.
    #[must_use]
    pub fn required_headers(self) -> &'static [&'static str] {
        if self.signs_body() {
            HEADERS_WITH_BODY
        } else {
            HEADERS_WITHOUT_BODY
        }
    }
}

/// Why a request could not be signed. Carries no key material.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The method is not one OCI signs (GET, HEAD, DELETE, POST, PUT, PATCH).
    #[error(
        "HTTP method not supported for OCI signing (expected GET, HEAD, DELETE, POST, PUT or PATCH)"
    )]
    UnsupportedMethod,
    /// A request field cannot go into a signing string (empty, or holds a line break or other
    /// control character, or a path that does not start with `/`).
    #[error("cannot sign the request: {field} {reason}")]
    InvalidField {
        /// Which field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// aws-lc-rs failed to sign.
    #[error("RSA signing failed")]
    Crypto,
}

/// A request about to be sent, as far as the signature covers it.
#[derive(Clone, Copy, Debug)]
pub struct RequestToSign<'a> {
    /// HTTP method, any case.
    pub method: &'a str,
    /// Path and query exactly as sent on the wire (percent-encoding kept, never decoded),
    /// e.g. `/20160918/users?compartmentId=ocid1…&limit=100`.
    pub path_and_query: &'a str,
    /// The `Host` header value, with `:port` when the port is not the scheme's default.
    pub host: &'a str,
    /// The `date` header value, an IMF-fixdate (see [`http_date`]).
    pub date: &'a str,
    /// The exact body bytes; `None` is an empty body. Ignored for GET, HEAD and DELETE.
    pub body: Option<&'a [u8]>,
    /// The `content-type` header value (usually `application/json`); used for POST, PUT and
    /// PATCH only.
    pub content_type: &'a str,
}

/// The result of signing: headers for the client to add, and the `authorization` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedRequest {
    /// Headers to set, lowercase names: `date`, and for POST/PUT/PATCH also `content-length`,
    /// `content-type` and `x-content-sha256`. `host` is signed but not listed: the HTTP client
    /// sets it (and must set exactly [`RequestToSign::host`]).
    pub headers: Vec<(&'static str, String)>,
    /// The `authorization` header value, parameters in Go SDK order.
    pub authorization: String,
}

/// `<tenancy OCID>/<user OCID>/<key fingerprint>`, the `keyId` of a user's API key.
#[must_use]
pub fn key_id(tenancy: &Ocid, user: &Ocid, fingerprint: &Fingerprint) -> String {
    format!("{tenancy}/{user}/{fingerprint}")
}

/// Base64 (standard, padded) SHA-256 of `body`: the `x-content-sha256` value.
#[must_use]
pub fn content_sha256(body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body))
}

fn check_field(field: &'static str, value: &str) -> Result<(), SignError> {
    if value.is_empty() {
        return Err(SignError::InvalidField {
            field,
            reason: "is empty",
        });
    }
    if value.chars().any(char::is_control) {
        return Err(SignError::InvalidField {
            field,
            reason: "contains a line break or control character",
        });
    }
    Ok(())
}

/// Signed header names with their values, in signing order.
type HeaderValues = Vec<(&'static str, String)>;

/// The signed headers in order, each with its value (`(request-target)` included).
fn signed_values(req: &RequestToSign<'_>) -> Result<(Method, HeaderValues), SignError> {
    let method = Method::parse(req.method).ok_or(SignError::UnsupportedMethod)?;
    check_field("path", req.path_and_query)?;
    if !req.path_and_query.starts_with('/') || req.path_and_query.contains(' ') {
        return Err(SignError::InvalidField {
            field: "path",
            reason: "must start with `/` and contain no spaces (send it percent-encoded)",
        });
    }
    check_field("host", req.host)?;
    if req.host.contains([' ', '/']) {
        return Err(SignError::InvalidField {
            field: "host",
            reason: "must be a host name with an optional port",
        });
    }
    check_field("date", req.date)?;
    let mut values = vec![
        ("date", req.date.to_owned()),
        (
            "(request-target)",
            format!("{} {}", method.lowercase(), req.path_and_query),
        ),
        ("host", req.host.to_owned()),
    ];
    if method.signs_body() {
        check_field("content-type", req.content_type)?;
        let body = req.body.unwrap_or_default();
        values.push(("content-length", body.len().to_string()));
        values.push(("content-type", req.content_type.to_owned()));
        values.push(("x-content-sha256", content_sha256(body)));
    }
    Ok((method, values))
}

fn join_signing_string<'a>(lines: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (i, (name, value)) in lines.enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
    }
    out
}

/// The signing string for `req`: one `name: value` line per signed header in SDK order
/// (`date (request-target) host`, plus `content-length content-type x-content-sha256` for
/// POST/PUT/PATCH), joined by `\n`, no trailing newline.
///
/// # Errors
/// [`SignError::UnsupportedMethod`] or [`SignError::InvalidField`].
pub fn signing_string(req: &RequestToSign<'_>) -> Result<String, SignError> {
    let (_, values) = signed_values(req)?;
    Ok(join_signing_string(
        values.iter().map(|(n, v)| (*n, v.as_str())),
    ))
}

/// The `authorization` header value in Go SDK parameter order:
/// `Signature version="1",headers="…",keyId="…",algorithm="rsa-sha256",signature="…"`.
#[must_use]
pub fn authorization_header(key_id: &str, signed_headers: &[&str], signature_b64: &str) -> String {
    format!(
        "Signature version=\"1\",headers=\"{}\",keyId=\"{key_id}\",algorithm=\"{ALGORITHM}\",signature=\"{signature_b64}\"",
        signed_headers.join(" ")
    )
}

/// Signs `req` with `key` under `key_id` (see [`key_id`]).
///
/// # Errors
/// [`SignError`] when the request cannot be signed (bad method or field, `key_id` with a
/// quote or control character) or aws-lc-rs fails.
pub fn sign_request(
    key: &SigningKey,
    key_id: &str,
    req: &RequestToSign<'_>,
) -> Result<SignedRequest, SignError> {
    check_field("keyId", key_id)?;
    if key_id.contains('"') {
        return Err(SignError::InvalidField {
            field: "keyId",
            reason: "contains a double quote",
        });
    }
    let (method, values) = signed_values(req)?;
    let string = join_signing_string(values.iter().map(|(n, v)| (*n, v.as_str())));
    let signature = key.sign(string.as_bytes())?;
    let signature_b64 = base64::engine::general_purpose::STANDARD.encode(signature);
    let authorization = authorization_header(key_id, method.required_headers(), &signature_b64);
    let headers = values
        .into_iter()
        .filter(|(name, _)| !matches!(*name, "(request-target)" | "host"))
        .collect();
    Ok(SignedRequest {
        headers,
        authorization,
    })
}

// ---------------------------------------------------------------------------------------------
// Dates

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
/// 9999-12-31T23:59:59Z, the last instant an IMF-fixdate can write.
const MAX_HTTP_DATE: i64 = 253_402_300_799;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month 1–12, day 1–31) of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Formats Unix seconds as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the `date`
/// header OCI signs. Values outside 1970-01-01 … 9999-12-31 are clamped to that range.
#[must_use]
pub fn http_date(unix_seconds: i64) -> String {
    let secs = unix_seconds.clamp(0, MAX_HTTP_DATE);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let weekday = WEEKDAYS[usize::try_from((days + 4).rem_euclid(7)).unwrap_or(0)];
    let month_name = MONTHS[usize::try_from(month - 1).unwrap_or(0)];
    format!(
        "{weekday}, {day:02} {month_name} {year:04} {:02}:{:02}:{:02} GMT",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parses an HTTP date to Unix seconds: IMF-fixdate without checking the weekday name against
/// the date (the published OCI vectors sign `Thu, 05 Jan 2014`, a Sunday), then the obsolete
/// RFC 850 and asctime forms.
#[must_use]
pub fn parse_http_date(value: &str) -> Option<i64> {
    parse_imf_fixdate(value.trim()).or_else(|| {
        let t = httpdate::parse_http_date(value).ok()?;
        let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
        i64::try_from(secs).ok()
    })
}

fn parse_imf_fixdate(s: &str) -> Option<i64> {
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    let b = s.as_bytes();
    if !s.is_ascii() || b.len() != 29 || &s[3..5] != ", " || &s[25..] != " GMT" {
        return None;
    }
    if !WEEKDAYS.contains(&&s[..3]) || b[7] != b' ' || b[11] != b' ' || b[16] != b' ' {
        return None;
    }
    if b[19] != b':' || b[22] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(range)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let day = num(5..7)?;
    let month = i64::try_from(MONTHS.iter().position(|m| *m == &s[8..11])?).ok()? + 1;
    let year = num(12..16)?;
    let (hour, minute, second) = (num(17..19)?, num(20..22)?, num(23..25)?);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !(1..=month_days).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

// ---------------------------------------------------------------------------------------------
// Verification

/// The parameters of an `Authorization: Signature …` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizationParams {
    /// `version`, when given.
    pub version: Option<String>,
    /// `headers`, split on spaces and lowercased; `["date"]` when absent (draft-cavage default).
    pub headers: Vec<String>,
    /// `keyId`.
    pub key_id: String,
    /// `algorithm`, when given.
    pub algorithm: Option<String>,
    /// `signature`, base64 as sent.
    pub signature: String,
}

/// A `keyId` split into its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyId<'a> {
    /// The tenancy OCID.
    pub tenancy: &'a str,
    /// The user OCID.
    pub user: &'a str,
    /// The key's fingerprint, normalized to lowercase.
    pub fingerprint: Fingerprint,
}

impl AuthorizationParams {
    /// Splits `keyId` into tenancy, user and fingerprint.
    ///
    /// # Errors
    /// [`VerifyError::MalformedKeyId`] unless it is `<tenancy>/<user>/<fingerprint>` with
    /// non-empty OCIDs and a well-formed fingerprint.
    pub fn parsed_key_id(&self) -> Result<KeyId<'_>, VerifyError> {
        let mut parts = self.key_id.split('/');
        let (Some(tenancy), Some(user), Some(fp), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(VerifyError::MalformedKeyId);
        };
        if tenancy.is_empty() || user.is_empty() {
            return Err(VerifyError::MalformedKeyId);
        }
        let fingerprint = Fingerprint::parse(fp).ok_or(VerifyError::MalformedKeyId)?;
        Ok(KeyId {
            tenancy,
            user,
            fingerprint,
        })
    }
}

/// Why a signed request was not accepted. The emulator answers 401 `NotAuthenticated` for all
/// of them; the variant says which check failed. No variant carries key material.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The `Authorization` value is not `Signature k="v",…` (or lacks `keyId`/`signature`).
    #[error("malformed Authorization header: {0}")]
    MalformedAuthorization(&'static str),
    /// `keyId` is not `<tenancy OCID>/<user OCID>/<fingerprint>`.
    #[error("malformed keyId: expected <tenancy OCID>/<user OCID>/<key fingerprint>")]
    MalformedKeyId,
    /// `algorithm` is absent or not `rsa-sha256`.
    #[error("unsupported signature algorithm: OCI requires algorithm=\"rsa-sha256\"")]
    UnsupportedAlgorithm,
    /// `version` is present and not `1`.
    #[error("unsupported signature version: only version=\"1\" is supported")]
    UnsupportedVersion,
    /// The request method is not one OCI signs.
    #[error("HTTP method not supported for OCI signatures")]
    UnsupportedMethod,
    /// A header OCI requires for this method is not in the signed `headers` list.
    #[error("the signature does not cover the required header `{0}`")]
    MissingSignedHeader(&'static str),
    /// A header named in the signed `headers` list is absent from the request.
    #[error("the signed header `{0}` is missing from the request")]
    MissingHeader(String),
    /// A name in the `headers` list is not a valid header name.
    #[error("the signed headers list holds an invalid header name")]
    InvalidHeaderName,
    /// `x-content-sha256` does not match the body.
    #[error("x-content-sha256 does not match the request body")]
    BodyHashMismatch,
    /// `content-length` does not match the body.
    #[error("content-length does not match the request body")]
    ContentLengthMismatch,
    /// The date header is not an HTTP date.
    #[error("the date header is not a valid HTTP date")]
    BadDate,
    /// The date header is too far from the verifier's clock.
    #[error(
        "the request date is {seconds} s away from the server clock (at most \
         {MAX_CLOCK_SKEW_SECS} s allowed)"
    )]
    ClockSkew {
        /// Request date minus now, in seconds.
        seconds: i64,
    },
    /// `signature` is not base64.
    #[error("the signature is not valid base64")]
    BadSignatureEncoding,
    /// The stored public key is not a usable RSA key.
    #[error("the public key for this keyId is not a usable RSA key")]
    BadPublicKey,
    /// The signature does not verify (wrong key, or the request differs from what was signed).
    #[error("the signature does not match the request")]
    SignatureMismatch,
}

/// Parses an `Authorization` header value `Signature k1="v1",k2="v2",…`, parameters in any
/// order (Go and Python SDKs differ). Unknown parameters are ignored; duplicates are refused.
///
/// # Errors
/// [`VerifyError::MalformedAuthorization`] saying what is wrong.
pub fn parse_authorization(value: &str) -> Result<AuthorizationParams, VerifyError> {
    use VerifyError::MalformedAuthorization as Bad;
    let value = value.trim();
    let rest = match value.split_once([' ', '\t']) {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("Signature") => rest,
        _ => return Err(Bad("expected the `Signature` scheme")),
    };
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    let mut s = rest.trim_start();
    while !s.is_empty() {
        let eq = s.find('=').ok_or(Bad("a parameter has no `=`"))?;
        let name = s[..eq].trim();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(Bad("invalid parameter name"));
        }
        let after = s[eq + 1..].trim_start();
        let quoted = after
            .strip_prefix('"')
            .ok_or(Bad("a parameter value is not quoted"))?;
        let close = quoted
            .find('"')
            .ok_or(Bad("a parameter value has no closing quote"))?;
        let val = &quoted[..close];
        if params
            .insert(name.to_ascii_lowercase(), val.to_owned())
            .is_some()
        {
            return Err(Bad("a parameter is given twice"));
        }
        s = quoted[close + 1..].trim_start();
        if let Some(next) = s.strip_prefix(',') {
            s = next.trim_start();
            if s.is_empty() {
                return Err(Bad("trailing comma"));
            }
        } else if !s.is_empty() {
            return Err(Bad("parameters must be separated by commas"));
        }
    }
    let key_id = params.remove("keyid").ok_or(Bad("no keyId"))?;
    let signature = params.remove("signature").ok_or(Bad("no signature"))?;
    let headers = params.remove("headers").map_or_else(
        || vec!["date".to_owned()],
        |h| h.split_whitespace().map(str::to_ascii_lowercase).collect(),
    );
    Ok(AuthorizationParams {
        version: params.remove("version"),
        headers,
        key_id,
        algorithm: params.remove("algorithm"),
        signature,
    })
}

/// Header lookup for the verifier, by lowercase name.
pub trait HeaderLookup {
    /// The value of header `lowercase_name`, if present.
    fn header(&self, lowercase_name: &str) -> Option<&str>;
}

impl HeaderLookup for BTreeMap<String, String> {
    fn header(&self, lowercase_name: &str) -> Option<&str> {
        self.get(lowercase_name).map(String::as_str)
    }
}

impl<S: BuildHasher> HeaderLookup for HashMap<String, String, S> {
    fn header(&self, lowercase_name: &str) -> Option<&str> {
        self.get(lowercase_name).map(String::as_str)
    }
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for Vec<(K, V)> {
    /// Case-insensitive on names; the first match wins.
    fn header(&self, lowercase_name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(lowercase_name))
            .map(|(_, v)| v.as_ref())
    }
}

/// A received request, as the verifier needs it.
#[derive(Clone, Copy)]
pub struct VerifyRequest<'a> {
    /// The method.
    pub method: &'a str,
    /// Path and query exactly as received on the request line (not decoded).
    pub path_and_query: &'a str,
    /// The request's headers.
    pub headers: &'a dyn HeaderLookup,
    /// The exact body bytes (empty when there is none).
    pub body: &'a [u8],
}

fn valid_header_name(name: &str) -> bool {
    name == "(request-target)"
        || (!name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'))
}

/// Verifies a signed request against the public key (DER SubjectPublicKeyInfo, or PKCS#1
/// `RSAPublicKey`) registered for `params.key_id`; the caller looks the key up.
///
/// Checks, in order: `algorithm="rsa-sha256"`; `version` absent or `1`; the method is one OCI
/// signs; the signed list covers the method's mandatory headers (`date` or `x-date`, and
/// `x-date` whenever the request carries one); every listed header is present;
/// `x-content-sha256` and `content-length` match `body` (always for POST/PUT/PATCH, and for
/// other methods when signed); when `now_unix` is `Some`, the date (`x-date` wins over `date`)
/// is within ±[`MAX_CLOCK_SKEW_SECS`]; and the RSASSA-PKCS1-v1_5 SHA-256 signature over the
/// signing string rebuilt from the raw request. RSA keys of 1024 to 8192 bits are accepted here
/// (the 2048-bit minimum is enforced when keys are uploaded).
///
/// # Errors
/// The [`VerifyError`] of the first failed check.
pub fn verify(
    params: &AuthorizationParams,
    req: &VerifyRequest<'_>,
    public_key_der: &[u8],
    now_unix: Option<i64>,
) -> Result<(), VerifyError> {
    if !params
        .algorithm
        .as_deref()
        .is_some_and(|a| a.eq_ignore_ascii_case(ALGORITHM))
    {
        return Err(VerifyError::UnsupportedAlgorithm);
    }
    if params.version.as_deref().is_some_and(|v| v != "1") {
        return Err(VerifyError::UnsupportedVersion);
    }
    let method = Method::parse(req.method).ok_or(VerifyError::UnsupportedMethod)?;
    if params.headers.iter().any(|h| !valid_header_name(h)) {
        return Err(VerifyError::InvalidHeaderName);
    }
    let signed = |name: &str| params.headers.iter().any(|h| h == name);
    let date_name = if req.headers.header("x-date").is_some() {
        "x-date"
    } else {
        "date"
    };
    if !signed(date_name) {
        return Err(VerifyError::MissingSignedHeader(date_name));
    }
    for required in method.required_headers() {
        if *required != "date" && !signed(required) {
            return Err(VerifyError::MissingSignedHeader(required));
        }
    }
    let mut lines = Vec::with_capacity(params.headers.len());
    let target = format!("{} {}", method.lowercase(), req.path_and_query);
    for name in &params.headers {
        let value = if name == "(request-target)" {
            target.as_str()
        } else {
            req.headers
                .header(name)
                .ok_or_else(|| VerifyError::MissingHeader(name.clone()))?
        };
        lines.push((name.as_str(), value));
    }
    if method.signs_body() || signed("x-content-sha256") {
        let sent = req.headers.header("x-content-sha256").unwrap_or_default();
        if sent.trim() != content_sha256(req.body) {
            return Err(VerifyError::BodyHashMismatch);
        }
    }
    if method.signs_body() || signed("content-length") {
        let sent = req.headers.header("content-length").unwrap_or_default();
        if sent.trim().parse::<u64>().ok() != u64::try_from(req.body.len()).ok() {
            return Err(VerifyError::ContentLengthMismatch);
        }
    }
    if let Some(now) = now_unix {
        let date = req.headers.header(date_name).unwrap_or_default();
        let at = parse_http_date(date).ok_or(VerifyError::BadDate)?;
        let skew = at.saturating_sub(now);
        if skew.abs() > MAX_CLOCK_SKEW_SECS {
            return Err(VerifyError::ClockSkew { seconds: skew });
        }
    }
    let signature = base64::engine::general_purpose::STANDARD
        .decode(params.signature.trim())
        .map_err(|_| VerifyError::BadSignatureEncoding)?;
    let message = join_signing_string(lines.into_iter());
    verify_signature(public_key_der, message.as_bytes(), &signature)
}

/// Verifies an RSASSA-PKCS1-v1_5 SHA-256 signature (RSA keys of 1024 to 8192 bits).
///
/// # Errors
/// [`VerifyError::BadPublicKey`] when the key does not parse as RSA,
/// [`VerifyError::SignatureMismatch`] when the signature is wrong.
pub fn verify_signature(
    public_key_der: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), VerifyError> {
    let key = signature::UnparsedPublicKey::new(
        &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
        public_key_der,
    );
    let parsed = key.parse().map_err(|_| VerifyError::BadPublicKey)?;
    parsed
        .verify_sig(message, signature)
        .map_err(|_| VerifyError::SignatureMismatch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keygen;

    const DOC_PRIV: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/oci/signing-vectors/oci-doc-test-key.pem"
    ));
    const DOC_PUB: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/oci/signing-vectors/oci-doc-test-key.pub.pem"
    ));
    const VECTORS: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/oci/signing-vectors/vectors.json"
    ));
    /// 2014-01-05 21:31:40 UTC, the date every vector signs.
    const VECTOR_TIME: i64 = 1_388_957_500;

    /// One known-answer vector, with the fields the tests use.
    struct Vector {
        name: String,
        method: String,
        path_and_query: String,
        headers: BTreeMap<String, String>,
        body: Option<Vec<u8>>,
        signed_headers: Vec<String>,
        signing_string: String,
        signature: String,
        go_header: Option<String>,
        python_header: String,
        key_id: String,
    }

    impl Vector {
        fn request(&self) -> RequestToSign<'_> {
            RequestToSign {
                method: &self.method,
                path_and_query: &self.path_and_query,
                host: &self.headers["host"],
                date: &self.headers["date"],
                body: self.body.as_deref(),
                content_type: self
                    .headers
                    .get("content-type")
                    .map_or("application/json", String::as_str),
            }
        }

        fn received<'a>(
            &'a self,
            path: &'a str,
            headers: &'a BTreeMap<String, String>,
            body: &'a [u8],
        ) -> VerifyRequest<'a> {
            VerifyRequest {
                method: &self.method,
                path_and_query: path,
                headers,
                body,
            }
        }
    }

    fn vectors() -> Vec<Vector> {
        let root: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
        let key_id = root["credentials"]["keyId"].as_str().unwrap().to_owned();
        let mut out = Vec::new();
        for group in ["published", "derived"] {
            for v in root[group].as_array().unwrap() {
                let target = v["request_target"].as_str().unwrap();
                let (method, path) = target.split_once(' ').unwrap();
                assert_eq!(method, v["method"].as_str().unwrap().to_ascii_lowercase());
                out.push(Vector {
                    name: v["name"].as_str().unwrap().to_owned(),
                    method: v["method"].as_str().unwrap().to_owned(),
                    path_and_query: path.to_owned(),
                    headers: v["headers"]
                        .as_object()
                        .unwrap()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                        .collect(),
                    body: v["body"].as_str().map(|b| b.as_bytes().to_vec()),
                    signed_headers: v["signed_headers"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|h| h.as_str().unwrap().to_owned())
                        .collect(),
                    signing_string: v["expected_signing_string"].as_str().unwrap().to_owned(),
                    signature: v["expected_signature"].as_str().unwrap().to_owned(),
                    go_header: v["expected_authorization_go_sdk_order"]
                        .as_str()
                        .map(str::to_owned),
                    python_header: v["expected_authorization_python_sdk_order"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                    key_id: key_id.clone(),
                });
            }
        }
        assert_eq!(out.len(), 8, "2 published + 6 derived vectors");
        out
    }

    fn doc_spki() -> Vec<u8> {
        crate::keys::PublicKey::from_pem(DOC_PUB)
            .unwrap()
            .spki_der()
            .to_vec()
    }

    fn generated() -> (keygen::GeneratedKey, SigningKey) {
        let key = keygen::generate_rsa_2048().unwrap();
        let signer = SigningKey::from_pem(&key.private_pkcs8_pem, None).unwrap();
        (key, signer)
    }

    fn body_lines(pem: &str) -> Vec<&str> {
        pem.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("-----") && !l.contains(':'))
            .collect()
    }

    #[test]
    fn every_vector_signing_string_matches() {
        for v in vectors() {
            let req = v.request();
            assert_eq!(
                signing_string(&req).unwrap(),
                v.signing_string,
                "{}",
                v.name
            );
            let method = Method::parse(&v.method).unwrap();
            assert_eq!(method.required_headers(), v.signed_headers, "{}", v.name);
        }
    }

    /// RSASSA-PKCS1-v1_5 is deterministic and RSA is a permutation of Z_n, so for a given key
    /// and message exactly one `k`-byte signature verifies: verification of the expected bytes
    /// over our signing string is the same statement as "signing our string yields exactly
    /// these bytes". (aws-lc-rs cannot load the 1024-bit doc key for signing; see the header.)
    #[test]
    fn every_vector_signature_is_the_unique_signature_of_our_signing_string() {
        let spki = doc_spki();
        for v in vectors() {
            let ours = signing_string(&v.request()).unwrap();
            let sig = base64::engine::general_purpose::STANDARD
                .decode(&v.signature)
                .unwrap();
            assert_eq!(
                sig.len(),
                128,
                "{}: a 1024-bit signature is 128 bytes",
                v.name
            );
            verify_signature(&spki, ours.as_bytes(), &sig)
                .unwrap_or_else(|e| panic!("{}: {e}", v.name));
            // And it is not a signature of anything else.
            let other = format!("{ours} ");
            assert_eq!(
                verify_signature(&spki, other.as_bytes(), &sig),
                Err(VerifyError::SignatureMismatch)
            );
        }
    }

    #[test]
    fn every_vector_authorization_header_matches_go_order() {
        for v in vectors() {
            let signed: Vec<&str> = v.signed_headers.iter().map(String::as_str).collect();
            let ours = authorization_header(&v.key_id, &signed, &v.signature);
            if let Some(go) = &v.go_header {
                assert_eq!(&ours, go, "{}", v.name);
            }
            // Derived vectors carry only the Python order: same parameters, other order.
            assert_eq!(
                parse_authorization(&ours).unwrap(),
                parse_authorization(&v.python_header).unwrap(),
                "{}",
                v.name
            );
        }
    }

    #[test]
    fn the_1024_bit_doc_key_is_refused_for_signing() {
        let err = SigningKey::from_pem(DOC_PRIV, None).unwrap_err();
        assert_eq!(err, KeyLoadError::UnsupportedSize { bits: 1024 });
        let shown = format!("{err} {err:?}");
        for line in body_lines(DOC_PRIV) {
            assert!(!shown.contains(line));
        }
    }

    #[test]
    fn verifier_accepts_every_vector_in_both_parameter_orders() {
        let spki = doc_spki();
        for v in vectors() {
            let body = v.body.clone().unwrap_or_default();
            let req = v.received(&v.path_and_query, &v.headers, &body);
            let mut headers = vec![v.python_header.clone()];
            headers.extend(v.go_header.clone());
            for header in headers {
                let params = parse_authorization(&header).unwrap();
                verify(&params, &req, &spki, None).unwrap_or_else(|e| panic!("{}: {e}", v.name));
                let key_id = params.parsed_key_id().unwrap();
                assert!(key_id.tenancy.starts_with("ocid1.tenancy."));
                assert!(key_id.user.starts_with("ocid1.user."));
                assert_eq!(
                    key_id.fingerprint.as_str(),
                    "20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34"
                );
            }
        }
    }

    #[test]
    fn verifier_rejects_tampering_wrong_keys_missing_headers_and_skew() {
        let spki = doc_spki();
        let (_, other) = generated();
        for v in vectors() {
            let params = parse_authorization(&v.python_header).unwrap();
            let body = v.body.clone().unwrap_or_default();
            let ok = v.received(&v.path_and_query, &v.headers, &body);
            let check = |req: &VerifyRequest<'_>, params: &AuthorizationParams, key: &[u8]| {
                verify(params, req, key, None)
            };

            // Tampered path (percent-decoding it counts as tampering too).
            let path = format!("{}&limit=1", v.path_and_query);
            let err = check(&v.received(&path, &v.headers, &body), &params, &spki);
            assert_eq!(err, Err(VerifyError::SignatureMismatch), "{}", v.name);
            if v.path_and_query.contains('%') {
                let decoded = v.path_and_query.replace("%3A", ":").replace("%20", " ");
                let err = check(&v.received(&decoded, &v.headers, &body), &params, &spki);
                assert_eq!(err, Err(VerifyError::SignatureMismatch), "{}", v.name);
            }

            // Tampered body: caught by the hash, or (with a recomputed hash) by the signature.
            let mut tampered = body.clone();
            tampered.extend_from_slice(b" ");
            if Method::parse(&v.method).unwrap().signs_body() {
                let err = check(
                    &v.received(&v.path_and_query, &v.headers, &tampered),
                    &params,
                    &spki,
                );
                assert_eq!(err, Err(VerifyError::BodyHashMismatch), "{}", v.name);
                let mut headers = v.headers.clone();
                headers.insert("x-content-sha256".into(), content_sha256(&tampered));
                let err = check(
                    &v.received(&v.path_and_query, &headers, &tampered),
                    &params,
                    &spki,
                );
                assert_eq!(err, Err(VerifyError::ContentLengthMismatch), "{}", v.name);
                headers.insert("content-length".into(), tampered.len().to_string());
                let err = check(
                    &v.received(&v.path_and_query, &headers, &tampered),
                    &params,
                    &spki,
                );
                assert_eq!(err, Err(VerifyError::SignatureMismatch), "{}", v.name);
            }

            // Wrong key.
            let err = check(&ok, &params, other.public_key_spki_der());
            assert_eq!(err, Err(VerifyError::SignatureMismatch), "{}", v.name);
            assert_eq!(
                check(&ok, &params, b"not a key"),
                Err(VerifyError::BadPublicKey)
            );

            // A mandatory header left out of the signed list.
            for required in Method::parse(&v.method).unwrap().required_headers() {
                let mut p = params.clone();
                p.headers.retain(|h| h != required);
                let err = check(&ok, &p, &spki);
                assert_eq!(
                    err,
                    Err(VerifyError::MissingSignedHeader(required)),
                    "{}",
                    v.name
                );
            }
            // A signed header missing from the request.
            let mut headers = v.headers.clone();
            headers.remove("host");
            let err = check(
                &v.received(&v.path_and_query, &headers, &body),
                &params,
                &spki,
            );
            assert_eq!(
                err,
                Err(VerifyError::MissingHeader("host".into())),
                "{}",
                v.name
            );

            // Signature or parameters altered.
            let mut p = params.clone();
            p.signature = "not base64!".into();
            assert_eq!(
                check(&ok, &p, &spki),
                Err(VerifyError::BadSignatureEncoding)
            );
            let mut p = params.clone();
            p.algorithm = Some("hmac-sha256".into());
            assert_eq!(
                check(&ok, &p, &spki),
                Err(VerifyError::UnsupportedAlgorithm)
            );
            p.algorithm = None;
            assert_eq!(
                check(&ok, &p, &spki),
                Err(VerifyError::UnsupportedAlgorithm)
            );
            let mut p = params.clone();
            p.version = Some("2".into());
            assert_eq!(check(&ok, &p, &spki), Err(VerifyError::UnsupportedVersion));
            p.version = None;
            assert_eq!(check(&ok, &p, &spki), Ok(()), "version is optional");

            // Clock skew: the vectors' date is fixed, so move "now" around it.
            let verify_at = |now: i64| verify(&params, &ok, &spki, Some(now));
            assert_eq!(verify_at(VECTOR_TIME + 299), Ok(()), "{}", v.name);
            assert_eq!(verify_at(VECTOR_TIME - 300), Ok(()), "{}", v.name);
            assert_eq!(
                verify_at(VECTOR_TIME + 360),
                Err(VerifyError::ClockSkew { seconds: -360 }),
                "{}",
                v.name
            );
            assert_eq!(
                verify_at(VECTOR_TIME - 360),
                Err(VerifyError::ClockSkew { seconds: 360 }),
                "{}",
                v.name
            );
        }
    }

    #[test]
    fn signer_round_trips_through_the_verifier_with_a_generated_key() {
        let (key, signer) = generated();
        let key_id = format!("ocid1.tenancy.oc1..t/ocid1.user.oc1..u/{}", key.fingerprint);
        for v in vectors() {
            let req = v.request();
            let signed = sign_request(&signer, &key_id, &req).unwrap();
            let again = sign_request(&signer, &key_id, &req).unwrap();
            assert_eq!(signed, again, "PKCS#1 v1.5 signing is deterministic");
            let method = Method::parse(&v.method).unwrap();
            let expected_prefix = format!(
                "Signature version=\"1\",headers=\"{}\",keyId=\"{key_id}\",algorithm=\"rsa-sha256\",signature=\"",
                method.required_headers().join(" ")
            );
            assert!(
                signed.authorization.starts_with(&expected_prefix),
                "{}",
                v.name
            );
            // The headers to add agree with what the SDKs sent in the vector.
            let names: Vec<&str> = signed.headers.iter().map(|(n, _)| *n).collect();
            if method.signs_body() {
                assert_eq!(
                    names,
                    ["date", "content-length", "content-type", "x-content-sha256"]
                );
            } else {
                assert_eq!(names, ["date"]);
            }
            for (name, value) in &signed.headers {
                assert_eq!(Some(value), v.headers.get(*name), "{}: {name}", v.name);
            }
            // What the emulator receives verifies against the key's public half.
            let mut received: BTreeMap<String, String> = signed
                .headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.clone()))
                .collect();
            received.insert("host".into(), v.headers["host"].clone());
            let body = v.body.clone().unwrap_or_default();
            let params = parse_authorization(&signed.authorization).unwrap();
            assert_eq!(params.parsed_key_id().unwrap().fingerprint, key.fingerprint);
            let req = v.received(&v.path_and_query, &received, &body);
            verify(
                &params,
                &req,
                signer.public_key_spki_der(),
                Some(VECTOR_TIME + 5),
            )
            .unwrap();
            // The doc key's signature is of course not valid for this key.
            let mut wrong = params.clone();
            wrong.signature.clone_from(&v.signature);
            assert_eq!(
                verify(&wrong, &req, signer.public_key_spki_der(), None),
                Err(VerifyError::SignatureMismatch)
            );
        }
    }

    #[test]
    fn x_date_wins_over_date_and_must_be_signed() {
        let (_, signer) = generated();
        let now = 1_700_000_000;
        let x_date = http_date(now);
        let headers: Vec<(&str, String)> = vec![
            ("Date", http_date(now - 3600)),
            ("X-Date", x_date.clone()),
            ("Host", "127.0.0.1:8080".into()),
        ];
        let path = "/20160918/users?limit=1";
        let string =
            format!("x-date: {x_date}\n(request-target): get {path}\nhost: 127.0.0.1:8080");
        let sig = base64::engine::general_purpose::STANDARD
            .encode(signer.sign(string.as_bytes()).unwrap());
        let header = authorization_header("t/u/f", &["x-date", "(request-target)", "host"], &sig);
        let params = parse_authorization(&header).unwrap();
        let req = VerifyRequest {
            method: "GET",
            path_and_query: path,
            headers: &headers,
            body: b"",
        };
        let spki = signer.public_key_spki_der();
        assert_eq!(verify(&params, &req, spki, Some(now + 10)), Ok(()));
        assert_eq!(
            verify(&params, &req, spki, Some(now + 400)),
            Err(VerifyError::ClockSkew { seconds: -400 })
        );
        // A request carrying x-date whose signature covers only date is refused.
        let mut only_date = params.clone();
        only_date.headers[0] = "date".into();
        assert_eq!(
            verify(&only_date, &req, spki, None),
            Err(VerifyError::MissingSignedHeader("x-date"))
        );
        // An unparseable date is refused when the clock is checked.
        let bad: Vec<(&str, String)> = vec![
            ("x-date", "yesterday".into()),
            ("host", "127.0.0.1:8080".into()),
        ];
        let req = VerifyRequest {
            headers: &bad,
            ..req
        };
        assert_eq!(
            verify(&params, &req, spki, Some(now)),
            Err(VerifyError::BadDate)
        );
    }

    #[test]
    fn sign_request_refuses_bad_fields() {
        let (_, signer) = generated();
        let base = RequestToSign {
            method: "POST",
            path_and_query: "/20160918/users",
            host: "identity.us-ashburn-1.oci.oraclecloud.com",
            date: "Thu, 05 Jan 2014 21:31:40 GMT",
            body: None,
            content_type: "application/json",
        };
        let empty = sign_request(&signer, "a/b/c", &base).unwrap();
        assert!(empty.headers.contains(&("content-length", "0".into())));
        assert!(empty.headers.contains(&(
            "x-content-sha256",
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=".into()
        )));
        let cases = [
            RequestToSign {
                method: "TRACE",
                ..base
            },
            RequestToSign {
                path_and_query: "users",
                ..base
            },
            RequestToSign {
                path_and_query: "/a b",
                ..base
            },
            RequestToSign { host: "", ..base },
            RequestToSign {
                host: "evil\r\nx-injected: 1",
                ..base
            },
            RequestToSign { date: "", ..base },
            RequestToSign {
                date: "Thu\n",
                ..base
            },
            RequestToSign {
                content_type: "",
                ..base
            },
        ];
        for req in cases {
            assert!(sign_request(&signer, "a/b/c", &req).is_err(), "{req:?}");
        }
        assert!(sign_request(&signer, "a/\"b/c", &base).is_err());
        // Content type is irrelevant without a body.
        let get = RequestToSign {
            method: "get",
            content_type: "",
            ..base
        };
        assert!(sign_request(&signer, "a/b/c", &get).is_ok());
    }

    fn pkcs1_pem_of(pkcs8_pem: &str) -> String {
        let block = keys::decode_pem(pkcs8_pem).unwrap();
        let info = pkcs8::PrivateKeyInfoRef::from_der(&block.der).unwrap();
        keys::encode_pem("RSA PRIVATE KEY", info.private_key.as_bytes())
    }

    fn encrypted_pem_of(pkcs8_pem: &str, passphrase: &[u8]) -> String {
        let block = keys::decode_pem(pkcs8_pem).unwrap();
        let info = pkcs8::PrivateKeyInfoRef::from_der(&block.der).unwrap();
        let params = pkcs8::pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(
            1000,
            b"0123456789abcdef",
            [7; 16],
        )
        .unwrap();
        let doc = info.encrypt_with_params(params, passphrase).unwrap();
        keys::encode_pem("ENCRYPTED PRIVATE KEY", doc.as_bytes())
    }

    #[test]
    fn loads_pkcs1_pkcs8_and_encrypted_pkcs8_with_crlf_and_label() {
        let (key, signer) = generated();
        let fp = &key.fingerprint;
        assert_eq!(signer.bits(), 2048);
        // The signer's SPKI is the one keys.rs computes for the public half.
        let public = crate::keys::PublicKey::from_pem(&key.public_spki_pem).unwrap();
        assert_eq!(signer.public_key_spki_der(), public.spki_der());

        let pkcs1 = pkcs1_pem_of(&key.private_pkcs8_pem);
        assert!(pkcs1.starts_with(concat!("-----BEGIN ", "RSA PRIVATE KEY-----\n")));
        let labelled = format!("{}OCI_API_KEY\n", pkcs1.replace('\n', "\r\n"));
        assert_eq!(
            SigningKey::from_pem(&labelled, None).unwrap().fingerprint(),
            fp
        );
        let labelled8 = format!("\n  {}OCI_API_KEY", key.private_pkcs8_pem.as_str());
        assert_eq!(
            SigningKey::from_pem(&labelled8, Some(b"ignored"))
                .unwrap()
                .fingerprint(),
            fp
        );

        let encrypted = encrypted_pem_of(&key.private_pkcs8_pem, b"correct horse");
        let loaded = SigningKey::from_pem(&encrypted, Some(b"correct horse")).unwrap();
        assert_eq!(loaded.fingerprint(), fp);
        // Same key, same signature.
        assert_eq!(loaded.sign(b"x").unwrap(), signer.sign(b"x").unwrap());

        assert_eq!(
            SigningKey::from_pem(&encrypted, None).unwrap_err(),
            KeyLoadError::PassphraseRequired
        );
        for wrong in [&b"wrong"[..], b"", b"correct horse "] {
            let err = SigningKey::from_pem(&encrypted, Some(wrong)).unwrap_err();
            assert_eq!(err, KeyLoadError::WrongPassphrase);
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains("correct horse"));
        }
    }

    #[test]
    fn refuses_other_key_forms_with_a_clear_error() {
        let (key, signer) = generated();
        let pkcs1 = pkcs1_pem_of(&key.private_pkcs8_pem);
        let body: String = body_lines(&pkcs1).join("\n");
        let legacy = format!(
            concat!(
                "-----BEGIN ",
                "RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\
                 DEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\n{}\n\
                 -----END RSA PRIVATE KEY-----\n"
            ),
            body
        );
        let err = SigningKey::from_pem(&legacy, Some(b"pw")).unwrap_err();
        assert_eq!(err, KeyLoadError::LegacyEncrypted);
        assert!(
            err.to_string()
                .contains("openssl pkcs8 -topk8 -v2 aes-256-cbc -in old.pem -out new.pem")
        );

        let ed = aws_lc_rs::signature::Ed25519KeyPair::generate().unwrap();
        let ed_pem = keys::encode_pem("PRIVATE KEY", ed.to_pkcs8().unwrap().as_ref());
        assert_eq!(
            SigningKey::from_pem(&ed_pem, None).unwrap_err(),
            KeyLoadError::NotRsa("Ed25519")
        );

        // PKCS#12-style PBE (pbeWithSHAAnd3-KeyTripleDES-CBC), as `openssl pkcs8 -v1
        // PBE-SHA1-3DES` writes it: not supported, and said so.
        let pbes1: [u8; 38] = [
            0x30, 0x24, 0x30, 0x18, 0x06, 0x0a, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c,
            0x01, 0x03, 0x30, 0x0a, 0x04, 0x04, 0x01, 0x02, 0x03, 0x04, 0x02, 0x02, 0x08, 0x00,
            0x04, 0x08, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let pbes1_pem = keys::encode_pem("ENCRYPTED PRIVATE KEY", &pbes1);
        assert_eq!(
            SigningKey::from_pem(&pbes1_pem, Some(b"pw")).unwrap_err(),
            KeyLoadError::UnsupportedEncryption
        );
        let not_der = keys::encode_pem("ENCRYPTED PRIVATE KEY", b"\x04\x01");
        assert_eq!(
            SigningKey::from_pem(&not_der, Some(b"pw")).unwrap_err(),
            KeyLoadError::Malformed("not a valid PKCS#8 EncryptedPrivateKeyInfo")
        );

        let openssh = format!(
            "-----BEGIN OPENSSH PRIVATE KEY-----\n{body}\n-----END OPENSSH PRIVATE KEY-----\n"
        );
        let cases: Vec<(String, KeyLoadError)> = vec![
            (key.public_spki_pem.clone(), KeyLoadError::PublicKey),
            (openssh, KeyLoadError::OpenSsh),
            (String::new(), KeyLoadError::NotPem),
            ("garbage".into(), KeyLoadError::NotPem),
            (
                pkcs1.lines().take(5).collect::<Vec<_>>().join("\n"),
                KeyLoadError::Unterminated,
            ),
            (
                pkcs1.replace("MII", "!!!"),
                KeyLoadError::Malformed("the PEM body is not valid base64"),
            ),
            (
                concat!(
                    "-----BEGIN ",
                    "RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"
                )
                .into(),
                KeyLoadError::Malformed("not a valid PKCS#1 RSAPrivateKey"),
            ),
            (
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into(),
                KeyLoadError::Unsupported("CERTIFICATE"),
            ),
        ];
        for (text, want) in cases {
            let err = SigningKey::from_pem(&text, None).unwrap_err();
            assert_eq!(err, want);
            let shown = format!("{err} {err:?}");
            for line in body_lines(&pkcs1) {
                assert!(!shown.contains(line), "leak in {shown}");
            }
        }
        // Every truncation errors without panicking.
        for cut in 0..pkcs1.len() {
            let _ = SigningKey::from_pem(&pkcs1[..cut], None);
        }
        // Debug never shows the key.
        let shown = format!("{signer:?}");
        assert!(shown.contains("[REDACTED]") && shown.contains(key.fingerprint.as_str()));
        for line in body_lines(&key.private_pkcs8_pem) {
            assert!(!shown.contains(line));
        }
    }

    #[test]
    fn parse_authorization_takes_any_order_and_refuses_malformed_values() {
        let go = "Signature version=\"1\",headers=\"date (request-target) host\",keyId=\"t/u/f\",algorithm=\"rsa-sha256\",signature=\"c2ln\"";
        let spaced = "signature  algorithm = \"rsa-sha256\", signature=\"c2ln\" ,keyId=\"t/u/f\",  headers=\"Date (request-target)   HOST\", version=\"1\", created=\"1\"";
        let a = parse_authorization(go).unwrap();
        assert_eq!(a, parse_authorization(spaced).unwrap());
        assert_eq!(a.headers, ["date", "(request-target)", "host"]);
        assert_eq!(a.algorithm.as_deref(), Some("rsa-sha256"));
        assert_eq!(a.version.as_deref(), Some("1"));
        let minimal = parse_authorization("Signature keyId=\"k\",signature=\"s\"").unwrap();
        assert_eq!(minimal.headers, ["date"]);
        assert_eq!(minimal.parsed_key_id(), Err(VerifyError::MalformedKeyId));

        let bad = [
            "",
            "Signature",
            "Bearer keyId=\"k\",signature=\"s\"",
            "Signature keyId=k,signature=\"s\"",
            "Signature keyId=\"k\",signature=\"s",
            "Signature keyId=\"k\" signature=\"s\"",
            "Signature keyId=\"k\",keyId=\"j\",signature=\"s\"",
            "Signature keyId=\"k\",",
            "Signature signature=\"s\"",
            "Signature keyId=\"k\"",
            "Signature =\"k\"",
            "Signature k\u{e9}y=\"k\"",
        ];
        for value in bad {
            assert!(
                matches!(
                    parse_authorization(value),
                    Err(VerifyError::MalformedAuthorization(_))
                ),
                "{value:?}"
            );
        }
        // No panic on any prefix (including ones that cut a multi-byte character).
        let long = format!("{go},note=\"\u{e9}t\u{e9}\"");
        for cut in 0..=long.len() {
            if let Some(prefix) = long.get(..cut) {
                let _ = parse_authorization(prefix);
            }
        }
    }

    #[test]
    fn key_id_parts() {
        let fp = Fingerprint::new("73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7");
        let id = key_id(
            &Ocid::new("ocid1.tenancy.oc1..t"),
            &Ocid::new("ocid1.user.oc1..u"),
            &fp,
        );
        assert_eq!(id, format!("ocid1.tenancy.oc1..t/ocid1.user.oc1..u/{fp}"));
        let params = AuthorizationParams {
            version: None,
            headers: vec![],
            key_id: id.to_uppercase(),
            algorithm: None,
            signature: String::new(),
        };
        let parsed = params.parsed_key_id().unwrap();
        assert_eq!(parsed.fingerprint, fp, "fingerprint case is normalized");
        for bad in [
            "a/b",
            "a/b/c/d",
            "/u/73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7",
            "t/u/zz",
        ] {
            let p = AuthorizationParams {
                key_id: bad.into(),
                ..params.clone()
            };
            assert_eq!(p.parsed_key_id(), Err(VerifyError::MalformedKeyId), "{bad}");
        }
    }

    #[test]
    fn http_date_formats_and_parses_imf_fixdate() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(VECTOR_TIME), "Sun, 05 Jan 2014 21:31:40 GMT");
        assert_eq!(http_date(-5), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(i64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        let mut t = 0_i64;
        while t < MAX_HTTP_DATE {
            let ours = http_date(t);
            let theirs = httpdate::fmt_http_date(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.unsigned_abs()),
            );
            assert_eq!(ours, theirs, "{t}");
            assert_eq!(parse_http_date(&ours), Some(t), "{ours}");
            t += 7_919_993; // a prime stride, so every field varies
        }
        // The vectors' date is a Sunday written as Thursday: the weekday is not checked.
        assert_eq!(
            parse_http_date("Thu, 05 Jan 2014 21:31:40 GMT"),
            Some(VECTOR_TIME)
        );
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_date("Sun Nov  6 08:49:37 1994"),
            Some(784_111_777)
        );
        for bad in [
            "",
            "Sun, 31 Feb 2014 21:31:40 GMT",
            "Sun, 05 Jan 2014 24:31:40 GMT",
            "Sun, 05 Foo 2014 21:31:40 GMT",
            "Xyz, 05 Jan 2014 21:31:40 GMT",
            "Sun, 05 Jan 2014 21:31:40 UTC",
            "Sun, +5 Jan 2014 21:31:40 GMT",
            "Sun, 05 Jan 2014 21:31:4\u{e9}GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad:?}");
        }
    }
}
