//! What every test starts from: the store it runs on ([`both_stores!`]), a fresh database, the
//! test configuration, and the running server ([`TestApp`], in `app.rs`); the mails it wrote
//! (`mail.rs`), an SMTP relay that can stall (`relay.rs`), its database read and written directly
//! (`store.rs`), and a resident's journeys through its pages ([`journeys`]).

mod app;
pub mod authority;
pub mod journeys;
mod mail;
mod relay;
mod store;
pub mod webauthn;

use std::path::{Path, PathBuf};

use diesel::{Connection, RunQueryDsl};
use idp::config::DatabaseBackend;

pub use app::{TestApp, TestAppBuilder};
pub use mail::{decode_quoted_printable, find_link, read_mails};
pub use relay::Relay;
pub use store::{Audited, NewUser, Old, add_user, find_user, tenant};

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

/// `at` (UTC, as idp keeps times) in Helsinki time, as the pages of the test tenants write it.
pub fn helsinki(at: chrono::NaiveDateTime) -> chrono::DateTime<chrono_tz::Tz> {
    at.and_utc().with_timezone(&chrono_tz::Europe::Helsinki)
}

/// Asserts that `text` (a page, a mail) contains `needle`; the message shows `text`.
#[track_caller]
pub fn assert_has(text: &str, needle: &str) {
    assert!(text.contains(needle), "{text}");
}

/// The header `name` of `response` as text, if it has one.
pub fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    let value = response.headers().get(name)?;
    Some(value.to_str().unwrap().to_string())
}

/// The PostgreSQL URL tests may create databases with, or `None` (printed) when the PostgreSQL
/// half is skipped. Panics under `CI=true`: there a missing PostgreSQL is a failure.
pub fn postgres_admin_url() -> Option<String> {
    needed_under_ci("IDP_TEST_POSTGRES_URL", "the PostgreSQL half")
}

/// The URL of the test PostgreSQL's Unix socket (`scripts/with-postgres`), or `None` (printed)
/// when the tests over it are skipped. Panics under `CI=true`, as [`postgres_admin_url`] does.
pub fn postgres_socket_url() -> Option<String> {
    needed_under_ci(
        "IDP_TEST_POSTGRES_SOCKET_URL",
        "the test over PostgreSQL's socket",
    )
}

/// The environment variable `name`, or `None` (printed) when it is unset or empty and `what`
/// needs it is skipped. Panics under `CI=true`: there `what` must run.
fn needed_under_ci(name: &str, what: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => Some(value),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but {name} is not set: {what} must run")
        }
        _ => {
            eprintln!("skipping {what}: {name} is not set");
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

    /// The PostgreSQL database's name (`None` on SQLite).
    pub fn pg_name(&self) -> Option<String> {
        self.pg_admin.as_ref().map(|(_, name)| name.clone())
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

/// Appends `more` to the file at `path`.
pub fn append(path: &Path, more: &str) {
    let mut text = std::fs::read_to_string(path).unwrap();
    text.push_str(more);
    std::fs::write(path, text).unwrap();
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

/// Makes the demo tenants that [`write_config`] copied into `dir` fit a public server: no export
/// imported at start, and each client secret given as the SHA-256 of a random one.
pub fn for_a_public_server(dir: &Path) {
    use sha2::Digest;
    for name in ["seinajoki.toml", "kouvola.toml"] {
        let path = dir.join("tenants").join(name);
        let mut text = String::new();
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            if line.starts_with("import_at_start") {
                continue;
            }
            if line.starts_with("client_secret = ") {
                let hash = hex::encode(sha2::Sha256::digest(test_kek()));
                text.push_str(&format!("client_secret_sha256 = \"{hash}\"\n"));
                continue;
            }
            if line.starts_with("policy = ") {
                text.push_str(line);
                text.push_str("\nprivacy_url = \"https://www.example.fi/tietosuoja\"\n");
                continue;
            }
            if line.starts_with("redirect_uris = ") {
                text.push_str(&line.replace("http://localhost:", "https://rp.example.fi:"));
                text.push('\n');
                continue;
            }
            text.push_str(line);
            text.push('\n');
        }
        std::fs::write(&path, text).unwrap();
    }
}

/// A random key-encryption key for a test's configuration.
pub fn test_kek() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
}

/// Relying parties of the test configuration (`test_clients.toml`), added to the `seinajoki` tenant. Their redirect
/// URIs are never contacted: tests read the redirects.
pub const TEST_CLIENTS: &str = concat!("\n", include_str!("test_clients.toml"));

/// The tenant TOML of a first-party confidential client `id` (its secret `{id}-secret`)
/// redirecting to `redirect`, with `more` settings (`name = value` lines).
pub fn first_party_client(id: &str, redirect: &str, more: &[&str]) -> String {
    let more: String = more.iter().map(|line| format!("{line}\n")).collect();
    format!(
        "\n[[clients]]\nclient_id = \"{id}\"\nclient_secret = \"{id}-secret\"\n\
         redirect_uris = [\"{redirect}\"]\n{more}first_party = true\n"
    )
}

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
    append(
        &dir.join("tenants/seinajoki.toml"),
        &format!("{TEST_CLIENTS}{extra_tenant_toml}"),
    );
    // The email-link tenant gets the same relying parties (the linker's tests use them).
    append(&dir.join("tenants/kouvola.toml"), TEST_CLIENTS);
    path
}

/// The versions of the migrations in `migrations/sqlite` (the same as PostgreSQL's), in order:
/// what a fresh database applies.
pub fn migration_versions() -> Vec<String> {
    let names = |backend: &str| {
        let mut names: Vec<String> =
            std::fs::read_dir(project_root().join("migrations").join(backend))
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
        names.sort();
        names
    };
    let sqlite = names("sqlite");
    assert_eq!(
        sqlite,
        names("postgres"),
        "both stores have the same migrations"
    );
    sqlite
        .iter()
        .map(|name| name.split('_').next().unwrap().replace('-', ""))
        .collect()
}
