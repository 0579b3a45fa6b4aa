//! Administering users: add one, list a tenant's.

use chrono::NaiveDateTime;
use diesel::Connection;

use crate::domain::{Email, NewPassword};
use crate::store::{self, DbConnection, StoreError, audit, users::UserRow};

/// What is needed to add a user.
pub struct AddUser<'a> {
    /// The tenant's id (known to exist in the configuration).
    pub tenant: &'a str,
    /// The address, which is also the username.
    pub email: &'a Email,
    /// Display name.
    pub name: Option<&'a str>,
    /// The argon2id hash of the password, when one is set now.
    pub password_hash: Option<&'a str>,
    /// Whether the address is known to belong to the user (an administrator vouches for it).
    pub email_verified: bool,
}

/// Why a user could not be added.
#[derive(Debug, thiserror::Error)]
pub enum AddUserError {
    /// The address is taken in this tenant.
    #[error("a user with the address {email} already exists in tenant {tenant}")]
    EmailTaken {
        /// The address.
        email: String,
        /// The tenant.
        tenant: String,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for AddUserError {
    fn from(error: diesel::result::Error) -> Self {
        AddUserError::Store(error.into())
    }
}

/// Hashes nothing (do that first, off any lock): adds the user and its audit event in one
/// transaction. The subject is a fresh UUID.
pub fn add(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    input: &AddUser<'_>,
) -> Result<UserRow, AddUserError> {
    let id = store::new_id(now);
    let subject = uuid::Uuid::new_v4().to_string();
    let taken = || AddUserError::EmailTaken {
        email: input.email.to_string(),
        tenant: input.tenant.to_string(),
    };
    conn.transaction(|conn| {
        if store::users::find_by_email(conn, input.tenant, input.email.normalized())?.is_some() {
            return Err(taken());
        }
        let inserted = store::users::insert(
            conn,
            &store::users::NewUser {
                id: &id,
                tenant_id: input.tenant,
                subject: &subject,
                email: Some(input.email.as_entered()),
                email_normalized: Some(input.email.normalized()),
                email_verified: input.email_verified,
                name: input.name,
                password_hash: input.password_hash,
                password_changed_at: input.password_hash.map(|_| now),
                created_at: now,
                updated_at: now,
            },
        );
        match inserted {
            // Another writer won the race between the check and the insert.
            Err(StoreError::UniqueViolation(_)) => return Err(taken()),
            other => other?,
        }
        audit::record(
            conn,
            &audit::NewEvent {
                tenant_id: Some(input.tenant),
                occurred_at: now,
                kind: "user.created",
                user_id: Some(&id),
                client_id: None,
                remote_addr: None,
                detail: Some(r#"{"by":"cli"}"#),
            },
        )?;
        store::users::find_by_email(conn, input.tenant, input.email.normalized())?.ok_or(
            AddUserError::Store(StoreError::Query(diesel::result::Error::NotFound)),
        )
    })
}

/// Checks and hashes a new password (slow: ~17 ms in release builds).
pub fn hash_password(password: &NewPassword) -> Result<String, crate::crypto::password::HashError> {
    crate::crypto::password::hash(password.secret())
}

/// Every user of a tenant.
pub fn list(conn: &mut DbConnection, tenant: &str) -> Result<Vec<UserRow>, StoreError> {
    store::users::list(conn, tenant)
}
