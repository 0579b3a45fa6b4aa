//! The span of each request: its OpenTelemetry name is the method and the route template
//! (`POST /{tenant}/token`, never the path with its ids), it continues the trace of an incoming
//! W3C `traceparent` (unless `telemetry.follow_traceparent` is off), and its `trace_id` field
//! puts the trace id on every log line written inside it (JSON logs carry it under `span`). Its `request_id`, random and made here, is on every line
//! too, with or without `[telemetry]` (the trace id is the caller's to choose, and without
//! telemetry there is none), and on the flow's and database's spans under it
//! (`telemetry::request_id`): JSON logs print the innermost span's fields only. The flow and database calls of the request are its children
//! (`state.rs`, `store::Store::run`). Without `[telemetry]` the span is still made, for the logs,
//! but nothing is exported and it has no trace id.

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use opentelemetry::KeyValue;
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::TraceContextExt;
use tracing::Instrument;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::telemetry::metrics::method_label;

/// An incoming request's headers, as the propagator reads them.
struct Headers<'a>(&'a actix_web::http::header::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Runs the request inside its span.
pub async fn trace_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let method = req.method().as_str().to_owned();
    // Few fields, since text logs print them before every line of the request; the rest goes to
    // the OpenTelemetry span only.
    // An id to find a request's lines by, not a secret: 128 random bits, hex.
    let request_id = format!("{:032x}", rand::random::<u128>());
    // At the level `error`, so that a filter of `warn` (or `error`) keeps it, and the lines
    // written in it their request's id.
    let span = tracing::error_span!(
        "request",
        otel.kind = "server",
        request_id = request_id.as_str(),
        trace_id = Empty
    );
    let follow = req
        .app_data::<actix_web::web::Data<super::state::AppState>>()
        .is_none_or(|state| state.config.settings.telemetry.follow_traceparent);
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&Headers(req.headers()))
    });
    // Only a trace id that came with the request decides, where the operator lets it
    // (`telemetry.follow_traceparent`); an empty context starts a new trace.
    if follow && parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
    let trace_id = span.context().span().span_context().trace_id();
    let trace = (trace_id != opentelemetry::trace::TraceId::INVALID).then(|| trace_id.to_string());
    if let Some(trace) = &trace {
        span.record("trace_id", trace.as_str());
    }
    let ids = crate::telemetry::RequestIds {
        request: request_id,
        trace,
    };
    let response =
        crate::telemetry::answering(ids, next.call(req).instrument(span.clone())).await?;
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    // The span's OpenTelemetry context exists since its trace id was read: name it there.
    let otel = span.context();
    let otel = otel.span();
    // A known method, or `_OTHER` (and `HTTP` in the name), as OpenTelemetry's HTTP conventions
    // say: a method is a client's text, of any length up to a request head's 128 KiB.
    let (method, named) = match method_label(&method) {
        "other" => ("_OTHER", "HTTP"),
        known => (known, known),
    };
    otel.update_name(format!("{named} {route}"));
    otel.set_attribute(KeyValue::new("http.request.method", method));
    otel.set_attribute(KeyValue::new("http.route", route));
    otel.set_attribute(KeyValue::new(
        "http.response.status_code",
        i64::from(response.status().as_u16()),
    ));
    Ok(response)
}
