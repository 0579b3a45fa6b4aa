//! Traces: `idp serve` with `[telemetry] otlp_endpoint` sends the spans of a login and a code
//! exchange over OTLP/HTTP to a collector stand-in (a receiver in the test that decodes the
//! protobuf), continues the trace of an incoming `traceparent`, and writes its trace id on the
//! request's JSON log line.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::web;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use crate::both_stores;
use crate::helpers::journeys::{page, post_with_csrf};
use crate::helpers::{Backend, Relay, TestDb, append, assert_has, write_config};
use crate::node::{Served, Setup, serve, sigterm, wait_exit};
use crate::rp::{location, param, serve_on_loopback, submit_login};

/// A span as the collector received it.
#[derive(Debug, Clone)]
struct Span {
    name: String,
    trace_id: String,
    span_id: String,
    parent: String,
}

/// What the collector stand-in received: each POST's body.
type Received = Arc<Mutex<Vec<Vec<u8>>>>;

async fn collect(received: web::Data<Received>, body: web::Bytes) -> actix_web::HttpResponse {
    received.lock().unwrap().push(body.to_vec());
    actix_web::HttpResponse::Ok()
        .content_type("application/x-protobuf")
        .body(ExportTraceServiceRequest::default().encode_to_vec())
}

/// A collector stand-in on loopback: what it receives, its address, its handle.
fn collector() -> (Received, std::net::SocketAddr, actix_web::dev::ServerHandle) {
    let received: Received = Arc::default();
    let data = web::Data::new(received.clone());
    let (address, handle) = serve_on_loopback(move |routes| {
        routes
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
            .route("/v1/traces", web::post().to(collect));
    });
    (received, address, handle)
}

/// The spans of every export received.
fn spans(received: &Received) -> Vec<Span> {
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let mut spans = Vec::new();
    for body in received.lock().unwrap().iter() {
        let request = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
        for resource in request.resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| r.attributes.iter())
                .find(|a| a.key == "service.name")
                .and_then(|a| a.value.as_ref())
                .map(|v| format!("{:?}", v.value));
            assert!(
                service.as_deref().is_some_and(|s| s.contains("idp-test")),
                "{service:?}"
            );
            for scope in resource.scope_spans {
                for span in scope.spans {
                    spans.push(Span {
                        name: span.name,
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent: hex(&span.parent_span_id),
                    });
                }
            }
        }
    }
    spans
}

/// A configuration whose public URL is the address it listens on, with traces sent to
/// `collector` when there is one.
fn setup(backend: Backend, collector: Option<std::net::SocketAddr>) -> Setup {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(backend, dir.path());
    let config = write_config(dir.path(), &format!("http://127.0.0.1:{port}"), &db.url);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace(
            "bind = \"127.0.0.1:0\"",
            &format!("bind = \"127.0.0.1:{port}\""),
        ),
    )
    .unwrap();
    if let Some(collector) = collector {
        append(
            &config,
            &format!(
                "\n[telemetry]\notlp_endpoint = \"http://{collector}\"\nservice_name = \"idp-test\"\n"
            ),
        );
    }
    let setup = Setup { dir, db, config };
    let added = setup.run(
        &[
            "users",
            "add",
            "--tenant",
            "seinajoki",
            "--email",
            "erkki@testi.fi",
            "--name",
            "Erkki",
            "--password-stdin",
        ],
        "oikea hevonen patteri\n",
    );
    assert!(added.status.success(), "{added:?}");
    setup
}

/// The JSON log lines of `served` until it exits.
fn log_lines(served: &Served) -> Vec<serde_json::Value> {
    served
        .log
        .try_iter()
        .filter_map(|line| serde_json::from_str(&line).ok())
        .collect()
}

both_stores!(a_login_and_its_code_exchange_arrive_as_spans);
async fn a_login_and_its_code_exchange_arrive_as_spans(backend: Backend) {
    let (received, collector, handle) = collector();
    let setup = setup(backend, Some(collector));
    let served = serve(&mut setup.command(&[]));
    let base = format!("http://{}", served.address);

    // A login, as a browser makes it.
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let authorize = format!(
        "{base}/seinajoki/authorize?client_id=seinajoki-demo&redirect_uri=\
         http%3A%2F%2Flocalhost%3A8081%2Fcallback&response_type=code&scope=openid&state=x"
    );
    let login = location(&browser.get(&authorize).send().await.unwrap());
    let done = submit_login(
        &browser,
        &login,
        "erkki@testi.fi",
        "oikea hevonen patteri",
        false,
    )
    .await;
    let code = param(&location(&done), "code").expect("a code");

    // The e-service exchanges the code inside a trace of its own.
    let (trace, parent) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let token = reqwest::Client::new()
        .post(format!("{base}/seinajoki/token"))
        .basic_auth("seinajoki-demo", Some("demo-secret-seinajoki"))
        .header("traceparent", format!("00-{trace}-{parent}-01"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "http://localhost:8081/callback"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);

    // Stopping flushes the last spans.
    let served = stopped(served).await;
    handle.stop(true).await;

    let spans = spans(&received);
    let named = |name: &str| spans.iter().filter(|s| s.name == name).collect::<Vec<_>>();
    assert_eq!(named("GET /{tenant}/authorize").len(), 1, "{spans:#?}");
    assert_eq!(
        named("POST /{tenant}/login/password").len(),
        1,
        "{spans:#?}"
    );
    // The exchange continues the e-service's trace; its flow and database calls are its children.
    let exchange = named("POST /{tenant}/token");
    assert_eq!(exchange.len(), 1, "{spans:#?}");
    let exchange = exchange[0];
    assert_eq!(exchange.trace_id, trace);
    assert_eq!(exchange.parent, parent);
    let children: Vec<&Span> = spans
        .iter()
        .filter(|s| s.trace_id == trace && s.parent == exchange.span_id)
        .collect();
    assert!(
        children.iter().any(|s| s.name == "flow" || s.name == "db"),
        "{spans:#?}"
    );
    // No path with its ids, no query string, in any span name.
    assert!(
        spans
            .iter()
            .all(|s| !s.name.contains("seinajoki") && !s.name.contains('?')),
        "{spans:#?}"
    );

    // The request's log line carries the trace id.
    let lines = log_lines(&served);
    let logged = lines
        .iter()
        .find(|l| l["message"] == "request" && l["path"] == "/seinajoki/token")
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(logged["span"]["trace_id"], trace, "{logged}");
}

both_stores!(a_node_told_not_to_follow_traceparent_starts_its_own_traces);
/// Behind a proxy that passes `traceparent` on from the internet, `follow_traceparent = false`:
/// a client's header neither names the trace of its request nor decides its sampling.
async fn a_node_told_not_to_follow_traceparent_starts_its_own_traces(backend: Backend) {
    let (received, collector, handle) = collector();
    let setup = setup(backend, Some(collector));
    append(&setup.config, "follow_traceparent = false\n");
    let served = serve(&mut setup.command(&[]));
    let (trace, parent) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let discovery = format!(
        "http://{}/seinajoki/.well-known/openid-configuration",
        served.address
    );
    let answer = reqwest::Client::new()
        .get(discovery)
        .header("traceparent", format!("00-{trace}-{parent}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let served = stopped(served).await;
    handle.stop(true).await;
    let spans = spans(&received);
    let asked: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name == "GET /{tenant}/.well-known/openid-configuration")
        .collect();
    assert_eq!(asked.len(), 1, "{spans:#?}");
    assert_ne!(asked[0].trace_id, trace);
    assert_eq!(asked[0].parent, "", "{spans:#?}");
    let lines = log_lines(&served);
    let logged = lines
        .iter()
        .find(|l| l["message"] == "request")
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(logged["span"]["trace_id"], asked[0].trace_id.as_str());
}

both_stores!(a_method_of_any_length_is_logged_and_traced_as_other);
/// A method is a client's text of any length (up to the 128 KiB of a request head): a log line
/// and a span name carry a known method or `other` (`_OTHER` in the span, as OpenTelemetry's
/// conventions name it), never the client's text.
async fn a_method_of_any_length_is_logged_and_traced_as_other(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (received, collector, handle) = collector();
    let setup = setup(backend, Some(collector));
    let served = serve(&mut setup.command(&[]));
    let method = "X".repeat(20_000);
    let mut stream = tokio::net::TcpStream::connect(served.address)
        .await
        .unwrap();
    let head = format!("{method} /livez HTTP/1.1\r\nHost: idp\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 "), "{answer:?}");
    let served = stopped(served).await;
    handle.stop(true).await;
    let spans = spans(&received);
    let named: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert!(named.contains(&"HTTP /livez"), "{named:?}");
    assert!(named.iter().all(|n| n.len() < 300), "{named:?}");
    let lines = log_lines(&served);
    let logged = lines
        .iter()
        .find(|l| l["message"] == "request" && l["path"] == "/livez")
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(logged["method"], "other", "{logged}");
}

both_stores!(a_previous_secrets_use_is_logged_with_its_client_and_never_a_secret);
/// During a rotation each authentication by the previous secret is logged with the client's id
/// (the operator sees when the e-service has moved to the new one); one by the new secret is not,
/// and no line holds either secret.
async fn a_previous_secrets_use_is_logged_with_its_client_and_never_a_secret(backend: Backend) {
    use sha2::Digest;
    let hash = |secret: &str| hex::encode(sha2::Sha256::digest(secret));
    let (new, old) = ("uusi-salaisuus-lokiin", "vanha-salaisuus-lokiin");
    let setup = setup(backend, None);
    let now = idp::clock::Clock::now(&idp::clock::SystemClock);
    let expires = (now + chrono::Duration::days(1)).and_utc().to_rfc3339();
    append(
        &setup.dir.path().join("tenants/seinajoki.toml"),
        &format!(
            "\n[[clients]]\nclient_id = \"rotating\"\nclient_secret_sha256 = \"{}\"\n\
             previous_client_secret_sha256 = \"{}\"\nprevious_secret_expires = \"{expires}\"\n\
             grant_types = [\"client_credentials\"]\n",
            hash(new),
            hash(old)
        ),
    );
    let served = serve(&mut setup.command(&[]));
    for secret in [old, new] {
        let answer = reqwest::Client::new()
            .post(format!("http://{}/seinajoki/token", served.address))
            .basic_auth("rotating", Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{secret}");
    }
    let served = stopped(served).await;
    let lines = log_lines(&served);
    let used: Vec<_> = lines
        .iter()
        .filter(|l| l["message"] == "a client authenticated with its previous secret")
        .collect();
    assert_eq!(used.len(), 1, "{lines:#?}");
    assert_eq!(used[0]["client"], "rotating", "{}", used[0]);
    for line in &lines {
        let text = line.to_string();
        assert!(!text.contains(old) && !text.contains(new), "{text}");
    }
}

#[tokio::test]
/// A browser's report that a page's `form-action` blocked a form (`http::csp_report`) is logged
/// with the tenant, the page's path and the blocked origin, never a path or query (an e-service's
/// token, a pending request's id), and once a window however often it is posted (anyone can);
/// other directives' reports and other bodies are not logged, and what is not a report is a 400.
/// A redirect after a form is reported as chromium reports it (`browser::callbacks`): by the
/// address the request began at — idp's own form, or a form_post page's client's redirect URI,
/// whose clients the line names —, which the line says is an e-service's callback sending the
/// resident on.
async fn a_blocked_form_is_logged_once_by_its_origin_and_never_a_path() {
    let setup = setup(Backend::Sqlite, None);
    let served = serve(&mut setup.command(&[]));
    let ours = format!("http://{}", served.address);
    let url = format!("{ours}/seinajoki/csp-report");
    let report = |directive: &str, blocked: &str| {
        serde_json::json!({ "csp-report": {
            "document-uri": format!("{ours}/seinajoki/login/identifier?request=x"),
            "effective-directive": directive,
            "violated-directive": directive,
            "blocked-uri": blocked,
            "disposition": "enforce",
        } })
        .to_string()
    };
    let elsewhere = "https://palvelu.example.fi/landed?token=salainen-koodi";
    let redirect = format!("{ours}/seinajoki/login/password");
    let long = format!("https://{}.fi/x", "a".repeat(60_000));
    let bodies = [
        (report("form-action", elsewhere), 204),
        (report("form-action", elsewhere), 204),
        (report("form-action", &redirect), 204),
        (report("form-action", &redirect), 204),
        (report("form-action", "http://localhost:8081"), 204),
        (report("img-src", elsewhere), 204),
        (report("form-action", &long), 204),
        ("ei raportti".to_string(), 400),
    ];
    let http = reqwest::Client::new();
    for (body, status) in bodies {
        let answer = http
            .post(&url)
            .header("content-type", "application/csp-report")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), status);
    }
    let served = stopped(served).await;
    let lines = log_lines(&served);
    let blocked: Vec<_> = lines
        .iter()
        .filter(|l| l["level"] == "WARN" && l.get("blocked").is_some())
        .collect();
    assert_eq!(blocked.len(), 3, "{lines:#?}");
    let said = |line: &serde_json::Value| line["message"].as_str().unwrap().to_string();
    assert_eq!(blocked[0]["blocked"], "https://palvelu.example.fi");
    assert_has(&said(blocked[0]), "posting to another origin");
    assert_eq!(blocked[1]["blocked"], ours.as_str());
    assert_has(&said(blocked[1]), "list in onward_origins");
    // A form_post page's post begins at the client's redirect URI (the demo e-service's, here
    // by its origin, as a browser strips a cross-origin address): the clients there are named.
    assert_eq!(blocked[2]["blocked"], "http://localhost:8081");
    assert_has(&said(blocked[2]), "list in onward_origins");
    assert_eq!(blocked[2]["clients"], "seinajoki-demo");
    for line in &blocked {
        assert_eq!(line["tenant"], "seinajoki");
        assert_eq!(line["page"], "/seinajoki/login/identifier");
    }
    for line in &lines {
        let text = line.to_string();
        assert!(
            !text.contains("salainen-koodi") && !text.contains("/landed"),
            "{text}"
        );
        assert!(!text.contains("request=x") && text.len() < 4096, "{text}");
    }
}

/// `served` stopped by SIGTERM, once it has exited on its own.
async fn stopped(mut served: Served) -> Served {
    sigterm(&served.child);
    let (status, served) = tokio::task::spawn_blocking(move || {
        let status = wait_exit(&mut served.child, Duration::from_secs(20));
        (status, served)
    })
    .await
    .unwrap();
    assert!(status.success());
    served
}

both_stores!(each_log_line_names_its_request_and_none_a_recipient);
/// Every line written inside a request carries its `request_id` (each request its own; made by
/// idp, with or without `[telemetry]`) and, with telemetry on as here, its `trace_id`, also a line
/// written deep in a flow, so an operator finds the lines of the request that failed and its
/// trace. A relay's refusal that quotes the recipient, as Postfix's `550 5.1.1
/// <erkki@testi.fi>: …` does, is logged without the address (the log service keeps lines for
/// months, out of an erasure's reach) and names the outbox row. Before, the line held the address
/// and no request id, and a flow's line no trace id.
async fn each_log_line_names_its_request_and_none_a_recipient(backend: Backend) {
    let relay = Relay::refusing_recipients();
    let (_received, collector, handle) = collector();
    let setup = setup(backend, Some(collector));
    setup.edit("idp.toml", |text| {
        let (before, rest) = text.split_once("[mail]").unwrap();
        let (_, after) = rest.split_once("[tenants]").unwrap();
        format!("{before}{}\n\n[tenants]{after}", relay.mail_toml(5))
    });
    setup.edit("tenants/seinajoki.toml", |text| {
        format!("{text}\n[mail_limits]\nper_address = 1\n")
    });
    let served = serve(&mut setup.command(&[]));
    let forgot = format!("http://{}/seinajoki/forgot", served.address);
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = page(&browser, &forgot).await;
    let fields = [("request", ""), ("email", "erkki@testi.fi")];
    let answer = post_with_csrf(&browser, &forgot, &form, &fields).await;
    assert_eq!(answer.status(), 503);
    // Past the recipient's limit: no mail, a line written in the flow.
    let form = page(&browser, &forgot).await;
    let answer = post_with_csrf(&browser, &forgot, &form, &fields).await;
    assert_eq!(answer.status(), 200);
    let served = stopped(served).await;
    handle.stop(true).await;

    let lines = log_lines(&served);
    let all = serde_json::Value::from(lines.clone()).to_string();
    assert!(!all.contains("erkki@testi.fi"), "{lines:#?}");
    let failed = lines
        .iter()
        .find(|l| l["message"] == "mail not sent")
        .unwrap_or_else(|| panic!("{lines:#?}"));
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("(550): 5.1.1 <address> Recipient address rejected"),
        "{failed}"
    );
    assert_eq!(
        failed["mail_id"].as_str().map(str::len),
        Some(36),
        "{failed}"
    );
    let requests = |method: &'static str| -> Vec<&serde_json::Value> {
        let forgot = |l: &&serde_json::Value| {
            l["message"] == "request" && l["method"] == method && l["path"] == "/seinajoki/forgot"
        };
        lines.iter().filter(forgot).collect()
    };
    let ids = |method: &'static str| -> Vec<serde_json::Value> {
        requests(method)
            .into_iter()
            .map(|l| l["span"]["request_id"].clone())
            .collect()
    };
    let (shown, posted) = (ids("GET"), ids("POST"));
    assert_eq!((shown.len(), posted.len()), (2, 2), "{lines:#?}");
    assert!(
        posted
            .iter()
            .all(|id| id.as_str().map(str::len) == Some(32))
    );
    assert!(shown.iter().all(|id| !posted.contains(id)) && posted[0] != posted[1]);
    assert_eq!(failed["span"]["request_id"], posted[0], "{failed}");
    let limited = lines
        .iter()
        .find(|l| l["message"] == "mail limit reached")
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(limited["span"]["request_id"], posted[1], "{limited}");
    let trace = &requests("POST")[1]["span"]["trace_id"];
    assert_eq!(trace.as_str().map(str::len), Some(32), "{lines:#?}");
    assert_eq!(&limited["span"]["trace_id"], trace, "{limited}");
}
