//! Middleware: request logging without secrets and the request metrics ([`log_request`]),
//! security headers on every response, and the
//! request's `User-Agent` kept for its task ([`user_agent`]; set with the client's address by
//! `client::remember_address`).

use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::web;

use crate::telemetry::metrics::{Metrics, RequestLabels, RouteLabels, method_label};

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

/// Logs method (a known one, or `other`: a method is a client's text of any length), path (cut,
/// and never the query string, which can carry codes and tokens), status and time,
/// and counts the request in the metrics by its route's template (`/{tenant}/token`; `unmatched`
/// when no route took it), never by its path.
pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let method = req.method().clone();
    let path = logged_path(req.path());
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let started = Instant::now();
    let response = next.call(req).await?;
    if let Some(metrics) = metrics {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_string());
        let seconds = started.elapsed().as_secs_f64();
        metrics
            .latency
            .get_or_create(&RouteLabels {
                route: route.clone(),
            })
            .observe(seconds);
        let labels = RequestLabels {
            route,
            method: method_label(method.as_str()),
            status: response.status().as_u16(),
        };
        metrics.requests.get_or_create(&labels).inc();
    }
    tracing::info!(
        method = method_label(method.as_str()),
        %path,
        status = response.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    Ok(response)
}

/// The most of a request's path a log line keeps, in characters: a route's path is far shorter;
/// anything longer is a client's text (up to the 128 KiB of a request head).
pub const LOGGED_PATH_CHARS: usize = 256;

/// The path as logged: cut to [`LOGGED_PATH_CHARS`], with `…` where it was cut.
fn logged_path(path: &str) -> String {
    match path.char_indices().nth(LOGGED_PATH_CHARS) {
        Some((end, _)) => format!("{}…", &path[..end]),
        None => path.to_string(),
    }
}

/// Headers every response carries: no MIME sniffing, no referrer, never framed, and a strict
/// default CSP (pages set their own, `pages::csp::page_csp`).
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

#[cfg(test)]
mod tests {
    use super::{LOGGED_PATH_CHARS, logged_path};

    #[test]
    fn a_long_path_is_logged_cut() {
        assert_eq!(logged_path("/seinajoki/token"), "/seinajoki/token");
        let long = format!("/{}", "ä".repeat(100_000));
        let logged = logged_path(&long);
        assert_eq!(logged.chars().count(), LOGGED_PATH_CHARS + 1);
        assert!(logged.ends_with("ää…"));
        let exact = "a".repeat(LOGGED_PATH_CHARS);
        assert_eq!(logged_path(&exact), exact);
    }
}
