//! The account page's passkeys: the section's context (`templates/pages/account_passkeys.html`),
//! adding one after the current password is checked (`POST /{tenant}/account/passkeys/options`,
//! then `POST /{tenant}/account/passkeys` with the browser's answer), renaming one (`POST /{tenant}/account/passkeys/rename`, a plain
//! form), and removing one (`POST /{tenant}/account/passkeys/remove`) after the current password
//! or one of the user's passkeys (`POST /{tenant}/account/passkeys/confirm-options`) is checked.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use secrecy::SecretString;
use serde::Serialize;
use serde_json::json;

use super::answer::{answer, options, refused};
use crate::flows::notice::Tell;
use crate::flows::passkeys;
use crate::flows::passkeys::register::default_name;
use crate::http::pages::account::current::CurrentPassword;
use crate::http::pages::dates::date;
use crate::http::pages::error::PageResult;
use crate::http::pages::extract::{Posted, SignedIn};
use crate::http::pages::view::View;
use crate::i18n;
use crate::store::Tenant;
use crate::store::passkeys::PasskeyRow;

/// A passkey as the account page and the reset page list it: its name, and the days it was added
/// and last used.
#[derive(Serialize)]
pub struct Listed<'a> {
    id: &'a str,
    name: &'a str,
    created: String,
    last_used: Option<String>,
}

/// `passkeys` as a page lists them, the days in the page's language and the tenant's time zone.
pub fn listed<'a>(view: &View, passkeys: &'a [PasskeyRow]) -> Vec<Listed<'a>> {
    passkeys
        .iter()
        .map(|p| Listed {
            id: &p.id,
            name: &p.name,
            created: date(view, p.created_at),
            last_used: p.last_used_at.map(|at| date(view, at)),
        })
        .collect()
}

/// Adds the passkey section's context to the account page's: the user's `passkeys`, the name a
/// new one gets unless the resident gives one.
pub fn section(view: &View, passkeys: &[PasskeyRow], context: &mut tera::Context) {
    context.insert("passkeys", &listed(view, passkeys));
    context.insert(
        "passkey_default_name",
        &default_name(view.lang, passkeys.len() + 1),
    );
}

/// The user's passkeys read again after a change.
async fn reload(signed: &mut SignedIn<Posted>) -> Result<(), crate::http::pages::error::PageError> {
    let user_id = signed.user.id.clone();
    signed.passkeys = signed
        .view()
        .flow(move |m, conn| crate::store::passkeys::of_user(conn, Tenant::of(m.tenant), &user_id))
        .await?;
    Ok(())
}

/// `POST /{tenant}/account/passkeys/options`: the options to create a passkey (JSON), once the
/// current password (posted by the script from the form's field) is checked. A session alone (a
/// browser left signed in, a stolen cookie) must not add a passkey: it would outlive the session,
/// a change of password and "sign out everywhere", and log in as two factors. Checked here, before
/// the browser's prompt, so that a wrong password leaves no unusable passkey on the device. A
/// refusal is `{"error": key, "message": text}` with its status (422, or 429 when throttled),
/// which the script shows in the form.
pub async fn add_options(signed: SignedIn<Posted>) -> PageResult {
    let lang = signed.view().lang;
    let refusal = |key: &str, status: StatusCode| {
        HttpResponse::build(status)
            .insert_header(("Cache-Control", "no-store"))
            .json(json!({ "error": key, "message": i18n::text(lang, key) }))
    };
    let password = signed.page.field("password");
    if password.is_empty() {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(refusal("passkey-add-needs-password", status));
    }
    let current = CurrentPassword {
        check: "account.passkey_add",
        throttled: "passkey-throttled",
        wrong: "passkey-add-password-wrong",
    };
    signed
        .current_password_on(&current, SecretString::from(password), |_| (), refusal)
        .await?;
    let user = signed.user.clone();
    let room = signed
        .change(move |m, conn| passkeys::has_room(m, conn, &user))
        .await?;
    if !room {
        return Ok(refusal("passkey-too-many", StatusCode::CONFLICT));
    }
    let user = signed.user.clone();
    let started = signed
        .counted_change(move |m, conn| passkeys::start_registration(m, conn, &user, None))
        .await?;
    Ok(options(started))
}

/// `POST /{tenant}/account/passkeys`: the browser's new passkey, named.
pub async fn add(mut signed: SignedIn<Posted>) -> PageResult {
    let (user, lang) = (signed.user.clone(), signed.view().lang);
    let mails = signed.view().state.services.mails.clone();
    let answered = answer(&signed.page.params);
    let name = signed.page.field("name");
    let added = signed
        .counted_change(move |m, conn| {
            let answer = (answered.0.as_str(), answered.1.as_str());
            let user = (&user, &*mails);
            passkeys::finish_registration(m, conn, user, None, answer, (&name, lang))
        })
        .await?;
    reload(&mut signed).await?;
    Ok(match added {
        Ok(_) => signed.show(Some("passkey-added"), None, StatusCode::OK),
        Err(refusal) => refused(signed.show_refused(refusal.key(), StatusCode::OK), refusal),
    })
}

/// `POST /{tenant}/account/passkeys/rename`: a passkey's new name.
pub async fn rename(mut signed: SignedIn<Posted>) -> PageResult {
    let user = signed.user.clone();
    let (id, name) = (signed.page.field("passkey"), signed.page.field("name"));
    let renamed = signed
        .counted_change(move |m, conn| passkeys::rename(m, conn, &user, &id, &name))
        .await?;
    reload(&mut signed).await?;
    Ok(if renamed {
        signed.show(Some("passkey-renamed"), None, StatusCode::OK)
    } else {
        signed.show_refused("passkey-name-invalid", StatusCode::UNPROCESSABLE_ENTITY)
    })
}

/// `POST /{tenant}/account/passkeys/confirm-options`: the options to confirm a removal with one
/// of the user's passkeys (JSON).
pub async fn confirm_options(signed: SignedIn<Posted>) -> PageResult {
    let user = signed.user.clone();
    let started = signed
        .change(move |m, conn| passkeys::start_confirm(m, conn, &user))
        .await?;
    Ok(options(started))
}

/// `POST /{tenant}/account/passkeys/remove`: removes a passkey once the current password, or one
/// of the user's passkeys (its answer filled in by the script), is checked.
pub async fn remove(mut signed: SignedIn<Posted>) -> PageResult {
    let id = signed.page.field("passkey");
    if !signed.passkeys.iter().any(|p| p.id == id) {
        // Removed meanwhile, or not this user's: the page as it is now.
        return Ok(signed.show(None, None, StatusCode::CONFLICT));
    }
    let (ceremony, credential) = answer(&signed.page.params);
    let password = signed.page.field("password");
    if !credential.is_empty() {
        let user = signed.user.clone();
        let confirmed = signed
            .change(move |m, conn| passkeys::finish_confirm(m, conn, &user, &ceremony, &credential))
            .await?;
        if let Err(refusal) = confirmed {
            let page = signed.show_refused(refusal.key(), StatusCode::OK);
            return Ok(refused(page, refusal));
        }
    } else if password.is_empty() {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(signed.show_refused("passkey-remove-needs-check", status));
    } else {
        let current = CurrentPassword {
            check: "account.passkey",
            throttled: "passkey-throttled",
            wrong: "passkey-remove-password-wrong",
        };
        signed
            .current_password(&current, SecretString::from(password), |_| ())
            .await?;
    }
    let user = signed.user.clone();
    let tell = Tell {
        mails: signed.view().state.services.mails.clone(),
        language: signed.view().lang,
    };
    signed
        .change(move |m, conn| passkeys::remove(m, conn, &tell, &user, &id))
        .await?;
    reload(&mut signed).await?;
    Ok(signed.show(Some("passkey-removed"), None, StatusCode::OK))
}
