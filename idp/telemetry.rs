//! Logging through tracing: readable lines by default, JSON when `log.format = "json"`; and, when
//! `[telemetry] otlp_endpoint` is set, OpenTelemetry traces of each request, its flow and its
//! database calls, exported over OTLP/HTTP by a batch processor on a thread of its own.
//!
//! Logs go to standard error. No secret, password, token or query string is ever logged, nor put
//! in a span. `metrics.rs`: the Prometheus metrics.

pub mod metrics;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, LogSettings, TelemetrySettings};

/// What [`init`] started: the trace exporter, if any, to be flushed at the end.
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still buffered and stops the exporter (call it after the server stopped,
    /// outside the async runtime).
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(%error, "the last traces could not be sent");
        }
    }
}

/// The ids of the request a task answers (`http::trace`): the request's own, and its trace's
/// when telemetry is on.
#[derive(Debug, Clone)]
pub struct RequestIds {
    /// Random, made for the request.
    pub request: String,
    /// The trace's (hex), with `[telemetry]`.
    pub trace: Option<String>,
}

tokio::task_local! {
    /// The ids of the request the task answers: the spans made under it carry them too, as JSON
    /// logs print the innermost span's fields only.
    static REQUEST: RequestIds;
}

/// Runs `answer` as the answer to the request of `ids`.
pub async fn answering<F: std::future::Future>(ids: RequestIds, answer: F) -> F::Output {
    REQUEST.scope(ids, answer).await
}

/// Whether the logs are JSON lines ([`init`]).
static JSON_LINES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The ids for a span made under a request's (a flow's, a database call's): those of the request
/// this task answers, for JSON lines, which print the innermost span's fields only. `None`
/// outside a request (a background worker), and for text lines, which print the whole chain of
/// spans, the request's with its ids first.
pub fn request_ids() -> Option<RequestIds> {
    if !JSON_LINES.load(std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    REQUEST.try_with(Clone::clone).ok()
}

/// The filter of `log.level`: webauthn-rs-core's own lines off unless named there. It logs a
/// passkey answer it cannot parse at `error`, with the posted bytes (up to the 64 KiB of a
/// request body, as a list of numbers): anyone can post one, and idp logs its own line of the
/// refusal at `info`.
fn level_filter(level: &str) -> String {
    if level.contains("webauthn") {
        level.to_string()
    } else {
        format!("{level},webauthn_rs_core=off")
    }
}

/// The log of a command other than `serve`: its warnings and errors on standard error, a plain
/// line each (`WARN message field=value`), so that the operator who runs it sees them: a
/// migration's row that support must settle (`idp migrate`), the development key in use. Its
/// output proper stays on standard output. A second call installs nothing.
pub fn init_command_line() {
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .with_target(false);
    let _ = tracing_subscriber::registry()
        .with(EnvFilter::new(level_filter("warn")))
        .with(layer)
        .try_init();
}

/// Installs the global subscriber; `RUST_LOG` overrides `log.level`. A second call installs
/// nothing. Call it outside an async runtime: the exporter's HTTP client is a blocking one.
pub fn init(log: &LogSettings, telemetry: &TelemetrySettings) -> Result<Telemetry, String> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level_filter(&log.level)))
        .unwrap_or_else(|_| EnvFilter::new(level_filter("info")));
    let provider = telemetry.otlp_endpoint.as_ref().map(|endpoint| {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(BlockingClient::new()?)
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(traces_url(endpoint))
            .with_timeout(std::time::Duration::from_secs(5))
            .build()
            .map_err(|e| format!("telemetry.otlp_endpoint: {e}"))?;
        let sampler =
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(telemetry.sample_ratio)));
        Ok::<_, String>(
            SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_sampler(sampler)
                .with_resource(
                    Resource::builder()
                        .with_service_name(telemetry.service_name.clone())
                        .build(),
                )
                .build(),
        )
    });
    let provider = provider.transpose()?;
    if provider.is_some() {
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
    }
    let otel = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("idp")));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // Set before any request: read, relaxed, by the spans made later.
    JSON_LINES.store(
        log.format == LogFormat::Json,
        std::sync::atomic::Ordering::Relaxed,
    );
    let (text, json) = match log.format {
        LogFormat::Text => (
            Some(
                tracing_subscriber::fmt::layer()
                    .with_ansi(ansi)
                    .with_writer(std::io::stderr),
            ),
            None,
        ),
        LogFormat::Json => (
            None,
            Some(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            ),
        ),
    };
    // try_init fails only when a subscriber is already installed, which is fine.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(text)
        .with(json)
        .with(otel)
        .try_init();
    Ok(Telemetry { provider })
}

/// The OTLP/HTTP traces URL under the collector's base URL.
fn traces_url(endpoint: &url::Url) -> String {
    format!("{}/v1/traces", endpoint.as_str().trim_end_matches('/'))
}

/// The exporter's HTTP client: reqwest's blocking one (the batch processor runs on a thread of its
/// own, outside the server's runtime), so that OTLP needs no second HTTP stack.
#[derive(Debug)]
struct BlockingClient(reqwest::blocking::Client);

impl BlockingClient {
    fn new() -> Result<BlockingClient, String> {
        reqwest::blocking::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()
            .map(BlockingClient)
            .map_err(|e| format!("cannot build the OTLP HTTP client: {e}"))
    }
}

#[async_trait::async_trait]
impl HttpClient for BlockingClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let mut sent = self
            .0
            .request(parts.method, parts.uri.to_string())
            .body(body.to_vec());
        for (name, value) in &parts.headers {
            sent = sent.header(name, value);
        }
        let answer = sent.send()?;
        let mut response = Response::builder().status(answer.status().as_u16());
        for (name, value) in answer.headers() {
            response = response.header(name.as_str(), value.as_bytes());
        }
        Ok(response.body(Bytes::from(answer.bytes()?.to_vec()))?)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::layer::SubscriberExt;

    use super::{level_filter, traces_url};

    /// The lines `level` lets through of an `error` of webauthn-rs-core and an `info` of idp.
    fn passed(level: &str) -> String {
        let written = Arc::new(Mutex::new(Vec::new()));
        let sink = written.clone();
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(move || Writer(sink.clone()));
        let filter = EnvFilter::try_new(level_filter(level)).unwrap();
        let subscriber = tracing_subscriber::registry().with(filter).with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(target: "webauthn_rs_core::internals", "[73, 74, 75]");
            tracing::info!(target: "idp::flows", "a passkey did not verify");
        });
        String::from_utf8(written.lock().unwrap().clone()).unwrap()
    }

    struct Writer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Writer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn webauthns_own_lines_are_off_unless_the_level_names_them() {
        let lines = passed("info");
        assert!(lines.contains("a passkey did not verify"), "{lines}");
        assert!(!lines.contains("[73, 74, 75]"), "{lines}");
        let lines = passed("info,webauthn_rs_core=error");
        assert!(lines.contains("[73, 74, 75]"), "{lines}");
    }

    #[test]
    fn the_traces_path_is_appended_to_the_collectors_url() {
        let url = |s: &str| url::Url::parse(s).unwrap();
        assert_eq!(
            traces_url(&url("http://collector:4318")),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            traces_url(&url("http://collector:4318/")),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            traces_url(&url("https://otel.example.fi/otlp")),
            "https://otel.example.fi/otlp/v1/traces"
        );
    }
}
