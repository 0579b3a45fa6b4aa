//! `POST /{tenant}/csp-report`: the reports browsers send when a page's Content-Security-Policy
//! blocks something (the pages' `report-uri`, `pages::csp`).
//!
//! What an idp page can be blocked in is the redirect after one of its forms to an origin its
//! `form-action` does not list: an e-service's callback sending the resident on to an origin its
//! client does not list in `onward_origins`. The login then stops at its last step without a word
//! to the resident (but for `forms.js`'s note). Browsers report such a block by the address the
//! blocked request began at, not the redirect's (which could tell one origin where another sends
//! its visitors): the report says that it happened, on which page and tenant, not which origin to
//! add. Begun at a client's redirect URI (the form_post page's post), it names the client; begun at
//! idp's own form (the password page's), the request log's lines of the same client address at
//! that moment show the e-service. Such a report is logged at `warn` with the tenant, the page's
//! path (never its query), the blocked origin (never its path or query, where tokens may be) and
//! the clients whose redirect URIs are at the blocked origin; a form of a page posting to another
//! origin (what an injected form would do) is logged so too, with that origin. Anyone can post a
//! report: a node logs one line per tenant and origin in `quiet::QUIET_MINUTES`, and keeps at
//! most `quiet::REMEMBERED` origins of a tenant, so that a stream of forged reports costs a line
//! per origin, not per report. Reports of other directives are only counted, as every request is
//! (`idp_http_requests_total{route="/{tenant}/csp-report"}`). Answered 204; a body that is not a
//! report, 400.

use actix_web::HttpResponse;
use serde::Deserialize;

use super::extract::TenantRequest;
use crate::flows::oidc::request::takes_any_port;

/// A report as `report-uri` sends it (`application/csp-report`, CSP Level 2 §7.2).
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "csp-report")]
    report: Report,
}

/// The fields of a report that are read.
#[derive(Deserialize)]
struct Report {
    /// The directive that blocked (`form-action`).
    #[serde(rename = "effective-directive")]
    effective: Option<String>,
    /// The same in CSP Level 2 browsers, with its sources.
    #[serde(rename = "violated-directive")]
    violated: Option<String>,
    /// What was blocked: the form's action (a redirect after it is reported as the form's own
    /// address).
    #[serde(rename = "blocked-uri")]
    blocked: Option<String>,
    /// The page.
    #[serde(rename = "document-uri")]
    page: Option<String>,
}

/// `text` as a URL whose host a DNS name can be (the URL parser takes one of any length: a
/// forged report's line would carry it whole).
fn url_of(text: Option<String>) -> Option<url::Url> {
    url::Url::parse(&text?)
        .ok()
        .filter(|url| url.host_str().is_some_and(|host| host.len() <= 253))
}

/// `POST /{tenant}/csp-report`
pub async fn receive(request: TenantRequest) -> HttpResponse {
    let Ok(Envelope { report }) = serde_json::from_slice::<Envelope>(&request.body) else {
        return HttpResponse::BadRequest().finish();
    };
    let directive = report.effective.or(report.violated).unwrap_or_default();
    let Some(blocked) = url_of(report.blocked) else {
        return HttpResponse::NoContent().finish();
    };
    let origin = blocked.origin().ascii_serialization();
    if origin == "null" {
        return HttpResponse::NoContent().finish();
    }
    if directive.split_whitespace().next() != Some("form-action") {
        return HttpResponse::NoContent().finish();
    }
    let page: String = url_of(report.page)
        .map(|url| url.path().chars().take(200).collect())
        .unwrap_or_default();
    let tenant = &request.tenant.id;
    let ours = url::Url::parse(request.state.config.settings.server.public_base())
        .is_ok_and(|base| base.origin().ascii_serialization() == origin);
    // The form_post page's post begins at its client's redirect URI (reported whole, or by its
    // origin only: a browser strips a cross-origin address); a native app's at any port.
    let clients: Vec<&str> = request
        .tenant
        .clients
        .iter()
        .filter(|c| {
            c.redirect_uris.iter().any(|uri| {
                url::Url::parse(uri).is_ok_and(|uri| {
                    uri.origin().ascii_serialization() == origin
                        || (takes_any_port(c, &uri) && takes_any_port(c, &blocked))
                })
            })
        })
        .map(|c| c.client_id.as_str())
        .collect();
    // Such an origin is one of few the configuration names: never muted by a flood of forged
    // reports of others.
    let known = ours || !clients.is_empty();
    let now = request.state.services.clock.now();
    if !request.state.csp_reports.first(tenant, &origin, now, known) {
        return HttpResponse::NoContent().finish();
    }
    if known {
        tracing::warn!(
            tenant = %tenant,
            page = %page,
            blocked = %origin,
            clients = %clients.join(" "),
            "a browser blocked the redirect after a page's form (form-action): an e-service's callback sent the resident on to an origin its client does not list in onward_origins (browsers do not say which: its own console does, and the request log of the same client address shows the e-service)"
        );
    } else {
        tracing::warn!(
            tenant = %tenant,
            page = %page,
            blocked = %origin,
            "a browser blocked a page's form posting to another origin (form-action)"
        );
    }
    HttpResponse::NoContent().finish()
}
