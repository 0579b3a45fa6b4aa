//! The main file, `config/idp.toml`: server, database, mail, tenants directory, logging.

use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

/// The main configuration file with its environment overrides applied.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `[server]`
    pub server: ServerSettings,
    /// `[database]`
    pub database: DatabaseSettings,
    /// `[mail]`
    pub mail: MailSettings,
    /// `[tenants]`
    pub tenants: TenantsSettings,
    /// `[log]`, optional.
    #[serde(default)]
    pub log: LogSettings,
    /// `[telemetry]`, optional: traces exported over OTLP.
    #[serde(default)]
    pub telemetry: TelemetrySettings,
    /// `[keys]`, optional.
    #[serde(default)]
    pub keys: KeysSettings,
    /// `[tokens]`, optional.
    #[serde(default)]
    pub tokens: TokenSettings,
    /// `[templates]`, optional.
    #[serde(default)]
    pub templates: TemplatesSettings,
    /// `[queues]`, optional.
    #[serde(default)]
    pub queues: QueuesSettings,
    /// `[limits]`, optional: the limits of a node on what anyone can make it store.
    #[serde(default)]
    pub limits: LimitsSettings,
    /// `[metrics]`, optional: without it no metrics listener runs.
    #[serde(default)]
    pub metrics: Option<MetricsSettings>,
}

/// `[metrics]`: the Prometheus metrics, served at `/metrics` on a listener of their own, never
/// on the public one (docs/operations.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Address and port of the metrics listener, `127.0.0.1:9464`; not `server.bind`.
    pub bind: SocketAddr,
    /// Days after a signing key begins to sign that its rotation (`idp keys rotate`) is planned:
    /// the metric `idp_signing_key_rotation_due_seconds` counts down to it.
    #[serde(default = "default_key_rotation_days")]
    pub key_rotation_days: u32,
}

fn default_key_rotation_days() -> u32 {
    90
}

/// How many mails a node's round of the outbox takes and sends one after the other: the lease
/// must outlast that many attempts of `mail.timeout_seconds` (check-config).
pub const MAILS_A_ROUND: u64 = 4;

/// `[queues]`: how the nodes share the mail outbox and the back-channel logout queue.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueuesSettings {
    /// Seconds a node holds a mail or a logout delivery it claimed; when a node dies, another
    /// sends what it held once this has passed. Keep it above a batch's worst case (4 mails of
    /// `mail.timeout_seconds` each, 60 s by default), or a slow relay can make a mail go out twice.
    pub lease_seconds: u64,
}

impl Default for QueuesSettings {
    fn default() -> Self {
        Self { lease_seconds: 300 }
    }
}

/// `[limits]`: what one client address can make the nodes store before anyone has logged in,
/// in every tenant together (they share the database's disk), and what one signed-in resident
/// can make them store.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSettings {
    /// Authorization requests one client address (an IPv6 address per /64) may have waiting for
    /// a login at once, with the pushes of public clients: up to 21 KB each (pushed 37 KB), for
    /// `tokens.authorization_request_seconds`. Generous, since residents behind one address (a
    /// family, an office, a mobile operator's NAT) share it.
    pub waiting_requests_per_address: u64,
    /// Pushed authorization requests one confidential e-service may have waiting at once (RFC
    /// 9126 pushes from its server: one address for all its residents, so counted per e-service
    /// of a tenant rather than per address), up to 37 KB each, for 60 s. Enough for 30 logins
    /// a second of one e-service; what an e-service whose secret leaked can make the nodes store.
    pub pushed_requests_per_client: u64,
    /// Changes a signed-in resident may make on the account page in an hour (of the kinds that
    /// add to the account's audit trail without a password check: a name, a passkey added or
    /// renamed, a download of the data, a change of address asked for, a one-time code set up,
    /// recovery codes renewed, an old account's link mailed). Ending sessions, revoking an
    /// e-service, removing a passkey, changing the password and asking for the deletion are never
    /// refused nor counted.
    pub account_changes_per_hour: u64,
}

impl Default for LimitsSettings {
    fn default() -> Self {
        Self {
            waiting_requests_per_address: 100,
            pushed_requests_per_client: 2_000,
            account_changes_per_hour: 30,
        }
    }
}

/// `[templates]`: a city's own versions of the built-in pages and mails.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplatesSettings {
    /// A directory with `pages/<name>.html`, `static/idp.css` or `mail/<kind>/<part>` files that
    /// replace the built-in ones of the same name (read at start; no rebuild).
    pub dir: Option<PathBuf>,
}

/// A signature algorithm for ID tokens and access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    #[default]
    RS256,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// Ed25519.
    EdDSA,
}

/// `keys.encryption_key` is not 32 bytes in base64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("keys.encryption_key must be 32 bytes in base64 (as `openssl rand -base64 32` prints)")]
pub struct MalformedKey;

/// The 32 bytes of a key-encryption key given in standard base64 (surrounding whitespace
/// ignored), as `keys.encryption_key` and the development key file hold it.
pub fn encryption_key_bytes(text: &str) -> Result<Vec<u8>, MalformedKey> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| MalformedKey)?;
    if bytes.len() != 32 {
        return Err(MalformedKey);
    }
    Ok(bytes)
}

/// `[keys]`: how signing keys are protected and rotated.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeysSettings {
    /// The key-encryption key, 32 bytes in base64; best given as `IDP__KEYS__ENCRYPTION_KEY`.
    pub encryption_key: Option<SecretString>,
    /// Where a development key-encryption key is kept when `encryption_key` is not set.
    pub development_key_file: PathBuf,
    /// Lets `idp serve` run on the development key although the public URL is `https://`
    /// (a staging server); without it such a server refuses to start.
    pub allow_development_key: bool,
    /// Seconds between `idp keys rotate` publishing a key and the key signing.
    pub activation_delay_seconds: u64,
}

impl Default for KeysSettings {
    fn default() -> Self {
        Self {
            encryption_key: None,
            development_key_file: PathBuf::from("data/key-encryption-key.dev"),
            allow_development_key: false,
            activation_delay_seconds: 3600,
        }
    }
}

/// `[tokens]`: lifetimes and the access-token algorithm.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenSettings {
    /// Lifetime of access tokens.
    pub access_token_seconds: u64,
    /// Lifetime of ID tokens.
    pub id_token_seconds: u64,
    /// Lifetime of a refresh token bound to the browser session.
    pub refresh_token_seconds: u64,
    /// Lifetime of an `offline_access` refresh token.
    pub offline_refresh_token_seconds: u64,
    /// Lifetime of an authorization request waiting for the resident.
    pub authorization_request_seconds: u64,
    /// Lifetime of an SSO session (a browser-session cookie).
    pub session_seconds: u64,
    /// Lifetime of a "remember me" session and its persistent cookie.
    pub remember_seconds: u64,
    /// Lifetime of a mailed set-password or reset link.
    pub link_seconds: u64,
    /// Algorithm of access tokens (RFC 9068 JWTs).
    pub access_token_alg: SigningAlg,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            access_token_seconds: 300,
            id_token_seconds: 300,
            refresh_token_seconds: 8 * 3600,
            offline_refresh_token_seconds: 30 * 24 * 3600,
            authorization_request_seconds: 1800,
            session_seconds: 8 * 3600,
            remember_seconds: 30 * 24 * 3600,
            link_seconds: 3600,
            access_token_alg: SigningAlg::ES256,
        }
    }
}

impl TokenSettings {
    /// The longest a token signed now stays valid: how long a retired key must stay published.
    pub fn longest_signed_token_seconds(&self) -> u64 {
        self.access_token_seconds.max(self.id_token_seconds) + 300
    }
}

/// `[server]`: where to listen and the public address.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address and port to listen on, `127.0.0.1:8080`; port 0 picks a free one.
    pub bind: SocketAddr,
    /// The address residents and e-services reach the provider at; issuers start with it.
    pub public_url: Url,
    /// HTTP worker threads; default: one per core.
    pub workers: Option<usize>,
    /// Take the client's address from `X-Forwarded-For`/`Forwarded` (only behind a proxy that
    /// sets them; otherwise clients could pose as any address).
    #[serde(default)]
    pub trust_forwarded_for: bool,
    /// Seconds that requests in flight get to finish after SIGTERM.
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout_seconds: u64,
    /// A MaxMind DB file (GeoLite2-City or -Country layout) that names a session's coarse location
    /// from its client address, for the tenants whose `[sessions] location` is on. Read at start.
    #[serde(default)]
    pub geoip_database: Option<PathBuf>,
}

fn default_shutdown_timeout() -> u64 {
    30
}

impl ServerSettings {
    /// `public_url` without a trailing slash, the base of every issuer.
    pub fn public_base(&self) -> &str {
        self.public_url.as_str().trim_end_matches('/')
    }

    /// The WebAuthn relying-party id: the public URL's host when it is a domain name; `None` for
    /// an IP address, where browsers refuse WebAuthn ("This is an invalid domain").
    pub fn webauthn_host(&self) -> Option<&str> {
        match self.public_url.host() {
            Some(url::Host::Domain(name)) => Some(name),
            _ => None,
        }
    }
}

/// `[database]`: which store, and the connection pool.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://PATH` or `postgres://…` (it may hold a password, hence secret).
    pub url: SecretString,
    /// Connections in the pool.
    #[serde(default = "default_pool_size")]
    pub max_connections: u32,
    /// SQLite only: when a commit is synced to disk.
    #[serde(default)]
    pub sqlite_synchronous: SqliteSynchronous,
}

/// When SQLite syncs a commit to disk (its `synchronous` pragma, in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    /// Every commit is synced: a committed transaction survives a power loss.
    #[default]
    Full,
    /// Commits are synced at checkpoints only: they survive a crash of idp, but a power loss
    /// may take back the last ones.
    Normal,
}

impl SqliteSynchronous {
    /// The pragma's value.
    pub fn pragma(self) -> &'static str {
        match self {
            SqliteSynchronous::Full => "FULL",
            SqliteSynchronous::Normal => "NORMAL",
        }
    }
}

fn default_pool_size() -> u32 {
    8
}

/// The storage backend a database URL selects.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseBackend {
    /// An embedded SQLite file at this path.
    Sqlite(PathBuf),
    /// A PostgreSQL server at this URL.
    Postgres(String),
}

impl std::fmt::Debug for DatabaseBackend {
    /// Never shows a PostgreSQL password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseBackend::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            DatabaseBackend::Postgres(url) => {
                let redacted = match Url::parse(url) {
                    Ok(mut parsed) if parsed.password().is_some() => {
                        let _ = parsed.set_password(Some("REDACTED"));
                        parsed.to_string()
                    }
                    Ok(parsed) => parsed.to_string(),
                    Err(_) => "<unparsable URL>".to_string(),
                };
                f.debug_tuple("Postgres").field(&redacted).finish()
            }
        }
    }
}

impl DatabaseSettings {
    /// The backend the URL names, or why it names none.
    pub fn backend(&self) -> Result<DatabaseBackend, String> {
        let url = self.url.expose_secret();
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("sqlite:// needs a file path, as in sqlite://data/idp.sqlite".into());
            }
            Ok(DatabaseBackend::Sqlite(PathBuf::from(path)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseBackend::Postgres(without_gss_by_default(url)))
        } else {
            Err("must start with sqlite:// or postgres://".into())
        }
    }
}

/// `url` with `gssencmode=disable` unless it names a `gssencmode`. libpq otherwise first tries
/// GSSAPI encryption on every connection, through the Kerberos library, whose mutexes abort the
/// process when a pool thread still connects while a command exits (seen in CI: `k5_mutex_lock:
/// Received error 22`). TLS (`sslmode`) is what protects a connection; a site that uses GSSAPI
/// sets `gssencmode` in its URL.
fn without_gss_by_default(url: &str) -> String {
    if url.contains("gssencmode=") {
        return url.to_string();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}gssencmode=disable")
}

/// `[mail]`: how mail leaves.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    /// `file` (one .eml per mail in `dir`) or `smtp`.
    pub transport: MailTransport,
    /// For `file`: the directory mails are written to.
    pub dir: Option<PathBuf>,
    /// The sender, `Name <address>` or an address.
    pub from: String,
    /// For `smtp`: the relay's host name.
    pub host: Option<String>,
    /// For `smtp`: the port (default 587 for starttls, 465 for tls, 25 for none).
    pub port: Option<u16>,
    /// For `smtp`: `starttls` (default), `tls` or `none`.
    #[serde(default)]
    pub tls: SmtpTls,
    /// For `smtp`: lets a public (`https://`) server send with `tls = "none"` to a relay that is
    /// not on this host (a network the operator trusts); without it such a server refuses to
    /// start.
    #[serde(default)]
    pub allow_remote_plaintext: bool,
    /// For `smtp`: the user name to authenticate as, if any.
    pub username: Option<String>,
    /// For `smtp`: the environment variable holding the password (never the password itself).
    pub password_env: Option<String>,
    /// For `smtp`: seconds one attempt to hand a mail to the relay may take in all (connecting,
    /// the greeting, TLS, authentication, the message), 15 by default; then it is given up and
    /// retried later.
    #[serde(default = "default_mail_timeout_seconds")]
    pub timeout_seconds: u64,
}

fn default_mail_timeout_seconds() -> u64 {
    15
}

/// How mail is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// One `.eml` file per mail in `mail.dir`.
    File,
    /// An SMTP relay.
    Smtp,
}

/// TLS towards the SMTP relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required).
    #[default]
    Starttls,
    /// TLS from the first byte.
    Tls,
    /// No TLS: for a relay on the same host (on a public server, another host only with
    /// `allow_remote_plaintext`).
    None,
}

/// `[tenants]`: where the tenant files are.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantsSettings {
    /// Directory holding one `<id>.toml` per tenant.
    pub dir: PathBuf,
}

/// `[log]`: how the service logs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `text` (readable, default) or `json`.
    #[serde(default)]
    pub format: LogFormat,
    /// A tracing filter, `info` by default; `RUST_LOG` overrides it.
    #[serde(default = "default_log_level")]
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::default(),
            level: default_log_level(),
        }
    }
}

fn default_log_level() -> String {
    "info".into()
}

/// `[telemetry]`: OpenTelemetry traces of each request, its flow and its database calls, sent over
/// OTLP/HTTP (protobuf) to a collector. Off unless `otlp_endpoint` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySettings {
    /// The collector's base URL, such as `http://otel-collector:4318`; `/v1/traces` is appended.
    pub otlp_endpoint: Option<Url>,
    /// The `service.name` of the spans.
    pub service_name: String,
    /// The share of traces kept (0.0 to 1.0) when no incoming `traceparent` decides.
    pub sample_ratio: f64,
    /// Whether an incoming `traceparent` continues its trace (and decides its sampling). Off
    /// where requests come from the internet through a proxy that passes the header on: any
    /// client could then have every request of its own kept, or put it in an e-service's trace.
    pub follow_traceparent: bool,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            service_name: "idp".into(),
            sample_ratio: 1.0,
            follow_traceparent: true,
        }
    }
}

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}
