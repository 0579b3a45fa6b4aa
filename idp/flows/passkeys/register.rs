//! Adding a passkey: the options for `navigator.credentials.create` (user verification required,
//! no attestation asked, a discoverable credential preferred so that it can log in without an
//! identifier, the user's passkeys excluded), then the browser's answer verified and stored with
//! its name, audited as `passkey.added`.

use serde_json::json;
use webauthn_rs::prelude::{
    CredentialID, Passkey, PasskeyRegistration, RegisterPublicKeyCredential, Uuid,
};

use super::ceremony::{self, Owner, Purpose, Refusal, Started};
use super::party::relying_party;
use crate::config::Language;
use crate::crypto::keys::b64;
use crate::domain::text;
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::notice::{self, Change};
use crate::i18n;
use crate::mail::Mails;
use crate::store::passkeys::{self, PasskeyRow};
use crate::store::users::UserRow;
use crate::store::{self, DbConnection, StoreError, Tenant};

/// The longest name of a passkey, in characters.
pub const NAME_CHARS: usize = 64;

/// A passkey as stored, read back (`None` for a row that does not parse: it cannot be used).
pub fn stored(row: &PasskeyRow) -> Option<Passkey> {
    serde_json::from_str(&row.passkey)
        .inspect_err(|error| tracing::error!(%error, passkey = %row.id, "unreadable passkey"))
        .ok()
}

/// The WebAuthn user handle of `user`: its internal id, a UUID.
pub fn user_handle(user: &UserRow) -> Result<Uuid, FlowError> {
    Uuid::parse_str(&user.id).map_err(FlowError::server)
}

/// The most passkeys one account may have: a person's devices and security keys, with room to
/// spare; without a cap a script could add one every two minutes (the account page's hourly
/// allowance) for good, each listed in every ceremony, mail, export and page of the account.
pub const MOST_PASSKEYS: usize = 20;

/// Whether `user` may add another passkey ([`MOST_PASSKEYS`]).
pub fn has_room(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
) -> Result<bool, FlowError> {
    Ok(passkeys::of_user(conn, Tenant::of(m.tenant), &user.id)?.len() < MOST_PASSKEYS)
}

/// Starts adding a passkey for `user` (in the pending login `request`, if any); `None` when
/// passkeys are off.
pub fn start_registration(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    request: Option<&str>,
) -> Result<Option<Started>, FlowError> {
    let Some(party) = relying_party(m) else {
        return Ok(None);
    };
    let tenant = Tenant::of(m.tenant);
    let exclude: Vec<CredentialID> = passkeys::of_user(conn, tenant, &user.id)?
        .iter()
        .filter_map(stored)
        .map(|passkey| passkey.cred_id().clone())
        .collect();
    let account = user
        .email
        .clone()
        .or_else(|| user.username.clone())
        .unwrap_or_default();
    let shown = user.name.clone().unwrap_or_else(|| account.clone());
    let (options, state) = party
        .start_passkey_registration(user_handle(user)?, &account, &shown, Some(exclude))
        .map_err(FlowError::server)?;
    let mut options = serde_json::to_value(&options).map_err(FlowError::server)?;
    // webauthn-rs discourages a resident key; a passkey that logs in without an identifier
    // (the identifier page's button and autofill) needs one. Not part of the verified state.
    if let Some(selection) = options.pointer_mut("/publicKey/authenticatorSelection") {
        selection["residentKey"] = json!("preferred");
    }
    let owner = Owner {
        user: Some(&user.id),
        request,
    };
    let started = ceremony::begin(m, conn, Purpose::Register, owner, &state, &options)?;
    Ok(Some(started))
}

/// Finishes adding a passkey for `user`: the ceremony taken, the answer `credential` (JSON)
/// verified, the passkey stored as `name` (or the default name in `language`), audited, and the
/// account's address told in `language` (`flows::notice`).
pub fn finish_registration(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    (user, mails): (&UserRow, &Mails),
    request: Option<&str>,
    (ceremony_id, credential): (&str, &str),
    (name, language): (&str, Language),
) -> Result<Result<PasskeyRow, Refusal>, FlowError> {
    let Some(party) = relying_party(m) else {
        return Ok(Err(Refusal::Off));
    };
    let tenant = Tenant::of(m.tenant);
    store::write_transaction(conn, |conn| {
        let owner = Owner {
            user: Some(&user.id),
            request,
        };
        let taken: Option<PasskeyRegistration> =
            ceremony::take(m, conn, Purpose::Register, owner, ceremony_id)?;
        let Some(state) = taken else {
            return Ok(Err(Refusal::Expired));
        };
        let Ok(answer) = serde_json::from_str::<RegisterPublicKeyCredential>(credential) else {
            return Ok(Err(Refusal::Failed));
        };
        let passkey = match party.finish_passkey_registration(&answer, &state) {
            Ok(passkey) => passkey,
            Err(error) => {
                // No user in the line: it also reaches the traces, which carry no personal data.
                tracing::info!(%error, "a passkey did not register");
                return Ok(Err(Refusal::Failed));
            }
        };
        let credential_id = b64(passkey.cred_id());
        // Refused before the insert: on PostgreSQL a failed statement would abort the
        // transaction it runs in (the ceremony taken, the login it is part of).
        if passkeys::by_credential(conn, tenant, &credential_id)?.is_some() {
            return Ok(Err(Refusal::Duplicate));
        }
        let count = passkeys::of_user(conn, tenant, &user.id)?.len();
        // Two ceremonies begun side by side cannot pass the cap either.
        if count >= MOST_PASSKEYS {
            return Ok(Err(Refusal::TooMany));
        }
        let row = PasskeyRow {
            id: store::new_id(m.now),
            tenant_id: m.tenant.id.clone(),
            user_id: user.id.clone(),
            credential_id,
            name: clean_name(name).unwrap_or_else(|| default_name(language, count + 1)),
            passkey: serde_json::to_string(&passkey).map_err(FlowError::server)?,
            backup_eligible: backup_eligible(&passkey),
            created_at: m.now,
            last_used_at: None,
        };
        // The unique index is the last guard (two registrations of one credential at once): the
        // insert in a savepoint of its own, so that its failure leaves the transaction usable.
        match store::write_transaction(conn, |conn| passkeys::insert(conn, &row)) {
            Ok(()) => {}
            Err(StoreError::UniqueViolation(_)) => return Ok(Err(Refusal::Duplicate)),
            Err(error) => return Err(error.into()),
        }
        m.audit("passkey.added")
            .user(user.id.as_str())
            .detail(&json!({ "passkey": row.id, "name": row.name }))
            .record(conn)?;
        notice::account_changed(m, conn, mails, (user, Change::Passkey), language)?;
        Ok(Ok(row))
    })
}

/// Whether the authenticator may copy the key to other devices (a synced passkey), as it said
/// at registration.
fn backup_eligible(passkey: &Passkey) -> bool {
    serde_json::to_value(passkey)
        .ok()
        .and_then(|value| value.pointer("/cred/backup_eligible")?.as_bool())
        .unwrap_or(false)
}

/// A name as typed, without the characters that do not show as themselves (control and format
/// characters: no right-to-left override or zero-width space hides or turns round its words,
/// `domain::text::invisible`), trimmed, at most [`NAME_CHARS`]; `None` when nothing is left.
pub fn clean_name(typed: &str) -> Option<String> {
    text::visible(typed, NAME_CHARS)
}

/// The name of a user's `n`th passkey when they give none: "Pääsyavain 1".
pub fn default_name(language: Language, n: usize) -> String {
    format!("{} {n}", i18n::text(language, "passkey-default-name"))
}

#[cfg(test)]
mod tests {
    use super::clean_name;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(clean_name("  Puhelin \u{7} "), Some("Puhelin".into()));
        assert_eq!(clean_name(" \n\t "), None);
        assert_eq!(clean_name(&"ä".repeat(100)).unwrap().chars().count(), 64);
    }

    #[test]
    fn names_keep_no_invisible_marks() {
        // A right-to-left override would show "Kaupungin avain" typed as "niava nignupuaK".
        let typed = "Puhelin \u{202e}niava nignupuaK";
        assert_eq!(clean_name(typed), Some("Puhelin niava nignupuaK".into()));
        // Zero-width space and joiner, a byte order mark, an isolate, a soft hyphen, a line and a
        // paragraph separator, a private-use character.
        let typed = "\u{200b}Työ\u{200d}kone\u{feff}\u{2066}\u{ad}\u{2028}\u{2029}\u{e000}";
        assert_eq!(clean_name(typed), Some("Työkone".into()));
        assert_eq!(clean_name("\u{202e}\u{200b} "), None);
        // Letters, marks, symbols and spaces of every script stay.
        let typed = "Läppäri – ÅÄÖ ऋषि 手机 🔑";
        assert_eq!(clean_name(typed), Some(typed.into()));
    }
}
