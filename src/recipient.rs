//! Age X25519 recipients (`age1…`, as `age-keygen -y` prints): the `deliver_to` of a
//! console-password reset. The manifest loader checks them ([`check`]); the shell's
//! `deliver` seals to them ([`parse`]), so both refuse the same text with the same reason.
//!
//! Pure core: text in, a recipient or a one-line reason out. A reason shows the text, unless
//! it looks like an age *secret* key, which is never echoed.

use age::x25519;

/// Whether `s` is an age X25519 recipient.
///
/// # Errors
/// A one-line reason, phrased to follow "`deliver_to` ".
pub fn check(s: &str) -> Result<(), String> {
    parse(s).map(drop)
}

/// `s` as an age X25519 recipient.
///
/// # Errors
/// A one-line reason, phrased to follow "`deliver_to` ".
pub fn parse(s: &str) -> Result<x25519::Recipient, String> {
    if s.to_ascii_uppercase().contains("AGE-SECRET-KEY-") {
        return Err(
            "holds an age SECRET key (not shown), not a recipient: treat that \
                    identity as leaked, and give its public recipient (`age-keygen -y`) instead"
                .to_owned(),
        );
    }
    s.parse::<x25519::Recipient>().map_err(|why| {
        format!(
            "`{s}` is not an age X25519 recipient ({why}); give one like `age1…` as printed by `age-keygen -y`"
        )
    })
}

#[cfg(test)]
mod tests {
    use age::secrecy::ExposeSecret as _;

    use super::*;

    #[test]
    fn an_age_secret_key_given_as_recipient_is_never_echoed() {
        let identity = x25519::Identity::generate();
        let key = identity.to_string();
        let why = check(key.expose_secret()).unwrap_err();
        assert!(why.contains("SECRET key"), "{why}");
        assert!(!why.contains(key.expose_secret()), "{why}");
        let lower = key.expose_secret().to_ascii_lowercase();
        assert!(!check(&lower).unwrap_err().contains(&lower));
    }

    #[test]
    fn check_recipient_accepts_a_real_recipient() {
        let r = x25519::Identity::generate().to_public().to_string();
        assert!(r.starts_with("age1"));
        check(&r).unwrap();
    }
}
