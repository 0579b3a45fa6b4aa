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

both_stores!(email_is_unique_per_tenant_case_insensitively);
async fn email_is_unique_per_tenant_case_insensitively(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(backend, dir.path());
    store::migrate(&db.backend).unwrap();
    let mut conn = connect(&db);
    let now = NaiveDate::from_ymd_opt(2026, 11, 23)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap();
    let user =
        |id: &'static str, tenant: &'static str, email: &'static str| store::users::NewUser {
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
        };
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
