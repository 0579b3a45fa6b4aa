//! The node's Prometheus metrics: every metric idp exports, defined here in one place, in one
//! [`Registry`] per node ([`Metrics`], held by `app::Services`: parallel test servers never share
//! a counter), encoded by the `/metrics` listener (`http/metrics.rs`) in the OpenMetrics text
//! format. docs/operations.md lists them with their labels.
//!
//! Counters move where their event happens: the HTTP middleware counts requests, the mail and
//! logout workers their attempts, the store its pool's and writers' waits and its statements
//! (`store/instrument.rs`), the hashing pool its refusals and the jobs it ran. A flow counts what
//! it decided (a login's outcome, a mail refused by the limits, an authorization request refused
//! by its address's limit) in its [`Tally`], which the HTTP layer adds to the counters only when
//! the flow's transaction has committed, so that a rolled-back login is not counted. Gauges that
//! need a query (the queues, the keys) are set when Prometheus scrapes, not on every request.

use std::sync::atomic::AtomicU64;

use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};

/// The upper bounds of the request latency histogram's buckets, in seconds.
const LATENCY_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A gauge of seconds (or another fractional value).
pub type Seconds = Gauge<f64, AtomicU64>;

/// A counter of seconds.
pub type SecondsCounter = Counter<f64, AtomicU64>;

/// A request's labels: the route's template (`/{tenant}/token`, `unmatched` for a 404 that no
/// route took; never the raw path), its method and status.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route template.
    pub route: String,
    /// The method (`GET`, `POST`, …, `other`).
    pub method: &'static str,
    /// The status code.
    pub status: u16,
}

/// A route's label (the latency histogram).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route template.
    pub route: String,
}

/// A tenant and an outcome.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// The tenant's id.
    pub tenant: String,
    /// What happened.
    pub outcome: &'static str,
}

/// A token request: its tenant, the grant it asked for and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct TokenLabels {
    /// The tenant's id.
    pub tenant: String,
    /// `authorization_code`, `refresh_token`, `client_credentials`; `other` for a grant type
    /// idp does not know, `none` when the request named none (or its form could not be read).
    pub grant: &'static str,
    /// `issued`, or the error answered (`invalid_grant`, `invalid_client`, …).
    pub outcome: &'static str,
}

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct TenantLabels {
    /// The tenant's id.
    pub tenant: String,
}

/// A tenant's signing key of one algorithm.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct KeyLabels {
    /// The tenant's id.
    pub tenant: String,
    /// `RS256`, `ES256` or `EdDSA`.
    pub alg: &'static str,
}

/// A label of one word: why the hashing pool refused, a connection's state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct KindLabels {
    /// The word.
    pub kind: &'static str,
}

/// How a login (or a step of one) ended, the `outcome` label of `idp_logins_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginOutcome {
    /// Signed in with a password alone.
    Succeeded,
    /// Signed in with a passkey.
    Passkey,
    /// Signed in with a password and a second factor (a one-time code, a recovery code or a
    /// passkey as the second factor).
    SecondFactor,
    /// A wrong password for an account that exists (new or old).
    WrongPassword,
    /// A password for an identifier that names no account.
    UnknownIdentifier,
    /// Refused by the throttle before any check (password, passkey or second factor).
    Throttled,
    /// A wrong one-time or recovery code.
    SecondFactorFailed,
    /// A passkey answer that did not verify (a wrong signature, another user's handle, a key
    /// not the account's), at a login, a second factor or the account page.
    PasskeyFailed,
    /// A password that matched, for an account that changed before the session could start (a
    /// recovery or a change of password committed meanwhile): nothing started.
    Interrupted,
    /// An old account bound to its email at its first login with its old password.
    LegacyBoundByPassword,
    /// An old account bound through a mailed link.
    LegacyBoundByLink,
}

impl LoginOutcome {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            LoginOutcome::Succeeded => "succeeded",
            LoginOutcome::Passkey => "passkey",
            LoginOutcome::SecondFactor => "second_factor",
            LoginOutcome::WrongPassword => "wrong_password",
            LoginOutcome::UnknownIdentifier => "unknown_identifier",
            LoginOutcome::Throttled => "throttled",
            LoginOutcome::SecondFactorFailed => "second_factor_failed",
            LoginOutcome::PasskeyFailed => "passkey_failed",
            LoginOutcome::Interrupted => "interrupted",
            LoginOutcome::LegacyBoundByPassword => "legacy_bound_password",
            LoginOutcome::LegacyBoundByLink => "legacy_bound_link",
        }
    }
}

/// What a flow decided, counted once its transaction has committed ([`Metrics::add`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// A login's outcome.
    Login(LoginOutcome),
    /// A mail the limits on mail refused.
    MailLimited,
    /// An authorization request not stored: its client address has
    /// `limits.waiting_requests_per_address` requests waiting already (a confidential client's
    /// push: that client has `limits.pushed_requests_per_client`).
    WaitingRefused,
    /// A change of the account page not made: the resident had made
    /// `limits.account_changes_per_hour` in the last hour.
    ChangeRefused,
}

/// What one flow run decided, waiting for its commit. A flow's `Minter` holds one.
#[derive(Debug, Default)]
pub struct Tally(Mutex<Vec<Counted>>);

impl Tally {
    /// Notes `what`.
    pub fn note(&self, what: Counted) {
        self.0.lock().push(what);
    }

    /// Notes a login's outcome.
    pub fn login(&self, outcome: LoginOutcome) {
        self.note(Counted::Login(outcome));
    }

    /// What was noted, emptying the tally.
    pub fn take(&self) -> Vec<Counted> {
        std::mem::take(&mut *self.0.lock())
    }
}

/// Every metric of a node and the registry that encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// `idp_http_requests_total{route,method,status}`.
    pub requests: Family<RequestLabels, Counter>,
    /// `idp_http_request_duration_seconds{route}`.
    pub latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    /// `idp_logins_total{tenant,outcome}`.
    pub logins: Family<OutcomeLabels, Counter>,
    /// `idp_token_requests_total{tenant,grant,outcome}`: token requests answered, by grant
    /// type and outcome (`issued` or the error).
    pub tokens: Family<TokenLabels, Counter>,
    /// `idp_mail_total{tenant,outcome}`: `sent`, `failed` (an attempt), `limited`.
    pub mail: Family<OutcomeLabels, Counter>,
    /// `idp_waiting_requests_refused_total{tenant}`: authorization requests not stored because
    /// their client address had `limits.waiting_requests_per_address` waiting already.
    pub waiting_refused: Family<TenantLabels, Counter>,
    /// `idp_account_changes_refused_total{tenant}`: changes of the account page not made because
    /// the resident had made `limits.account_changes_per_hour` in the last hour.
    pub changes_refused: Family<TenantLabels, Counter>,
    /// `idp_mail_outbox_waiting{tenant}`: mails not yet sent nor given up.
    pub outbox_waiting: Family<TenantLabels, Gauge>,
    /// `idp_mail_outbox_oldest_age_seconds{tenant}`: how long the oldest of them has waited.
    pub outbox_oldest: Family<TenantLabels, Seconds>,
    /// `idp_backchannel_logouts_total{tenant,outcome}`: `delivered`, `failed` (an attempt).
    pub deliveries: Family<OutcomeLabels, Counter>,
    /// `idp_backchannel_logouts_waiting{tenant}`.
    pub deliveries_waiting: Family<TenantLabels, Gauge>,
    /// `idp_queue_gauges_stale`: 1 when the last scrape could not read the queues from the
    /// database (down, or no connection free within its time): their gauges are an earlier
    /// scrape's.
    pub queues_stale: Gauge,
    /// `idp_hashing_queue`: hashes admitted and waiting for a thread.
    pub hashing_queue: Gauge,
    /// `idp_hashing_in_flight`: hashes running.
    pub hashing_in_flight: Gauge,
    /// `idp_db_connections{kind}`: `in_use`, `idle`.
    pub db_connections: Family<KindLabels, Gauge>,
    /// `idp_signing_key_age_seconds{tenant,alg}`: since the active key began to sign.
    pub key_age: Family<KeyLabels, Seconds>,
    /// `idp_signing_key_rotation_due_seconds{tenant,alg}`: until its planned rotation
    /// (negative: past it).
    pub key_rotation_due: Family<KeyLabels, Seconds>,
    /// Serialises scrapes (each sets the gauges, then encodes).
    pub scraping: tokio::sync::Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// The metrics of a new node, registered; add the store's and the hashing pool's with
    /// [`Metrics::register`].
    pub fn new() -> Metrics {
        let mut metrics = Metrics {
            registry: Registry::default(),
            requests: Family::default(),
            latency: Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS)),
            logins: Family::default(),
            tokens: Family::default(),
            mail: Family::default(),
            waiting_refused: Family::default(),
            changes_refused: Family::default(),
            outbox_waiting: Family::default(),
            outbox_oldest: Family::default(),
            deliveries: Family::default(),
            deliveries_waiting: Family::default(),
            queues_stale: Gauge::default(),
            hashing_queue: Gauge::default(),
            hashing_in_flight: Gauge::default(),
            db_connections: Family::default(),
            key_age: Family::default(),
            key_rotation_due: Family::default(),
            scraping: tokio::sync::Mutex::new(()),
        };
        let r = &mut metrics.registry;
        r.register(
            "idp_http_requests",
            "HTTP requests by route template, method and status.",
            metrics.requests.clone(),
        );
        r.register(
            "idp_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            metrics.latency.clone(),
        );
        r.register(
            "idp_logins",
            "Logins and their steps by tenant and outcome.",
            metrics.logins.clone(),
        );
        r.register(
            "idp_token_requests",
            "Token requests answered, by tenant, grant type and outcome (issued, or the error).",
            metrics.tokens.clone(),
        );
        r.register(
            "idp_mail",
            "Mails sent, failed attempts, and mails refused by the limits on mail, by tenant.",
            metrics.mail.clone(),
        );
        r.register(
            "idp_waiting_requests_refused",
            "Authorization requests not stored because their client address had limits.waiting_requests_per_address waiting already (a confidential client's pushes: that client had limits.pushed_requests_per_client), by tenant asked.",
            metrics.waiting_refused.clone(),
        );
        r.register(
            "idp_account_changes_refused",
            "Changes of the account page not made because the resident had made limits.account_changes_per_hour in the last hour, by tenant.",
            metrics.changes_refused.clone(),
        );
        r.register(
            "idp_mail_outbox_waiting",
            "Mails in the outbox waiting to be sent (not sent, not given up).",
            metrics.outbox_waiting.clone(),
        );
        r.register(
            "idp_mail_outbox_oldest_age_seconds",
            "How long the oldest waiting mail has waited.",
            metrics.outbox_oldest.clone(),
        );
        r.register(
            "idp_backchannel_logouts",
            "Back-channel logout deliveries: delivered, failed attempts.",
            metrics.deliveries.clone(),
        );
        r.register(
            "idp_backchannel_logouts_waiting",
            "Back-channel logout tokens waiting to be delivered.",
            metrics.deliveries_waiting.clone(),
        );
        r.register(
            "idp_queue_gauges_stale",
            "1 when the last scrape could not read the mail and logout queues from the database (their gauges are an earlier scrape's), else 0.",
            metrics.queues_stale.clone(),
        );
        r.register(
            "idp_hashing_queue",
            "Password hashes admitted to the hashing pool and waiting for a thread.",
            metrics.hashing_queue.clone(),
        );
        r.register(
            "idp_hashing_in_flight",
            "Password hashes running.",
            metrics.hashing_in_flight.clone(),
        );
        r.register(
            "idp_db_connections",
            "Connections of the database pool, in use or idle.",
            metrics.db_connections.clone(),
        );
        r.register(
            "idp_signing_key_age_seconds",
            "Age of each tenant's active signing key, by algorithm (since it began to sign).",
            metrics.key_age.clone(),
        );
        r.register(
            "idp_signing_key_rotation_due_seconds",
            "Time to the active signing key's planned rotation (metrics.key_rotation_days after it began to sign; negative when past).",
            metrics.key_rotation_due.clone(),
        );
        metrics
    }

    /// Registers `metric` of another part of the node (the store's pool, the hashing pool).
    pub fn register(&mut self, name: &str, help: &str, metric: impl Metric) {
        self.registry.register(name, help, metric);
    }

    /// Adds what a flow of `tenant` decided, once its transaction has committed.
    pub fn add(&self, tenant: &str, counted: &[Counted]) {
        for what in counted {
            let (family, outcome) = match what {
                Counted::Login(outcome) => (&self.logins, outcome.label()),
                Counted::MailLimited => (&self.mail, "limited"),
                Counted::WaitingRefused | Counted::ChangeRefused => {
                    let family = if *what == Counted::WaitingRefused {
                        &self.waiting_refused
                    } else {
                        &self.changes_refused
                    };
                    let tenant = TenantLabels {
                        tenant: tenant.to_string(),
                    };
                    family.get_or_create(&tenant).inc();
                    continue;
                }
            };
            family
                .get_or_create(&OutcomeLabels {
                    tenant: tenant.to_string(),
                    outcome,
                })
                .inc();
        }
    }

    /// Counts one of `family`'s `outcome` for `tenant`.
    pub fn count(family: &Family<OutcomeLabels, Counter>, tenant: &str, outcome: &'static str) {
        family
            .get_or_create(&OutcomeLabels {
                tenant: tenant.to_string(),
                outcome,
            })
            .inc();
    }

    /// Counts a token request of `tenant` for `grant_type` (as the request named it) that ended
    /// in `outcome`. Unknown grant types are counted as `other`, so a client cannot add labels.
    pub fn token_request(&self, tenant: &str, grant_type: Option<&str>, outcome: &'static str) {
        let grant = match grant_type {
            None => "none",
            Some("authorization_code") => "authorization_code",
            Some("refresh_token") => "refresh_token",
            Some("client_credentials") => "client_credentials",
            Some(_) => "other",
        };
        self.tokens
            .get_or_create(&TokenLabels {
                tenant: tenant.to_string(),
                grant,
                outcome,
            })
            .inc();
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// The method label of `method`: a static word, so that a request's labels allocate only the
/// route.
pub fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_counts_only_when_added() {
        let metrics = Metrics::new();
        let tally = Tally::default();
        tally.login(LoginOutcome::WrongPassword);
        tally.note(Counted::MailLimited);
        tally.note(Counted::WaitingRefused);
        tally.note(Counted::ChangeRefused);
        let text = metrics.encode().unwrap();
        assert!(!text.contains("wrong_password"), "{text}");
        metrics.add("seinajoki", &tally.take());
        let text = metrics.encode().unwrap();
        assert!(
            text.contains("idp_logins_total{tenant=\"seinajoki\",outcome=\"wrong_password\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("idp_mail_total{tenant=\"seinajoki\",outcome=\"limited\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("idp_waiting_requests_refused_total{tenant=\"seinajoki\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("idp_account_changes_refused_total{tenant=\"seinajoki\"} 1\n"),
            "{text}"
        );
        assert!(tally.take().is_empty());
    }
}
