//! Administering users: add one (a resident, or an authority user with a username), list a
//! tenant's.

use chrono::NaiveDateTime;

use crate::domain::{Email, NameError, NewPassword, lookup_key, parse_name};
use crate::store::{self, DbConnection, StoreError, Tenant, audit, users::UserRow};

/// What is needed to add a user.
pub struct AddUser<'a> {
    /// The tenant's id (known to exist in the configuration).
    pub tenant: Tenant<'a>,
    /// The address; a resident's username.
    pub email: Option<&'a Email>,
    /// An authority user's login name.
    pub username: Option<&'a str>,
    /// Display name, as typed: [`add`] trims it and refuses what [`parse_name`] refuses.
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
    /// The username is taken in this tenant.
    #[error("a user with the username {username} already exists in tenant {tenant}")]
    UsernameTaken {
        /// The username.
        username: String,
        /// The tenant.
        tenant: String,
    },
    /// The address belongs to unbound legacy accounts, which the linker binds at first login.
    #[error(
        "{email} belongs to {accounts} legacy account(s) not yet bound: the resident's first login binds it and keeps its subject (see `idp legacy report`)"
    )]
    LegacyEmail {
        /// The address.
        email: String,
        /// How many legacy accounts have it.
        accounts: usize,
    },
    /// The username is an old account's, which the linker binds at its first login.
    #[error(
        "{username} is the username of a legacy account: it logs in with its old password and keeps its subject (see `idp legacy report`)"
    )]
    LegacyUsername {
        /// The username.
        username: String,
    },
    /// Neither an address nor a username.
    #[error("a user needs an email address, or a username for an authority user")]
    NoIdentifier,
    /// The display name is refused (too long, or a control character).
    #[error(transparent)]
    Name(#[from] NameError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for AddUserError {
    fn from(error: diesel::result::Error) -> Self {
        AddUserError::Store(error.into())
    }
}

/// Checks a username: 1–64 printable characters, no spaces, no `@` (which would make it an
/// address).
pub fn valid_username(username: &str) -> bool {
    (1..=64).contains(&username.chars().count())
        && !username.contains('@')
        && username
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control())
}

/// Adds the user and its audit event in one transaction (hash the password first, outside).
/// The subject is a fresh UUID.
pub fn add(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    input: &AddUser<'_>,
) -> Result<UserRow, AddUserError> {
    if input.email.is_none() && input.username.is_none() {
        return Err(AddUserError::NoIdentifier);
    }
    let name = input.name.map(parse_name).transpose()?.flatten();
    let id = store::new_id(now);
    let subject = uuid::Uuid::new_v4().to_string();
    let username_normalized = input.username.map(lookup_key);
    let email_taken = || AddUserError::EmailTaken {
        email: input.email.map(ToString::to_string).unwrap_or_default(),
        tenant: input.tenant.id().to_string(),
    };
    let username_taken = || AddUserError::UsernameTaken {
        username: input.username.unwrap_or_default().to_string(),
        tenant: input.tenant.id().to_string(),
    };
    crate::store::write_transaction(conn, |conn| {
        if let Some(email) = input.email
            && store::users::find_by_email(conn, input.tenant, email.normalized())?.is_some()
        {
            return Err(email_taken());
        }
        // An old account's username or address: the linker binds it, keeping its subject.
        if let Some(username) = &username_normalized
            && store::legacy::find_by_username(conn, input.tenant, username)?.is_some()
        {
            return Err(AddUserError::LegacyUsername {
                username: input.username.unwrap_or_default().to_string(),
            });
        }
        if let Some(email) = input.email {
            let legacy = store::legacy::unlinked_by_email(conn, input.tenant, email.normalized())?;
            if !legacy.is_empty() {
                return Err(AddUserError::LegacyEmail {
                    email: email.to_string(),
                    accounts: legacy.len(),
                });
            }
        }
        if let Some(username) = &username_normalized
            && store::users::find_by_username(conn, input.tenant, username)?.is_some()
        {
            return Err(username_taken());
        }
        let inserted = store::users::insert(
            conn,
            &store::users::NewUser {
                id: &id,
                tenant_id: input.tenant.id(),
                subject: &subject,
                email: input.email.map(Email::as_entered),
                email_normalized: input.email.map(Email::normalized),
                email_verified: input.email.is_some() && input.email_verified,
                username: input.username,
                username_normalized: username_normalized.as_deref(),
                is_authority: input.username.is_some(),
                name: name.as_deref(),
                password_hash: input.password_hash,
                password_changed_at: input.password_hash.map(|_| now),
                created_at: now,
                updated_at: now,
            },
        );
        match inserted {
            // Another writer won the race between the check and the insert.
            Err(StoreError::UniqueViolation(_)) => return Err(email_taken()),
            other => other?,
        }
        audit::Event::new(input.tenant.id(), now, "user.created")
            .user(id.as_str())
            .detail(&serde_json::json!({ "by": "cli" }))
            .record(conn)?;
        store::users::find(conn, input.tenant, &id)?.ok_or(AddUserError::Store(StoreError::Query(
            diesel::result::Error::NotFound,
        )))
    })
}

/// Checks and hashes a new password (slow: ~17 ms in release builds).
pub fn hash_password(password: &NewPassword) -> Result<String, crate::crypto::password::HashError> {
    crate::crypto::password::hash(password.secret())
}

/// Every user of a tenant.
pub fn list(conn: &mut DbConnection, tenant: Tenant<'_>) -> Result<Vec<UserRow>, StoreError> {
    store::users::list(conn, tenant)
}
