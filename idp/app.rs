//! What a running node holds: configuration, store, clock, key-encryption key and signing keys.
//!
//! [`Services::start`] is the start-up sequence shared by `idp serve` and the tests: make sure every
//! tenant has its keys, then load them.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;

use crate::clock::SharedClock;
use crate::config::{Config, SigningAlg};
use crate::crypto::hash_pool::HashPool;
use crate::crypto::kek::Kek;
use crate::crypto::keyring::SharedKeyRing;
use crate::flows::context::Minter;
use crate::flows::keys::{self, KeysError};
use crate::flows::location::GeoIp;
use crate::flows::oidc::backchannel;
use crate::flows::oidc::client_keys::ClientKeys;
use crate::flows::oidc::error::OAuthError;
use crate::mail::{self, MailTransport, Mails};
use crate::store::audit_chain;
use crate::store::deliveries::{self, DeliveryRow};
use crate::store::lease_queue::{LeaseQueue, QueueRow};
use crate::store::outbox::{self, MailRow};
use crate::store::{Store, StoreError};
use crate::telemetry::metrics::{KeyLabels, KindLabels, Metrics, TenantLabels};

/// The metrics of a node over `store` and `hashing`: the node's own, and the store's and the
/// hashing pool's counters.
fn node_metrics(store: &Store, hashing: &HashPool) -> Metrics {
    let mut metrics = Metrics::new();
    let waits = store.pool_waits();
    metrics.register(
        "idp_db_pool_waits",
        "Checkouts of a database connection that found none idle and waited.",
        waits.waits.clone(),
    );
    metrics.register(
        "idp_db_pool_wait_seconds",
        "Time spent waiting for a database connection.",
        waits.seconds.clone(),
    );
    let statements = store.statements();
    metrics.register(
        "idp_db_statements",
        "Statements sent to the database, BEGIN and COMMIT included (each a round trip on PostgreSQL).",
        statements.all.clone(),
    );
    metrics.register(
        "idp_db_connection_tests",
        "Of those, the tests of a pooled PostgreSQL connection idle for 500 ms or more, or whose last use failed.",
        statements.tests.clone(),
    );
    if let Some(turn) = store.writer_turn() {
        metrics.register(
            "idp_sqlite_writer_waits",
            "SQLite write transactions that found another writer of this process in its turn and waited.",
            turn.waits,
        );
        metrics.register(
            "idp_sqlite_commits",
            "Commits of SQLite write transactions (one fsync each); a commit holds a group of writes.",
            turn.commits,
        );
        metrics.register(
            "idp_sqlite_committed_writes",
            "SQLite write transactions committed; over idp_sqlite_commits_total, the writes a commit held.",
            turn.writes,
        );
    }
    metrics.register(
        "idp_hashing_refused",
        "Password checks the hashing pool refused: busy (answered 503) or too_many (one holder's share, 429).",
        hashing.refusals(),
    );
    metrics.register(
        "idp_hashing_runs",
        "Jobs the hashing pool ran, by share: login, or other (new passwords, the account page's checks).",
        hashing.runs(),
    );
    metrics
}

/// The seconds from `from` to `to` (negative when `to` is earlier).
fn seconds_between(from: chrono::NaiveDateTime, to: chrono::NaiveDateTime) -> f64 {
    (to - from).num_milliseconds() as f64 / 1000.0
}

/// How many back-channel logout tokens a round takes and sends at once ([`Services::deliver_logouts`]):
/// a round lasts at most one request's bound (5 s), within any lease `check-config` allows.
const LOGOUT_BATCH: i64 = 10;

/// Audit events sealed in one transaction.
const SEAL_BATCH: i64 = 500;

/// Batches in one round of the audit sealer.
const SEAL_BATCHES: usize = 20;

tokio::task_local! {
    /// The address of the client whose request the task serves (set by the HTTP layer).
    static CLIENT_ADDRESS: Option<String>;
}

/// Runs `fut` (a request) with `address` as its client's address.
pub async fn with_client_address<F: std::future::Future>(
    address: Option<String>,
    fut: F,
) -> F::Output {
    CLIENT_ADDRESS.scope(address, fut).await
}

/// The address of the client whose request this task serves; `None` outside a request (the
/// workers, the command line).
pub fn client_address() -> Option<String> {
    CLIENT_ADDRESS.try_with(Clone::clone).ok().flatten()
}

/// The long-lived parts of a node; cheap to clone.
#[derive(Clone)]
pub struct Services {
    /// The configuration.
    pub config: Arc<Config>,
    /// The database.
    pub store: Store,
    /// The clock.
    pub clock: SharedClock,
    /// Encrypts signing keys at rest.
    pub kek: Arc<Kek>,
    /// The signing keys of every tenant.
    pub keys: Arc<SharedKeyRing>,
    /// The client for calls to relying parties (back-channel logout, client keys).
    pub http: reqwest::Client,
    /// Clients' published keys (`jwks_uri`), fetched one at a time, failures remembered.
    client_keys: Arc<ClientKeys>,
    /// The mail templates.
    pub mails: Arc<Mails>,
    /// Where mail goes.
    pub mail: MailTransport,
    /// What this node's last attempt to send a mail came to.
    pub relay: Arc<crate::mail::RelayState>,
    /// Runs password hashing, bounded.
    pub hashing: Arc<HashPool>,
    /// The location database (`server.geoip_database`), when there is one.
    pub geo: Option<Arc<GeoIp>>,
    /// The node's metrics (served when `[metrics]` is configured, counted always).
    pub metrics: Arc<Metrics>,
}

/// How long `send_now` waits for a mail another sender claimed first (an SMTP attempt gives up
/// after `mail.timeout_seconds`, 15 s by default; a page should not wait that long, and then says
/// the mail is on its way).
const SEND_NOW_WAIT: Duration = Duration::from_secs(10);

/// How long a scrape waits for the queues' counts: under a usual scraper's timeout (10 s), as a
/// pool whose connections are all busy makes a checkout wait up to 10 s.
const QUEUES_READ_WITHIN: Duration = Duration::from_secs(2);

/// What one round of a lease queue did.
#[derive(Debug, Clone, Copy)]
struct Worked {
    /// Rows this round claimed and attempted.
    claimed: usize,
    /// Of those, the ones that succeeded.
    succeeded: usize,
}

/// When a background task's first round runs.
#[derive(Debug, Clone, Copy)]
enum Start {
    /// At once.
    AtOnce,
    /// After a period.
    AfterPeriod,
}

/// Start-up failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Keys could not be made or read.
    #[error(transparent)]
    Keys(#[from] KeysError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The HTTP client could not be built (no TLS roots).
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
    /// The mail templates or transport are unusable.
    #[error("mail: {0}")]
    Mail(String),
    /// The location database cannot be read.
    #[error("{0}")]
    Location(String),
}

impl Services {
    /// Creates missing keys and loads them (blocking: run before serving or on a blocking thread).
    pub fn start(
        config: Arc<Config>,
        store: Store,
        clock: SharedClock,
    ) -> Result<Services, StartError> {
        let kek = keys::key_encryption_key(&config).map_err(KeysError::from)?;
        crate::flows::passkeys::warn_if_off(&config);
        let now = clock.now();
        let mut conn = store.conn()?;
        // The configured tenants' stored keys are opened before any is created: a node given
        // another key-encryption key (a typo in one node's environment) must stop here, not seal
        // a new tenant's keys under it, which no other node could open at its next start.
        keys::load(&mut conn, &kek, &config, now)?;
        let created = keys::ensure(&mut conn, &kek, &config, now)?;
        if !created.is_empty() {
            tracing::info!(count = created.len(), "created signing keys");
        }
        // Loaded again in any case: a node that lost the race to create a key (another node
        // stored its own first) created none, and must still serve the one stored.
        let ring = keys::load(&mut conn, &kek, &config, now)?;
        let removed = crate::store::tenants::unconfigured(&mut conn, &config)?;
        if !removed.is_empty() {
            tracing::warn!(
                tenants = removed.join(", "),
                "the database holds rows of tenants that are not configured: their deletions are \
                 not erased and their audit retention does not run (`idp tenants list`, \
                 `idp tenants purge`, docs/operations.md)"
            );
        }
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("idp/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| StartError::Http(e.to_string()))?;
        let mails = Mails::load(config.settings.templates.dir.as_deref())
            .map_err(|e| StartError::Mail(e.to_string()))?;
        let transport = MailTransport::from_settings(&config.settings.mail)
            .map_err(|e| StartError::Mail(e.to_string()))?;
        let geo = match &config.settings.server.geoip_database {
            Some(path) => Some(Arc::new(GeoIp::open(path).map_err(StartError::Location)?)),
            None => None,
        };
        let hashing = HashPool::for_this_machine();
        let metrics = Arc::new(node_metrics(&store, &hashing));
        Ok(Services {
            config,
            store,
            clock,
            kek: Arc::new(kek),
            keys: Arc::new(SharedKeyRing::new(ring)),
            http,
            client_keys: Arc::default(),
            mails: Arc::new(mails),
            mail: transport,
            relay: Arc::default(),
            hashing: Arc::new(hashing),
            geo,
            metrics,
        })
    }

    /// Re-reads the keys (rotated here or on another node; expired ones leave).
    pub fn reload_keys(&self) -> Result<(), KeysError> {
        let mut conn = self.store.conn()?;
        let ring = keys::load(&mut conn, &self.kek, &self.config, self.clock.now())?;
        self.keys.replace(ring);
        Ok(())
    }

    /// Re-reads the keys every `period` on a blocking thread, until the runtime stops.
    pub fn spawn_key_reloader(&self, period: std::time::Duration) -> tokio::task::JoinHandle<()> {
        self.every(period, Start::AfterPeriod, |services| async move {
            match tokio::task::spawn_blocking(move || services.reload_keys()).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(%error, "reloading signing keys failed"),
                Err(error) => tracing::warn!(%error, "reloading signing keys failed"),
            }
        })
    }

    /// Runs `round` every `period` on a task of its own, until the runtime stops; the first round
    /// at once or after a period, as `start` says.
    fn every<F, Fut>(&self, period: Duration, start: Start, round: F) -> tokio::task::JoinHandle<()>
    where
        F: Fn(Services) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let services = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(period);
            if let Start::AfterPeriod = start {
                ticker.tick().await;
            }
            loop {
                ticker.tick().await;
                round(services.clone()).await;
            }
        })
    }

    /// A minter for `tenant` at `now` with the current keys.
    pub fn minter(&self, tenant: &str, now: chrono::NaiveDateTime) -> Option<Minter<'_>> {
        let tenant = self.config.tenant(tenant)?;
        Some(Minter {
            issuer: self.config.issuer(tenant),
            config: &self.config,
            tenant,
            keys: self.keys.current(),
            now,
            remote_addr: None,
            user_agent: None,
            geo: self.geo.as_deref(),
            language: None,
            tally: Default::default(),
        })
    }

    /// How long a claimed mail or logout delivery stays this node's (`queues.lease_seconds`).
    fn lease(&self) -> chrono::Duration {
        // check-config keeps it within a day.
        let seconds = self.config.settings.queues.lease_seconds.min(86_400);
        chrono::Duration::seconds(i64::try_from(seconds).unwrap_or(86_400))
    }

    /// One round of a lease queue ([`crate::store::lease_queue`]): claims up to `limit` due rows
    /// of `queue` (only the row `only`, when given) for [`Services::lease`], and hands each to
    /// `attempt`, which tries it, records the outcome and says whether it succeeded; returns how
    /// many rows this round claimed, and how many succeeded.
    async fn work_queue<R, E, F, Fut>(
        &self,
        queue: LeaseQueue,
        limit: i64,
        only: Option<String>,
        mut attempt: F,
    ) -> Result<Worked, E>
    where
        R: QueueRow,
        E: From<StoreError> + Send + 'static,
        F: FnMut(R) -> Fut,
        Fut: std::future::Future<Output = Result<bool, E>>,
    {
        let now = self.clock.now();
        let lease = now + self.lease();
        let rows = self
            .store
            .run(move |conn| queue.claim_due::<R>(conn, now, lease, limit, only.as_deref()))
            .await?;
        let mut worked = Worked {
            claimed: rows.len(),
            succeeded: 0,
        };
        for row in rows {
            if attempt(row).await? {
                worked.succeeded += 1;
            }
        }
        Ok(worked)
    }

    /// Works the back-channel logout queue every `period`, until the runtime stops.
    pub fn spawn_logout_deliveries(
        &self,
        period: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        self.every(period, Start::AtOnce, |services| async move {
            if let Err(error) = services.deliver_logouts().await {
                tracing::warn!(%error, "back-channel logout deliveries failed");
            }
        })
    }

    /// Sends the due back-channel logout tokens once, [`LOGOUT_BATCH`] at the most, all at once;
    /// returns how many were delivered. Sent one after the other, a relying party that never
    /// answers held each round 5 s a token (the request's bound) and every tenant's logouts
    /// waited behind it; at once, a round lasts at most one bound.
    pub async fn deliver_logouts(&self) -> Result<usize, OAuthError> {
        let now = self.clock.now();
        let lease = now + self.lease();
        let rows = self
            .store
            .run(move |conn| {
                deliveries::QUEUE.claim_due::<DeliveryRow>(conn, now, lease, LOGOUT_BATCH, None)
            })
            .await?;
        let mut sending = tokio::task::JoinSet::new();
        for row in rows {
            let services = self.clone();
            sending.spawn(async move { services.deliver_logout(row).await });
        }
        let (mut delivered, mut failed) = (0, None);
        while let Some(joined) = sending.join_next().await {
            match joined {
                Ok(Ok(true)) => delivered += 1,
                Ok(Ok(false)) => {}
                Ok(Err(error)) => failed = Some(error),
                Err(error) => failed = Some(OAuthError::server(error)),
            }
        }
        failed.map_or(Ok(delivered), Err)
    }

    /// One attempt at the back-channel logout `row` (claimed by this node), its outcome recorded;
    /// whether it was delivered.
    async fn deliver_logout(&self, row: DeliveryRow) -> Result<bool, OAuthError> {
        let now = self.clock.now();
        let outcome = self.post_logout(&row, now).await;
        let attempts = row.queue.attempts + 1;
        if let Err(error) = &outcome {
            tracing::warn!(
                client = %row.client_id, attempts, %error,
                "back-channel logout not delivered"
            );
        }
        let delivered = outcome.is_ok();
        let counted = if delivered { "delivered" } else { "failed" };
        Metrics::count(&self.metrics.deliveries, &row.tenant_id, counted);
        self.store
            .run(move |conn| match outcome {
                Ok(()) => deliveries::QUEUE.done(conn, &row.id, now),
                Err(error) => {
                    // A client no longer configured never takes it: given up after the minutes a
                    // rolling restart takes (another node may have the client still, or
                    // already), not retried for hours.
                    let retry = backchannel::retry_at(now, attempts).filter(|_| {
                        error != backchannel::NOWHERE || attempts < backchannel::NOWHERE_ATTEMPTS
                    });
                    let claimed = (row.id.as_str(), row.queue.locked_until);
                    deliveries::QUEUE
                        .failed(conn, claimed, &error, retry)
                        .map(|_| ())
                }
            })
            .await?;
        Ok(delivered)
    }

    /// Signs the logout token of `row` at `now` and POSTs it to the relying party's back-channel
    /// logout URI as the tenant's file has it now (an e-service that moved its endpoint while the
    /// old one was down hears of the logouts queued meanwhile), or the one it was queued for when
    /// this node's file gives the client none (a node of a rolling restart that has not the URI
    /// yet); [`backchannel::NOWHERE`] when this node has not the client (nor its tenant).
    async fn post_logout(
        &self,
        row: &DeliveryRow,
        now: chrono::NaiveDateTime,
    ) -> Result<(), String> {
        let minter = self.minter(&row.tenant_id, now);
        let Some(client) = minter
            .as_ref()
            .and_then(|m| m.tenant.client(&row.client_id))
        else {
            return Err(backchannel::NOWHERE.to_string());
        };
        let uri = client
            .backchannel_logout_uri
            .clone()
            .unwrap_or_else(|| row.uri.clone());
        let token = minter
            .ok_or_else(|| OAuthError::server("a delivery of an unknown tenant"))
            .and_then(|m| backchannel::sign(&m, row))
            .map_err(|error| error.to_string())?;
        match self
            .http
            .post(&uri)
            .form(&[("logout_token", token)])
            .send()
            .await
        {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(format!("HTTP {}", response.status())),
            Err(error) => Err(error.to_string()),
        }
    }

    /// The keys a client publishes at `jwks_uri` (see [`ClientKeys`]).
    pub async fn client_keys(&self, jwks_uri: &str) -> Result<Arc<JwkSet>, String> {
        self.client_keys.get(&self.http, jwks_uri).await
    }

    /// Deletes what has expired every `period`, until the runtime stops. Every node runs it; on
    /// PostgreSQL one node at a time does a round.
    pub fn spawn_cleanup(&self, period: Duration) -> tokio::task::JoinHandle<()> {
        self.every(period, Start::AtOnce, |services| async move {
            match services.purge_expired().await {
                Ok(purged) if purged.rows > 0 => {
                    tracing::info!(rows = purged.rows, "expired rows deleted");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "the expiry clean-up failed"),
            }
        })
    }

    /// One round of the expiry clean-up, with each tenant's audit retention, and the erasure of
    /// the accounts whose deletion is due.
    pub async fn purge_expired(&self) -> Result<crate::store::cleanup::Purged, StoreError> {
        let now = self.clock.now();
        let audit_before: Vec<(String, chrono::NaiveDateTime)> = self
            .config
            .tenants
            .values()
            .filter_map(|t| {
                let days = t.audit.retention_days?;
                Some((t.id.clone(), now - chrono::Duration::days(i64::from(days))))
            })
            .collect();
        let config = self.config.clone();
        self.store
            .run(move |conn| {
                let erasing: Vec<crate::store::Tenant<'_>> = config
                    .tenants
                    .values()
                    .map(crate::store::Tenant::of)
                    .collect();
                crate::store::cleanup::purge(conn, now, &audit_before, &erasing)
            })
            .await
    }

    /// Seals the audit events written since the last round every `period`, until the runtime
    /// stops, so that an event is outside the hash chain only briefly. Every node runs it; on
    /// PostgreSQL one node at a time does a round.
    pub fn spawn_audit_sealer(&self, period: Duration) -> tokio::task::JoinHandle<()> {
        self.every(period, Start::AtOnce, |services| async move {
            if let Err(error) = services.seal_audit().await {
                tracing::warn!(%error, "sealing the audit trail failed");
            }
        })
    }

    /// One round of the audit sealer ([`crate::store::audit_chain::seal`]): batches of
    /// [`SEAL_BATCH`] events, a transaction each so that no writer waits long, until a batch is
    /// not full or [`SEAL_BATCHES`] have run (a backlog, such as a trail from before the chain,
    /// takes several rounds).
    pub async fn seal_audit(&self) -> Result<audit_chain::Sealed, StoreError> {
        let mut round = audit_chain::Sealed::default();
        for _ in 0..SEAL_BATCHES {
            let batch = self
                .store
                .run(|conn| audit_chain::seal(conn, SEAL_BATCH))
                .await?;
            round.ran |= batch.ran;
            round.events += batch.events;
            if !batch.ran || i64::try_from(batch.events).unwrap_or(0) < SEAL_BATCH {
                break;
            }
        }
        Ok(round)
    }

    /// The metrics in the OpenMetrics text format, with the gauges set now: the queues of every
    /// tenant (two indexed counts a tenant, on a blocking thread), the database and hashing
    /// pools, and the age of every tenant's active signing keys. A database that does not give
    /// the queues within [`QUEUES_READ_WITHIN`] leaves their gauges as they were, says so in
    /// `idp_queue_gauges_stale`, and the rest is answered all the same: an outage is when the
    /// requests' 503s and the pool's gauges are wanted.
    pub async fn scrape(&self) -> Result<String, StoreError> {
        let _one_at_a_time = self.metrics.scraping.lock().await;
        let now = self.clock.now();
        let config = self.config.clone();
        let read = self.store.run(move |conn| {
            let mut waiting = Vec::new();
            for tenant in config.tenants.values() {
                let tenant = crate::store::Tenant::of(tenant);
                let mail = outbox::QUEUE.waiting(conn, tenant)?;
                let logouts = deliveries::QUEUE.waiting(conn, tenant)?;
                waiting.push((tenant.id().to_string(), mail, logouts.0));
            }
            Ok::<_, StoreError>(waiting)
        });
        let m = &self.metrics;
        let queues = match tokio::time::timeout(QUEUES_READ_WITHIN, read).await {
            Ok(Ok(queues)) => Some(queues),
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot read the queues for the metrics");
                None
            }
            Err(_) => {
                tracing::warn!("the queues for the metrics were not read in time");
                None
            }
        };
        m.queues_stale.set(i64::from(queues.is_none()));
        for (tenant, (mails, oldest), logouts) in queues.into_iter().flatten() {
            let label = TenantLabels { tenant };
            m.outbox_waiting.get_or_create(&label).set(mails);
            let age = oldest.map_or(0.0, |at| seconds_between(at, now));
            m.outbox_oldest.get_or_create(&label).set(age);
            m.deliveries_waiting.get_or_create(&label).set(logouts);
        }
        let (in_use, idle) = self.store.connections();
        for (kind, n) in [("in_use", in_use), ("idle", idle)] {
            let gauge = m.db_connections.get_or_create(&KindLabels { kind });
            gauge.set(i64::from(n));
        }
        let load = self.hashing.load();
        m.hashing_queue
            .set(i64::try_from(load.queued).unwrap_or(i64::MAX));
        m.hashing_in_flight
            .set(i64::try_from(load.running).unwrap_or(i64::MAX));
        self.set_key_ages(now);
        m.encode()
            .map_err(|_| StoreError::Task("cannot encode the metrics".into()))
    }

    /// Sets the age of each tenant's active keys and the time to their planned rotation.
    fn set_key_ages(&self, now: chrono::NaiveDateTime) {
        let rotation_days = self
            .config
            .settings
            .metrics
            .as_ref()
            .map_or(90, |metrics| metrics.key_rotation_days);
        let ring = self.keys.current();
        for tenant in self.config.tenants.values() {
            let keys = ring.tenant(&tenant.id);
            for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA] {
                let label = KeyLabels {
                    tenant: tenant.id.clone(),
                    alg: crate::crypto::keys::alg_name(alg),
                };
                // No key signs: no age to show (a frozen one would hide it; /readyz tells).
                let Some(active) = keys.and_then(|keys| keys.active(alg, now)) else {
                    self.metrics.key_age.remove(&label);
                    self.metrics.key_rotation_due.remove(&label);
                    continue;
                };
                let due = active.activates_at + chrono::Duration::days(i64::from(rotation_days));
                let age = seconds_between(active.activates_at, now);
                self.metrics.key_age.get_or_create(&label).set(age);
                let until = -seconds_between(due, now);
                self.metrics
                    .key_rotation_due
                    .get_or_create(&label)
                    .set(until);
            }
        }
    }

    /// Sends the outbox every `period`, until the runtime stops.
    pub fn spawn_mail_worker(&self, period: Duration) -> tokio::task::JoinHandle<()> {
        self.every(period, Start::AtOnce, |services| async move {
            if let Err(error) = services.send_mail(None).await {
                tracing::warn!(%error, "sending mail failed");
            }
        })
    }

    /// Sends the due mails once (or only the mail `only`); returns how many were sent.
    pub async fn send_mail(&self, only: Option<String>) -> Result<usize, StoreError> {
        Ok(self.send_outbox(only).await?.succeeded)
    }

    /// Sends the due mails once (or only the mail `only`): how many this round claimed, and sent.
    async fn send_outbox(&self, only: Option<String>) -> Result<Worked, StoreError> {
        // A send_now serves a request: a failure is told to the resident, and audited.
        let at_once = only.is_some();
        // The lease should outlast a batch: 4 mails, one after the other, each attempt given up
        // after `mail.timeout_seconds` (at most 60 s, 15 by default; `mail::MailTransport`).
        let round = i64::try_from(crate::config::MAILS_A_ROUND).unwrap_or(4);
        self.work_queue(outbox::QUEUE, round, only, |row: MailRow| async move {
            let started = std::time::Instant::now();
            let outcome = self
                .mail
                .send(
                    &self.config.settings.mail.from,
                    &row.to_address,
                    &row.subject,
                    &row.body_text,
                    &row.body_html,
                )
                .await;
            let now = self.clock.now();
            let attempts = row.queue.attempts + 1;
            if let Err(error) = &outcome {
                let error = error.for_log();
                tracing::warn!(kind = %row.kind, mail_id = %row.id, attempts, error, "mail not sent");
            }
            let sent = outcome.is_ok();
            // The relay's state for the requests that send no mail: only the relay's own failure
            // counts. A reply about this mail's recipient (no such mailbox, a domain it cannot
            // resolve) says the relay answers; one that counted would let anyone who registers a
            // bogus address turn the cover around.
            let relay_failed = outcome.as_ref().is_err_and(|e| e.relay_failed());
            self.relay.record(relay_failed, started.elapsed());
            let counted = if sent { "sent" } else { "failed" };
            Metrics::count(&self.metrics.mail, &row.tenant_id, counted);
            let remote_addr = client_address();
            // A recipient lettre refuses never becomes sendable, and a relay's permanent refusal
            // (no such mailbox) would only repeat: give up at once.
            let for_good = outcome.as_ref().is_err_and(|e| e.permanent());
            let retry = if for_good || mail::unsendable(&row.to_address) {
                None
            } else {
                mail::retry_at(now, attempts)
            };
            self.store
                .run(move |conn| match outcome {
                    Ok(()) => outbox::QUEUE.done(conn, &row.id, now),
                    Err(error) => crate::store::write_transaction(conn, |conn| {
                        let claimed = (row.id.as_str(), row.queue.locked_until);
                        let recorded = outbox::QUEUE.failed(conn, claimed, &error.0, retry)?;
                        if recorded && (retry.is_none() || at_once) {
                            mail::audit_failed(
                                conn,
                                &row,
                                attempts,
                                retry.is_none(),
                                remote_addr.as_deref(),
                                now,
                            )?;
                        }
                        Ok(())
                    }),
                })
                .await?;
            Ok(sent)
        })
        .await
    }

    /// Sends mail `id` now (as [`Services::send_now`]); whether the resident must be told that it
    /// could not be sent: it failed, or its outcome could not be read.
    pub async fn send_failed(&self, id: &str) -> bool {
        matches!(self.send_now(id).await, Ok(Some(false)) | Err(_))
    }

    /// For a request that writes no mail where another would have (an address without an
    /// account, or one past its mail limit): whether it must answer as a failed mail does, that
    /// is while this node's relay fails; then after as long as the failed attempt took (at most
    /// [`SEND_NOW_WAIT`]). See `mail/relay_state.rs`.
    pub async fn unsent_as_failed(&self) -> bool {
        let Some(took) = self.relay.failing() else {
            return false;
        };
        tokio::time::sleep(took.min(SEND_NOW_WAIT)).await;
        true
    }

    /// Tries to send mail `id` now, and tells whether it left (`Some(true)`), failed
    /// (`Some(false)`) or is still with another sender after [`SEND_NOW_WAIT`] (`None`). When a
    /// mail worker (of this node or another) claimed the mail first, this waits for its outcome,
    /// so the resident is told the truth either way.
    pub async fn send_now(&self, id: &str) -> Result<Option<bool>, StoreError> {
        let tried_here = self.send_outbox(Some(id.to_string())).await?.claimed > 0;
        let deadline = tokio::time::Instant::now() + SEND_NOW_WAIT;
        loop {
            let id = id.to_string();
            let row = self.store.run(move |conn| outbox::find(conn, &id)).await?;
            let outcome = match &row {
                Some(row) if row.queue.status == "sent" => Some(true),
                Some(row) if row.queue.status == "failed" || row.queue.last_error.is_some() => {
                    Some(false)
                }
                _ => None,
            };
            if let (Some(false), Some(row), false) = (outcome, row, tried_here) {
                self.audit_failure_seen(row).await?;
            }
            if outcome.is_some() || tokio::time::Instant::now() >= deadline {
                return Ok(outcome);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Records `mail.failed` for a request that is told its mail failed when a worker, not the
    /// request, made the attempt: the worker audits only the attempt it gives up after, so that
    /// each failure a resident is shown is recorded once, with the resident's address.
    async fn audit_failure_seen(&self, row: MailRow) -> Result<(), StoreError> {
        if row.queue.status == "failed" {
            return Ok(());
        }
        let (now, remote_addr) = (self.clock.now(), client_address());
        self.store
            .run(move |conn| {
                let attempts = row.queue.attempts;
                mail::audit_failed(conn, &row, attempts, false, remote_addr.as_deref(), now)
            })
            .await
    }
}
