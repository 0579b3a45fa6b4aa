//! The Content-Security-Policy of the resident's pages: our own resources only, no inline code,
//! never framed, and the forms' targets (the tenant's clients, where a form's answer redirects).

use crate::config::TenantConfig;
use crate::flows::oidc::request::takes_any_port;

/// The CSP of a tenant's pages: our own resources only, no inline code, never framed; forms post
/// to us, and the redirects after them may go to the tenant's clients.
pub fn page_csp(tenant: &TenantConfig) -> String {
    format!(
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self' {}",
        form_targets(tenant).join(" ")
    )
    .trim_end()
    .to_string()
}

/// The origin of `url` as a CSP source: a native app's private-use scheme has none, its scheme.
pub fn source_of(url: &url::Url) -> String {
    match url.origin() {
        origin @ url::Origin::Tuple(..) => origin.ascii_serialization(),
        url::Origin::Opaque(_) => format!("{}:", url.scheme()),
    }
}

/// Where the answer to a form of ours may redirect besides us (browsers apply `form-action` to
/// the redirects after a form, too): the origins of the tenant's clients' redirect and
/// post-logout URIs.
pub fn form_targets(tenant: &TenantConfig) -> Vec<String> {
    let mut targets: Vec<String> = tenant
        .clients
        .iter()
        .flat_map(|c| {
            let redirects = c.redirect_uris.iter().map(move |uri| (c, uri, true));
            redirects.chain(
                c.post_logout_redirect_uris
                    .iter()
                    .map(move |uri| (c, uri, false)),
            )
        })
        .filter_map(|(client, uri, redirect)| {
            let url = url::Url::parse(uri).ok()?;
            // A native app's loopback redirect takes any port (RFC 8252 §7.3): so does the
            // source, `http://127.0.0.1:*`.
            Some(match url.host_str() {
                Some(host) if redirect && takes_any_port(client, &url) => {
                    format!("http://{host}:*")
                }
                _ => source_of(&url),
            })
        })
        .collect();
    targets.sort();
    targets.dedup();
    targets
}
