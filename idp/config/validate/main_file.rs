//! Checks of the main file that serde cannot make (what is unsafe on a public server is in
//! `production.rs`).

use lettre::message::Mailbox;

use super::rules::{
    ACTIVATION_DELAY, CHANGES, LEASE, LIFETIME, SMTP_ATTEMPT, WAITING, is_loopback,
};
use crate::config::problems::Problem;
use crate::config::settings::{MAILS_A_ROUND, MailTransport, Settings, encryption_key_bytes};

/// Whether listeners on `a` and `b` would take the same port: the same port (not 0, which picks a
/// free one) on the same address, or on every address (`0.0.0.0`, `[::]`) and any.
fn shares_port(a: std::net::SocketAddr, b: std::net::SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// Problems of the main file; `origin` names where a key's value came from.
pub(in crate::config) fn settings(
    settings: &Settings,
    origin: &dyn Fn(&str) -> String,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut problem = |key: &str, message: String| {
        problems.push(Problem::new(origin(key), key, message));
    };

    let public = &settings.server.public_url;
    if !matches!(public.scheme(), "http" | "https") {
        problem(
            "server.public_url",
            "must be an http:// or https:// URL".into(),
        );
    } else if public.scheme() == "http" && !is_loopback(public) {
        problem(
            "server.public_url",
            "must be https:// (http:// is allowed only for localhost)".into(),
        );
    }
    if public.query().is_some() || public.fragment().is_some() {
        problem(
            "server.public_url",
            "must not have a query or fragment".into(),
        );
    }
    if settings.server.workers == Some(0) {
        problem("server.workers", "must be at least 1".into());
    }
    if let Some(endpoint) = &settings.telemetry.otlp_endpoint
        && !matches!(endpoint.scheme(), "http" | "https")
    {
        problem(
            "telemetry.otlp_endpoint",
            "must be an http:// or https:// URL (OTLP over HTTP)".into(),
        );
    }
    if !(0.0..=1.0).contains(&settings.telemetry.sample_ratio) {
        problem(
            "telemetry.sample_ratio",
            "must be between 0.0 and 1.0".into(),
        );
    }
    if let Some(file) = &settings.server.geoip_database
        && !file.is_file()
    {
        problem(
            "server.geoip_database",
            format!("{} is not a file", file.display()),
        );
    }
    if let Err(message) = settings.database.backend() {
        problem("database.url", message);
    }
    if settings.database.max_connections == 0 {
        problem("database.max_connections", "must be at least 1".into());
    }
    if let Some(metrics) = &settings.metrics {
        if shares_port(metrics.bind, settings.server.bind) {
            problem(
                "metrics.bind",
                format!(
                    "must not be the public listener's address ({}): the metrics are for the operators' network only",
                    settings.server.bind
                ),
            );
        }
        if !(1..=3650).contains(&metrics.key_rotation_days) {
            problem("metrics.key_rotation_days", "must be from 1 to 3650".into());
        }
    }
    let lease = [("queues.lease_seconds", settings.queues.lease_seconds)];
    for (key, message) in LEASE.outside(lease) {
        problem(key, message.into());
    }
    let waiting = [
        (
            "limits.waiting_requests_per_address",
            settings.limits.waiting_requests_per_address,
        ),
        (
            "limits.pushed_requests_per_client",
            settings.limits.pushed_requests_per_client,
        ),
    ];
    for (key, message) in WAITING.outside(waiting) {
        problem(key, message.into());
    }
    let changes = [(
        "limits.account_changes_per_hour",
        settings.limits.account_changes_per_hour,
    )];
    for (key, message) in CHANGES.outside(changes) {
        problem(key, message.into());
    }

    let mail = &settings.mail;
    if let Err(e) = mail.from.parse::<Mailbox>() {
        problem("mail.from", format!("not a mail address: {e}"));
    }
    match mail.transport {
        MailTransport::File => {
            if mail.dir.is_none() {
                problem(
                    "mail.dir",
                    "is required when mail.transport = \"file\"".into(),
                );
            }
        }
        MailTransport::Smtp => {
            if mail.host.as_deref().is_none_or(str::is_empty) {
                problem(
                    "mail.host",
                    "is required when mail.transport = \"smtp\"".into(),
                );
            }
            let attempt = [("mail.timeout_seconds", mail.timeout_seconds)];
            for (key, message) in SMTP_ATTEMPT.outside(attempt) {
                problem(key, message.into());
            }
            // A node sends the mails it took one after the other: a lease shorter than that
            // batch lets another node take a mail still being sent, and send it again.
            let batch = MAILS_A_ROUND * mail.timeout_seconds;
            if settings.queues.lease_seconds <= batch {
                problem(
                    "queues.lease_seconds",
                    format!(
                        "must outlast a round of {MAILS_A_ROUND} mails of mail.timeout_seconds each: more than {batch}"
                    ),
                );
            }
            match (&mail.username, &mail.password_env) {
                (Some(_), None) => problem(
                    "mail.password_env",
                    "is required with mail.username: name the environment variable holding the password".into(),
                ),
                (None, Some(_)) => problem(
                    "mail.username",
                    "is required with mail.password_env".into(),
                ),
                _ => {}
            }
        }
    }
    if let Some(key) = &settings.keys.encryption_key
        && let Err(e) = encryption_key_bytes(secrecy::ExposeSecret::expose_secret(key))
    {
        problem("keys.encryption_key", e.to_string());
    }
    let delay = [(
        "keys.activation_delay_seconds",
        settings.keys.activation_delay_seconds,
    )];
    for (key, message) in ACTIVATION_DELAY.outside(delay) {
        problem(key, message.into());
    }
    let tokens = &settings.tokens;
    let lifetimes = [
        ("tokens.access_token_seconds", tokens.access_token_seconds),
        ("tokens.id_token_seconds", tokens.id_token_seconds),
        ("tokens.refresh_token_seconds", tokens.refresh_token_seconds),
        (
            "tokens.offline_refresh_token_seconds",
            tokens.offline_refresh_token_seconds,
        ),
        (
            "tokens.authorization_request_seconds",
            tokens.authorization_request_seconds,
        ),
        ("tokens.session_seconds", tokens.session_seconds),
        ("tokens.remember_seconds", tokens.remember_seconds),
        ("tokens.link_seconds", tokens.link_seconds),
    ];
    for (key, message) in LIFETIME.outside(lifetimes) {
        problem(key, message.into());
    }
    if let Some(dir) = &settings.templates.dir
        && !dir.is_dir()
    {
        problem(
            "templates.dir",
            format!("{} is not a directory", dir.display()),
        );
    }
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&settings.log.level) {
        problem("log.level", format!("not a log filter: {e}"));
    }
    problems
}
