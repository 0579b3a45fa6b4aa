//! Cross-origin requests (CORS, the Fetch standard) for a single-page application of an e-service:
//! [`ANY_PAGE`] for what any page may read (discovery and the JWKS), [`for_clients`] and
//! [`for_bearers`] for the endpoints a public client calls from its page (token, revocation and
//! PAR; userinfo). Nothing else answers a cross-origin request: the resident's pages, the
//! authorization and logout endpoints are visited, not fetched, and introspection is for
//! confidential clients' servers.
//!
//! No answer allows credentials: these endpoints take no cookie, so a listed origin reads only
//! what its own request earned (the code and verifier, the token it sends).

use std::sync::Arc;

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{RequestHead, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpRequest};

use crate::config::{AuthMethod, Config, TenantConfig};

/// How long a browser may keep a preflight's answer, in seconds (Chromium keeps at most 7200). A
/// removed origin is refused by every answer at once, whatever a preflight said.
const PREFLIGHT_SECONDS: usize = 600;

/// The header discovery and the JWKS carry on every answer, whether or not the request said its
/// origin: public documents any page reads (with a plain `GET`, which needs no preflight), and an
/// answer a cache keeps (they are `public`) is then readable by the next page too, without a
/// `Vary`.
pub const ANY_PAGE: (&str, &str) = ("Access-Control-Allow-Origin", "*");

/// The token, revocation and PAR endpoints: answered to an origin that one of the tenant's
/// clients lists in `web_origins` (the tenant is the path's first segment, as the routes read
/// it), `POST` with no request header but `Content-Type`: a public client sends no
/// `Authorization`. Which client the request names decides in the end ([`page_may_read`],
/// [`withhold`]).
pub fn for_clients(config: Arc<Config>) -> Cors {
    listed_origins(config)
        .allowed_methods(["POST"])
        .allowed_header(header::CONTENT_TYPE)
        .expose_headers([header::RETRY_AFTER])
}

/// Userinfo: as [`for_clients`], `GET` and `POST` with the access token in `Authorization`, and
/// `WWW-Authenticate` (why a token was refused) readable.
pub fn for_bearers(config: Arc<Config>) -> Cors {
    listed_origins(config)
        .allowed_methods(["GET", "POST"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([header::WWW_AUTHENTICATE, header::RETRY_AFTER])
}

/// A request from any other origin than a listed one is served as before, without
/// `Access-Control-Allow-Origin` (so its page reads nothing); its preflight is refused.
fn listed_origins(config: Arc<Config>) -> Cors {
    Cors::default()
        .allowed_origin_fn(move |origin, head| listed(&config, origin, head))
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

/// Marks an answer of a client endpoint that its page may not read ([`withhold`]).
#[derive(Debug, Clone, Copy)]
pub struct Withheld;

/// Whether the page that sent `req` (its `Origin`) may read the answer of a client endpoint: only
/// when it names, without any secret, key or `Authorization`, a public client of `tenant` that
/// lists that origin. A confidential client's secret or assertion sent from a page (of an origin
/// another client lists) gets an answer its page cannot read. A request without `Origin` (an
/// e-service's server) is not a page's: true.
pub fn page_may_read(
    tenant: &TenantConfig,
    req: &HttpRequest,
    client_id: Option<&str>,
    sends_a_secret: bool,
) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return true;
    };
    let origin = origin.to_str().unwrap_or_default();
    !sends_a_secret
        && !req.headers().contains_key(header::AUTHORIZATION)
        && client_id
            .and_then(|id| tenant.client(id))
            .is_some_and(|client| {
                client.token_endpoint_auth_method == AuthMethod::None
                    && client.web_origins.iter().any(|o| o == origin)
            })
}

/// Takes `Access-Control-Allow-Origin` off an answer marked [`Withheld`]: wrapped around
/// [`for_clients`], which adds it from the origin alone.
pub async fn withhold(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let mut response = next.call(req).await?;
    if response.response().extensions().get::<Withheld>().is_some() {
        let headers = response.headers_mut();
        headers.remove(header::ACCESS_CONTROL_ALLOW_ORIGIN);
        headers.remove(header::ACCESS_CONTROL_EXPOSE_HEADERS);
    }
    Ok(response)
}
