//! The client's address: from the connection, or — with `server.trust_forwarded_for`, behind a
//! reverse proxy that overwrites the headers — from `Forwarded` / `X-Forwarded-For`.
//!
//! The middleware [`remember_address`] works it out once per request and keeps it for the request's
//! task ([`crate::app::client_address`]), so that [`AppState::oidc`] hands it
//! to every flow (the audit trail, the throttles, the mail limits) without each handler passing it
//! along. It keeps the request's `User-Agent` header the same way
//! ([`super::middleware::user_agent`]), for the session a login starts.

use actix_web::Error;
use actix_web::HttpRequest;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;

use super::state::AppState;

/// The client's address of `req`, as the settings say to take it. A forwarded value that is no
/// address (a proxy that appends to the client's own header passes what the client wrote) counts
/// as the connection's address: it never reaches the audit trail, the throttle keys or a CSV
/// export as written.
pub fn client_address(state: &AppState, req: &HttpRequest) -> Option<String> {
    let peer = || req.peer_addr().map(|a| a.ip().to_string());
    if !state.config.settings.server.trust_forwarded_for {
        return peer();
    }
    // "203.0.113.7", "203.0.113.7:4711", "[2001:db8::1]:4711" or "2001:db8::1".
    let forwarded = req.connection_info().realip_remote_addr().and_then(|a| {
        a.parse::<std::net::SocketAddr>()
            .map(|s| s.ip())
            .or_else(|_| a.trim_matches(['[', ']']).parse::<std::net::IpAddr>())
            .ok()
    });
    forwarded.map(|ip| ip.to_string()).or_else(peer)
}

/// Keeps the client's address and the `User-Agent` header for the rest of the request (see the
/// module's documentation).
pub async fn remember_address(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let address = req
        .app_data::<web::Data<AppState>>()
        .and_then(|state| client_address(state, req.request()));
    // Bounded by actix's header limit; the session cleans and caps what it keeps.
    let agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    let call = super::middleware::with_user_agent(agent, next.call(req));
    crate::app::with_client_address(address, call).await
}
