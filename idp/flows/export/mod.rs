//! The resident's data export (GDPR Art. 15 and 20): everything idp holds about one account, as
//! one JSON document of the format `idp-export/1` (`document.rs`, described in
//! `docs/privacy.md`). The account page's download and `idp users export` both call [`export`].
//!
//! What it reads (`read.rs`) it reads in one read transaction, so that the document is of one
//! moment; then it records `account.exported`. It never reads a secret: no password hash (the
//! account's or an old account's), no cookie, token, code or link hash, no one-time code secret,
//! no passkey key, no mail text. Of the audit trail it reads the events whose user is this one,
//! never another user's.

pub mod document;
pub mod read;

use serde_json::json;

use self::document::Export;
use crate::flows::context::Minter;
use crate::flows::lookup::{Whose, find_user};
use crate::store::{DbConnection, StoreError, Tenant, read_transaction, write_transaction};

/// Who asked: the resident on the account page, or support on the command line (audited with
/// `{"by": "cli"}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asker {
    /// The signed-in resident.
    Resident,
    /// `idp users export`.
    Cli,
}

/// The export of the account `whose` names in `m`'s tenant, audited as `account.exported`;
/// `None` when there is no such account.
pub fn export(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    whose: Whose<'_>,
    asker: Asker,
) -> Result<Option<Export>, StoreError> {
    let Some((document, user_id)) = read(m, conn, whose)? else {
        return Ok(None);
    };
    write_transaction(conn, |conn| record(m, conn, &user_id, asker))?;
    Ok(Some(document))
}

/// The export of the account `whose` names in `m`'s tenant, read in one read transaction, and the
/// account's internal id; `None` when there is no such account. Not audited yet: the caller
/// [`record`]s it before handing it out (the account page within its allowance of changes).
pub fn read(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    whose: Whose<'_>,
) -> Result<Option<(Export, String)>, StoreError> {
    read_transaction(conn, |conn| {
        let Some(user) = find_user(conn, Tenant::of(m.tenant), whose)? else {
            return Ok::<_, StoreError>(None);
        };
        Ok(Some((read::document(m, conn, &user)?, user.id)))
    })
}

/// Records `account.exported` for the user `user_id`, asked by `asker`, in the caller's write
/// transaction.
pub fn record(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user_id: &str,
    asker: Asker,
) -> Result<(), StoreError> {
    let event = m.audit("account.exported").user(user_id);
    let event = match asker {
        Asker::Resident => event,
        Asker::Cli => event.detail(&json!({ "by": "cli" })),
    };
    event.record(conn)
}
