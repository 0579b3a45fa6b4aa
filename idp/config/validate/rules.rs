//! The rules several checks share: which URIs are allowed, and numbers that must lie in a range.

use std::ops::RangeInclusive;

use url::Url;

/// A range a number must lie in, and what the problem says when it does not.
pub(super) struct Bound {
    range: RangeInclusive<u64>,
    message: &'static str,
}

/// A lifetime in seconds: tokens, sessions, links.
pub(super) const LIFETIME: Bound = Bound {
    range: 1..=400 * 24 * 3600,
    message: "must be between 1 second and 400 days",
};

/// How long a node holds what it claimed from a queue, seconds.
pub(super) const LEASE: Bound = Bound {
    range: 1..=86_400,
    message: "must be between 1 second and a day",
};

/// How long one attempt to hand a mail to the SMTP relay may take, seconds: at most a minute, so
/// that the default queue lease (300 s) outlasts a batch of 4 attempts.
pub(super) const SMTP_ATTEMPT: Bound = Bound {
    range: 1..=60,
    message: "must be between 1 and 60 seconds",
};

/// How many mails a limit lets through in its window.
pub(super) const MAILS: Bound = Bound {
    range: 1..=10_000,
    message: "must be between 1 and 10000",
};

/// The window of a mail limit, minutes.
pub(super) const MINUTES: Bound = Bound {
    range: 1..=1440,
    message: "must be between 1 and 1440 minutes (a day)",
};

/// How many authorization requests one client address (or pushed ones one e-service) may have
/// waiting: at most 10,000 of up to 21 KB each, 210 MB (pushed, 37 KB: 370 MB).
pub(super) const WAITING: Bound = Bound {
    range: 1..=10_000,
    message: "must be between 1 and 10000",
};

/// How many changes a resident may make on the account page in an hour.
pub(super) const CHANGES: Bound = Bound {
    range: 1..=1_000,
    message: "must be between 1 and 1000",
};

/// How long a key added by `idp keys rotate` is published before it signs, seconds: at least the
/// 60 s a node takes to reload keys plus the 300 s clients cache the JWKS, and a minute for the
/// reload itself and the nodes' clocks (the activation time is the rotating machine's clock,
/// compared with each node's); at most 30 days (a rotation's times must stay within what a date
/// can hold).
pub(super) const ACTIVATION_DELAY: Bound = Bound {
    range: 420..=30 * 24 * 3600,
    message: "must be between 420 seconds and 30 days (2592000): nodes reload keys every 60 s, clients cache the JWKS for 300 s, and a minute is left for the reload and the nodes' clocks",
};

/// How many days before something is asked again.
pub(super) const DAYS: Bound = Bound {
    range: 1..=365,
    message: "must be between 1 and 365 days",
};

impl Bound {
    /// Each key whose value is set and outside this bound, with the bound's message, in order.
    /// A value is a number or, for a key that may be left out, an `Option` of one.
    pub(super) fn outside<'a, V: Into<Option<u64>>>(
        &self,
        values: impl IntoIterator<Item = (&'a str, V)>,
    ) -> impl Iterator<Item = (&'a str, &'static str)> {
        let (range, message) = (self.range.clone(), self.message);
        values.into_iter().filter_map(move |(key, value)| {
            value
                .into()
                .is_some_and(|v| !range.contains(&v))
                .then_some((key, message))
        })
    }
}

/// A redirect URI: absolute, no fragment, https (http only to loopback) or a private-use scheme.
pub(super) fn check_redirect_uri(uri: &str) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|e| format!("\"{uri}\" is not an absolute URI: {e}"))?;
    if url.fragment().is_some() {
        return Err(format!("\"{uri}\" must not have a fragment"));
    }
    // The pages' Content-Security-Policy names where a form's answer may redirect (form-action),
    // and a CSP source has no IPv6 literal: browsers would drop it and block the redirect.
    if matches!(url.host(), Some(url::Host::Ipv6(_))) {
        return Err(format!(
            "\"{uri}\" names an IPv6 address, which a Content-Security-Policy cannot name (browsers would block the redirect): use a host name, or http://127.0.0.1 for a native app"
        ));
    }
    // A private-use scheme's source is the scheme alone (`csp::source_of`).
    if matches!(url.scheme(), "http" | "https") {
        csp_host(uri, &url)?;
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err(format!(
            "\"{uri}\" must be https:// (http:// only for localhost)"
        )),
        // Native apps (RFC 8252 §7.1) use a private-use scheme with a dot in it.
        scheme if scheme.contains('.') => Ok(()),
        scheme => Err(format!("\"{uri}\": scheme {scheme} is not allowed")),
    }
}

/// A web origin of a client's pages, as a browser sends it in `Origin`: `https://host[:port]`
/// (http only to loopback), written exactly so (no path, no default port, the host in lower case
/// and its ASCII form), since the header is compared with it as text.
pub(super) fn check_web_origin(origin: &str) -> Result<(), String> {
    let url = Url::parse(origin)
        .map_err(|e| format!("\"{origin}\" is not an origin (https://host[:port]): {e}"))?;
    let serialised = url.origin().ascii_serialization();
    if !matches!(url.scheme(), "https" | "http") || serialised == "null" {
        return Err(format!(
            "\"{origin}\" is not an origin: https://host[:port] (http:// only for localhost)"
        ));
    }
    if url.scheme() == "http" && !is_loopback(&url) {
        return Err(format!(
            "\"{origin}\" must be https:// (http:// only for localhost)"
        ));
    }
    if serialised != origin {
        return Err(format!(
            "\"{origin}\" is not written as a browser sends it: give \"{serialised}\" (no path, no default port, the host in lower case)"
        ));
    }
    Ok(())
}

/// An origin a client's callback sends the browser on to: as [`check_web_origin`], and no IPv6
/// literal (a CSP source cannot name one, as for a redirect URI).
pub(super) fn check_onward_origin(origin: &str) -> Result<(), String> {
    check_web_origin(origin)?;
    if origin.contains('[') {
        return Err(format!(
            "\"{origin}\" names an IPv6 address, which a Content-Security-Policy cannot name (browsers would block the redirect): use a host name"
        ));
    }
    csp_host(origin, &Url::parse(origin).map_err(|e| e.to_string())?)
}

/// The host of `url` (written `text`) as a CSP source can name it: letters a–z, digits, `-` and
/// `.` (CSP3 §2.3.1's host-char). A URL's host may hold more (`*`, `;`, `,`, `_`…), which in the
/// pages' `form-action` would be a wildcard, end the directive or the policy, or be dropped by
/// the browser with the redirect it allows.
fn csp_host(text: &str, url: &Url) -> Result<(), String> {
    let host = url.host_str().unwrap_or_default();
    if host
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        return Ok(());
    }
    Err(format!(
        "\"{text}\" has a host a Content-Security-Policy cannot name (only letters a–z, digits, '-' and '.'): browsers would block the redirect, or read the rest as another rule"
    ))
}

/// A URI the provider itself calls: http(s) and absolute.
pub(super) fn check_web_uri(uri: &str) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|e| format!("\"{uri}\" is not an absolute URI: {e}"))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        _ => Err(format!(
            "\"{uri}\" must be https:// (http:// only for localhost)"
        )),
    }
}

/// Whether the URL names this machine: `localhost` or a loopback address.
pub(super) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Whether a host name, as `mail.host` gives it, names this machine: `localhost` (in any case) or
/// a loopback address.
pub(super) fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
