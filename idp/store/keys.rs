//! The `signing_keys` table.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::signing_keys;
use super::{DbConnection, Result, Tenant};

/// A stored key.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct KeyRow {
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// The tenant whose issuer publishes it.
    pub tenant_id: String,
    /// `RS256`, `ES256` or `EdDSA`.
    pub alg: String,
    /// The public JWK, JSON.
    pub public_jwk: String,
    /// PKCS#8, sealed under the key-encryption key.
    pub private_key_encrypted: String,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Signs from here on (published at once).
    pub activates_at: NaiveDateTime,
    /// Stops signing.
    pub retired_at: Option<NaiveDateTime>,
    /// Leaves the JWKS.
    pub expires_at: Option<NaiveDateTime>,
}

/// The advisory lock that serialises the creation of missing keys (an arbitrary constant, next
/// to the migrations' and the clean-up's).
const CREATE_LOCK: i64 = 0x1d9_0003;

/// Inside a transaction, waits until no other transaction creates missing keys or rotates one,
/// so that nodes starting together on an empty PostgreSQL database create one key per tenant and
/// algorithm (the second reads what the first committed), and two rotations leave one key
/// unretired. The lock goes with the transaction. On SQLite it does nothing: its writers take
/// turns anyway.
pub fn lock_creation(conn: &mut DbConnection) -> Result<()> {
    if let DbConnection::Postgres(pg) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({CREATE_LOCK})")).execute(pg)?;
    }
    Ok(())
}

/// Stores a key.
pub fn insert(conn: &mut DbConnection, key: &KeyRow) -> Result<()> {
    super::rows::insert(conn, signing_keys::table, key)
}

/// The keys of `tenant` published at some time from `since` on, oldest first: with `since` now,
/// those in its JWKS; with an earlier `since`, also the retired ones that have left it since
/// (kept to verify `id_token_hint`s).
pub fn published_since(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    since: NaiveDateTime,
) -> Result<Vec<KeyRow>> {
    Ok(signing_keys::table
        .filter(signing_keys::tenant_id.eq(tenant.id()))
        .filter(
            signing_keys::expires_at
                .is_null()
                .or(signing_keys::expires_at.gt(since)),
        )
        .order((signing_keys::activates_at.asc(), signing_keys::kid.asc()))
        .select(KeyRow::as_select())
        .load(conn)?)
}

/// Keys of `tenant` and `alg` not yet retired.
pub fn unretired(conn: &mut DbConnection, tenant: &str, alg: &str) -> Result<Vec<KeyRow>> {
    Ok(signing_keys::table
        .filter(signing_keys::tenant_id.eq(tenant))
        .filter(signing_keys::alg.eq(alg))
        .filter(signing_keys::retired_at.is_null())
        .select(KeyRow::as_select())
        .load(conn)?)
}

/// Retires the unretired keys of `tenant` and `alg` other than `except` at `at`; they leave the
/// JWKS at `expires_at`.
pub fn retire_others(
    conn: &mut DbConnection,
    tenant: &str,
    alg: &str,
    except: &str,
    at: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> Result<usize> {
    Ok(diesel::update(
        signing_keys::table
            .filter(signing_keys::tenant_id.eq(tenant))
            .filter(signing_keys::alg.eq(alg))
            .filter(signing_keys::retired_at.is_null())
            .filter(signing_keys::kid.ne(except)),
    )
    .set((
        signing_keys::retired_at.eq(at),
        signing_keys::expires_at.eq(expires_at),
    ))
    .execute(conn)?)
}
