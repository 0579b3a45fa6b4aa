//! The account page's passkeys: renamed, removed (after the page checked the current password or
//! another passkey), each audited; and what a password reset mail says of them (their days, never
//! their names). Removing the last passkey locks no one out: the password stays.

use serde::Serialize;
use serde_json::json;

use super::register::clean_name;
use crate::config::Language;
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::notice::{self, Change, Tell};
use crate::i18n;
use crate::store::users::UserRow;
use crate::store::{self, DbConnection, Tenant, passkeys};

/// Renames `user`'s passkey `id` to `typed` (trimmed, bounded); false when the name is empty or
/// the user has no such passkey.
pub fn rename(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    id: &str,
    typed: &str,
) -> Result<bool, FlowError> {
    let Some(name) = clean_name(typed) else {
        return Ok(false);
    };
    store::write_transaction(conn, |conn| {
        if !passkeys::rename(conn, Tenant::of(m.tenant), &user.id, id, &name)? {
            return Ok(false);
        }
        m.audit("passkey.renamed")
            .user(user.id.as_str())
            .detail(&json!({ "passkey": id, "name": name }))
            .record(conn)?;
        Ok(true)
    })
}

/// Removes `user`'s passkey `id` (the caller checked the password or a passkey), and tells the
/// owner (`notice`); false when the user has no such passkey.
pub fn remove(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    tell: &Tell,
    user: &UserRow,
    id: &str,
) -> Result<bool, FlowError> {
    store::write_transaction(conn, |conn| {
        if !passkeys::remove(conn, Tenant::of(m.tenant), &user.id, id)? {
            return Ok(false);
        }
        m.audit("passkey.removed")
            .user(user.id.as_str())
            .detail(&json!({ "passkey": id }))
            .record(conn)?;
        let change = (user, Change::PasskeyRemoved);
        notice::account_changed(m, conn, &tell.mails, change, tell.language)?;
        Ok(true)
    })
}

/// A passkey as the password reset mail describes it: by what idp recorded, never by its name,
/// which whoever added it chose (an intruder who knew the password could name it "confirm your
/// account: https://…" or "the city's key, do not remove", and the city's own mail would carry it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recorded {
    /// The day it was added.
    pub created: String,
    /// The day it was last used, if ever.
    pub last_used: Option<String>,
}

/// A user's passkeys, the oldest first, as the password reset mail describes them: the days they
/// were added and last used, in the tenant's time zone, as `language` writes a day.
pub fn recorded(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user_id: &str,
    language: Language,
) -> Result<Vec<Recorded>, FlowError> {
    let day = |at| i18n::date(m.tenant.time_zone, language, at);
    Ok(passkeys::of_user(conn, Tenant::of(m.tenant), user_id)?
        .into_iter()
        .map(|p| Recorded {
            created: day(p.created_at),
            last_used: p.last_used_at.map(day),
        })
        .collect())
}
