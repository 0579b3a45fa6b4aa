//! The old accounts bound to a user, as the `former_usernames` and `former_subjects` claims
//! release them (the ID token, userinfo) and the account page shows them.

use crate::config::SaltedShaLayout;
use crate::store::legacy::{self, LegacyRow};
use crate::store::users::UserRow;
use crate::store::{DbConnection, StoreError, Tenant};

/// The old usernames and subjects bound to a user, for the `former_usernames` and
/// `former_subjects` claims.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Former {
    /// Every old username bound to the account, the first bound first.
    pub usernames: Vec<String>,
    /// The subjects of the old accounts bound after the first (the first is `sub`).
    pub subjects: Vec<String>,
}

/// What the claims say of a user's old accounts.
pub fn former(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user: &UserRow,
) -> Result<Former, StoreError> {
    let linked = legacy::linked_to(conn, tenant, &user.id)?;
    Ok(Former {
        usernames: linked.iter().map(|a| a.username.clone()).collect(),
        subjects: linked
            .into_iter()
            .map(|a| a.subject)
            .filter(|s| *s != user.subject)
            .collect(),
    })
}

/// What a token of `scope` releases of a user's old accounts: [`former`] under the `profile`
/// scope, else nothing.
pub fn released(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user: &UserRow,
    scope: &str,
) -> Result<Former, StoreError> {
    if scope.split(' ').any(|s| s == "profile") {
        former(conn, tenant, user)
    } else {
        Ok(Former::default())
    }
}

/// What the account page shows of a user's old accounts.
#[derive(Debug, Clone, Default)]
pub struct Olds {
    /// The old usernames bound to the account.
    pub bound: Vec<String>,
    /// The unbound old accounts of the user's address, which the resident can bind.
    pub linkable: Vec<LegacyRow>,
}

/// The old accounts bound to `user`, and those of its address it can still bind ([`linkable`]).
pub fn olds(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    salted: Option<&SaltedShaLayout>,
    user: &UserRow,
) -> Result<Olds, StoreError> {
    let bound = former(conn, tenant, user)?.usernames;
    let linkable = match &user.email_normalized {
        Some(email) => linkable(conn, tenant, salted, email)?,
        None => Vec::new(),
    };
    // Too many at one address: support binds them (`store::legacy::crowded`).
    let linkable = if legacy::crowded(&linkable) {
        Vec::new()
    } else {
        linkable
    };
    Ok(Olds { bound, linkable })
}

/// The unbound old accounts an address leads to, for the login's linker and the account page
/// alike: the residents', and the authorities' that their old password can prove. An authority
/// account without a usable hash has no way in by an address: a link mailed there would make
/// whoever reads the mailbox an authority user (support binds it, `docs/migration.md`).
pub fn linkable(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    salted: Option<&SaltedShaLayout>,
    email_normalized: &str,
) -> Result<Vec<LegacyRow>, StoreError> {
    let unbound = legacy::unlinked_by_email(conn, tenant, email_normalized)?;
    Ok(unbound
        .into_iter()
        .filter(|a| !a.is_authority || a.has_usable_hash(salted))
        .collect())
}
