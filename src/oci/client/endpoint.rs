//! Where the Identity API lives: the endpoint of a region (`identity.{region}.oci.{realm
//! domain}`, short codes such as `iad` included), the check of an explicit `--endpoint URL`
//! (https, or http for loopback hosts only), and the request URLs built on a base endpoint.
//!
//! Pure: strings in, [`Url`]s out. It must not resolve names, open sockets or read the
//! environment; the region table is small on purpose (the common commercial regions and the
//! government and sovereign realms), and any well-formed region name not in it is assumed to be
//! in the commercial realm.

use std::net::IpAddr;

use reqwest::Url;

/// The Identity API's version path, appended to every base endpoint.
pub const API_VERSION_PATH: &str = "/20160918";

/// Why a region or an endpoint URL is not usable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// The region is empty or holds characters no region name has.
    #[error("`{0}` is not a region name: expected e.g. `us-ashburn-1` or a short code like `iad`")]
    BadRegion(String),
    /// Neither a region nor an explicit endpoint was given.
    #[error(
        "no region: set `region` in the OCI config profile, or pass \
         --endpoint URL"
    )]
    NoRegion,
    /// The endpoint is not a valid absolute URL.
    #[error("`{0}` is not a valid endpoint URL (expected e.g. `https://identity.example.com`)")]
    BadUrl(String),
    /// A scheme other than http or https.
    #[error("endpoint `{0}`: the scheme must be https (or http for a loopback host)")]
    BadScheme(String),
    /// Plain http to a host that is not loopback.
    #[error(
        "endpoint `{0}`: plain http is only allowed for loopback hosts (127.0.0.1, ::1, \
         localhost); use https"
    )]
    InsecureHttp(String),
    /// A path (other than `/20160918`), query, fragment or credentials in the endpoint.
    #[error(
        "endpoint `{0}`: give only scheme, host and port (an optional trailing `/20160918` is \
         accepted); no other path, query, fragment or user name"
    )]
    Extraneous(String),
}

/// Region short codes (the airport-style keys) and the region names they stand for.
const SHORT_CODES: &[(&str, &str)] = &[
    ("iad", "us-ashburn-1"),
    ("phx", "us-phoenix-1"),
    ("sjc", "us-sanjose-1"),
    ("ord", "us-chicago-1"),
    ("yyz", "ca-toronto-1"),
    ("yul", "ca-montreal-1"),
    ("qro", "mx-queretaro-1"),
    ("mty", "mx-monterrey-1"),
    ("gru", "sa-saopaulo-1"),
    ("vcp", "sa-vinhedo-1"),
    ("scl", "sa-santiago-1"),
    ("lhr", "uk-london-1"),
    ("cwl", "uk-cardiff-1"),
    ("fra", "eu-frankfurt-1"),
    ("ams", "eu-amsterdam-1"),
    ("zrh", "eu-zurich-1"),
    ("cdg", "eu-paris-1"),
    ("mrs", "eu-marseille-1"),
    ("lin", "eu-milan-1"),
    ("arn", "eu-stockholm-1"),
    ("mad", "eu-madrid-1"),
    ("jnb", "af-johannesburg-1"),
    ("jed", "me-jeddah-1"),
    ("dxb", "me-dubai-1"),
    ("auh", "me-abudhabi-1"),
    ("mtz", "il-jerusalem-1"),
    ("bom", "ap-mumbai-1"),
    ("hyd", "ap-hyderabad-1"),
    ("sin", "ap-singapore-1"),
    ("nrt", "ap-tokyo-1"),
    ("kix", "ap-osaka-1"),
    ("icn", "ap-seoul-1"),
    ("yny", "ap-chuncheon-1"),
    ("syd", "ap-sydney-1"),
    ("mel", "ap-melbourne-1"),
    // US Government (oc2, oc3), UK Government (oc4), EU Sovereign (oc19).
    ("lfi", "us-langley-1"),
    ("luf", "us-luke-1"),
    ("ric", "us-gov-ashburn-1"),
    ("pia", "us-gov-chicago-1"),
    ("tus", "us-gov-phoenix-1"),
    ("ltn", "uk-gov-london-1"),
    ("brs", "uk-gov-cardiff-1"),
];

/// Regions outside the commercial realm (`oraclecloud.com`) and their second-level domains.
const REALM_DOMAINS: &[(&str, &str)] = &[
    ("us-langley-1", "oraclegovcloud.com"),
    ("us-luke-1", "oraclegovcloud.com"),
    ("us-gov-ashburn-1", "oraclegovcloud.com"),
    ("us-gov-chicago-1", "oraclegovcloud.com"),
    ("us-gov-phoenix-1", "oraclegovcloud.com"),
    ("uk-gov-london-1", "oraclegovcloud.uk"),
    ("uk-gov-cardiff-1", "oraclegovcloud.uk"),
    ("eu-frankfurt-2", "oraclecloud.eu"),
    ("eu-madrid-2", "oraclecloud.eu"),
];

/// The commercial realm's (`oc1`) second-level domain.
const COMMERCIAL_DOMAIN: &str = "oraclecloud.com";

/// The full region name for `region`: short codes (`iad`, any case) are expanded, names are
/// lowercased and checked to be `[a-z0-9-]`.
///
/// # Errors
/// [`EndpointError::BadRegion`] for an empty name or one with other characters.
pub fn region_name(region: &str) -> Result<String, EndpointError> {
    let lower = region.trim().to_ascii_lowercase();
    if let Some((_, name)) = SHORT_CODES.iter().find(|(code, _)| *code == lower) {
        return Ok((*name).to_owned());
    }
    let well_formed = !lower.is_empty()
        && lower.len() <= 64
        && lower
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !lower.starts_with('-')
        && !lower.ends_with('-');
    if well_formed {
        Ok(lower)
    } else {
        Err(EndpointError::BadRegion(printable(region)))
    }
}

/// The second-level domain of the realm `region` belongs to (`oraclecloud.com` for the
/// commercial realm and every region not in the table).
///
/// # Errors
/// [`EndpointError::BadRegion`] as [`region_name`].
pub fn realm_domain(region: &str) -> Result<&'static str, EndpointError> {
    let name = region_name(region)?;
    Ok(REALM_DOMAINS
        .iter()
        .find(|(r, _)| *r == name)
        .map_or(COMMERCIAL_DOMAIN, |(_, d)| d))
}

/// The Identity endpoint of a region, without the version path:
/// `endpoint_for_region("us-ashburn-1")` (or `"iad"`) is
/// `https://identity.us-ashburn-1.oci.oraclecloud.com`.
///
/// # Errors
/// [`EndpointError::BadRegion`] as [`region_name`].
pub fn endpoint_for_region(region: &str) -> Result<Url, EndpointError> {
    let name = region_name(region)?;
    let domain = realm_domain(&name)?;
    Url::parse(&format!("https://identity.{name}.oci.{domain}"))
        .map_err(|_| EndpointError::BadRegion(printable(region)))
}

/// The endpoint of `home_region` in the same realm as `current` when `current` has the
/// `identity.{region}.oci.{domain}` shape (so an unknown region of a sovereign realm stays in
/// it); otherwise [`endpoint_for_region`].
///
/// # Errors
/// [`EndpointError::BadRegion`] as [`region_name`].
pub fn sibling_region_endpoint(current: &Url, home_region: &str) -> Result<Url, EndpointError> {
    let name = region_name(home_region)?;
    let known = REALM_DOMAINS.iter().any(|(r, _)| *r == name);
    if !known
        && current.scheme() == "https"
        && current.port().is_none()
        && let Some(host) = current.host_str()
        && let Some(rest) = host.strip_prefix("identity.")
        && let Some((_, domain)) = rest.split_once(".oci.")
        && !domain.is_empty()
    {
        return Url::parse(&format!("https://identity.{name}.oci.{domain}"))
            .map_err(|_| EndpointError::BadRegion(printable(home_region)));
    }
    endpoint_for_region(&name)
}

/// Checks an explicit `--endpoint URL` the way the OCI SDKs take one: no scheme means https;
/// a trailing `/20160918` (and `/`) is dropped; http is allowed only for loopback hosts.
///
/// # Errors
/// [`EndpointError`] saying what is wrong.
pub fn explicit_endpoint(text: &str) -> Result<Url, EndpointError> {
    let trimmed = text.trim();
    let shown = printable(trimmed);
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_owned()
    } else {
        format!("https://{trimmed}")
    };
    let url = Url::parse(&with_scheme).map_err(|_| EndpointError::BadUrl(shown.clone()))?;
    check_base(&url, &shown)?;
    let path = url.path().trim_end_matches('/');
    let path = path.strip_suffix(API_VERSION_PATH).unwrap_or(path);
    if !path.is_empty()
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(EndpointError::Extraneous(shown));
    }
    let mut base = url;
    base.set_path("");
    Ok(base)
}

/// Checks that a base endpoint is https, or http to a loopback host.
pub(crate) fn check_base(url: &Url, shown: &str) -> Result<(), EndpointError> {
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(url) => {}
        "http" => return Err(EndpointError::InsecureHttp(shown.to_owned())),
        _ => return Err(EndpointError::BadScheme(shown.to_owned())),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(EndpointError::BadUrl(shown.to_owned()));
    }
    Ok(())
}

/// Whether the URL's host is a loopback address or `localhost`.
#[must_use]
pub fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return ip.is_loopback();
    }
    let d = host.trim_end_matches('.').to_ascii_lowercase();
    d == "localhost" || d.ends_with(".localhost")
}

/// The value for the `host` header (and the signature): host, plus `:port` when the port is
/// not the scheme's default.
#[must_use]
pub fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// Percent-encodes one path segment: everything but RFC 3986 unreserved characters, so a
/// fingerprint's `:` goes out as `%3A` (as the Python SDK sends it).
#[must_use]
pub fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push_str(&crate::hex::upper(&[b]));
        }
    }
    out
}

/// Shows user input in an error without control characters, at most 200 characters.
fn printable(text: &str) -> String {
    text.chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_endpoints_cover_short_codes_and_realms() {
        let cases = [
            (
                "us-ashburn-1",
                "https://identity.us-ashburn-1.oci.oraclecloud.com/",
            ),
            ("iad", "https://identity.us-ashburn-1.oci.oraclecloud.com/"),
            ("IAD", "https://identity.us-ashburn-1.oci.oraclecloud.com/"),
            (
                "fra",
                "https://identity.eu-frankfurt-1.oci.oraclecloud.com/",
            ),
            (
                "us-langley-1",
                "https://identity.us-langley-1.oci.oraclegovcloud.com/",
            ),
            (
                "uk-gov-london-1",
                "https://identity.uk-gov-london-1.oci.oraclegovcloud.uk/",
            ),
            (
                "ltn",
                "https://identity.uk-gov-london-1.oci.oraclegovcloud.uk/",
            ),
            (
                "eu-frankfurt-2",
                "https://identity.eu-frankfurt-2.oci.oraclecloud.eu/",
            ),
            (
                "xx-newregion-9",
                "https://identity.xx-newregion-9.oci.oraclecloud.com/",
            ),
        ];
        for (region, want) in cases {
            assert_eq!(
                endpoint_for_region(region).unwrap().as_str(),
                want,
                "{region}"
            );
        }
        for bad in [
            "",
            "us ashburn",
            "evil.com/x",
            "-a",
            "a\u{0}b",
            "us-ashburn-1:443",
        ] {
            assert!(
                matches!(endpoint_for_region(bad), Err(EndpointError::BadRegion(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn home_region_stays_in_the_current_realm() {
        let current = endpoint_for_region("uk-gov-london-1").unwrap();
        assert_eq!(
            sibling_region_endpoint(&current, "uk-gov-cardiff-1")
                .unwrap()
                .as_str(),
            "https://identity.uk-gov-cardiff-1.oci.oraclegovcloud.uk/"
        );
        let odd = Url::parse("https://identity.xx-one-1.oci.example.test").unwrap();
        assert_eq!(
            sibling_region_endpoint(&odd, "xx-two-1").unwrap().as_str(),
            "https://identity.xx-two-1.oci.example.test/"
        );
        let loopback = Url::parse("http://127.0.0.1:9000").unwrap();
        assert_eq!(
            sibling_region_endpoint(&loopback, "PHX").unwrap().as_str(),
            "https://identity.us-phoenix-1.oci.oraclecloud.com/"
        );
    }

    #[test]
    fn explicit_endpoints_are_checked() {
        let ok = [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/"),
            ("http://127.0.0.1:8080/20160918", "http://127.0.0.1:8080/"),
            ("http://127.0.0.1:8080/20160918/", "http://127.0.0.1:8080/"),
            ("http://localhost:7000/", "http://localhost:7000/"),
            ("http://[::1]:7000", "http://[::1]:7000/"),
            ("identity.example.com", "https://identity.example.com/"),
            (
                "https://identity.example.com:8443",
                "https://identity.example.com:8443/",
            ),
        ];
        for (text, want) in ok {
            assert_eq!(explicit_endpoint(text).unwrap().as_str(), want, "{text}");
        }
        assert!(matches!(
            explicit_endpoint("http://10.0.0.1:8080"),
            Err(EndpointError::InsecureHttp(_))
        ));
        assert!(matches!(
            explicit_endpoint("http://localhost.evil.com"),
            Err(EndpointError::InsecureHttp(_))
        ));
        assert!(matches!(
            explicit_endpoint("ftp://127.0.0.1"),
            Err(EndpointError::BadScheme(_))
        ));
        for bad in [
            "https://h/other",
            "https://h/?x=1",
            "https://h/#f",
            "https://u:p@h/",
        ] {
            assert!(
                matches!(explicit_endpoint(bad), Err(EndpointError::Extraneous(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            explicit_endpoint("https://"),
            Err(EndpointError::BadUrl(_))
        ));
    }

    #[test]
    fn host_header_and_segments() {
        let u = Url::parse("http://127.0.0.1:8080/x").unwrap();
        assert_eq!(host_header(&u), "127.0.0.1:8080");
        let u = Url::parse("https://identity.example.com:443/x").unwrap();
        assert_eq!(host_header(&u), "identity.example.com");
        assert_eq!(
            encode_segment("9c:4c:e2"),
            "9c%3A4c%3Ae2".to_owned(),
            "the Python SDK's quote(safe='')"
        );
        assert_eq!(
            encode_segment("ocid1.user.oc1..aaaa"),
            "ocid1.user.oc1..aaaa"
        );
        assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
    }
}
