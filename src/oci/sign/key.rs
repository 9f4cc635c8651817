//! Private-key loading for request signing: PEM (PKCS#1, PKCS#8, encrypted PKCS#8) and DER
//! RSA private keys become a [`SigningKey`], which signs with RSASSA-PKCS1-v1_5 / SHA-256.
//! Refusals are [`KeyLoadError`]s that say what the key is and how to fix it.
//!
//! Pure core: the caller reads the key file. Key bytes and passphrases are never printed,
//! logged or returned: `SigningKey`'s `Debug` is redacted and no error variant carries them.

use std::fmt;

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::signature::{self, KeyPair as _, RsaKeyPair};
use pkcs8::der::{Decode as _, Tagged as _};

use super::SignError;
use crate::keys::{self, PemError};
use crate::model::Fingerprint;

/// Largest RSA modulus aws-lc-rs signs with, in bits (shared with `keys::strength_problem`).
const MAX_SIGNING_BITS: usize = keys::MAX_RSA_BITS;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::sign::vectors::generated;

    const DOC_PRIV: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/oci/signing-vectors/oci-doc-test-key.pem"
    ));

    fn body_lines(pem: &str) -> Vec<&str> {
        pem.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("-----") && !l.contains(':'))
            .collect()
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
}
