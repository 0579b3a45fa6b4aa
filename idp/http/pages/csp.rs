//! The Content-Security-Policy of the resident's pages: our own resources only, no inline code,
//! never framed, and the forms' targets (the tenant's clients, where a form's answer redirects).

use crate::config::TenantConfig;
use crate::flows::oidc::request::{loopback_on_any_port, takes_any_port};

/// The CSP of a tenant's pages: our own resources only, no inline code, never framed; forms post
/// to us, and the redirects after them may go to the tenant's clients. What it blocks the browser
/// reports to `report` (`http::csp_report`).
pub fn page_csp(tenant: &TenantConfig, report: &str) -> String {
    let targets = form_targets(tenant);
    let targets = targets.iter().map(|t| format!(" {t}")).collect::<String>();
    format!(
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'{targets}; report-uri {report}"
    )
}

/// Where the browser reports what the CSP of `tenant`'s pages blocks (`http::csp_report`).
pub fn report_uri(public_base: &str, tenant: &TenantConfig) -> String {
    format!("{public_base}/{}/csp-report", tenant.id)
}

/// The origin of `url` as a CSP source: a native app's private-use scheme has none, its scheme.
pub fn source_of(url: &url::Url) -> String {
    match url.origin() {
        origin @ url::Origin::Tuple(..) => origin.ascii_serialization(),
        url::Origin::Opaque(_) => format!("{}:", url.scheme()),
    }
}

/// Where the answer to a form of ours may redirect besides us (browsers apply `form-action` to
/// every redirect after a form, too): the origins of the tenant's clients' redirect and
/// post-logout URIs, and those their callbacks send the browser on to (`onward_origins`).
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
        .chain(
            tenant
                .clients
                .iter()
                .flat_map(|c| c.onward_origins.iter().cloned()),
        )
        .collect();
    targets.sort();
    targets.dedup();
    targets
}

/// Where the form of the `form_post` page posting to the redirect URI `redirect` (`url`, parsed)
/// may lead: its origin, and the origins the callback of the client registered at it sends the
/// browser on to.
pub fn post_targets(tenant: &TenantConfig, redirect: &str, url: &url::Url) -> Vec<String> {
    let origin = source_of(url);
    // A native app's loopback redirect takes any port: its registered URI names another.
    let onward = tenant.clients.iter().filter(|c| {
        c.redirect_uris.iter().any(|registered| {
            registered == redirect || loopback_on_any_port(c, registered, redirect)
        })
    });
    let mut targets = vec![origin];
    targets.extend(onward.flat_map(|c| c.onward_origins.iter().cloned()));
    targets.sort();
    targets.dedup();
    targets
}
