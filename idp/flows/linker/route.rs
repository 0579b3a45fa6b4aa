//! Where an identifier leads on the first step of a login, and the keep-password rule: which old
//! account a password proves.

use crate::config::{Policy, TenantConfig};
use crate::domain::{Email, lookup_key};
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::former;
use crate::flows::lookup::{find_account, find_deleting, throttle_key};
use crate::store::legacy::{self, LegacyRow};
use crate::store::throttle::ThrottleKey;
use crate::store::{DbConnection, StoreError, Tenant, users};

/// The chooser's value for the account already in use at the address (its password page).
pub const IN_USE: &str = "in-use";

/// Where an identifier leads on the first step of a login.
#[derive(Debug)]
pub enum Route {
    /// An account of the new system (or nothing legacy): the password page, as always.
    Account,
    /// Nothing known by this identifier.
    Unknown,
    /// One old account, proven by its old password on the password page.
    Password {
        /// The legacy account's id, carried by the password page after the chooser only (at the
        /// identifier step the page is an unknown identifier's, and [`password_target`] finds
        /// the one account).
        account: String,
    },
    /// One old account, proven by a mailed link.
    SendLink(Box<LegacyRow>),
    /// Several old accounts share the address: the resident chooses.
    Choose(Vec<LegacyRow>),
    /// A user of the new system has the address, and old accounts of it are still unbound: the
    /// resident chooses between the account in use (its password) and claiming one of these.
    Shared(Vec<LegacyRow>),
    /// Claim an old account of an address in use, proven by its old password.
    ClaimPassword(Box<LegacyRow>),
    /// Claim an old account of an address in use, proven by a link mailed to the address.
    ClaimLink(Box<LegacyRow>),
    /// More old accounts share the address than the linker offers (`legacy::AT_ONE_ADDRESS`): a
    /// page that sends the resident to customer service, no list and no mail.
    Crowded,
}

/// The keep-password rule: whether an old account is proven by its old password here (the
/// tenant keeps old passwords, or it is an authority's, and the account has a hash that can be
/// checked); else a resident's by a mailed link. An authority account is proven by its old
/// password only, under either policy: no mailed link proves it ([`at_address`]).
pub fn keeps_password(tenant: &TenantConfig, account: &LegacyRow) -> bool {
    (tenant.policy == Policy::KeepPassword || account.is_authority)
        && account.has_usable_hash(tenant.legacy.salted_sha.as_ref())
}

/// The unbound old accounts an address leads to ([`former::linkable`]).
fn at_address(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    email: &Email,
) -> Result<Vec<LegacyRow>, StoreError> {
    let salted = m.tenant.legacy.salted_sha.as_ref();
    former::linkable(conn, Tenant::of(m.tenant), salted, email.normalized())
}

/// Where `identifier` leads: a user of the new system first (with the old accounts still unbound
/// at its address, when there are any), else the unlinked legacy accounts of the address
/// ([`at_address`]), else an unlinked authority account of the old username.
pub fn route(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    identifier: &str,
) -> Result<Route, FlowError> {
    let identifier = identifier.trim();
    let tenant = Tenant::of(m.tenant);
    if let Some(user) = find_account(conn, tenant, identifier)? {
        if let Ok(email) = Email::parse(identifier)
            && user.email_normalized.as_deref() == Some(email.normalized())
        {
            let unbound = at_address(m, conn, &email)?;
            // Too many to offer: the account in use logs in as ever (support binds the rest).
            if !unbound.is_empty() && !legacy::crowded(&unbound) {
                return Ok(Route::Shared(unbound));
            }
        }
        return Ok(Route::Account);
    }
    // An account being deleted goes to its password page as any account does: only its
    // password shows that it is being deleted (the identifier page tells no stranger more).
    if find_deleting(conn, tenant, identifier)?.is_some() {
        return Ok(Route::Account);
    }
    if let Ok(email) = Email::parse(identifier) {
        let mut candidates = at_address(m, conn, &email)?;
        if legacy::crowded(&candidates) {
            return Ok(Route::Crowded);
        }
        match candidates.len() {
            // No old account has the address: it may be an authority's username that looks
            // like one (the import allows `@` in usernames), as a user's lookup reads it too.
            0 => {}
            1 => {
                return Ok(candidates
                    .pop()
                    .map_or(Route::Unknown, |one| route_one(m, one)));
            }
            _ => return Ok(Route::Choose(candidates)),
        }
    }
    Ok(match unlinked_authority(conn, tenant, identifier)? {
        Some(account) if account.has_usable_hash(m.tenant.legacy.salted_sha.as_ref()) => {
            Route::Password {
                account: account.id,
            }
        }
        _ => Route::Unknown,
    })
}

/// Where the resident's choice among several old accounts of `identifier` leads; `Unknown` when
/// `account` is not one of them (nor [`IN_USE`] at an address in use). At an address in use, an
/// old account is claimed ([`Route::ClaimPassword`], [`Route::ClaimLink`]).
pub fn route_chosen(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    identifier: &str,
    account: &str,
) -> Result<Route, FlowError> {
    let identifier = identifier.trim();
    let tenant = Tenant::of(m.tenant);
    let Ok(email) = Email::parse(identifier) else {
        return Ok(Route::Unknown);
    };
    if account == IN_USE {
        let in_use = find_account(conn, tenant, identifier)?
            .is_some_and(|u| u.email_normalized.as_deref() == Some(email.normalized()));
        return Ok(if in_use {
            Route::Account
        } else {
            Route::Unknown
        });
    }
    let candidates = at_address(m, conn, &email)?;
    let Some(chosen) = (!legacy::crowded(&candidates))
        .then_some(candidates)
        .into_iter()
        .flatten()
        .find(|a| a.id == account)
    else {
        return Ok(Route::Unknown);
    };
    if users::find_by_email(conn, tenant, email.normalized())?.is_none() {
        return Ok(route_one(m, chosen));
    }
    Ok(if keeps_password(m.tenant, &chosen) {
        Route::ClaimPassword(Box::new(chosen))
    } else {
        Route::ClaimLink(Box::new(chosen))
    })
}

fn route_one(m: &Minter<'_>, account: LegacyRow) -> Route {
    if keeps_password(m.tenant, &account) {
        Route::Password {
            account: account.id,
        }
    } else {
        Route::SendLink(Box::new(account))
    }
}

fn unlinked_authority(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    username: &str,
) -> Result<Option<LegacyRow>, StoreError> {
    Ok(
        legacy::find_by_username(conn, tenant, &lookup_key(username))?
            .filter(|a| a.is_authority && a.linked_user_id.is_none()),
    )
}

/// The old account a password login proves, when the identifier names no user: the chosen (or
/// only) unlinked account of the address under the keep-password rule, or an authority account
/// by its old username; only accounts with a usable hash.
pub fn password_target(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    identifier: &str,
    chosen: Option<&str>,
) -> Result<Option<LegacyRow>, FlowError> {
    let identifier = identifier.trim();
    let tenant = Tenant::of(m.tenant);
    let salted = m.tenant.legacy.salted_sha.as_ref();
    let authority = |conn: &mut DbConnection| {
        let found = unlinked_authority(conn, tenant, identifier)?;
        Ok::<_, FlowError>(found.filter(|account| account.has_usable_hash(salted)))
    };
    let Ok(email) = Email::parse(identifier) else {
        return authority(conn);
    };
    let candidates = at_address(m, conn, &email)?;
    if candidates.is_empty() && chosen.is_none_or(str::is_empty) {
        // An authority's username that looks like an address ([`route`]).
        return authority(conn);
    }
    if legacy::crowded(&candidates) {
        return Ok(None);
    }
    let target = match chosen.filter(|c| !c.is_empty()) {
        Some(id) => candidates.into_iter().find(|a| a.id == id),
        None if candidates.len() == 1 => candidates.into_iter().next(),
        None => None,
    };
    Ok(target.filter(|account| keeps_password(m.tenant, account)))
}

/// The throttle counter a password login of `identifier` (no old account chosen) counts on
/// ([`throttle_key`]), for the checks that are not that login but must count as it would (a
/// claim whose form names no old account of the address).
pub fn login_key(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    identifier: &str,
) -> Result<ThrottleKey, FlowError> {
    let tenant = Tenant::of(m.tenant);
    let named = match find_account(conn, tenant, identifier)? {
        Some(user) => Some(user),
        None => find_deleting(conn, tenant, identifier)?.map(|(user, _)| user),
    };
    let old = match named {
        Some(_) => None,
        None => password_target(m, conn, identifier, None)?,
    };
    Ok(throttle_key(named.as_ref(), old.as_ref(), identifier))
}
