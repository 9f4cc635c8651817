//! RSA API-key generation (RSA-2048 with aws-lc-rs), for the emulator's bootstrap admin key and
//! for tests, which generate their keys at run time instead of committing private keys.
//!
//! Shell, not pure core: this module consumes **OS randomness** (through aws-lc-rs's DRBG).
//! It performs no file, network, environment or clock access; callers decide where the key
//! goes (and must write the private key with mode 0600). It never prints or logs key material:
//! [`GeneratedKey`]'s `Debug` shows only the public half.

use std::fmt;

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use zeroize::Zeroizing;

use crate::keys::{self, PublicKey};
use crate::model::Fingerprint;

/// Why a key pair could not be generated or encoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeygenError {
    /// aws-lc-rs failed to generate the key pair (e.g. its random source failed).
    #[error("RSA key generation failed (the system random number generator may be unavailable)")]
    Generate,
    /// The generated key could not be encoded as PKCS#8 or SubjectPublicKeyInfo.
    #[error("the generated RSA key could not be encoded")]
    Encode,
}

/// A freshly generated RSA key pair in the PEM forms OCI tools use.
pub struct GeneratedKey {
    /// The private key, unencrypted PKCS#8 (a `BEGIN PRIVATE KEY` PEM block); zeroized on drop.
    pub private_pkcs8_pem: Zeroizing<String>,
    /// The public key, SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`), 64-column base64.
    pub public_spki_pem: String,
    /// The OCI fingerprint of the public key.
    pub fingerprint: Fingerprint,
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("private_pkcs8_pem", &"[REDACTED]")
            .field("public_spki_pem", &self.public_spki_pem)
            .field("fingerprint", &self.fingerprint.as_str())
            .finish()
    }
}

/// Generates an RSA-2048 key pair (public exponent 65537) from OS randomness.
///
/// # Errors
/// [`KeygenError::Generate`] when aws-lc-rs cannot generate the key, [`KeygenError::Encode`]
/// when it cannot be serialized.
pub fn generate_rsa_2048() -> Result<GeneratedKey, KeygenError> {
    let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| KeygenError::Generate)?;
    let pkcs8 = pair.as_der().map_err(|_| KeygenError::Encode)?;
    let private_pkcs8_pem = Zeroizing::new(keys::encode_pem("PRIVATE KEY", pkcs8.as_ref()));
    let spki = pair
        .public_key()
        .as_der()
        .map_err(|_| KeygenError::Encode)?;
    let public = PublicKey::from_spki_der(spki.as_ref()).map_err(|_| KeygenError::Encode)?;
    Ok(GeneratedKey {
        private_pkcs8_pem,
        public_spki_pem: public.to_spki_pem(),
        fingerprint: public.fingerprint(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_a_2048_bit_key_whose_halves_match() {
        let key = generate_rsa_2048().unwrap();
        assert!(
            key.private_pkcs8_pem
                .starts_with(concat!("-----BEGIN ", "PRIVATE KEY-----\n"))
        );
        assert!(
            key.private_pkcs8_pem
                .ends_with("-----END PRIVATE KEY-----\n")
        );
        let public = PublicKey::from_pem(&key.public_spki_pem).unwrap();
        assert_eq!(public.rsa_bits(), Some(2048));
        assert_eq!(keys::strength_problem(&public), None);
        assert_eq!(public.fingerprint(), key.fingerprint);
        // The private half is recognised as such by the guard, and loads for signing.
        assert_eq!(keys::find_private_key(&key.private_pkcs8_pem), Some(0));
        let signer = crate::oci::sign::SigningKey::from_pem(&key.private_pkcs8_pem, None).unwrap();
        assert_eq!(signer.fingerprint(), &key.fingerprint);
        // Two keys differ.
        assert_ne!(generate_rsa_2048().unwrap().fingerprint, key.fingerprint);
    }

    #[test]
    fn debug_does_not_show_the_private_key() {
        let key = generate_rsa_2048().unwrap();
        let shown = format!("{key:?}");
        assert!(shown.contains("[REDACTED]"));
        assert!(!shown.contains("PRIVATE KEY"));
        for line in key
            .private_pkcs8_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
        {
            assert!(!shown.contains(line));
        }
    }
}
