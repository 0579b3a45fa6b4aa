//! Binding an old account, in one transaction with its audit event: to a new user that keeps the
//! old subject (the first login, by the old password or a mailed link), or to the resident's
//! existing user (its subject joins `former_subjects`); and the one unbinding, of an old account
//! a change of address bound when that change is undone.

use serde_json::json;

use crate::domain::Email;
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::store::legacy::{self, LegacyRow, Proof};
use crate::store::links;
use crate::store::users::{self, UserRow};
use crate::store::{self, DbConnection, StoreError, Tenant};
use crate::telemetry::metrics::LoginOutcome;

/// Creates the user of a legacy account and binds the account, in one transaction: the user's
/// `sub` is the legacy subject, its username the old one. `None` when the account was bound
/// meanwhile, its address or username now belongs to another user, or — bound `by` its old
/// password — its old hash was replaced since the password was checked against it.
pub fn bind_new_user(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    account: &LegacyRow,
    password_hash: &str,
    email_verified: bool,
    by: &str,
) -> Result<Option<UserRow>, FlowError> {
    bind_new_user_at(m, conn, account, None, password_hash, email_verified, by)
}

/// A claimant's user: their own address, proven by a link, and the old hash their claim was
/// proven against (`None` when a link mailed to the shared address proved it).
pub(super) struct Claimant<'a> {
    /// The claimant's own address.
    pub(super) address: &'a Email,
    /// The old hash the claim's old password was checked against: the binding must find it still
    /// stored.
    pub(super) proven_hash: Option<&'a str>,
}

/// [`bind_new_user`], for a `claimant` at their own address instead of the legacy account's, and
/// only while the account still has the old hash that proved the claim.
pub(super) fn bind_new_user_at(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    account: &LegacyRow,
    claimant: Option<Claimant<'_>>,
    password_hash: &str,
    email_verified: bool,
    by: &str,
) -> Result<Option<UserRow>, FlowError> {
    let id = store::new_id(m.now);
    let tenant = Tenant::of(m.tenant);
    let address = claimant.as_ref().map(|c| c.address);
    let proven = match &claimant {
        Some(Claimant {
            proven_hash: Some(hash),
            ..
        }) => Proof::Hash(hash),
        // A link mailed to the shared address proved the claim.
        Some(_) => Proof::Address(account.email_normalized.as_deref()),
        None => proof(account, by),
    };
    let result = store::write_transaction(conn, |conn| {
        let Some(current) = legacy::find(conn, tenant, &account.id)? else {
            return Ok(None);
        };
        if current.linked_user_id.is_some() || current.tenant_id != m.tenant.id {
            return Ok(None);
        }
        let (email, email_normalized) = match address {
            Some(address) => (Some(address.as_entered()), Some(address.normalized())),
            None => (
                current.email.as_deref(),
                current.email_normalized.as_deref(),
            ),
        };
        let taken = match email_normalized {
            Some(email) => users::find_by_email(conn, tenant, email)?.is_some(),
            None => false,
        };
        // An authority account logs in by its username, proven by its old password: an office
        // mailbox another official's account took first leaves this one without an address
        // (support can give it one), never locked out. Anyone else's address is theirs alone.
        let unaddressed = taken && current.is_authority && address.is_none();
        let (email, email_normalized) = match (taken, unaddressed) {
            (false, _) => (email, email_normalized),
            (true, true) => (None, None),
            (true, false) => return Ok(None),
        };
        users::insert(
            conn,
            &users::NewUser {
                id: &id,
                tenant_id: &m.tenant.id,
                subject: &current.subject,
                email,
                email_normalized,
                email_verified: email.is_some() && email_verified,
                username: Some(&current.username),
                username_normalized: Some(&current.username_normalized),
                is_authority: current.is_authority,
                name: current.name.as_deref(),
                password_hash: Some(password_hash),
                password_changed_at: Some(m.now),
                created_at: m.now,
                updated_at: m.now,
            },
        )?;
        if !legacy::link(conn, tenant, &current.id, &id, m.now, proven)? {
            return Err(StoreError::Conflict(
                "the legacy account was bound, or its hash replaced, meanwhile".into(),
            ));
        }
        links::void_for_legacy(conn, tenant, &current.id, m.now)?;
        m.audit("legacy.linked")
            .user(id.as_str())
            .detail(&match unaddressed {
                false => json!({ "username": current.username, "by": by, "first": true }),
                true => json!({
                    "username": current.username,
                    "by": by,
                    "first": true,
                    "address_taken": true,
                }),
            })
            .record(conn)?;
        users::find(conn, tenant, &id)
    });
    match result {
        Ok(user) => {
            count_bound(m, by);
            Ok(user)
        }
        // A concurrent first login won: this one fails like a wrong password, and the
        // resident's next attempt logs in to the account it created.
        Err(StoreError::UniqueViolation(_) | StoreError::Conflict(_)) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// Binds another legacy account to an existing user (its subject joins `former_subjects`), in one
/// transaction with its audit event; false when it was bound meanwhile (or, `by` its old
/// password, its old hash was replaced since the password was checked against it).
pub fn bind_to_user(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    account: &LegacyRow,
    user: &UserRow,
    by: &str,
) -> Result<bool, FlowError> {
    let tenant = Tenant::of(m.tenant);
    Ok(store::write_transaction(conn, |conn| {
        if !legacy::link(
            conn,
            tenant,
            &account.id,
            &user.id,
            m.now,
            proof(account, by),
        )? {
            return Ok(false);
        }
        links::void_for_legacy(conn, tenant, &account.id, m.now)?;
        m.audit("legacy.linked")
            .user(user.id.as_str())
            .detail(&json!({ "username": account.username, "by": by, "first": false }))
            .record(conn)?;
        count_bound(m, by);
        Ok::<_, StoreError>(true)
    })?)
}

/// Unbinds the old account `account` from `user` (the undo of the change of address that bound
/// it: the account was the new address's, not the resident's), its export's address and old hash
/// as they were before the binding (`exported`), in one transaction with its `legacy.unlinked` audit event
/// (`by`: what unbound it); false when it is no longer bound to `user`.
pub fn unbind_from_user(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    account: &str,
    user: &UserRow,
    exported: (Option<&str>, Option<&str>),
    by: &str,
) -> Result<bool, StoreError> {
    let tenant = Tenant::of(m.tenant);
    store::write_transaction(conn, |conn| {
        let Some(found) = legacy::find(conn, tenant, account)? else {
            return Ok(false);
        };
        if !legacy::unlink(conn, tenant, account, &user.id, exported)? {
            return Ok(false);
        }
        m.audit("legacy.unlinked")
            .user(user.id.as_str())
            .detail(&json!({ "username": found.username, "by": by }))
            .record(conn)?;
        Ok(true)
    })
}

/// What proved a binding `by` the old password (`"password"`: the old hash it was checked
/// against) or by a mailbox (a link, a change of address: the address), as the caller read
/// `account` before the proof was checked: the binding must find it unchanged (a re-import may
/// replace an unbound account's hash meanwhile; support's `legacy set-email` or a re-import may
/// move it to another address, whose reader the mailbox no longer is).
fn proof<'a>(account: &'a LegacyRow, by: &str) -> Proof<'a> {
    match (by, account.password_hash.as_deref()) {
        ("password", Some(hash)) => Proof::Hash(hash),
        ("password", None) => Proof::Address(None),
        _ => Proof::Address(account.email_normalized.as_deref()),
    }
}

/// Counts a binding by the old password or a mailed link for the metrics (a claim of a family's
/// address and a changed address bind too, but are not a login's outcome).
fn count_bound(m: &Minter<'_>, by: &str) {
    match by {
        "password" => m.count_login(LoginOutcome::LegacyBoundByPassword),
        "link" => m.count_login(LoginOutcome::LegacyBoundByLink),
        _ => {}
    }
}
