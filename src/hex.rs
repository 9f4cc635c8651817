//! Hexadecimal text of bytes: the one encoder behind every `sha256:<hex>` digest, the OCI
//! key fingerprint (`aa:bb:…`, see [`crate::keys`]), the emulator's etags and the uppercase
//! `opc-request-id`s.
//!
//! Pure core: bytes in, text out.

const LOWER: &[u8; 16] = b"0123456789abcdef";
const UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Lowercase hex of `bytes`, two digits a byte.
#[must_use]
pub fn lower(bytes: &[u8]) -> String {
    encode(bytes, LOWER, None)
}

/// Uppercase hex of `bytes`, two digits a byte.
#[must_use]
pub fn upper(bytes: &[u8]) -> String {
    encode(bytes, UPPER, None)
}

/// Lowercase hex of `bytes` with `separator` between bytes (`aa:bb:cc`).
#[must_use]
pub fn lower_separated(bytes: &[u8], separator: char) -> String {
    encode(bytes, LOWER, Some(separator))
}

fn encode(bytes: &[u8], digits: &[u8; 16], separator: Option<char>) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, byte) in bytes.iter().enumerate() {
        if let Some(separator) = separator.filter(|_| i > 0) {
            s.push(separator);
        }
        s.push(char::from(digits[usize::from(byte >> 4)]));
        s.push(char::from(digits[usize::from(byte & 0x0f)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_byte_as_two_digits() {
        assert_eq!(lower(&[]), "");
        assert_eq!(lower(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(upper(&[0x00, 0x0f, 0xa5, 0xff]), "000FA5FF");
        assert_eq!(
            lower_separated(&[0x00, 0x0f, 0xa5, 0xff], ':'),
            "00:0f:a5:ff"
        );
        assert_eq!(lower_separated(&[0xab], ':'), "ab");
        assert_eq!(lower_separated(&[], ':'), "");
    }

    #[test]
    fn agrees_with_the_standard_formatter_on_every_byte() {
        let all: Vec<u8> = (0..=u8::MAX).collect();
        let expected: String = all.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(lower(&all), expected);
        assert_eq!(upper(&all), expected.to_ascii_uppercase());
        let joined: Vec<String> = all.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(lower_separated(&all, ':'), joined.join(":"));
    }
}
