//! Spawning the server and fresh databases for tests.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use diesel::{Connection, RunQueryDsl};
use idp::app::Services;
use idp::clock::{Clock, OffsetClock};
use idp::config::DatabaseBackend;
use idp::http::{Application, Signals};
use idp::store::Store;
use tempfile::TempDir;

/// Which store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Defines `mod $name { sqlite, postgres }` running `$name(Backend)` on each store.
#[macro_export]
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use $crate::helpers::Backend;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if $crate::helpers::postgres_admin_url().is_some() {
                        super::$name(Backend::Postgres).await;
                    }
                }
            }
        )*
    };
}

/// The PostgreSQL URL tests may create databases with, or `None` (printed) when the PostgreSQL
/// half is skipped. Panics under `CI=true`: there a missing PostgreSQL is a failure.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("IDP_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but IDP_TEST_POSTGRES_URL is not set: the PostgreSQL half must run")
        }
        _ => {
            eprintln!("skipping the PostgreSQL half: IDP_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

/// A fresh database: a SQLite file in a temporary directory, or a PostgreSQL database that is
/// dropped when this value is.
pub struct TestDb {
    pub url: String,
    pub backend: DatabaseBackend,
    pg_admin: Option<(String, String)>,
}

impl TestDb {
    pub fn new(backend: Backend, dir: &Path) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let path = dir.join("data").join("idp.sqlite");
                TestDb {
                    url: format!("sqlite://{}", path.display()),
                    backend: DatabaseBackend::Sqlite(path),
                    pg_admin: None,
                }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url().expect("PostgreSQL URL");
                let name = format!("idp_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn =
                    diesel::PgConnection::establish(&admin).expect("connect to PostgreSQL");
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .expect("create the test database");
                let mut url = url::Url::parse(&admin).expect("IDP_TEST_POSTGRES_URL is a URL");
                url.set_path(&name);
                let url = url.to_string();
                TestDb {
                    backend: DatabaseBackend::Postgres(url.clone()),
                    url,
                    pg_admin: Some((admin, name)),
                }
            }
        }
    }

    /// Drops a PostgreSQL database now, even with connections open (tests of an outage).
    pub fn drop_now(&self) {
        if let Some((admin, name)) = &self.pg_admin {
            let mut conn = diesel::PgConnection::establish(admin).expect("connect to PostgreSQL");
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .expect("drop the test database");
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg_admin
            && let Ok(mut conn) = diesel::PgConnection::establish(admin)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn);
        }
    }
}

/// The project's root (where `config/` is).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A configuration directory for a test: `idp.toml` with the given public URL and database, and
/// the demo tenants, all under `dir`. Returns the path of `idp.toml`.
pub fn write_config(dir: &Path, public_url: &str, database_url: &str) -> PathBuf {
    let tenants = dir.join("tenants");
    std::fs::create_dir_all(&tenants).unwrap();
    for name in ["seinajoki.toml", "kouvola.toml"] {
        std::fs::copy(
            project_root().join("config/tenants").join(name),
            tenants.join(name),
        )
        .unwrap();
    }
    let path = dir.join("idp.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[server]
bind = "127.0.0.1:0"
public_url = "{public_url}"
workers = 1
shutdown_timeout_seconds = 5

[database]
url = "{database_url}"
max_connections = 4

[mail]
transport = "file"
dir = "{mail}"
from = "idp <no-reply@idp.localhost>"

[tenants]
dir = "{tenants}"

[keys]
encryption_key = "{kek}"
"#,
            kek = test_kek(),
            mail = dir.join("mail").display(),
            tenants = tenants.display(),
        ),
    )
    .unwrap();
    path
}

/// A random key-encryption key for a test's configuration.
pub fn test_kek() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
}

/// Relying parties of the test configuration, added to the `seinajoki` tenant. Their redirect
/// URIs are never contacted: tests read the redirects.
pub const TEST_CLIENTS: &str = r#"
[[clients]]
client_id = "rp-basic"
name = "Basic RP"
client_secret = "rp-basic-secret"
redirect_uris = ["http://127.0.0.1:9/callback"]
post_logout_redirect_uris = ["http://127.0.0.1:9/bye"]
grant_types = ["authorization_code", "refresh_token"]
token_endpoint_auth_method = "client_secret_basic"
id_token_signed_response_alg = "RS256"
first_party = true

[[clients]]
client_id = "rp-post"
client_secret_sha256 = "150E4A1C907F006817F529A7F7AF5CFE207BC87843F7D20FB438CE0C90B58E73"
redirect_uris = ["http://127.0.0.1:9/post-callback"]
grant_types = ["authorization_code"]
token_endpoint_auth_method = "client_secret_post"
id_token_signed_response_alg = "ES256"
first_party = true

[[clients]]
client_id = "rp-public"
redirect_uris = ["http://127.0.0.1:9/public-callback"]
grant_types = ["authorization_code", "refresh_token"]
token_endpoint_auth_method = "none"
id_token_signed_response_alg = "EdDSA"
first_party = true

[[clients]]
client_id = "rp-third"
name = "Kolmannen osapuolen palvelu"
client_secret = "rp-third-secret"
redirect_uris = ["http://127.0.0.1:9/third-callback"]
grant_types = ["authorization_code"]

[[clients]]
client_id = "service"
client_secret = "service-secret"
grant_types = ["client_credentials"]
"#;

/// [`write_config`] with the test clients ([`TEST_CLIENTS`]) in both tenants, `extra_tenant_toml`
/// appended to seinajoki, and the `[mail]` section replaced when `mail` is given.
pub fn write_test_config(
    dir: &Path,
    public_url: &str,
    database_url: &str,
    extra_tenant_toml: &str,
    mail: Option<&str>,
) -> PathBuf {
    let path = write_config(dir, public_url, database_url);
    if let Some(mail) = mail {
        let text = std::fs::read_to_string(&path).unwrap();
        let start = text.find("[mail]").unwrap();
        let end = text.find("[tenants]").unwrap();
        std::fs::write(
            &path,
            format!("{}{mail}\n\n{}", &text[..start], &text[end..]),
        )
        .unwrap();
    }
    let tenant = dir.join("tenants/seinajoki.toml");
    let mut text = std::fs::read_to_string(&tenant).unwrap();
    text.push_str(TEST_CLIENTS);
    text.push_str(extra_tenant_toml);
    std::fs::write(&tenant, text).unwrap();
    // The email-link tenant gets the same relying parties (the linker's tests use them).
    let kouvola = dir.join("tenants/kouvola.toml");
    let mut text = std::fs::read_to_string(&kouvola).unwrap();
    text.push_str(TEST_CLIENTS);
    std::fs::write(&kouvola, text).unwrap();
    path
}

/// A running server on a fresh database.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub db: TestDb,
    pub services: Services,
    /// The server's clock; `clock.advance(s)` lets things expire.
    pub clock: Arc<OffsetClock>,
    /// Holds the configuration, mail and SQLite files until the test ends.
    _dir: TempDir,
    handle: actix_web::dev::ServerHandle,
    worker: tokio::task::JoinHandle<()>,
    mailer: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    /// Stops the background worker before the database goes (a worker waiting for a connection
    /// to a dropped database would hold the test up).
    fn drop(&mut self) {
        self.worker.abort();
        self.mailer.abort();
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, "").await
    }

    /// As [`TestApp::spawn`], with more TOML appended to the seinajoki tenant (more clients).
    pub async fn spawn_with(backend: Backend, extra_tenant_toml: &str) -> TestApp {
        Self::spawn_full(backend, extra_tenant_toml, None).await
    }

    /// As [`TestApp::spawn_with`], with the `[mail]` section replaced when `mail` is given.
    pub async fn spawn_full(
        backend: Backend,
        extra_tenant_toml: &str,
        mail: Option<&str>,
    ) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDb::new(backend, dir.path());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let base = format!("http://{address}");
        let path = write_test_config(dir.path(), &base, &db.url, extra_tenant_toml, mail);
        let config = Arc::new(idp::config::load(&path).unwrap());
        let settings = config.settings.database.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(&settings))
            .await
            .unwrap()
            .unwrap();
        let clock = Arc::new(OffsetClock::default());
        let shared: idp::clock::SharedClock = clock.clone();
        let services = tokio::task::spawn_blocking(move || Services::start(config, store, shared))
            .await
            .unwrap()
            .unwrap();
        let worker = services.spawn_logout_deliveries(std::time::Duration::from_millis(100));
        let mailer = services.spawn_mail_worker(std::time::Duration::from_millis(100));
        let app = Application::with_listener(listener, services.clone(), Signals::Ignore).unwrap();
        let handle = app.handle();
        tokio::spawn(app.run());
        TestApp {
            base,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            db,
            services,
            clock,
            _dir: dir,
            handle,
            worker,
            mailer,
        }
    }

    /// The mails written so far (the file transport's `.eml` files), decoded to text.
    pub fn mails(&self) -> Vec<String> {
        read_mails(&self._dir.path().join("mail"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn issuer(&self, tenant: &str) -> String {
        format!("{}/{tenant}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    /// A browser: its own cookies, redirects not followed.
    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// Adds a user with a password to `tenant`; returns the user's subject.
    pub async fn add_user(&self, tenant: &str, email: &str, password: &str, name: &str) -> String {
        add_user(
            &self.services.store,
            self.clock.now(),
            tenant,
            email,
            password,
            name,
        )
        .await
    }

    /// Stops the server, letting requests in flight finish.
    pub async fn stop(&self) {
        self.worker.abort();
        self.mailer.abort();
        self.handle.stop(true).await;
    }
}

/// Undoes quoted-printable soft line breaks and escapes (enough to read links in mails).
pub fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mails in `dir` (the file transport's `.eml` files, complete ones only), oldest first,
/// decoded to text.
pub fn read_mails(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut mails: Vec<(std::time::SystemTime, String)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .filter_map(|e| {
            let modified = e.metadata().ok()?.modified().ok()?;
            let text = std::fs::read_to_string(e.path()).ok()?;
            // A mail being written is not there yet: every mail of ours ends with the
            // closing boundary of its multipart body.
            text.trim_end()
                .ends_with("--")
                .then(|| (modified, decode_quoted_printable(&text)))
        })
        .collect();
    mails.sort_by_key(|(t, _)| *t);
    mails.into_iter().map(|(_, m)| m).collect()
}

/// Adds a user with a password to `tenant` of the database `store` opens; returns the user's
/// subject.
pub async fn add_user(
    store: &Store,
    now: chrono::NaiveDateTime,
    tenant: &str,
    email: &str,
    password: &str,
    name: &str,
) -> String {
    let store = store.clone();
    let (tenant, email, password, name) = (
        tenant.to_string(),
        email.to_string(),
        password.to_string(),
        name.to_string(),
    );
    tokio::task::spawn_blocking(move || {
        let email = idp::domain::Email::parse(&email).unwrap();
        let hash = idp::crypto::password::hash(&secrecy::SecretString::from(password)).unwrap();
        let mut conn = store.conn().unwrap();
        idp::flows::users::add(
            &mut conn,
            now,
            &idp::flows::users::AddUser {
                tenant: self::tenant(&tenant),
                email: Some(&email),
                username: None,
                name: Some(&name),
                password_hash: Some(&hash),
                email_verified: true,
            },
        )
        .unwrap()
        .subject
    })
    .await
    .unwrap()
}

/// The store's handle of tenant `id`, for tests that read the database directly (a minimal
/// tenant configuration of that id, kept for the rest of the test binary's run).
pub fn tenant(id: &str) -> idp::store::Tenant<'static> {
    let config: idp::config::TenantConfig = toml::from_str(&format!(
        "id = \"{id}\"\nname = \"{id}\"\npolicy = \"keep-password\"\n"
    ))
    .unwrap();
    idp::store::Tenant::of(Box::leak(Box::new(config)))
}

impl TestApp {
    /// The newest link starting with `path` (`/{tenant}/reset?token=`…) in the mails (to `to`,
    /// when given), waiting up to five seconds for the outbox's worker.
    pub async fn newest_link(&self, to: Option<&str>, path: &str) -> String {
        let prefix = self.url(path);
        for _ in 0..100 {
            let found = self
                .mails()
                .iter()
                .rev()
                .filter(|mail| to.is_none_or(|to| mail.contains(&format!("To: {to}"))))
                .find_map(|mail| {
                    mail.split_whitespace()
                        .find(|w| w.starts_with(&prefix))
                        .map(str::to_string)
                });
            if let Some(link) = found {
                return link;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no {path} link to {to:?}: {:?}", self.mails())
    }
}
