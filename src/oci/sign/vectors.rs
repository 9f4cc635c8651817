//! Test-only: the OCI signing known-answer vectors (`tests/fixtures/oci/signing-vectors/`)
//! loaded for the `key`, `request` and `verify` tests, and a freshly generated signing key.
//! The vectors are the oracle: the signing string, signature and headers must match them
//! byte for byte.

use std::collections::BTreeMap;

use super::{RequestToSign, SigningKey, VerifyRequest};
use crate::keygen;

pub(super) const DOC_PUB: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/oci/signing-vectors/oci-doc-test-key.pub.pem"
));
pub(super) const VECTORS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/oci/signing-vectors/vectors.json"
));
/// 2014-01-05 21:31:40 UTC, the date every vector signs.
pub(super) const VECTOR_TIME: i64 = 1_388_957_500;

/// One known-answer vector, with the fields the tests use.
pub(super) struct Vector {
    pub(super) name: String,
    pub(super) method: String,
    pub(super) path_and_query: String,
    pub(super) headers: BTreeMap<String, String>,
    pub(super) body: Option<Vec<u8>>,
    pub(super) signed_headers: Vec<String>,
    pub(super) signing_string: String,
    pub(super) signature: String,
    pub(super) go_header: Option<String>,
    pub(super) python_header: String,
    pub(super) key_id: String,
}

impl Vector {
    pub(super) fn request(&self) -> RequestToSign<'_> {
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

    pub(super) fn received<'a>(
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

pub(super) fn vectors() -> Vec<Vector> {
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

pub(super) fn doc_spki() -> Vec<u8> {
    crate::keys::PublicKey::from_pem(DOC_PUB)
        .unwrap()
        .spki_der()
        .to_vec()
}

pub(super) fn generated() -> (keygen::GeneratedKey, SigningKey) {
    let key = keygen::generate_rsa_2048().unwrap();
    let signer = SigningKey::from_pem(&key.private_pkcs8_pem, None).unwrap();
    (key, signer)
}
