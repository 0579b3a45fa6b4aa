//! The resident's account page: who they are, their name, their password, their sessions
//! (`changes.rs`).

pub mod changes;

// The entries `idp/http` calls, returning `OAuthError` until it takes `FlowError`: each is the
// function of the same name in `changes.rs`. (To remove once http takes `FlowError`: re-export
// those functions here instead.)

use crate::flows::context::Minter;
use crate::flows::oidc::OAuthError;
use crate::store::DbConnection;
use crate::store::sessions::SessionRow;
use crate::store::users::UserRow;

/// [`changes::current`].
pub fn current(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    cookie: Option<&str>,
) -> Result<Option<(SessionRow, UserRow)>, OAuthError> {
    Ok(changes::current(m, conn, cookie)?)
}

/// [`changes::check_failed`].
pub fn check_failed(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    check: &str,
) -> Result<(), OAuthError> {
    Ok(changes::check_failed(m, conn, user, check)?)
}

/// [`changes::set_name`].
pub fn set_name(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    name: Option<&str>,
) -> Result<(), OAuthError> {
    Ok(changes::set_name(m, conn, user, name)?)
}

/// [`changes::set_password`].
pub fn set_password(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    keep_session: &str,
    password_hash: &str,
) -> Result<(), OAuthError> {
    Ok(changes::set_password(
        m,
        conn,
        user,
        keep_session,
        password_hash,
    )?)
}

/// [`changes::sign_out_everywhere`].
pub fn sign_out_everywhere(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
) -> Result<(), OAuthError> {
    Ok(changes::sign_out_everywhere(m, conn, user)?)
}
