//! Migrations up and down on both stores, `schema.rs` against the migrated tables, and the
//! constraints that keep the data correct.

use chrono::NaiveDate;
use diesel::r2d2::ManageConnection;
use diesel::{QueryDsl, RunQueryDsl};
use idp::store::schema::*;
use idp::store::{self, DbConnection, Manager, StoreError};

use crate::both_stores;
use crate::helpers::{Backend, TestDb};

fn connect(db: &TestDb) -> DbConnection {
    Manager::new(db.backend.clone())
        .connect()
        .unwrap()
        .into_inner()
}

/// A fresh database of `backend`, migrated, and a connection to it (the directory and the
/// database live as long as the first two).
fn migrated(backend: Backend) -> (tempfile::TempDir, TestDb, DbConnection) {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(backend, dir.path());
    store::migrate(&db.backend).unwrap();
    let conn = connect(&db);
    (dir, db, conn)
}

/// Selects every column `schema.rs` declares from every table: fails if one is missing.
fn select_every_column(conn: &mut DbConnection) -> Result<(), diesel::result::Error> {
    macro_rules! check {
        ($($table:ident),*) => {
            $( $table::table.select($table::all_columns).limit(1).execute(conn)?; )*
        };
    }
    check!(
        users,
        legacy_accounts,
        sso_sessions,
        auth_requests,
        grants,
        auth_codes,
        refresh_tokens,
        revoked_access_tokens,
        client_assertion_jtis,
        consents,
        one_time_links,
        mail_outbox,
        logout_deliveries,
        signing_keys,
        login_throttle,
        audit_events,
        mail_limit_events,
        passkeys,
        passkey_offers,
        totp_factors,
        recovery_codes,
        ceremonies,
        account_deletions,
        account_epochs
    );
    Ok(())
}

both_stores!(migrations_run_up_and_down);
async fn migrations_run_up_and_down(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(backend, dir.path());
    let applied = store::migrate(&db.backend).unwrap();
    assert_eq!(applied, crate::helpers::migration_versions());
    assert!(
        store::migrate(&db.backend).unwrap().is_empty(),
        "idempotent"
    );
    select_every_column(&mut connect(&db)).unwrap();

    store::revert_all(&db.backend).unwrap();
    let gone = select_every_column(&mut connect(&db)).unwrap_err();
    assert!(
        gone.to_string().contains("users"),
        "the tables are gone after down.sql: {gone}"
    );

    assert_eq!(
        store::migrate(&db.backend).unwrap(),
        crate::helpers::migration_versions()
    );
    select_every_column(&mut connect(&db)).unwrap();
}

both_stores!(accounts_imported_before_keep_their_address_as_the_exports);
/// Migration `2026-12-10-000001_legacy_exported_email`: an unlinked legacy account imported
/// before it counts its address as the export's (a re-import of the same export then changes
/// nothing); a linked one keeps none.
async fn accounts_imported_before_keep_their_address_as_the_exports(backend: Backend) {
    let (_dir, db, mut conn, again) = migrated_before(backend, "20261210000001");
    let now = december_first();
    let liisa = store::users::NewUser {
        subject: "S-2",
        email_verified: true,
        ..new_user("u1", "seinajoki", "liisa@testi.fi", now)
    };
    store::users::insert(&mut conn, &liisa).unwrap();
    for (id, username, email, linked) in [
        (
            "a1",
            "matti",
            "'Matti@Testi.fi', 'matti@testi.fi'",
            "NULL, NULL",
        ),
        (
            "a2",
            "liisa",
            "'liisa@testi.fi', 'liisa@testi.fi'",
            "'u1', '2026-12-01 11:00:00'",
        ),
        ("a3", "vanha", "NULL, NULL", "NULL, NULL"),
    ] {
        diesel::sql_query(format!(
            "INSERT INTO legacy_accounts (id, tenant_id, username, username_normalized, subject, \
             email, email_normalized, is_authority, linked_user_id, linked_at, imported_at, \
             updated_at) VALUES ('{id}', 'seinajoki', '{username}', '{username}', 'S-{id}', \
             {email}, FALSE, {linked}, '2026-12-01 10:00:00', '2026-12-01 10:00:00')"
        ))
        .execute(&mut conn)
        .unwrap();
    }
    assert_eq!(
        store::migrate(&db.backend).unwrap(),
        again,
        "the migration again, and those after it"
    );
    let mut exported = |id: &str| {
        let account = store::legacy::find(&mut conn, crate::helpers::tenant("seinajoki"), id)
            .unwrap()
            .unwrap();
        assert!(!account.has_support_address() || account.linked_user_id.is_some());
        account.exported_email_normalized
    };
    assert_eq!(exported("a1").as_deref(), Some("matti@testi.fi"));
    assert_eq!(exported("a2"), None, "linked");
    assert_eq!(exported("a3"), None);
}

/// A fresh database of `backend` migrated, then the migration `version` and those after it
/// reverted, and a connection to it: with their versions, in the order a migration applies them
/// again.
fn migrated_before(
    backend: Backend,
    version: &str,
) -> (tempfile::TempDir, TestDb, DbConnection, Vec<String>) {
    use diesel::Connection;
    use diesel_migrations::{FileBasedMigrations, MigrationHarness};
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(backend, dir.path());
    let versions = crate::helpers::migration_versions();
    let from = versions.iter().position(|v| v == version).unwrap();
    store::migrate(&db.backend).unwrap();
    let folder = |name: &str| {
        FileBasedMigrations::from_path(crate::helpers::project_root().join("migrations").join(name))
            .unwrap()
    };
    for _ in from..versions.len() {
        match &db.backend {
            idp::config::DatabaseBackend::Sqlite(path) => {
                let mut conn =
                    diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap();
                conn.revert_last_migration(folder("sqlite")).unwrap();
            }
            idp::config::DatabaseBackend::Postgres(url) => {
                let mut conn = diesel::PgConnection::establish(url).unwrap();
                conn.revert_last_migration(folder("postgres")).unwrap();
            }
        }
    }
    let conn = connect(&db);
    (dir, db, conn, versions[from..].to_vec())
}

/// 1 December 2026, 10:00: when the rows these tests write were made.
fn december_first() -> chrono::NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 12, 1)
        .unwrap()
        .and_hms_opt(10, 0, 0)
        .unwrap()
}

both_stores!(usernames_stored_before_are_folded);
/// Migration `2026-12-15-000001_usernames_folded`: a username's key stored lowercased only (an
/// old system's decomposed "Pääkäyttäjä") is folded as the login reads one (NFKC), so the composed
/// form a browser sends finds it; a key whose folded form another account of the tenant has stays
/// as it was (that spelling logs in to the other one, as before).
async fn usernames_stored_before_are_folded(backend: Backend) {
    let (dir, db, mut conn, again) = migrated_before(backend, "20261215000001");
    let now = december_first();
    // Authority users keyed by their lowercased, decomposed usernames; the second's folded key is
    // an unbound old account's (a2 below): folded, it would take that account's logins, a login
    // looking for users first.
    for (id, key, email) in [
        ("u1", "pa\u{308}a\u{308}llikko\u{308}", "paallikko@testi.fi"),
        ("u2", "a\u{308}a\u{308}ni", "aani@testi.fi"),
    ] {
        let user = store::users::NewUser {
            username: Some(key),
            username_normalized: Some(key),
            is_authority: true,
            ..new_user(id, "seinajoki", email, now)
        };
        store::users::insert(&mut conn, &user).unwrap();
    }
    for (id, key) in [
        ("a1", "pa\u{308}a\u{308}ka\u{308}ytta\u{308}ja\u{308}"),
        ("a2", "ääni"),
        ("a3", "a\u{308}a\u{308}ni"),
        ("a4", "matti"),
    ] {
        diesel::sql_query(format!(
            "INSERT INTO legacy_accounts (id, tenant_id, username, username_normalized, subject, \
             is_authority, imported_at, updated_at) VALUES ('{id}', 'seinajoki', '{key}', \
             '{key}', 'S-{id}', TRUE, '2026-12-01 10:00:00', '2026-12-01 10:00:00')"
        ))
        .execute(&mut conn)
        .unwrap();
    }
    // As an operator upgrades: `idp migrate`, which names the row it left for support to settle.
    let stderr = migrated_by_the_binary(dir.path(), &db, &again);
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        ["legacy_accounts\" id=\"a3", "users\" id=\"u2"].map(|row| format!(
            " WARN a username's folded key is another account's: left as it was \
             (docs/migration.md) table=\"{row}\""
        )),
        "{stderr}"
    );
    let tenant = crate::helpers::tenant("seinajoki");
    let old = |conn: &mut DbConnection, key: &str| {
        store::legacy::find_by_username(conn, tenant, key)
            .unwrap()
            .map(|a| a.id)
    };
    assert_eq!(old(&mut conn, "pääkäyttäjä").as_deref(), Some("a1"));
    assert_eq!(old(&mut conn, "ääni").as_deref(), Some("a2"));
    assert_eq!(
        old(&mut conn, "a\u{308}a\u{308}ni").as_deref(),
        Some("a3"),
        "left as it was"
    );
    assert_eq!(old(&mut conn, "matti").as_deref(), Some("a4"));
    let user = store::users::find_by_username(&mut conn, tenant, "päällikkö").unwrap();
    assert_eq!(user.map(|u| u.id).as_deref(), Some("u1"));
    let user = |conn: &mut DbConnection, key: &str| {
        store::users::find_by_username(conn, tenant, key)
            .unwrap()
            .map(|u| u.id)
    };
    assert_eq!(user(&mut conn, "ääni"), None, "a2 logs in, not u2");
    assert_eq!(
        user(&mut conn, "a\u{308}a\u{308}ni").as_deref(),
        Some("u2"),
        "left as it was"
    );
}

both_stores!(addresses_stored_before_are_keyed_by_their_ascii_domain);
/// Migration `2026-12-18-000001_addresses_ascii_domains`: an address keyed with its domain as
/// typed (`hämeenlinna.fi`) is keyed in the domain's ASCII form, as a browser's email field sends
/// it (`xn--hmeenlinna-q5a.fi`), so either form finds the one account; an old account's address
/// and the address its export gave too. A user whose new key another user of the tenant has is
/// left as it was, and `idp migrate` names it for support.
async fn addresses_stored_before_are_keyed_by_their_ascii_domain(backend: Backend) {
    let (dir, db, mut conn, again) = migrated_before(backend, "20261218000001");
    let now = december_first();
    for (id, key) in [
        ("u1", "äiti@äänekoski.fi"),
        ("u2", "pappa@xn--kyl-sla.fi"),
        ("u3", "pappa@kylä.fi"),
    ] {
        store::users::insert(&mut conn, &new_user(id, "seinajoki", key, now)).unwrap();
    }
    diesel::sql_query(
        "INSERT INTO legacy_accounts (id, tenant_id, username, username_normalized, email, \
         email_normalized, exported_email_normalized, subject, is_authority, imported_at, \
         updated_at) VALUES ('a1', 'seinajoki', 'matti', 'matti', 'Matti@Hämeenlinna.fi', \
         'matti@hämeenlinna.fi', 'matti@hämeenlinna.fi', 'S-a1', FALSE, \
         '2026-12-01 10:00:00', '2026-12-01 10:00:00')",
    )
    .execute(&mut conn)
    .unwrap();
    let stderr = migrated_by_the_binary(dir.path(), &db, &again);
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            " WARN an address's or username's new key is another account's: left as it was \
          (docs/migration.md) table=\"users\" id=\"u3\""
        ],
        "{stderr}"
    );
    let tenant = crate::helpers::tenant("seinajoki");
    let key = |typed: &str| {
        idp::domain::Email::parse(typed)
            .unwrap()
            .normalized()
            .to_string()
    };
    let user = |conn: &mut DbConnection, typed: &str| {
        store::users::find_by_email(conn, tenant, &key(typed))
            .unwrap()
            .map(|u| u.id)
    };
    assert_eq!(user(&mut conn, "Äiti@Äänekoski.fi").as_deref(), Some("u1"));
    assert_eq!(
        user(&mut conn, "äiti@xn--nekoski-4waa.fi").as_deref(),
        Some("u1")
    );
    assert_eq!(user(&mut conn, "pappa@kylä.fi").as_deref(), Some("u2"));
    for typed in ["matti@hämeenlinna.fi", "MATTI@xn--hmeenlinna-q5a.fi"] {
        let old = store::legacy::unlinked_by_email(&mut conn, tenant, &key(typed)).unwrap();
        let old: Vec<_> = old
            .iter()
            .map(|a| {
                (
                    a.id.as_str(),
                    a.email.as_deref(),
                    a.exported_email_normalized.as_deref(),
                )
            })
            .collect();
        // The address kept as given, for mail and claims; its keys in ASCII.
        let given = Some("Matti@Hämeenlinna.fi");
        let exported = Some("matti@xn--hmeenlinna-q5a.fi");
        assert_eq!(old, [("a1", given, exported)], "{typed}");
    }
}

both_stores!(an_undo_link_written_before_keeps_the_hash_its_account_forgets);
/// Migration `2026-12-14-000001_bound_old_accounts_forget_their_hash`: an old account that a
/// change of address bound forgets its hash, but the change's waiting undo link, written before
/// links carried the hash, gets it first (the undo gives it back to the old account); a used link
/// and one whose account had no hash are left as they were.
async fn an_undo_link_written_before_keeps_the_hash_its_account_forgets(backend: Backend) {
    let (_dir, db, mut conn, again) = migrated_before(backend, "20261214000001");
    let now = december_first();
    store::users::insert(
        &mut conn,
        &new_user("u1", "seinajoki", "uusi@testi.fi", now),
    )
    .unwrap();
    let hash = "$1$suola$JnNvYE0uxULmxVSLl6C0K0";
    for (id, hash) in [("a1", format!("'{hash}'")), ("a2", "NULL".into())] {
        diesel::sql_query(format!(
            "INSERT INTO legacy_accounts (id, tenant_id, username, username_normalized, subject, \
             password_hash, is_authority, linked_user_id, linked_at, imported_at, updated_at) \
             VALUES ('{id}', 'seinajoki', '{id}', '{id}', 'S-{id}', {hash}, FALSE, 'u1', \
             '2026-12-01 11:00:00', '2026-12-01 10:00:00', '2026-12-01 10:00:00')"
        ))
        .execute(&mut conn)
        .unwrap();
    }
    for (token, account, used) in [
        ("t1", "a1", "NULL"),
        ("t2", "a1", "'2026-12-01 12:00:00'"),
        ("t3", "a2", "NULL"),
    ] {
        diesel::sql_query(format!(
            "INSERT INTO one_time_links (token_hash, tenant_id, purpose, user_id, email, payload, \
             created_at, expires_at, used_at) VALUES ('{token}', 'seinajoki', \
             'undo_email_change', 'u1', 'vanha@testi.fi', \
             '{{\"new\":\"uusi@testi.fi\",\"seq\":1,\"bound\":{{\"account\":\"{account}\",\"exported\":null}}}}', \
             '2026-12-01 11:00:00', '2026-12-15 11:00:00', {used})"
        ))
        .execute(&mut conn)
        .unwrap();
    }
    assert_eq!(store::migrate(&db.backend).unwrap(), again);
    let mut kept = |token: &str| -> Option<String> {
        let payload: Option<String> = one_time_links::table
            .find(token)
            .select(one_time_links::payload)
            .get_result(&mut conn)
            .unwrap();
        let payload: serde_json::Value = serde_json::from_str(&payload.unwrap()).unwrap();
        payload["bound"]["hash"].as_str().map(str::to_string)
    };
    assert_eq!(kept("t1").as_deref(), Some(hash));
    assert_eq!(kept("t2"), None, "used");
    assert_eq!(kept("t3"), None, "no hash to keep");
    let forgotten: Vec<Option<String>> = legacy_accounts::table
        .select(legacy_accounts::password_hash)
        .load(&mut conn)
        .unwrap();
    assert_eq!(forgotten, [None, None]);
}

both_stores!(email_is_unique_per_tenant_case_insensitively);
async fn email_is_unique_per_tenant_case_insensitively(backend: Backend) {
    let (_dir, _db, mut conn) = migrated(backend);
    let now = NaiveDate::from_ymd_opt(2026, 11, 23)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap();
    let user = |id, tenant, email| new_user(id, tenant, email, now);
    store::users::insert(&mut conn, &user("u1", "seinajoki", "erkki@testi.fi")).unwrap();
    store::users::insert(&mut conn, &user("u2", "kouvola", "erkki@testi.fi")).unwrap();
    let duplicate = store::users::insert(&mut conn, &user("u3", "seinajoki", "erkki@testi.fi"));
    assert!(
        matches!(duplicate, Err(StoreError::UniqueViolation(_))),
        "{duplicate:?}"
    );
    // The normalised form is lowercase by construction, and the database insists.
    let uppercase = store::users::insert(&mut conn, &user("u4", "seinajoki", "ERKKI@testi.fi"));
    assert!(
        matches!(&uppercase, Err(StoreError::Query(e)) if e.to_string().contains("users_email_normalized_lower")
            || e.to_string().contains("CHECK constraint failed")),
        "{uppercase:?}"
    );
    let found = crate::helpers::find_user(&mut conn, "seinajoki", "erkki@testi.fi");
    assert_eq!(found.id, "u1");
    assert_eq!(
        store::users::list(&mut conn, crate::helpers::tenant("kouvola"))
            .unwrap()
            .len(),
        1
    );
}

/// A user `id` of `tenant` (its subject the id) with the unverified address `email` (lowercase)
/// and no password, made at `now`.
/// `idp migrate`, as an operator upgrades, on `db` (its configuration written into `dir`): it
/// applies the versions `again`, and what it prints on standard error.
fn migrated_by_the_binary(dir: &std::path::Path, db: &TestDb, again: &[String]) -> String {
    let config = crate::helpers::write_config(dir, "http://localhost:8080", &db.url);
    let out = crate::node::idp()
        .arg("--config")
        .arg(config)
        .arg("migrate")
        .output()
        .unwrap();
    let applied: String = again.iter().map(|v| format!("applied {v}\n")).collect();
    assert_eq!(crate::node::succeeded(&out), applied);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn new_user<'a>(
    id: &'a str,
    tenant: &'a str,
    email: &'a str,
    now: chrono::NaiveDateTime,
) -> store::users::NewUser<'a> {
    store::users::NewUser {
        id,
        tenant_id: tenant,
        subject: id,
        email: Some(email),
        email_normalized: Some(email),
        email_verified: false,
        username: None,
        username_normalized: None,
        is_authority: false,
        name: None,
        password_hash: None,
        password_changed_at: None,
        created_at: now,
        updated_at: now,
    }
}

/// A foreign key's column (its first) and its table.
#[derive(Debug, diesel::QueryableByName, PartialEq, Eq, PartialOrd, Ord)]
struct Unindexed {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_name: String,
}

both_stores!(every_foreign_key_leads_an_index);
/// Every foreign key's column leads an index of its table: deleting a referenced row (a session
/// the clean-up ends, an old account) finds its referencing rows through it, and so do the
/// queries by that column. Before, `auth_requests.session_id` and `.user_id` had none: every
/// session deleted read the whole table of waiting requests (which an attacker can fill), with
/// the SQLite writer held.
async fn every_foreign_key_leads_an_index(backend: Backend) {
    let (_dir, _db, mut conn) = migrated(backend);
    let query = match &conn {
        DbConnection::Sqlite(_) => {
            "SELECT m.name AS table_name, f.\"from\" AS column_name \
             FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f \
             WHERE m.type = 'table' AND f.seq = 0 AND NOT EXISTS ( \
               SELECT 1 FROM pragma_index_list(m.name) l JOIN pragma_index_info(l.name) i \
               WHERE i.seqno = 0 AND i.name = f.\"from\")"
        }
        DbConnection::Postgres(_) => {
            "SELECT c.conrelid::regclass::text AS table_name, a.attname::text AS column_name \
             FROM pg_constraint c JOIN pg_attribute a \
               ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
             WHERE c.contype = 'f' AND NOT EXISTS ( \
               SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1])"
        }
    };
    let mut unindexed: Vec<Unindexed> = match &mut conn {
        DbConnection::Sqlite(c) => diesel::sql_query(query).load(c).unwrap(),
        DbConnection::Postgres(c) => diesel::sql_query(query).load(c).unwrap(),
    };
    unindexed.sort();
    assert_eq!(unindexed, Vec::<Unindexed>::new());
}
