//! Cross-origin requests (CORS, the Fetch standard) for a single-page application of an e-service:
//! [`published`] for what any page may read (discovery and the JWKS), [`for_web_origins`] for the
//! endpoints a public client calls from its page (token, userinfo, revocation, PAR). Nothing else
//! answers a cross-origin request: the resident's pages, the authorization and logout endpoints
//! are visited, not fetched, and introspection is for confidential clients' servers.
//!
//! No answer allows credentials: these endpoints take no cookie, so a listed origin reads only
//! what its own request earned (the code and verifier, the token it sends).

use std::sync::Arc;

use actix_cors::Cors;
use actix_web::dev::RequestHead;
use actix_web::http::header::{self, HeaderValue};

use crate::config::Config;

/// How long a browser may keep a preflight's answer, in seconds (Chromium keeps at most 7200). A
/// removed origin is refused by every answer at once, whatever a preflight said.
const PREFLIGHT_SECONDS: usize = 600;

/// Discovery and the JWKS: public documents, readable by any page (`*`, no `Vary`).
pub fn published() -> Cors {
    Cors::default()
        .allow_any_origin()
        .send_wildcard()
        .allowed_methods(["GET", "HEAD"])
        .disable_vary_header()
        .max_age(PREFLIGHT_SECONDS)
}

/// The endpoints a public client calls from its page: answered to an origin that one of the
/// tenant's clients lists in `web_origins` (the tenant is the path's first segment, as the
/// routes read it). A request from any other origin is served as before, without the headers
/// that would let its page read the answer; its preflight is refused.
pub fn for_web_origins(config: Arc<Config>) -> Cors {
    Cors::default()
        .allowed_origin_fn(move |origin, head| listed(&config, origin, head))
        .allowed_methods(["GET", "POST"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([header::WWW_AUTHENTICATE, header::RETRY_AFTER])
        .max_age(PREFLIGHT_SECONDS)
}

/// Whether `origin` is a web origin of a client of the tenant `head`'s path names. Compared as
/// text: the configuration holds origins as browsers send them (`config::validate`).
fn listed(config: &Config, origin: &HeaderValue, head: &RequestHead) -> bool {
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let tenant = head.uri.path().trim_start_matches('/').split('/').next();
    tenant
        .and_then(|id| config.tenant(id))
        .is_some_and(|tenant| {
            tenant
                .clients
                .iter()
                .any(|client| client.web_origins.iter().any(|o| o == origin))
        })
}
