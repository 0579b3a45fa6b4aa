//! Continuing a pending login after a mailed link proved the resident (forgot password,
//! registration, the linker's link): when the link is opened in the browser that started the
//! login, a session and the login's next step; elsewhere nothing, and the page says "done".

use super::error::OAuthError;
use super::pending::{Step, pending_at};
use super::proof::Proof;
use super::steps::{Next, after_first_factor};
use crate::flows::context::Minter;
use crate::store::DbConnection;
use crate::store::users::UserRow;

/// When this browser (by its binding secret) started the pending login `request_id`: the
/// login's next step after the link proved `user` (the second factor, or a session — this
/// browser's, `session_cookie`, renewed when it is `user`'s — and consent or the answer to the
/// client); else `None`.
pub fn continue_pending(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    request_id: Option<&str>,
    user: &UserRow,
    binding: &str,
    session_cookie: Option<&str>,
) -> Result<Option<Next>, OAuthError> {
    let at_login = |step: &Step| *step == Step::Login;
    let pending = match request_id {
        Some(id) => pending_at(m, conn, id, Some(binding), at_login)?,
        None => None,
    };
    let Some((row, pending)) = pending else {
        return Ok(None);
    };
    let proof = Proof::password();
    let next = after_first_factor(
        m,
        conn,
        &row,
        pending,
        user,
        proof,
        false,
        binding,
        session_cookie,
    )?;
    Ok(Some(next))
}
