//! The notice mailed to an account's address when its password is changed on the account page, a
//! passkey is added to it or removed from it, or an authority user's one-time code is set up, its
//! recovery codes made anew or one of them used to log in (mail `account_changed`), in the
//! transaction of the change: the owner
//! learns of a change they did not make, and the mail's link leads to the forgot-password page,
//! whose reset ends every login and can remove the passkeys. It carries no text of the request
//! (not the passkey's name, which its adder chose), only the tenant's own words and link.

use std::sync::Arc;

use crate::config::Language;
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::mail_link;
use crate::mail::{self, Mails};
use crate::store::DbConnection;
use crate::store::users::UserRow;

/// The mail's kind.
pub const KIND: &str = "account_changed";

/// What changed.
#[derive(Debug, Clone, Copy)]
pub enum Change {
    /// The password, on the account page.
    Password,
    /// A passkey added.
    Passkey,
    /// A passkey removed (by a session that proved two factors, with the password or a passkey).
    PasskeyRemoved,
    /// A one-time code set up or replaced (and new recovery codes with it).
    OneTimeCode,
    /// New recovery codes, the old ones void.
    RecoveryCodes,
    /// A recovery code used in a login (the phone lost, or someone else's login).
    RecoveryCodeUsed,
}

impl Change {
    fn name(self) -> &'static str {
        match self {
            Change::Password => "password",
            Change::Passkey => "passkey",
            Change::OneTimeCode => "one_time_code",
            Change::RecoveryCodes => "recovery_codes",
            Change::PasskeyRemoved => "passkey_removed",
            Change::RecoveryCodeUsed => "recovery_code_used",
        }
    }
}

/// How a notice is written: the mail templates, and the language of the page that caused it.
#[derive(Clone)]
pub struct Tell {
    /// The mail templates.
    pub mails: Arc<Mails>,
    /// The page's language.
    pub language: Language,
}

/// The language to write to the owner of `user` in: the one they last logged in with
/// (`users.locale`), when the tenant still offers it; else `fallback`, the page's. A notice of a
/// change someone else made (or a mail someone else caused: a registration at the address, a
/// change of address) goes to the owner in the owner's language, not in the one the other
/// person's browser asked for.
pub fn owner_language(m: &Minter<'_>, user: &UserRow, fallback: Language) -> Language {
    user.locale
        .as_deref()
        .and_then(crate::i18n::parse_tag)
        .filter(|language| m.tenant.languages.contains(language))
        .unwrap_or(fallback)
}

/// Writes the notice of `change` to `user`'s address in the owner's language (else `language`:
/// [`owner_language`]); nothing for a user without one: an authority user known by a username
/// only.
pub fn account_changed(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    (user, change): (&UserRow, Change),
    language: Language,
) -> Result<(), FlowError> {
    let Some(to) = user.email.as_deref().filter(|to| !to.is_empty()) else {
        return Ok(());
    };
    let mut context = mail_link::context(m);
    context.insert("link", &mail_link::build(m, &["forgot"], &[])?);
    context.insert("change", change.name());
    let language = owner_language(m, user, language);
    let rendered = mail_link::render(mails, KIND, language, &context)?;
    let about = (m.tenant.id.as_str(), Some(user.id.as_str()));
    mail::enqueue(conn, about, KIND, to, &rendered, m.now)?;
    Ok(())
}
