//! Signing a request: the signing string (one `name: value` line per signed header, in OCI SDK
//! order), the RSA signature over it, and the `Authorization` header in Go SDK parameter order.
//! Also the helpers both sides share: [`Method`], [`key_id`], [`content_sha256`].
//!
//! Pure core: the date arrives as a string and the key as a loaded [`SigningKey`].

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use super::{ALGORITHM, HEADERS_WITH_BODY, HEADERS_WITHOUT_BODY, SigningKey};
use crate::model::{Fingerprint, Ocid};

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
    /// The `date` header value, an IMF-fixdate (see [`http_date`](super::http_date)).
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

pub(super) fn join_signing_string<'a>(lines: impl Iterator<Item = (&'a str, &'a str)>) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::sign::vectors::{VECTOR_TIME, doc_spki, generated, vectors};
    use crate::oci::sign::{
        AuthorizationParams, VerifyError, parse_authorization, verify, verify_signature,
    };
    use std::collections::BTreeMap;

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
    /// these bytes". (aws-lc-rs cannot load the 1024-bit doc key for signing; see the
    /// `oci::sign` module header.)
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
}
