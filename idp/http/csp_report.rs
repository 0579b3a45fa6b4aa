//! `POST /{tenant}/csp-report`: the reports browsers send when a page's Content-Security-Policy
//! blocks something (the pages' `report-uri`, `pages::csp`).
//!
//! What an idp page can be blocked in is the redirect after one of its forms to an origin its
//! `form-action` does not list: an e-service's callback sending the resident on to an origin its
//! client does not list in `onward_origins`. The login then stops at its last step without a word
//! to the resident, and only the browser's console says why. Such a report is logged at `warn`
//! with the tenant and the blocked origin — never its path or query, where an e-service's tokens
//! may be —, so that the operator learns which origin to add. Anyone can post a report: a node
//! logs one line per tenant and origin in `quiet::QUIET_MINUTES`, and keeps at most
//! `quiet::REMEMBERED` of them, so that a stream of forged reports costs a line per origin, not
//! per report. Reports
//! of other directives are only counted, as every request is
//! (`idp_http_requests_total{route="/{tenant}/csp-report"}`). Answered 204; a body that is not a
//! report, 400.

use actix_web::HttpResponse;
use serde::Deserialize;

use super::extract::TenantRequest;

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
    /// What was blocked: the redirect's URL.
    #[serde(rename = "blocked-uri")]
    blocked: Option<String>,
}

/// `POST /{tenant}/csp-report`
pub async fn receive(request: TenantRequest) -> HttpResponse {
    let Ok(Envelope { report }) = serde_json::from_slice::<Envelope>(&request.body) else {
        return HttpResponse::BadRequest().finish();
    };
    let directive = report.effective.or(report.violated).unwrap_or_default();
    let origin = report
        .blocked
        .and_then(|blocked| url::Url::parse(&blocked).ok())
        .map(|url| url.origin().ascii_serialization())
        .filter(|origin| origin != "null");
    if directive.split_whitespace().next() == Some("form-action")
        && let Some(origin) = origin
    {
        let tenant = &request.tenant.id;
        let now = request.state.services.clock.now();
        if request.state.csp_reports.first(tenant, &origin, now) {
            tracing::warn!(
                tenant = %tenant,
                blocked = %origin,
                "a browser blocked the redirect after a page's form (form-action): if an e-service's callback sends residents on to this origin, list it in its client's onward_origins"
            );
        }
    }
    HttpResponse::NoContent().finish()
}
