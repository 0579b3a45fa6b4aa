//! The database of a server under test, read and written directly: users added as `users add`
//! does, old accounts as the import inserts them, the audit trail read back, and the store's
//! handle of a tenant.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use idp::clock::Clock;
use idp::store::legacy::LegacyRow;
use idp::store::schema::{audit_events, legacy_accounts};
use idp::store::{DbConnection, Store};
use serde_json::Value;

use super::TestApp;

/// A user as `users add` makes one: a resident's address (verified) or an authority's username,
/// a name and a password, each optional.
#[derive(Debug, Default, Clone, Copy)]
pub struct NewUser<'a> {
    pub email: Option<&'a str>,
    pub username: Option<&'a str>,
    pub name: Option<&'a str>,
    pub password: Option<&'a str>,
}

impl<'a> NewUser<'a> {
    /// An authority user: `username` (no address), `name` and `password`.
    pub fn authority(username: &'a str, name: &'a str, password: &'a str) -> NewUser<'a> {
        NewUser {
            email: None,
            username: Some(username),
            name: Some(name),
            password: Some(password),
        }
    }
}

/// Adds `user` to `tenant` of the database `store` opens: the user's subject, or the refusal's
/// text.
pub async fn try_add(
    store: &Store,
    now: chrono::NaiveDateTime,
    tenant: &str,
    user: NewUser<'_>,
) -> Result<String, String> {
    let store = store.clone();
    let owned = |s: Option<&str>| s.map(str::to_string);
    let (tenant, email, username, name, password) = (
        tenant.to_string(),
        owned(user.email),
        owned(user.username),
        owned(user.name),
        owned(user.password),
    );
    tokio::task::spawn_blocking(move || {
        let email = email.map(|e| idp::domain::Email::parse(&e).unwrap());
        let hash =
            password.map(|p| idp::crypto::password::hash(&secrecy::SecretString::from(p)).unwrap());
        let mut conn = store.conn().unwrap();
        idp::flows::users::add(
            &mut conn,
            now,
            &idp::flows::users::AddUser {
                tenant: self::tenant(&tenant),
                email: email.as_ref(),
                username: username.as_deref(),
                name: name.as_deref(),
                password_hash: hash.as_deref(),
                email_verified: email.is_some(),
            },
        )
        .map(|added| added.subject)
        .map_err(|e| e.to_string())
    })
    .await
    .unwrap()
}

/// Adds a resident with a password to `tenant` of the database `store` opens; returns the
/// user's subject.
pub async fn add_user(
    store: &Store,
    now: chrono::NaiveDateTime,
    tenant: &str,
    email: &str,
    password: &str,
    name: &str,
) -> String {
    let user = NewUser {
        email: Some(email),
        name: Some(name),
        password: Some(password),
        ..NewUser::default()
    };
    try_add(store, now, tenant, user).await.unwrap()
}

/// The user of `email` at `tenant`, read through `conn`.
pub fn find_user(conn: &mut DbConnection, tenant: &str, email: &str) -> idp::store::users::UserRow {
    idp::store::users::find_by_email(conn, self::tenant(tenant), email)
        .unwrap()
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

/// An old account to import: `Old::new(tenant, username, subject).email(…).hash(…)`.
#[derive(Debug, Clone, Copy)]
pub struct Old<'a> {
    pub tenant: &'a str,
    pub username: &'a str,
    pub subject: &'a str,
    pub email: Option<&'a str>,
    pub hash: Option<&'a str>,
    pub authority: bool,
}

impl<'a> Old<'a> {
    /// A resident's old account without an address or a hash.
    pub fn new(tenant: &'a str, username: &'a str, subject: &'a str) -> Old<'a> {
        Old {
            tenant,
            username,
            subject,
            email: None,
            hash: None,
            authority: false,
        }
    }

    /// With this address.
    pub fn email(self, email: &'a str) -> Old<'a> {
        Old {
            email: Some(email),
            ..self
        }
    }

    /// With this old password hash.
    pub fn hash(self, hash: &'a str) -> Old<'a> {
        Old {
            hash: Some(hash),
            ..self
        }
    }

    /// An authority's account (it logs in with its old username).
    pub fn authority(self) -> Old<'a> {
        Old {
            authority: true,
            ..self
        }
    }
}

impl TestApp {
    /// Adds `user` to `tenant` as [`try_add`] does.
    pub async fn add(&self, tenant: &str, user: NewUser<'_>) -> Result<String, String> {
        try_add(&self.services.store, self.clock.now(), tenant, user).await
    }

    /// Imports the CSV export `csv` into `tenant` as `idp import-legacy` does, from a file named
    /// `source`; its summary.
    pub async fn import_csv(
        &self,
        tenant: &str,
        source: &'static str,
        csv: String,
    ) -> idp::flows::legacy_import::Summary {
        let tenant = self.services.config.tenant(tenant).unwrap().clone();
        let now = self.clock.now();
        self.db_run(move |conn| {
            let options = idp::flows::legacy_import::Options {
                tenant: &tenant,
                format: idp::flows::legacy_import::Format::Csv,
                dry_run: false,
                allow_subject_change: false,
                retire_missing: false,
                source,
            };
            idp::flows::legacy_import::import(conn, csv.as_bytes(), &options, now).unwrap()
        })
        .await
    }

    /// Inserts a legacy account as the import does; returns its id.
    pub async fn import(&self, old: Old<'_>) -> String {
        let tenant = self.services.config.tenant(old.tenant).unwrap().clone();
        let now = self.clock.now();
        let id = uuid::Uuid::new_v4().to_string();
        let email_normalized = old.email.map(|e| {
            idp::domain::Email::parse(e)
                .unwrap()
                .normalized()
                .to_string()
        });
        let row = LegacyRow {
            id: id.clone(),
            tenant_id: old.tenant.into(),
            username: old.username.into(),
            username_normalized: idp::domain::lookup_key(old.username),
            subject: old.subject.into(),
            email: old.email.map(str::to_string),
            email_normalized: email_normalized.clone(),
            password_hash: old.hash.map(str::to_string),
            hash_format: old
                .hash
                .and_then(|h| idp::crypto::legacy::detect(h, tenant.legacy.salted_sha.as_ref()))
                .map(|f| f.name().to_string()),
            name: None,
            is_authority: old.authority,
            linked_user_id: None,
            linked_at: None,
            imported_at: now,
            updated_at: now,
            exported_email_normalized: email_normalized,
        };
        self.db_run(move |conn| {
            diesel::insert_into(legacy_accounts::table)
                .values(&row)
                .execute(conn)
                .unwrap();
        })
        .await;
        id
    }

    /// The legacy account `id`, of whichever tenant holds it.
    pub async fn legacy_row(&self, id: &str) -> LegacyRow {
        let id = id.to_string();
        self.db_run(move |conn| {
            ["seinajoki", "kouvola"]
                .into_iter()
                .find_map(|t| idp::store::legacy::find(conn, tenant(t), &id).unwrap())
                .unwrap()
        })
        .await
    }

    /// The id of the user an old account is bound to.
    pub async fn bound_to(&self, id: &str) -> Option<String> {
        self.legacy_row(id).await.linked_user_id
    }

    /// The internal id of the user of `email` at `tenant`.
    pub async fn user_id(&self, tenant: &str, email: &str) -> String {
        self.user_by_email(tenant, email).await.id
    }

    /// The user of `email` at `tenant`.
    pub async fn user_by_email(&self, tenant: &str, email: &str) -> idp::store::users::UserRow {
        let (tenant, email) = (tenant.to_string(), email.to_string());
        self.db_run(move |conn| find_user(conn, &tenant, &email))
            .await
    }

    /// The kinds of the audit events of `tenant`, oldest first.
    pub async fn audit_kinds(&self, tenant: &str) -> Vec<String> {
        let tenant = tenant.to_string();
        self.db_run(move |conn| idp::store::audit::kinds(conn, self::tenant(&tenant)).unwrap())
            .await
    }

    /// Makes the database refuse every audit event of `kind` (a fault: a full disk, a lost
    /// connection at that statement) until [`TestApp::allow_audit`].
    pub async fn refuse_audit(&self, kind: &str) {
        let kind = kind.to_string();
        self.db_run(move |conn| {
            let sql = match conn {
                DbConnection::Sqlite(_) => format!(
                    "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events \
                     WHEN NEW.kind = '{kind}' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
                ),
                DbConnection::Postgres(_) => format!(
                    "CREATE FUNCTION refuse_audit() RETURNS trigger AS $$ BEGIN \
                     IF NEW.kind = '{kind}' THEN RAISE EXCEPTION 'refused by the test'; END IF; \
                     RETURN NEW; END $$ LANGUAGE plpgsql; \
                     CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events \
                     FOR EACH ROW EXECUTE FUNCTION refuse_audit()"
                ),
            };
            conn.batch_execute(&sql).unwrap();
        })
        .await;
    }

    /// Undoes [`TestApp::refuse_audit`].
    pub async fn allow_audit(&self) {
        self.db_run(|conn| {
            let sql = match conn {
                DbConnection::Sqlite(_) => "DROP TRIGGER refuse_audit",
                DbConnection::Postgres(_) => {
                    "DROP TRIGGER refuse_audit ON audit_events; DROP FUNCTION refuse_audit()"
                }
            };
            conn.batch_execute(sql).unwrap();
        })
        .await;
    }

    /// The audit events of `tenant` of kind `kind`, oldest first.
    pub async fn audited(&self, tenant: &str, kind: &str) -> Vec<Audited> {
        let (tenant, kind) = (tenant.to_string(), kind.to_string());
        self.db_run(move |conn| {
            audit_events::table
                .filter(audit_events::tenant_id.eq(tenant))
                .filter(audit_events::kind.eq(kind))
                .order(audit_events::id.asc())
                .select((
                    audit_events::kind,
                    audit_events::user_id,
                    audit_events::client_id,
                    audit_events::remote_addr,
                    audit_events::detail,
                ))
                .load::<Audited>(conn)
                .unwrap()
        })
        .await
    }

    /// The details of the audit events of `kind` in `tenant`, as JSON (`null` for none), oldest
    /// first.
    pub async fn audit_details(&self, tenant: &str, kind: &str) -> Vec<Value> {
        self.audited(tenant, kind)
            .await
            .into_iter()
            .map(|e| serde_json::from_str(&e.detail.unwrap_or_else(|| "null".into())).unwrap())
            .collect()
    }

    /// Every audit detail of `tenant`, as text.
    pub async fn all_audit_details(&self, tenant: &str) -> Vec<String> {
        let tenant = tenant.to_string();
        self.db_run(move |conn| {
            audit_events::table
                .filter(audit_events::tenant_id.eq(tenant))
                .select(audit_events::detail)
                .load::<Option<String>>(conn)
                .unwrap()
                .into_iter()
                .flatten()
                .collect()
        })
        .await
    }

    /// Runs `work` on a connection of the server's store, off the executor.
    pub async fn db_run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut DbConnection) -> T + Send + 'static,
    ) -> T {
        let store = self.services.store.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = store.conn().unwrap();
            let conn: &mut DbConnection = &mut conn;
            work(conn)
        })
        .await
        .unwrap()
    }

    /// A transaction of a connection of its own to the server's PostgreSQL database that has run
    /// `sql` (taking a lock), and holds what it took until [`Held::release`].
    pub fn hold(&self, sql: &str) -> Held {
        use diesel::Connection;
        let mut conn = diesel::PgConnection::establish(&self.db.url).unwrap();
        diesel::sql_query("BEGIN").execute(&mut conn).unwrap();
        let rows = diesel::sql_query(sql).execute(&mut conn).unwrap();
        Held { conn, rows }
    }

    /// Asserts that the server answers its health check (a statement on a pooled connection)
    /// within two seconds: its pool has a connection for it.
    pub async fn assert_pool_serves(&self) {
        let health = tokio::time::timeout(std::time::Duration::from_secs(2), self.get("/healthz"))
            .await
            .expect("the health check waited for a connection");
        assert_eq!(health.status(), 200);
    }

    /// A count by SQL (`SELECT count(*) AS n …`) on the server's store.
    pub async fn count(&self, sql: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let sql = sql.to_string();
        self.db_run(move |conn| diesel::sql_query(sql).get_result::<Count>(conn).unwrap().n)
            .await
    }
}

/// An audit event: kind, user, client, address, detail.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Audited {
    pub kind: String,
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub remote_addr: Option<String>,
    pub detail: Option<String>,
}

/// What [`TestApp::hold`] holds.
pub struct Held {
    conn: diesel::PgConnection,
    /// The rows its statement returned.
    pub rows: usize,
}

impl Held {
    /// Commits, giving up what it held.
    pub fn release(mut self) {
        diesel::sql_query("COMMIT").execute(&mut self.conn).unwrap();
    }
}
