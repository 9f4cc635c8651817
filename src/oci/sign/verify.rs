//! Verifying a signed request, as the emulator does: parsing the `Authorization: Signature …`
//! header ([`parse_authorization`]), rebuilding the signing string from the raw request, and
//! checking the mandatory signed headers, body hash, content length, clock skew and the RSA
//! signature ([`verify`]). Every refusal is a [`VerifyError`] naming the failed check.
//!
//! Pure core: the caller looks up the public key and passes "now" as Unix seconds.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use aws_lc_rs::signature;
use base64::Engine as _;

use super::request::join_signing_string;
use super::{ALGORITHM, MAX_CLOCK_SKEW_SECS, Method, content_sha256, parse_http_date};
use crate::model::Fingerprint;

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
    use crate::oci::sign::vectors::{VECTOR_TIME, doc_spki, generated, vectors};
    use crate::oci::sign::{authorization_header, http_date};

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
}
