//! What the login's enrolment and the account page's share: a one-time code's enrolment (a new
//! secret kept sealed in a ceremony until a code from it confirms it), the ceremonies, and the
//! issue of recovery codes. Each writes in one transaction (a savepoint inside its caller's).

use chrono::{Duration, NaiveDateTime};

use crate::crypto::kek::Kek;
use crate::crypto::secret;
use crate::crypto::totp::{self, TotpSecret};
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::notice::{self, Change, Tell};
use crate::store::ceremonies::{self, CeremonyRow};
use crate::store::second_factors::{self, TotpRow};
use crate::store::users::UserRow;
use crate::store::{DbConnection, StoreError, Tenant, write_transaction};

/// The ceremony of a one-time code being enrolled: its sealed secret.
pub const ENROL: &str = "totp_enrol";
/// How long an enrolment waits for its first code: time to install an authenticator app and
/// type the key by hand (with a screen reader too); the enrolment page says so.
pub const ENROL_MINUTES: i64 = 30;

/// An enrolment waiting for its first code, as its page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolment {
    /// The ceremony's id, which the page's form holds.
    pub ceremony: String,
    /// The secret as text, in groups of four.
    pub grouped: String,
    /// The `otpauth://` URI the QR code draws.
    pub uri: String,
}

/// What a confirmation came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmed {
    /// The factor is the user's; the recovery codes to show once.
    Enrolled(Vec<String>),
    /// The code is not the secret's now: the same enrolment again.
    Wrong(Enrolment),
    /// No such enrolment of the user's (expired, used, another's).
    Gone,
}

/// The name an authenticator app lists the account under: the username, else the address.
fn account_name(user: &UserRow) -> &str {
    user.username
        .as_deref()
        .or(user.email.as_deref())
        .unwrap_or(user.subject.as_str())
}

/// The page of the enrolment `ceremony` of `secret` for `user`.
fn shown(
    m: &Minter<'_>,
    user: &UserRow,
    secret: &TotpSecret,
    ceremony: String,
) -> Result<Enrolment, FlowError> {
    let uri = secret
        .uri(&m.tenant.name, account_name(user))
        .map_err(FlowError::server)?;
    Ok(Enrolment {
        ceremony,
        grouped: secret.grouped(),
        uri,
    })
}

/// A new ceremony of `user` for `purpose` holding `state` until `expires_at`; returns its id (only
/// its hash is stored).
pub fn new_ceremony(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    (purpose, state): (&str, String),
    expires_at: NaiveDateTime,
) -> Result<String, StoreError> {
    let id = secret::random_token();
    ceremonies::insert(
        conn,
        &CeremonyRow {
            id_hash: secret::hash(&id),
            tenant_id: m.tenant.id.clone(),
            user_id: Some(user.id.clone()),
            purpose: purpose.into(),
            state,
            created_at: m.now,
            expires_at,
            auth_request_id: None,
        },
    )?;
    Ok(id)
}

/// Starts the enrolment of a one-time code for `user`: a fresh secret, sealed, kept for
/// [`ENROL_MINUTES`] in a ceremony.
pub fn start(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    kek: &Kek,
    user: &UserRow,
) -> Result<Enrolment, FlowError> {
    let secret = TotpSecret::generate();
    let sealed = secret
        .seal(kek, &m.tenant.id, &user.id)
        .map_err(FlowError::server)?;
    let expires_at = m.now + Duration::minutes(ENROL_MINUTES);
    let ceremony = write_transaction(conn, |conn| {
        // A few of the user's enrolments wait (a page opened again, [`scanned_earlier`]); the
        // older ones go, however often the page is opened.
        let mine = (ceremonies::Owned::User(&user.id), ENROL);
        ceremonies::trim(conn, Tenant::of(m.tenant), mine, EARLIER_ENROLMENTS - 1)?;
        new_ceremony(m, conn, user, (ENROL, sealed), expires_at)
    })?;
    shown(m, user, &secret, ceremony)
}

/// Confirms `user`'s enrolment `ceremony` with `code`, a code of its secret within a step of now:
/// the factor replaces the user's earlier one (its step accepted, so the same code cannot be used
/// again), and ten new recovery codes replace the old, audited as `second_factor.enrolled`; the
/// account's address is told (`flows::notice`, as `tell` says).
pub fn confirm(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    (kek, tell): (&Kek, &Tell),
    user: &UserRow,
    ceremony: &str,
    code: &str,
) -> Result<Confirmed, FlowError> {
    write_transaction(conn, |conn| {
        let tenant = Tenant::of(m.tenant);
        let id_hash = secret::hash(ceremony);
        let Some(row) = ceremonies::find(conn, tenant, ENROL, &id_hash, m.now)? else {
            return Ok(Confirmed::Gone);
        };
        if row.user_id.as_deref() != Some(user.id.as_str()) {
            return Ok(Confirmed::Gone);
        }
        let secret =
            TotpSecret::open(kek, &m.tenant.id, &user.id, &row.state).map_err(FlowError::server)?;
        let (row, step) = match secret.check(code, m.now) {
            Some(step) => (row, step),
            // The page reloaded (or its language changed) after the app scanned its secret: the
            // form names the newest ceremony, the code is of an earlier one of this user's.
            None => match scanned_earlier(m, conn, kek, user, code, &id_hash)? {
                Some(found) => found,
                None => {
                    let again = shown(m, user, &secret, ceremony.to_string())?;
                    return Ok(Confirmed::Wrong(again));
                }
            },
        };
        if ceremonies::take(conn, tenant, ENROL, &row.id_hash, m.now)?.is_none() {
            return Ok(Confirmed::Gone);
        }
        // The other secrets shown to this user are void: one factor, the one the app holds.
        ceremonies::trim(conn, tenant, (ceremonies::Owned::User(&user.id), ENROL), 0)?;
        second_factors::set_totp(
            conn,
            &TotpRow {
                user_id: user.id.clone(),
                tenant_id: m.tenant.id.clone(),
                secret: row.state,
                last_step: Some(step),
                created_at: m.now,
            },
        )?;
        let codes = issue_recovery_codes(m, conn, kek, user)?;
        m.audit("second_factor.enrolled")
            .user(user.id.as_str())
            .detail(&serde_json::json!({ "method": "totp" }))
            .record(conn)?;
        let change = (user, Change::OneTimeCode);
        notice::account_changed(m, conn, &tell.mails, change, tell.language)?;
        Ok(Confirmed::Enrolled(codes))
    })
}

/// The most of a user's enrolments that wait, and that a code is tried against ([`start`] trims
/// the older ones).
const EARLIER_ENROLMENTS: i64 = 5;

/// Another unexpired enrolment of `user` than `posted` (by its id's hash) whose secret `code` is
/// of, and the code's step: the secret the resident scanned before the page was opened again.
fn scanned_earlier(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    kek: &Kek,
    user: &UserRow,
    code: &str,
    posted: &str,
) -> Result<Option<(CeremonyRow, i64)>, FlowError> {
    let tenant = Tenant::of(m.tenant);
    let mine = (ENROL, user.id.as_str());
    for row in ceremonies::live_of_user(conn, tenant, mine, m.now, EARLIER_ENROLMENTS)? {
        if row.id_hash == posted {
            continue;
        }
        let secret =
            TotpSecret::open(kek, &m.tenant.id, &user.id, &row.state).map_err(FlowError::server)?;
        if let Some(step) = secret.check(code, m.now) {
            return Ok(Some((row, step)));
        }
    }
    Ok(None)
}

/// Ten new recovery codes for `user`, replacing the old (those stored as a plain SHA-256 before
/// too); returns them as shown (once). Each is stored as its HMAC under the tenant's key from the
/// key-encryption key (`totp::recovery_code_mac`).
pub fn issue_recovery_codes(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    kek: &Kek,
    user: &UserRow,
) -> Result<Vec<String>, FlowError> {
    let codes = totp::recovery_codes();
    let hashes = codes
        .iter()
        .map(|code| totp::recovery_code_mac(kek, &m.tenant.id, &user.id, code))
        .collect::<Result<Vec<String>, _>>()
        .map_err(FlowError::server)?;
    second_factors::set_recovery_codes(conn, Tenant::of(m.tenant), &user.id, &hashes, m.now)?;
    Ok(codes)
}
