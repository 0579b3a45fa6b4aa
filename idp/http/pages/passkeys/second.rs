//! A passkey in a half-done login (`Step::SecondFactor`, the one-time-code pages' step): as the
//! second factor, `POST /{tenant}/login/second-factor/passkey/options` and
//! `POST /{tenant}/login/second-factor/passkey`; enrolled as the second factor of a user who has
//! none, `POST /{tenant}/login/second-factor/passkey-enrol/options` and
//! `POST /{tenant}/login/second-factor/passkey-enrol`. The buttons are includes of the second
//! factor's pages (`second_factor_passkey.html`, `enrol_passkey.html`).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

use super::answer::{Held, answer, options, problem};
use crate::flows::passkeys;
use crate::flows::passkeys::second::Seconded;
use crate::http::pages::error::PageResult;
use crate::http::pages::login::form::LoginForm;

/// The options (JSON) of one of the user's passkeys, or (`enrol`) of a new one.
async fn options_in_half(form: LoginForm, enrol: bool) -> PageResult {
    let held = Held::of(&form.view, form.request_id.clone());
    let started = form
        .view
        .flow(move |m, conn| passkeys::start_in_half(m, conn, held.at(), enrol))
        .await?;
    Ok(options(started))
}

/// `POST /{tenant}/login/second-factor/passkey/options`: the options (JSON) to ask for one of the
/// user's passkeys.
pub async fn second_options(form: LoginForm) -> PageResult {
    options_in_half(form, false).await
}

/// `POST /{tenant}/login/second-factor/passkey-enrol/options`: the options (JSON) to create the
/// user's first passkey as the second factor.
pub async fn enrol_options(form: LoginForm) -> PageResult {
    options_in_half(form, true).await
}

/// `POST /{tenant}/login/second-factor/passkey`: the browser's answer; the login goes on.
pub async fn second(form: LoginForm) -> PageResult {
    let held = Held::of(&form.view, form.request_id.clone());
    let (ceremony, credential) = answer(&form.params);
    let seconded = form
        .view
        .flow(move |m, conn| passkeys::finish_second(m, conn, held.at(), (&ceremony, &credential)))
        .await?;
    Ok(go_on(&form, seconded))
}

/// `POST /{tenant}/login/second-factor/passkey-enrol`: the new passkey; the login goes on.
pub async fn enrol(form: LoginForm) -> PageResult {
    let held = Held::of(&form.view, form.request_id.clone());
    let (ceremony, credential) = answer(&form.params);
    let (name, lang) = (form.field("name"), form.view.lang);
    let mails = form.view.state.services.mails.clone();
    let seconded = form
        .view
        .flow(move |m, conn| {
            let answer = (ceremony.as_str(), credential.as_str());
            passkeys::finish_enrol(m, conn, &mails, held.at(), answer, (&name, lang))
        })
        .await?;
    Ok(go_on(&form, seconded))
}

/// The login's next step, or the page of a refusal with the way back to the second factor's page.
fn go_on(form: &LoginForm, seconded: Seconded) -> HttpResponse {
    let view = &form.view;
    match seconded {
        Seconded::Done(next) => view.go_on(next),
        Seconded::Refused(refusal) => {
            let back = format!("/login/second-factor?request={}", form.request_id);
            problem(view, refusal, &back)
        }
        Seconded::Expired => view.error(StatusCode::BAD_REQUEST, "expired"),
    }
}
