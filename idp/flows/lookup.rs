//! Finding an account by the identifier a resident types: the login, the linker's routing and the
//! account checks all read an identifier this one way.

use crate::domain::Email;
use crate::store::users::{self, UserRow};
use crate::store::{DbConnection, StoreError, Tenant};

/// The account an identifier names: a resident by email, or an authority user by username; never
/// a disabled one.
pub fn find_account(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    identifier: &str,
) -> Result<Option<UserRow>, StoreError> {
    let identifier = identifier.trim();
    let by_email = match Email::parse(identifier) {
        Ok(email) => users::find_by_email(conn, tenant, email.normalized())?,
        Err(_) => None,
    };
    let user = match by_email {
        Some(user) => Some(user),
        None => users::find_by_username(conn, tenant, &identifier.to_lowercase())?
            .filter(|u| u.is_authority),
    };
    Ok(user.filter(|u| !u.disabled))
}
