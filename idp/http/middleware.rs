//! Middleware: request logging without secrets, security headers on every response, and the
//! request's `User-Agent` kept for its task ([`user_agent`]; set with the client's address by
//! `client::remember_address`).

use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{DefaultHeaders, Next};

tokio::task_local! {
    /// The `User-Agent` header of the request the task serves (set by `client::remember_address`).
    static USER_AGENT: Option<String>;
}

/// Runs `fut` (a request) with `agent` as its `User-Agent` header.
pub async fn with_user_agent<F: std::future::Future>(agent: Option<String>, fut: F) -> F::Output {
    USER_AGENT.scope(agent, fut).await
}

/// The `User-Agent` header of the request this task serves; `None` outside a request or without
/// the header.
pub fn user_agent() -> Option<String> {
    USER_AGENT.try_with(Clone::clone).ok().flatten()
}

/// Logs method, path (never the query string, which can carry codes and tokens), status and time.
pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let method = req.method().clone();
    let path = req.path().to_owned();
    let started = Instant::now();
    let response = next.call(req).await?;
    tracing::info!(
        %method,
        %path,
        status = response.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    Ok(response)
}

/// Headers every response carries: no MIME sniffing, no referrer, never framed, and a strict
/// default CSP (pages set their own, `pages::view::page_csp`).
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"))
        .add((
            "Content-Security-Policy",
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ))
        .add(("X-Frame-Options", "DENY"))
}
