//! Public-key handling for API keys: PEM parsing (`BEGIN PUBLIC KEY` SPKI and
//! `BEGIN RSA PUBLIC KEY` PKCS#1), the OCI fingerprint (MD5 of the DER SubjectPublicKeyInfo),
//! the strength rule (RSA, [`MIN_RSA_BITS`] to [`MAX_RSA_BITS`]) and the one private-key
//! detector ([`find_private_key`], [`find_private_key_in_json`] and its streaming twin
//! [`find_private_key_in_json_text`]) every input path asks.
//!
//! Pure core: no I/O, no clock, no randomness, no environment. Input is text the caller
//! already read. This module must never panic on any input, and no error it returns may
//! contain any byte of the key text: errors describe, they never echo (a private key pasted
//! by mistake must not reach a terminal, a CI log or a PR comment).
//!
//! Tolerated around a PEM block: CRLF line endings, leading and trailing whitespace, and any
//! text after the first `-----END …-----` line (such as OCI's `OCI_API_KEY` label line), which
//! is ignored. The crate-internal PEM decoder here is shared with `oci::sign` for private keys.

use std::fmt;

use base64::Engine as _;
use md5::{Digest as _, Md5};
use pkcs1::der::{Decode as _, Encode as _, asn1::BitStringRef};
use spki::{ObjectIdentifier, SubjectPublicKeyInfoRef};
use zeroize::Zeroizing;

use crate::hex;
use crate::model::Fingerprint;

/// The smallest RSA modulus OCI accepts for an API key, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// The largest RSA modulus ociam can sign with and the emulator can verify, in bits: aws-lc-rs
/// refuses larger keys for signing (`RsaKeyPair`, 2048..=8192) and for verification
/// (`RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY`). The manifest's `weak-key` rule and the
/// emulator's upload check both use it through [`strength_problem`], so a key `validate`
/// accepts can always sign and be verified.
pub const MAX_RSA_BITS: usize = 8192;

/// `rsaEncryption` (RFC 8017), the only algorithm OCI accepts for API keys.
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Well-known public-key algorithm OIDs and the names reported for them.
const ALGORITHM_NAMES: &[(&str, &str)] = &[
    ("1.2.840.113549.1.1.1", "RSA"),
    ("1.2.840.113549.1.1.10", "RSASSA-PSS"),
    ("1.2.840.10045.2.1", "EC"),
    ("1.2.840.10040.4.1", "DSA"),
    ("1.3.101.110", "X25519"),
    ("1.3.101.111", "X448"),
    ("1.3.101.112", "Ed25519"),
    ("1.3.101.113", "Ed448"),
];

/// Why a public key could not be read. No variant carries any byte of the input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text holds no PEM block at all (empty input, binary DER, prose, a bare fingerprint).
    #[error("no PEM public key found: expected a block starting with `-----BEGIN PUBLIC KEY-----`")]
    NotPem,
    /// The text holds a private key (any `-----BEGIN … PRIVATE KEY-----` armor or a PuTTY key).
    #[error(
        "this is a private key, not a public key (its contents are not shown); never put a \
         private key here. Give the public key instead: `openssl rsa -pubout -in KEY.pem`"
    )]
    PrivateKey,
    /// An OpenSSH-format public key (`ssh-rsa AAAA…`, or RFC 4716 `---- BEGIN SSH2 PUBLIC KEY`).
    #[error(
        "this is an OpenSSH public key; OCI needs PEM: convert it with \
         `ssh-keygen -e -m PKCS8 -f KEY.pub`"
    )]
    OpenSsh,
    /// A PEM block of a kind that is not a public key (a certificate, parameters, …).
    /// Holds the block's label when it is a well-known one, else `unrecognized`.
    #[error(
        "the PEM block is a `{0}`, not a public key; expected `-----BEGIN PUBLIC KEY-----` \
         (for a certificate: `openssl x509 -pubkey -noout -in CERT.pem`)"
    )]
    Unsupported(&'static str),
    /// A `-----BEGIN …-----` line without its matching `-----END …-----` line.
    #[error("the PEM block has no matching `-----END …-----` line (is the key truncated?)")]
    Unterminated,
    /// The PEM block is framed correctly but its content is not a valid public key.
    #[error("malformed public key: {0}")]
    Malformed(&'static str),
}

/// A parsed public key, held as its DER SubjectPublicKeyInfo.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicKey {
    spki_der: Vec<u8>,
    algorithm: String,
    rsa_bits: Option<usize>,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("algorithm", &self.algorithm)
            .field("rsa_bits", &self.rsa_bits)
            .field("fingerprint", &self.fingerprint().as_str())
            .finish()
    }
}

impl PublicKey {
    /// Parses a PEM public key: `BEGIN PUBLIC KEY` (SubjectPublicKeyInfo) or
    /// `BEGIN RSA PUBLIC KEY` (PKCS#1, re-encoded to SubjectPublicKeyInfo).
    ///
    /// # Errors
    /// [`KeyError::PrivateKey`] when the text holds a private key anywhere (checked first),
    /// otherwise the variant naming what is wrong with the first PEM block.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        if find_private_key(text).is_some() {
            return Err(KeyError::PrivateKey);
        }
        if looks_like_openssh_public_key(text) {
            return Err(KeyError::OpenSsh);
        }
        let block = decode_pem(text).map_err(|e| match e {
            PemError::NoBlock => KeyError::NotPem,
            PemError::Unterminated => KeyError::Unterminated,
            PemError::MismatchedEnd => KeyError::Malformed("the END line names another label"),
            PemError::BadBase64 => KeyError::Malformed("the PEM body is not valid base64"),
            PemError::Empty => KeyError::Malformed("the PEM block is empty"),
        })?;
        if !block.headers.is_empty() {
            return Err(KeyError::Malformed(
                "a public key PEM block must not carry headers",
            ));
        }
        match block.label.as_str() {
            "PUBLIC KEY" => Self::from_spki_der(&block.der),
            "RSA PUBLIC KEY" => Self::from_pkcs1_der(&block.der),
            other => Err(KeyError::Unsupported(describe_label(other))),
        }
    }

    /// Parses a DER SubjectPublicKeyInfo.
    ///
    /// # Errors
    /// [`KeyError::Malformed`] when the bytes are not one complete, valid SPKI structure (or,
    /// for RSA, when the embedded PKCS#1 key is invalid).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let spki = SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|_| KeyError::Malformed("not a DER SubjectPublicKeyInfo structure"))?;
        let oid = spki.algorithm.oid;
        let rsa_bits = if oid == RSA_ENCRYPTION {
            let key_bytes = spki
                .subject_public_key
                .as_bytes()
                .ok_or(KeyError::Malformed("the key bit string is not whole bytes"))?;
            Some(rsa_modulus_bits(key_bytes)?)
        } else {
            None
        };
        let oid_text = oid.to_string();
        let algorithm = algorithm_name(&oid_text).map_or(oid_text, str::to_owned);
        Ok(Self {
            spki_der: der.to_vec(),
            algorithm,
            rsa_bits,
        })
    }

    /// Parses a DER PKCS#1 `RSAPublicKey` and wraps it in a SubjectPublicKeyInfo (with the
    /// `rsaEncryption` OID and NULL parameters, as OpenSSL and OCI encode it).
    ///
    /// # Errors
    /// [`KeyError::Malformed`] when the bytes are not a valid `RSAPublicKey`.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        let bits = rsa_modulus_bits(der)?;
        let key = BitStringRef::from_bytes(der)
            .map_err(|_| KeyError::Malformed("the RSA public key is too large"))?;
        let spki = SubjectPublicKeyInfoRef {
            algorithm: pkcs1::ALGORITHM_ID,
            subject_public_key: key,
        };
        let spki_der = spki
            .to_der()
            .map_err(|_| KeyError::Malformed("the RSA public key cannot be re-encoded"))?;
        Ok(Self {
            spki_der,
            algorithm: "RSA".to_owned(),
            rsa_bits: Some(bits),
        })
    }

    /// The OCI fingerprint: MD5 of the DER SubjectPublicKeyInfo, lowercase hex joined by `:`.
    #[must_use]
    pub fn fingerprint(&self) -> Fingerprint {
        fingerprint_of_spki_der(&self.spki_der)
    }

    /// The RSA modulus length in bits, or `None` when the key is not an `rsaEncryption` key.
    #[must_use]
    pub fn rsa_bits(&self) -> Option<usize> {
        self.rsa_bits
    }

    /// The key's algorithm: `RSA`, another well-known name (`EC`, `Ed25519`, `DSA`, …), or the
    /// dotted OID when the algorithm is not a well-known one.
    #[must_use]
    pub fn algorithm(&self) -> &str {
        &self.algorithm
    }

    /// The DER SubjectPublicKeyInfo.
    #[must_use]
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The canonical PEM form: `-----BEGIN PUBLIC KEY-----`, base64 in 64-column lines, LF
    /// line endings and a trailing newline.
    #[must_use]
    pub fn to_spki_pem(&self) -> String {
        encode_pem("PUBLIC KEY", &self.spki_der)
    }
}

/// The OCI fingerprint of a DER SubjectPublicKeyInfo: MD5, lowercase hex bytes joined by `:`.
/// The bytes are hashed as given; call [`PublicKey::from_spki_der`] first to validate them.
#[must_use]
pub fn fingerprint_of_spki_der(der: &[u8]) -> Fingerprint {
    Fingerprint::new(hex::lower_separated(&Md5::digest(der), ':'))
}

/// Why `key` does not meet the API-key rule (RSA, [`MIN_RSA_BITS`] to [`MAX_RSA_BITS`] bits),
/// or `None` when it does.
#[must_use]
pub fn strength_problem(key: &PublicKey) -> Option<String> {
    match key.rsa_bits {
        None => Some(format!(
            "not an RSA key ({}); OCI API keys must be RSA with at least {MIN_RSA_BITS} bits",
            key.algorithm
        )),
        Some(bits) if bits < MIN_RSA_BITS => Some(format!(
            "RSA key of {bits} bits; OCI requires at least {MIN_RSA_BITS}"
        )),
        Some(bits) if bits > MAX_RSA_BITS => Some(format!(
            "RSA key of {bits} bits; signing and verification support at most {MAX_RSA_BITS} \
             bits, so this key could never sign a request"
        )),
        Some(_) => None,
    }
}

/// The byte offset of the first private-key material in `text`, if any. This is the one
/// private-key detector: the manifest loader (raw text and every decoded YAML scalar), key
/// files, snapshots and the emulator's request bodies all ask it. It finds, anywhere in the
/// text (not only at a line start, so a key inside a quoted scalar or after `\n` escapes is
/// found too) and in any letter case:
///
/// - PEM armor whose `BEGIN` label names a private key: `-----BEGIN … PRIVATE KEY-----` (RSA,
///   EC, DSA, ENCRYPTED, OPENSSH, plain PKCS#8, PGP … BLOCK), or RFC 4716's
///   `---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----`;
/// - a PuTTY key file header (`PuTTY-User-Key-File-`);
/// - the base64 of OpenSSH's private-key magic (`openssh-key-v1`);
/// - the base64 of a DER private key without armor: PKCS#1 / DSA (`SEQUENCE { 0, INTEGER`),
///   PKCS#8 v1/v2 (`SEQUENCE { 0|1, SEQUENCE`), SEC1 EC (`SEQUENCE { 1, OCTET STRING`) and
///   encrypted PKCS#8 (PBES2 or PKCS#12 PBE algorithm).
///
/// The offset points at the first byte of the marker it found.
#[must_use]
pub fn find_private_key(text: &str) -> Option<usize> {
    [
        find_private_armor(text),
        find_ascii_case_insensitive(text, "PuTTY-User-Key-File-", 0),
        text.find(OPENSSH_MAGIC_BASE64),
        find_bare_private_der(text),
    ]
    .into_iter()
    .flatten()
    .min()
}

/// `base64("openssh-key-v1\0")`, how every OpenSSH private-key body starts.
const OPENSSH_MAGIC_BASE64: &str = "b3BlbnNzaC1rZXktdjEA";

/// The first `-----BEGIN <label with PRIVATE KEY>` (four or more dashes, spaces allowed
/// between them and `BEGIN`).
fn find_private_armor(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(at) = find_ascii_case_insensitive(text, "BEGIN", from) {
        from = at + 5;
        // Dashes (and spaces) before BEGIN.
        let mut i = at;
        while i > 0 && bytes[i - 1] == b' ' {
            i -= 1;
        }
        let dash_end = i;
        while i > 0 && bytes[i - 1] == b'-' {
            i -= 1;
        }
        if dash_end - i < 4 {
            continue;
        }
        // The label: letters, digits and spaces after BEGIN.
        let label: String = bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b' ')
            .take(80)
            .map(|b| char::from(b.to_ascii_uppercase()))
            .collect();
        if label.contains("PRIVATE KEY") {
            return Some(i);
        }
    }
    None
}

fn find_ascii_case_insensitive(text: &str, needle: &str, from: usize) -> Option<usize> {
    let hay = text.as_bytes().get(from..)?;
    let needle = needle.as_bytes();
    hay.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
        .map(|p| p + from)
}

/// The first base64 run that decodes to the start of a DER private key (see
/// [`find_private_key`]). Every `M` (the base64 of a leading `0x30` SEQUENCE byte) followed
/// by at least 32 base64 characters is tried.
fn find_bare_private_der(text: &str) -> Option<usize> {
    const WINDOW: usize = 32;
    let bytes = text.as_bytes();
    let is_b64 = |b: &u8| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/';
    bytes.iter().enumerate().find_map(|(at, &b)| {
        if b != b'M' {
            return None;
        }
        let window = bytes.get(at..at + WINDOW)?;
        if !window.iter().all(is_b64) {
            return None;
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(window)
            .ok()
            .map(Zeroizing::new)?;
        is_private_der_prefix(&der).then_some(at)
    })
}

/// Whether `der` starts like a DER private-key structure (see [`find_private_key`]).
fn is_private_der_prefix(der: &[u8]) -> bool {
    /// Skips a DER SEQUENCE header (tag 0x30 and a definite length), returning the rest.
    fn enter_sequence(der: &[u8]) -> Option<&[u8]> {
        let (&tag, rest) = der.split_first()?;
        if tag != 0x30 {
            return None;
        }
        let (&len, rest) = rest.split_first()?;
        match len {
            0..=0x7f => Some(rest),
            0x81..=0x83 => rest.get(usize::from(len - 0x80)..),
            _ => None,
        }
    }
    // pkcs-5 PBES2 (1.2.840.113549.1.5.13) and the pkcs-12 PBE arc (1.2.840.113549.1.12.1).
    const PBES2: &[u8] = &[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d,
    ];
    const PKCS12_PBE: &[u8] = &[
        0x06, 0x0a, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01,
    ];
    let Some(body) = enter_sequence(der) else {
        return false;
    };
    match body {
        // version 0: PKCS#1 RSAPrivateKey / OpenSSL DSA (INTEGER next), PKCS#8 v1 (SEQUENCE).
        [0x02, 0x01, 0x00, 0x02 | 0x30, ..] => true,
        // version 1: SEC1 ECPrivateKey (OCTET STRING), PKCS#8 v2 OneAsymmetricKey (SEQUENCE).
        [0x02, 0x01, 0x01, 0x04 | 0x30, ..] => true,
        // EncryptedPrivateKeyInfo: SEQUENCE { AlgorithmIdentifier { PBE OID … } …
        _ => enter_sequence(body)
            .is_some_and(|oid| oid.starts_with(PBES2) || oid.starts_with(PKCS12_PBE)),
    }
}

/// [`find_private_key_in_json`] over JSON text, read as a stream: nothing of the document is
/// kept but the path being walked, so a snapshot of hundreds of megabytes is checked without
/// building its tree. The same path, or the JSON syntax error.
///
/// # Errors
/// The text is not JSON (serde_json's error, with its line and column).
pub fn find_private_key_in_json_text(text: &str) -> Result<Option<String>, serde_json::Error> {
    use serde::de::DeserializeSeed as _;
    let mut path = String::new();
    let mut found = false;
    let mut de = serde_json::Deserializer::from_str(text);
    JsonScan {
        path: &mut path,
        found: &mut found,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(found.then(|| {
        if path.is_empty() {
            "$".to_owned()
        } else {
            path
        }
    }))
}

/// One JSON value of [`find_private_key_in_json_text`]'s walk: `path` is where it is, `found`
/// turns true (and `path` stays) at the first private key.
struct JsonScan<'a> {
    path: &'a mut String,
    found: &'a mut bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for JsonScan<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for JsonScan<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        if find_private_key(v).is_some() {
            *self.found = true;
        }
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0_usize;
        while !*self.found {
            let len = self.path.len();
            self.path.push_str(&format!("[{i}]"));
            let item = JsonScan {
                path: &mut *self.path,
                found: &mut *self.found,
            };
            if seq.next_element_seed(item)?.is_none() {
                self.path.truncate(len);
                return Ok(());
            }
            if !*self.found {
                self.path.truncate(len);
            }
            i += 1;
        }
        // Found: the rest is only read through.
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while !*self.found {
            let len = self.path.len();
            let key = JsonKey {
                path: &mut *self.path,
            };
            let Some(secret) = map.next_key_seed(key)? else {
                return Ok(());
            };
            if secret {
                *self.found = true;
                map.next_value::<serde::de::IgnoredAny>()?;
                break;
            }
            map.next_value_seed(JsonScan {
                path: &mut *self.path,
                found: &mut *self.found,
            })?;
            if !*self.found {
                self.path.truncate(len);
            }
        }
        while map
            .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
            .is_some()
        {}
        Ok(())
    }
}

/// An object key of [`JsonScan`]: appends `.key` to the path (a key that is itself secret is
/// named by its position, not its text) and says whether it is secret.
struct JsonKey<'a> {
    path: &'a mut String,
}

impl<'de> serde::de::DeserializeSeed<'de> for JsonKey<'_> {
    type Value = bool;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for JsonKey<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E>(self, key: &str) -> Result<bool, E> {
        if !self.path.is_empty() {
            self.path.push('.');
        }
        if find_private_key(key).is_some() {
            self.path.push_str("<a key holding private-key material>");
            return Ok(true);
        }
        self.path.push_str(key);
        Ok(false)
    }
}

/// The JSON path (`users[0].description`, `$` for the root) of the first string — value or
/// object key — in `value` that holds private-key material per [`find_private_key`].
#[must_use]
pub fn find_private_key_in_json(value: &serde_json::Value) -> Option<String> {
    fn walk(value: &serde_json::Value, path: &mut String) -> bool {
        match value {
            serde_json::Value::String(s) => find_private_key(s).is_some(),
            serde_json::Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let found = walk(item, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            serde_json::Value::Object(map) => map.iter().any(|(key, item)| {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                // A key that is itself secret is named by its position, not its text.
                if find_private_key(key).is_some() {
                    path.push_str("<a key holding private-key material>");
                    return true;
                }
                path.push_str(key);
                let found = walk(item, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            _ => false,
        }
    }
    let mut path = String::new();
    walk(value, &mut path).then(|| {
        if path.is_empty() {
            "$".to_owned()
        } else {
            path
        }
    })
}

fn looks_like_openssh_public_key(text: &str) -> bool {
    let t = text.trim_start();
    [
        "ssh-rsa ",
        "ssh-dss ",
        "ssh-ed25519 ",
        "ecdsa-sha2-",
        "sk-ssh-",
        "sk-ecdsa-",
    ]
    .iter()
    .any(|p| t.starts_with(p))
        || t.starts_with("---- BEGIN SSH2 PUBLIC KEY ----")
}

/// The well-known name of a public-key algorithm OID (dotted form), if it has one.
pub(crate) fn algorithm_name(oid: &str) -> Option<&'static str> {
    ALGORITHM_NAMES
        .iter()
        .find(|(o, _)| *o == oid)
        .map(|(_, name)| *name)
}

/// The bit length of the modulus of a DER PKCS#1 `RSAPublicKey`.
fn rsa_modulus_bits(pkcs1_der: &[u8]) -> Result<usize, KeyError> {
    let key = pkcs1::RsaPublicKeyRef::from_der(pkcs1_der)
        .map_err(|_| KeyError::Malformed("not a valid PKCS#1 RSA public key"))?;
    let bits = uint_bits(key.modulus.as_bytes());
    if bits == 0 {
        return Err(KeyError::Malformed("the RSA modulus is zero"));
    }
    if uint_bits(key.public_exponent.as_bytes()) == 0 {
        return Err(KeyError::Malformed("the RSA public exponent is zero"));
    }
    Ok(bits)
}

/// Bit length of an unsigned big-endian integer.
pub(crate) fn uint_bits(be: &[u8]) -> usize {
    match be.iter().position(|&b| b != 0) {
        None => 0,
        Some(i) => (be.len() - i - 1) * 8 + (8 - be[i].leading_zeros() as usize),
    }
}

/// Labels that may be named in an error message (anything else is reported as `unrecognized`,
/// so attacker- or accident-controlled text is never echoed).
const KNOWN_LABELS: &[&str] = &[
    "PUBLIC KEY",
    "RSA PUBLIC KEY",
    "CERTIFICATE",
    "TRUSTED CERTIFICATE",
    "CERTIFICATE REQUEST",
    "NEW CERTIFICATE REQUEST",
    "X509 CRL",
    "PKCS7",
    "CMS",
    "DH PARAMETERS",
    "EC PARAMETERS",
    "DSA PARAMETERS",
    "PGP PUBLIC KEY BLOCK",
    "PGP MESSAGE",
    "PGP SIGNATURE",
    "SSH2 PUBLIC KEY",
    "OPENSSH PUBLIC KEY",
    "ENCRYPTED PRIVATE KEY",
    "PRIVATE KEY",
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
    "DSA PRIVATE KEY",
    "OPENSSH PRIVATE KEY",
];

/// The label as a `'static` string when it is a well-known one, else `"unrecognized"`.
pub(crate) fn describe_label(label: &str) -> &'static str {
    KNOWN_LABELS
        .iter()
        .find(|known| **known == label)
        .copied()
        .unwrap_or("unrecognized")
}

/// One decoded PEM block. The DER is zeroized on drop because the block may be a private key.
pub(crate) struct PemBlock {
    /// The label between `-----BEGIN ` and `-----`, trimmed.
    pub(crate) label: String,
    /// Names of RFC 1421 headers (`Proc-Type`, `DEK-Info`); values are not kept.
    pub(crate) headers: Vec<String>,
    /// `Proc-Type: 4,ENCRYPTED` was present (legacy OpenSSL encryption).
    pub(crate) legacy_encrypted: bool,
    /// The decoded body.
    pub(crate) der: Zeroizing<Vec<u8>>,
}

/// Why [`decode_pem`] failed. Carries no input bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PemError {
    /// No `-----BEGIN …-----` line.
    NoBlock,
    /// No `-----END …-----` line before the text ends or another BEGIN starts.
    Unterminated,
    /// The END line's label differs from the BEGIN line's.
    MismatchedEnd,
    /// The body is not base64.
    BadBase64,
    /// The body is empty.
    Empty,
}

fn armor_label<'a>(line: &'a str, kind: &str) -> Option<&'a str> {
    let rest = line.strip_prefix("-----")?.strip_suffix("-----")?;
    let rest = rest.strip_prefix(kind)?;
    let label = rest.strip_prefix(' ')?.trim();
    (!label.is_empty()).then_some(label)
}

/// Decodes the first PEM block of `text`; anything after its END line is ignored. Lines may
/// end in LF or CRLF and carry surrounding whitespace.
pub(crate) fn decode_pem(text: &str) -> Result<PemBlock, PemError> {
    let mut lines = text.lines().map(str::trim);
    let label = loop {
        let line = lines.next().ok_or(PemError::NoBlock)?;
        if let Some(label) = armor_label(line, "BEGIN") {
            break label.to_owned();
        }
    };
    // Capacity up front so the buffer never reallocates (and leaves unzeroized copies).
    let mut body = Zeroizing::new(String::with_capacity(text.len()));
    let mut headers = Vec::new();
    let mut legacy_encrypted = false;
    let mut in_headers = true;
    let mut terminated = false;
    for line in lines {
        if let Some(end) = armor_label(line, "END") {
            if end != label {
                return Err(PemError::MismatchedEnd);
            }
            terminated = true;
            break;
        }
        if armor_label(line, "BEGIN").is_some() {
            return Err(PemError::Unterminated);
        }
        if line.is_empty() {
            continue;
        }
        if in_headers {
            if let Some((name, value)) = line.split_once(':') {
                let name = name.trim();
                if name.eq_ignore_ascii_case("Proc-Type")
                    && value.to_ascii_uppercase().contains("ENCRYPTED")
                {
                    legacy_encrypted = true;
                }
                headers.push(
                    if name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                        name.to_owned()
                    } else {
                        "unrecognized".to_owned()
                    },
                );
                continue;
            }
            in_headers = false;
        }
        body.extend(line.chars().filter(|c| !c.is_whitespace()));
    }
    if !terminated {
        return Err(PemError::Unterminated);
    }
    if body.is_empty() {
        return Err(PemError::Empty);
    }
    let der = base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT
        .decode(body.as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| PemError::BadBase64)?;
    if der.is_empty() {
        return Err(PemError::Empty);
    }
    Ok(PemBlock {
        label,
        headers,
        legacy_encrypted,
        der,
    })
}

/// Wraps DER bytes in PEM armor with `label`: 64-column base64, LF endings, trailing newline.
pub(crate) fn encode_pem(label: &str, der: &[u8]) -> String {
    let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(der));
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC_PUB: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/oci/signing-vectors/oci-doc-test-key.pub.pem"
    ));
    const DOC_PRIV: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/oci/signing-vectors/oci-doc-test-key.pem"
    ));
    const DOC_FP: &str = "73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7";

    fn fingerprint_vectors() -> Vec<serde_json::Value> {
        let text = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/oci/fingerprint-vectors.json"
        ));
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        v["vectors"].as_array().unwrap().clone()
    }

    /// The base64 body lines of a PEM text (what must never leak).
    fn body_lines(pem: &str) -> Vec<&str> {
        pem.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("-----"))
            .collect()
    }

    fn assert_no_leak(err: &KeyError, secret_pem: &str) {
        let shown = format!("{err} {err:?}");
        for line in body_lines(secret_pem) {
            assert!(!shown.contains(line), "error leaks key text: {shown}");
            // Not even a 12-character fragment of a body line.
            for window in line.as_bytes().windows(12) {
                let w = std::str::from_utf8(window).unwrap();
                assert!(
                    !shown.contains(w),
                    "error leaks key fragment {w:?}: {shown}"
                );
            }
        }
    }

    #[test]
    fn every_fingerprint_vector_matches() {
        let vectors = fingerprint_vectors();
        assert_eq!(vectors.len(), 3);
        for v in vectors {
            let pem = v["public_key_pem"].as_str().unwrap();
            let key = PublicKey::from_pem(pem).unwrap();
            assert_eq!(
                key.fingerprint().as_str(),
                v["fingerprint"].as_str().unwrap()
            );
            let bits = usize::try_from(v["key_bits"].as_u64().unwrap()).unwrap();
            assert_eq!(key.rsa_bits(), Some(bits));
            assert_eq!(key.algorithm(), "RSA");
            assert_eq!(fingerprint_of_spki_der(key.spki_der()), key.fingerprint());
            // The canonical PEM re-parses to the same key.
            let again = PublicKey::from_pem(&key.to_spki_pem()).unwrap();
            assert_eq!(again, key);
        }
    }

    #[test]
    fn canonical_pem_is_64_columns_with_trailing_newline() {
        let key = PublicKey::from_pem(DOC_PUB).unwrap();
        let pem = key.to_spki_pem();
        assert_eq!(pem, DOC_PUB, "the doc key file is already canonical");
        assert!(pem.ends_with("-----END PUBLIC KEY-----\n"));
        assert!(pem.lines().all(|l| l.len() <= 64));
    }

    #[test]
    fn pkcs1_public_key_has_the_same_fingerprint_as_spki() {
        let key = PublicKey::from_pem(DOC_PUB).unwrap();
        let spki = SubjectPublicKeyInfoRef::from_der(key.spki_der()).unwrap();
        let pkcs1_der = spki.subject_public_key.as_bytes().unwrap();
        let pem = encode_pem("RSA PUBLIC KEY", pkcs1_der);
        let from_pkcs1 = PublicKey::from_pem(&pem).unwrap();
        assert_eq!(from_pkcs1.fingerprint().as_str(), DOC_FP);
        assert_eq!(from_pkcs1.spki_der(), key.spki_der());
        assert_eq!(from_pkcs1.to_spki_pem(), DOC_PUB);
        assert_eq!(from_pkcs1.rsa_bits(), Some(1024));
    }

    #[test]
    fn the_1024_bit_doc_key_is_weak_and_2048_is_fine() {
        let weak = PublicKey::from_pem(DOC_PUB).unwrap();
        assert_eq!(
            strength_problem(&weak).unwrap(),
            "RSA key of 1024 bits; OCI requires at least 2048"
        );
        let v = &fingerprint_vectors()[0];
        let ok = PublicKey::from_pem(v["public_key_pem"].as_str().unwrap()).unwrap();
        assert_eq!(strength_problem(&ok), None);
    }

    #[test]
    fn crlf_whitespace_and_text_after_end_are_tolerated() {
        let crlf = format!("\r\n  \t{}\r\n", DOC_PUB.replace('\n', "\r\n"));
        assert_eq!(
            PublicKey::from_pem(&crlf).unwrap().fingerprint().as_str(),
            DOC_FP
        );
        let labelled = format!("{DOC_PUB}OCI_API_KEY\n");
        assert_eq!(
            PublicKey::from_pem(&labelled)
                .unwrap()
                .fingerprint()
                .as_str(),
            DOC_FP
        );
        let junk_after = format!("{DOC_PUB}-----BEGIN GARBAGE\nnot base64 at all!!\n");
        assert_eq!(
            PublicKey::from_pem(&junk_after)
                .unwrap()
                .fingerprint()
                .as_str(),
            DOC_FP
        );
        let indented: String = DOC_PUB.lines().map(|l| format!("    {l}\n")).collect();
        assert_eq!(
            PublicKey::from_pem(&indented)
                .unwrap()
                .fingerprint()
                .as_str(),
            DOC_FP
        );
    }

    #[test]
    fn a_private_key_is_refused_without_echoing_it() {
        let variants = [
            DOC_PRIV.to_owned(),
            format!("{DOC_PUB}\n{DOC_PRIV}"),
            DOC_PRIV.replace("RSA PRIVATE KEY", "PRIVATE KEY"),
            DOC_PRIV.replace("RSA PRIVATE KEY", "ENCRYPTED PRIVATE KEY"),
            DOC_PRIV.replace("RSA PRIVATE KEY", "EC PRIVATE KEY"),
            DOC_PRIV.replace("RSA PRIVATE KEY", "OPENSSH PRIVATE KEY"),
            DOC_PRIV.replace("RSA PRIVATE KEY", "DSA PRIVATE KEY"),
            DOC_PRIV.replace('\n', "\r\n"),
        ];
        for text in &variants {
            let err = PublicKey::from_pem(text).unwrap_err();
            assert_eq!(err, KeyError::PrivateKey);
            assert_no_leak(&err, DOC_PRIV);
        }
        // Even a private key with a broken body, or a truncated one, is refused as such.
        let truncated: String = DOC_PRIV.lines().take(4).map(|l| format!("{l}\n")).collect();
        let err = PublicKey::from_pem(&truncated).unwrap_err();
        assert_eq!(err, KeyError::PrivateKey);
        assert_no_leak(&err, DOC_PRIV);
    }

    #[test]
    fn find_private_key_reports_the_offset_of_the_armor() {
        assert_eq!(find_private_key(DOC_PUB), None);
        assert_eq!(find_private_key(DOC_PRIV), Some(0));
        let text = format!("key:\n  {DOC_PRIV}");
        assert_eq!(find_private_key(&text), Some(7));
        assert_eq!(&text[7..12], "-----");
        assert!(find_private_key("---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\n").is_some());
        assert!(find_private_key("PuTTY-User-Key-File-3: ssh-rsa\n").is_some());
        assert!(find_private_key("-----begin private key-----").is_some());
        assert_eq!(
            find_private_key("the words BEGIN and PRIVATE KEY in prose"),
            None
        );
        assert_eq!(find_private_key(""), None);
    }

    #[test]
    fn garbage_empty_and_truncated_input_error_without_panic() {
        let cases = [
            ("", KeyError::NotPem),
            ("   \n\n", KeyError::NotPem),
            ("hello world", KeyError::NotPem),
            (DOC_FP, KeyError::NotPem),
            ("-----BEGIN PUBLIC KEY-----\n", KeyError::Unterminated),
            (
                "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n",
                KeyError::Malformed("the PEM block is empty"),
            ),
            (
                "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n",
                KeyError::Malformed("the PEM body is not valid base64"),
            ),
            (
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----\n",
                KeyError::Malformed("the END line names another label"),
            ),
            (
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
                KeyError::Malformed("not a DER SubjectPublicKeyInfo structure"),
            ),
            (
                "-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----\n",
                KeyError::Malformed("not a valid PKCS#1 RSA public key"),
            ),
            (
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                KeyError::Unsupported("CERTIFICATE"),
            ),
            (
                "-----BEGIN MIIBIjANBg-----\nAAAA\n-----END MIIBIjANBg-----\n",
                KeyError::Unsupported("unrecognized"),
            ),
            ("ssh-rsa AAAAB3NzaC1yc2E user@host\n", KeyError::OpenSsh),
        ];
        for (text, want) in cases {
            assert_eq!(PublicKey::from_pem(text), Err(want), "input {text:?}");
        }
        // Every truncation of a valid key errors (or parses) without panicking and never
        // echoes the body.
        for cut in 0..DOC_PUB.len() {
            if let Err(err) = PublicKey::from_pem(&DOC_PUB[..cut]) {
                assert_no_leak(&err, DOC_PUB);
            }
        }
        // Truncated DER inside a well-formed PEM.
        let key = PublicKey::from_pem(DOC_PUB).unwrap();
        for cut in 1..key.spki_der().len() {
            let pem = encode_pem("PUBLIC KEY", &key.spki_der()[..cut]);
            assert!(PublicKey::from_pem(&pem).is_err(), "cut at {cut}");
        }
        // Trailing bytes after the DER structure are refused too.
        let mut long = key.spki_der().to_vec();
        long.push(0);
        assert!(PublicKey::from_spki_der(&long).is_err());
    }

    #[test]
    fn headers_in_a_public_key_block_are_refused() {
        let with_header = DOC_PUB.replacen('\n', "\nComment: hi\n\n", 1);
        assert_eq!(
            PublicKey::from_pem(&with_header),
            Err(KeyError::Malformed(
                "a public key PEM block must not carry headers"
            ))
        );
    }

    #[test]
    fn an_ed25519_key_is_reported_as_not_rsa() {
        use aws_lc_rs::encoding::AsDer as _;
        use aws_lc_rs::signature::KeyPair as _;
        let pair = aws_lc_rs::signature::Ed25519KeyPair::generate().unwrap();
        let der = pair.public_key().as_der().unwrap();
        let pem = encode_pem("PUBLIC KEY", der.as_ref());
        let key = PublicKey::from_pem(&pem).unwrap();
        assert_eq!(key.algorithm(), "Ed25519");
        assert_eq!(key.rsa_bits(), None);
        let problem = strength_problem(&key).unwrap();
        assert!(problem.starts_with("not an RSA key (Ed25519)"), "{problem}");
        assert_eq!(key.fingerprint().as_str().len(), 47);
    }

    #[test]
    fn an_unknown_algorithm_is_named_by_its_oid() {
        // SPKI with OID 1.2.3.4 and an empty bit string.
        let der = [
            0x30, 0x0a, 0x30, 0x05, 0x06, 0x03, 0x2a, 0x03, 0x04, 0x03, 0x01, 0x00,
        ];
        let key = PublicKey::from_spki_der(&der[..]).unwrap();
        assert_eq!(key.algorithm(), "1.2.3.4");
        assert!(strength_problem(&key).unwrap().contains("(1.2.3.4)"));
    }

    /// A PKCS#1 public key with a `bits`-bit modulus (arbitrary, odd) and e = 65537: cheap to
    /// build at any size, which generating a real 8193-bit key is not.
    fn rsa_key_of_bits(bits: usize) -> PublicKey {
        let mut modulus = vec![0xa5_u8; bits.div_ceil(8)];
        modulus[0] = 1_u8 << ((bits - 1) % 8);
        if let Some(last) = modulus.last_mut() {
            *last |= 1;
        }
        let key = pkcs1::RsaPublicKeyRef {
            modulus: pkcs1::UintRef::new(&modulus).unwrap(),
            public_exponent: pkcs1::UintRef::new(&[1, 0, 1]).unwrap(),
        };
        let der = key.to_der().unwrap();
        let public = PublicKey::from_pkcs1_der(&der).unwrap();
        assert_eq!(public.rsa_bits(), Some(bits));
        public
    }

    #[test]
    fn the_strength_rule_spans_exactly_what_can_sign_and_verify() {
        for bits in [MIN_RSA_BITS, 3072, 4096, MAX_RSA_BITS - 1, MAX_RSA_BITS] {
            assert_eq!(strength_problem(&rsa_key_of_bits(bits)), None, "{bits}");
        }
        let too_small = strength_problem(&rsa_key_of_bits(MIN_RSA_BITS - 1)).unwrap();
        assert!(too_small.contains("at least 2048"), "{too_small}");
        for bits in [MAX_RSA_BITS + 1, 16384] {
            let why = strength_problem(&rsa_key_of_bits(bits)).unwrap();
            assert!(why.contains("at most 8192"), "{why}");
        }
    }

    #[test]
    fn the_detector_finds_private_keys_in_any_form_and_nothing_else() {
        use base64::Engine as _;
        let body: String = DOC_PRIV
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .join("\n");
        let pkcs1 = decode_pem(DOC_PRIV).unwrap();
        let pkcs8_pem = crate::keygen::generate_rsa_2048()
            .unwrap()
            .private_pkcs8_pem;
        let pkcs8 = decode_pem(&pkcs8_pem).unwrap();
        let b64 = |der: &[u8]| base64::engine::general_purpose::STANDARD.encode(der);
        // SEC1 EC and encrypted PKCS#8 prefixes (only the first bytes matter).
        let sec1 = [
            0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
            14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
        ];
        let mut encrypted = vec![0x30, 0x82, 0x05, 0x00, 0x30, 0x4d];
        encrypted.extend_from_slice(&[
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d,
        ]);
        encrypted.extend_from_slice(&[0x30; 16]);
        let escaped = DOC_PRIV.replace('\n', "\\n");
        let found = [
            format!("description: \"{escaped}\""),
            format!("x {DOC_PRIV}"),
            DOC_PRIV.replace("RSA PRIVATE KEY", "PGP PRIVATE KEY BLOCK"),
            "'---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----'".to_owned(),
            body.clone(),
            format!("note: {}", b64(&pkcs1.der)),
            b64(&pkcs8.der),
            format!("[{}]", b64(&sec1)),
            b64(&encrypted),
            // The first 40 characters of `openssl pkcs8 -topk8 -v2 aes-256-cbc` output.
            "MIIFLTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0B".to_owned(),
            format!("x\\n{}", &b64(&pkcs8.der)[..40]),
            "b3BlbnNzaC1rZXktdjEAAAAABG5vbmU".to_owned(),
            "putty-user-key-file-3: ssh-rsa".to_owned(),
        ];
        for text in &found {
            assert!(find_private_key(text).is_some(), "missed {text:.60}");
        }
        let public_der = PublicKey::from_pem(DOC_PUB).unwrap().spki_der().to_vec();
        let pkcs1_public = {
            let spki = SubjectPublicKeyInfoRef::from_der(&public_der).unwrap();
            spki.subject_public_key.as_bytes().unwrap().to_vec()
        };
        let clean = [
            DOC_PUB.to_owned(),
            DOC_PUB.replace('\n', "\\n"),
            b64(&public_der),
            b64(&pkcs1_public),
            "the words BEGIN and PRIVATE KEY in prose".to_owned(),
            "-- begin private key --".to_owned(),
            "ocid1.user.oc1..aaaaaaaaMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_owned(),
            "MMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMM".to_owned(),
            "73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7".to_owned(),
            String::new(),
        ];
        for text in &clean {
            assert_eq!(find_private_key(text), None, "false positive {text:.60}");
        }
    }

    #[test]
    fn the_json_walk_names_the_path_never_the_text() {
        let value = serde_json::json!({
            "users": [{"name": "a"}, {"name": "b", "description": DOC_PRIV}],
        });
        assert_eq!(
            find_private_key_in_json(&value).as_deref(),
            Some("users[1].description")
        );
        let in_key = serde_json::json!({ "tags": { DOC_PRIV: "x" } });
        let path = find_private_key_in_json(&in_key).unwrap();
        assert!(path.starts_with("tags."), "{path}");
        assert!(!path.contains("MII"), "{path}");
        assert_eq!(
            find_private_key_in_json(&serde_json::json!(DOC_PRIV)).as_deref(),
            Some("$")
        );
        assert_eq!(
            find_private_key_in_json(&serde_json::json!({"k": DOC_PUB})),
            None
        );
    }

    #[test]
    fn the_streaming_json_scan_finds_what_the_tree_walk_finds() {
        let documents = [
            serde_json::json!({"users": [{"name": "a"}, {"name": "b", "description": DOC_PRIV}]}),
            serde_json::json!({"tags": { DOC_PRIV: "x" }, "after": [1, 2]}),
            serde_json::json!(DOC_PRIV),
            serde_json::json!([[1, {"a": [null, true, 2.5, DOC_PRIV]}], "later"]),
            serde_json::json!({"k": DOC_PUB, "list": [], "map": {}, "n": -3}),
            serde_json::json!({"a": {"b": {"c": "clean"}}, "d": [{"e": DOC_PRIV}], "f": DOC_PRIV}),
        ];
        for value in &documents {
            let text = serde_json::to_string(value).unwrap();
            assert_eq!(
                find_private_key_in_json_text(&text).unwrap(),
                find_private_key_in_json(value),
                "{text:.80}"
            );
        }
        // `\u` escapes are decoded before the check, as in the tree walk.
        let escaped = serde_json::to_string(&serde_json::json!({"x": DOC_PRIV}))
            .unwrap()
            .replace("-----BEGIN", &format!("{}BEGIN", "\\u002d".repeat(5)));
        assert!(!escaped.contains("-BEGIN"));
        assert_eq!(
            find_private_key_in_json_text(&escaped).unwrap().as_deref(),
            Some("x")
        );
        // Not JSON: serde_json's error, with its position.
        let err = find_private_key_in_json_text("{\"a\": [1, }").unwrap_err();
        assert_eq!((err.line(), err.column()), (1, 11));
        assert!(find_private_key_in_json_text("{} {}").is_err());
    }

    #[test]
    fn uint_bits_counts_significant_bits() {
        assert_eq!(uint_bits(&[]), 0);
        assert_eq!(uint_bits(&[0, 0]), 0);
        assert_eq!(uint_bits(&[1]), 1);
        assert_eq!(uint_bits(&[0, 0x80, 0]), 16);
        assert_eq!(uint_bits(&[0x7f, 0xff]), 15);
    }
}
