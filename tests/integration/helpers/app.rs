//! The server under test: [`TestApp`], started by [`TestApp::builder`] on port 0 over a fresh
//! database, with the test configuration of `helpers::write_test_config`.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use idp::app::Services;
use idp::clock::{Clock, OffsetClock};
use idp::http::{Application, Signals};
use idp::store::Store;
use tempfile::TempDir;

use super::{Backend, TestDb, add_user, header, read_mails, write_test_config};

/// The `[mail]` section of a relay that refuses every connection (port 9): no mail can be sent.
pub const UNREACHABLE_SMTP: &str = r#"[mail]
transport = "smtp"
host = "127.0.0.1"
port = 9
tls = "none"
from = "idp <no-reply@idp.localhost>""#;

/// A running server on a fresh database.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub db: TestDb,
    pub services: Services,
    /// The server's clock; `clock.advance(s)` lets things expire.
    pub clock: Arc<OffsetClock>,
    /// Holds the configuration, mail and SQLite files until the test ends.
    dir: TempDir,
    /// The metrics listener's address, when the builder asked for one ([`TestAppBuilder::metrics`]).
    pub metrics: Option<std::net::SocketAddr>,
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

/// How to start a [`TestApp`]: the test configuration, with what a test adds to it.
pub struct TestAppBuilder {
    backend: Backend,
    tenant_toml: String,
    tenant_top: Vec<String>,
    mail_toml: Option<String>,
    server_toml: Vec<String>,
    users: Vec<[String; 4]>,
    localhost: bool,
    main_toml: Vec<String>,
    unix_socket: bool,
}

impl TestAppBuilder {
    /// Appends `toml` (clients, sections) to the seinajoki tenant's file.
    pub fn tenant_toml(mut self, toml: &str) -> Self {
        self.tenant_toml.push_str(toml);
        self
    }

    /// Adds a top-level key (a `name = value` line, before any table) to the seinajoki tenant's
    /// file, such as `authority_second_factor = "off"`.
    pub fn tenant_setting(mut self, line: &str) -> Self {
        self.tenant_top.push(line.to_string());
        self
    }

    /// Replaces the `[mail]` section with `toml` (which starts with `[mail]`).
    pub fn mail_toml(mut self, toml: &str) -> Self {
        self.mail_toml = Some(toml.to_string());
        self
    }

    /// Adds keys (`name = value` lines) to the `[server]` section.
    pub fn server_toml(mut self, toml: &str) -> Self {
        self.server_toml.push(toml.to_string());
        self
    }

    /// Appends `toml` (a section) to the main file.
    pub fn main_toml(mut self, toml: &str) -> Self {
        self.main_toml.push(toml.to_string());
        self
    }

    /// Serves the metrics on a listener of their own at 127.0.0.1 and a free port
    /// ([`TestApp::metrics`], [`TestApp::scrape`]).
    pub fn metrics(self) -> Self {
        self.main_toml("[metrics]\nbind = \"127.0.0.1:0\"")
    }

    /// Trusts `X-Forwarded-For` for the client's address (as behind a proxy).
    pub fn behind_proxy(self) -> Self {
        self.server_toml("trust_forwarded_for = true")
    }

    /// The public URL is `http://localhost:PORT` (the server still listens on 127.0.0.1):
    /// WebAuthn refuses an IP address, so passkeys are on only with a host name.
    pub fn localhost(mut self) -> Self {
        self.localhost = true;
        self
    }

    /// On PostgreSQL, the server reaches its database through the Unix socket of
    /// `helpers::postgres_socket_url` instead of TCP (the test database is still made over TCP).
    pub fn unix_socket(mut self) -> Self {
        self.unix_socket = true;
        self
    }

    /// Mail goes to [`UNREACHABLE_SMTP`]: every mail fails.
    pub fn unreachable_smtp(self) -> Self {
        self.mail_toml(UNREACHABLE_SMTP)
    }

    /// A user with a password added to `tenant` once the server runs (as [`TestApp::add_user`]).
    pub fn user(mut self, tenant: &str, email: &str, password: &str, name: &str) -> Self {
        self.users
            .push([tenant, email, password, name].map(str::to_string));
        self
    }

    /// Starts the server (and its mail and logout workers) on 127.0.0.1:0.
    pub async fn spawn(self) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDb::new(self.backend, dir.path());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let base = if self.localhost {
            format!("http://localhost:{}", address.port())
        } else {
            format!("http://{address}")
        };
        let database_url = match &db.pg_name() {
            Some(name) if self.unix_socket => {
                let mut url = url::Url::parse(&super::postgres_socket_url().expect("a socket"))
                    .expect("IDP_TEST_POSTGRES_SOCKET_URL is a URL");
                url.set_path(name);
                url.to_string()
            }
            _ => db.url.clone(),
        };
        let path = write_test_config(
            dir.path(),
            &base,
            &database_url,
            &self.tenant_toml,
            self.mail_toml.as_deref(),
        );
        if !self.tenant_top.is_empty() {
            let tenant = dir.path().join("tenants/seinajoki.toml");
            let text = std::fs::read_to_string(&tenant).unwrap();
            std::fs::write(&tenant, format!("{}\n{text}", self.tenant_top.join("\n"))).unwrap();
        }
        if !self.server_toml.is_empty() {
            let text = std::fs::read_to_string(&path).unwrap();
            let keys = self.server_toml.join("\n");
            let text = text.replacen("[server]\n", &format!("[server]\n{keys}\n"), 1);
            std::fs::write(&path, text).unwrap();
        }
        if !self.main_toml.is_empty() {
            let text = std::fs::read_to_string(&path).unwrap();
            std::fs::write(
                &path,
                format!(
                    "{text}
{}
",
                    self.main_toml.join(
                        "
"
                    )
                ),
            )
            .unwrap();
        }
        let app = launch(
            dir,
            db,
            &path,
            listener,
            base,
            Arc::new(OffsetClock::default()),
        )
        .await;
        for [tenant, email, password, name] in &self.users {
            app.add_user(tenant, email, password, name).await;
        }
        app
    }
}

/// Starts the server of the configuration at `path` (in `dir`, over `db`) on `listener`, whose
/// URL is `base`, with its mail and logout workers, on `clock`.
async fn launch(
    dir: TempDir,
    db: TestDb,
    path: &std::path::Path,
    listener: TcpListener,
    base: String,
    clock: Arc<OffsetClock>,
) -> TestApp {
    let config = Arc::new(idp::config::load(path).unwrap());
    let settings = config.settings.database.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&settings))
        .await
        .unwrap()
        .unwrap();
    let shared: idp::clock::SharedClock = clock.clone();
    let services = tokio::task::spawn_blocking(move || Services::start(config, store, shared))
        .await
        .unwrap()
        .unwrap();
    let worker = services.spawn_logout_deliveries(std::time::Duration::from_millis(100));
    let mailer = services.spawn_mail_worker(std::time::Duration::from_millis(100));
    let app = Application::with_listener(listener, services.clone(), Signals::Ignore).unwrap();
    let handle = app.handle();
    let metrics = app.metrics_address();
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
        dir,
        metrics,
        handle,
        worker,
        mailer,
    }
}

impl TestApp {
    /// A server to start with options: `TestApp::builder(backend).tenant_toml(…).spawn().await`.
    pub fn builder(backend: Backend) -> TestAppBuilder {
        TestAppBuilder {
            backend,
            tenant_toml: String::new(),
            tenant_top: Vec::new(),
            mail_toml: None,
            server_toml: Vec::new(),
            users: Vec::new(),
            localhost: false,
            main_toml: Vec::new(),
            unix_socket: false,
        }
    }

    /// The server with the test configuration as it is.
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::builder(backend).spawn().await
    }

    /// The server on PostgreSQL, or `None` (printed) when the PostgreSQL half is skipped (see
    /// `helpers::postgres_admin_url`).
    pub async fn on_postgres() -> Option<TestApp> {
        super::postgres_admin_url()?;
        Some(Self::spawn(Backend::Postgres).await)
    }

    /// [`TestApp::on_postgres`], behind a proxy (`X-Forwarded-For` read as the client address).
    pub async fn on_postgres_behind_proxy() -> Option<TestApp> {
        super::postgres_admin_url()?;
        Some(
            Self::builder(Backend::Postgres)
                .behind_proxy()
                .spawn()
                .await,
        )
    }

    /// The server with `toml` appended to the seinajoki tenant's file (as
    /// [`TestAppBuilder::tenant_toml`]).
    pub async fn with_tenant_toml(backend: Backend, toml: &str) -> TestApp {
        Self::builder(backend).tenant_toml(toml).spawn().await
    }

    /// The server with the top-level key `line` in the seinajoki tenant's file (as
    /// [`TestAppBuilder::tenant_setting`]).
    pub async fn with_tenant_setting(backend: Backend, line: &str) -> TestApp {
        Self::builder(backend).tenant_setting(line).spawn().await
    }

    /// The server with a resident of seinajoki (`email`, `password`, `name`).
    pub async fn with_user(backend: Backend, email: &str, password: &str, name: &str) -> TestApp {
        Self::builder(backend)
            .user("seinajoki", email, password, name)
            .spawn()
            .await
    }

    /// The mails written so far (the file transport's `.eml` files), decoded to text.
    pub fn mails(&self) -> Vec<String> {
        read_mails(&self.dir.path().join("mail"))
    }

    /// The server's `idp.toml`, for running the `idp` binary on the same configuration and
    /// database.
    pub fn config_path(&self) -> std::path::PathBuf {
        self.dir.path().join("idp.toml")
    }

    /// `idp --config <the server's> <args>`, run to its end (as an operator runs the CLI beside
    /// the service, on the same configuration and database).
    pub async fn cli(&self, args: &[&str]) -> std::process::Output {
        self.cli_os(args).await
    }

    /// [`TestApp::cli`] with arguments that need not be UTF-8.
    pub async fn cli_os<A: AsRef<std::ffi::OsStr>>(&self, args: &[A]) -> std::process::Output {
        let mut command = crate::node::idp();
        command
            .arg("--config")
            .arg(&self.services.config.path)
            .args(args);
        tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap()
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

    /// Gets `path`, which must answer `status` with the `Content-Type` `content_type`: the text.
    pub async fn get_text(&self, path: &str, status: u16, content_type: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), status, "{path}");
        assert_eq!(response.headers()["content-type"], content_type, "{path}");
        response.text().await.unwrap()
    }

    /// A browser: its own cookies, redirects not followed.
    pub fn browser(&self) -> reqwest::Client {
        Self::browser_builder().build().unwrap()
    }

    /// A browser (as [`TestApp::browser`]) that sends `user_agent` as its `User-Agent`.
    pub fn browser_as(&self, user_agent: &str) -> reqwest::Client {
        Self::browser_builder()
            .user_agent(user_agent)
            .build()
            .unwrap()
    }

    /// A browser (as [`TestApp::browser`]) at client address `address`: it sends it as
    /// `X-Forwarded-For`, which only a server [behind a proxy](TestAppBuilder::behind_proxy)
    /// reads.
    pub fn browser_at(&self, address: &str) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-forwarded-for", address.parse().unwrap());
        Self::browser_builder()
            .default_headers(headers)
            .build()
            .unwrap()
    }

    pub fn browser_builder() -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
    }

    /// The server's time now.
    pub fn now(&self) -> chrono::NaiveDateTime {
        self.clock.now()
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

    /// `GET /metrics` of the metrics listener: the status, `Content-Type` and text.
    pub async fn scrape(&self) -> (u16, String, String) {
        let address = self.metrics.expect("a server started with metrics()");
        let url = format!("http://{address}/metrics");
        let response = self.http.get(url).send().await.unwrap();
        let content_type = header(&response, "content-type").unwrap_or_default();
        let status = response.status().as_u16();
        (status, content_type, response.text().await.unwrap())
    }

    /// Stops the mail and logout workers, so that every statement the store runs from now on is
    /// a request's (`tests/integration/statements.rs`).
    pub fn stop_workers(&self) {
        self.worker.abort();
        self.mailer.abort();
    }

    /// Stops the server, letting requests in flight finish.
    pub async fn stop(&self) {
        self.worker.abort();
        self.mailer.abort();
        self.handle.stop(true).await;
    }

    /// Stops this server and starts another at the same address, with the same configuration
    /// (key-encryption key, tenants) and clock, over a fresh database of the same backend that
    /// `restore` fills first: an operator's restore of a backup.
    pub async fn restart_on(self, restore: impl FnOnce(&TestDb) + Send + 'static) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let backend = match self.db.backend {
            idp::config::DatabaseBackend::Sqlite(_) => Backend::Sqlite,
            idp::config::DatabaseBackend::Postgres(_) => Backend::Postgres,
        };
        let db = TestDb::new(backend, dir.path());
        let db = tokio::task::spawn_blocking(move || {
            restore(&db);
            db
        })
        .await
        .unwrap();
        // The same files, moved into the new directory and pointed at the new database.
        let (old, new) = (self.dir.path(), dir.path());
        let text = std::fs::read_to_string(old.join("idp.toml")).unwrap();
        let text = text
            .replace(&self.db.url, &db.url)
            .replace(&old.display().to_string(), &new.display().to_string());
        let path = new.join("idp.toml");
        std::fs::write(&path, text).unwrap();
        std::fs::create_dir_all(new.join("tenants")).unwrap();
        for entry in std::fs::read_dir(old.join("tenants")).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), new.join("tenants").join(entry.file_name())).unwrap();
        }
        self.relaunch(dir, db, &path).await
    }

    /// Stops this server and starts another at the same address and with the same clock, over
    /// `db`, with the configuration at `path` (in `dir`).
    async fn relaunch(mut self, dir: TempDir, db: TestDb, path: &Path) -> TestApp {
        let (base, clock) = (self.base.clone(), self.clock.clone());
        let port = url::Url::parse(&base).unwrap().port().unwrap();
        self.stop().await;
        // The workers ended, not only told to: one still writing holds SQLite's database from
        // the next server's start.
        self.worker.abort();
        self.mailer.abort();
        let _ = (&mut self.worker).await;
        let _ = (&mut self.mailer).await;
        drop(self);
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        launch(dir, db, path, listener, base, clock).await
    }

    /// Stops this server and starts another at the same address over the same database and
    /// clock, after `edit` changed its configuration files (the directory holding `idp.toml` and
    /// `tenants/`): an operator's change between two starts.
    pub async fn restart_with(mut self, edit: impl FnOnce(&Path)) -> TestApp {
        edit(self.dir.path());
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        let kept = TestDb {
            url: self.db.url.clone(),
            backend: self.db.backend.clone(),
            pg_admin: None,
        };
        let db = std::mem::replace(&mut self.db, kept);
        let path = dir.path().join("idp.toml");
        self.relaunch(dir, db, &path).await
    }
}
