//! The offer after a password login: `GET /{tenant}/passkey-offer?request=…` ("Ota pääsyavain
//! käyttöön"), `POST /{tenant}/passkey-offer/options` and `POST /{tenant}/passkey-offer/add`
//! (the passkey added, then on with the login), and `POST /{tenant}/passkey-offer` ("not now":
//! on with the login; no script needed).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

use super::answer::{Held, answer, options, refused};
use crate::flows::passkeys;
use crate::flows::passkeys::ceremony::Refusal;
use crate::flows::passkeys::offer::Offered;
use crate::flows::passkeys::register::default_name;
use crate::http::pages::error::PageResult;
use crate::http::pages::extract::Posted;
use crate::http::pages::view::View;

/// The offer page, with `refusal` when adding one failed.
fn offer_page(view: &View, request: &str, refusal: Option<Refusal>) -> HttpResponse {
    let mut context = view.context();
    context.insert("request_id", request);
    context.insert("passkey_default_name", &default_name(view.lang, 1));
    context.insert("passkey_error", &refusal.map(Refusal::key));
    let page = view.respond(StatusCode::OK, "passkey_offer.html", &context);
    match refusal {
        Some(refusal) => refused(page, refusal),
        None => page,
    }
}

/// `GET /{tenant}/passkey-offer?request=…`: the offer, to the signed-in user of the login.
pub async fn page(mut view: View) -> PageResult {
    let request = view.query("request");
    view.in_login(&request).await;
    let held = Held::of(&view, request.clone());
    let user = view
        .flow(move |m, conn| passkeys::offer_user(m, conn, held.at()))
        .await?;
    Ok(match user {
        Some(_) => offer_page(&view, &request, None),
        None => view.error(StatusCode::BAD_REQUEST, "expired"),
    })
}

/// `POST /{tenant}/passkey-offer/options`: the options to create the passkey (JSON).
pub async fn add_options(posted: Posted) -> PageResult {
    let held = Held::of(&posted.view, posted.field("request"));
    let started = posted
        .view
        .flow(move |m, conn| passkeys::start_offer(m, conn, held.at()))
        .await?;
    Ok(options(started))
}

/// `POST /{tenant}/passkey-offer/add`: the browser's new passkey; then on with the login.
pub async fn add(mut posted: Posted) -> PageResult {
    let request = posted.field("request");
    posted.view.in_login(&request).await;
    let view = &posted.view;
    let (ceremony, credential) = answer(&posted.params);
    let (name, lang) = (posted.field("name"), view.lang);
    let held = Held::of(view, request.clone());
    let mails = view.state.services.mails.clone();
    let offered = view
        .flow(move |m, conn| {
            let answer = (ceremony.as_str(), credential.as_str());
            passkeys::add_from_offer(m, conn, &mails, held.at(), answer, (&name, lang))
        })
        .await?;
    Ok(match offered {
        Offered::Done(outcome) => view.outcome(outcome),
        Offered::Refused(refusal) => offer_page(view, &request, Some(refusal)),
        Offered::Expired => view.error(StatusCode::BAD_REQUEST, "expired"),
    })
}

/// `POST /{tenant}/passkey-offer`: "not now"; on with the login.
pub async fn not_now(posted: Posted) -> PageResult {
    let view = &posted.view;
    let held = Held::of(view, posted.field("request"));
    let outcome = view
        .flow(move |m, conn| passkeys::go_on(m, conn, held.at()))
        .await?;
    Ok(match outcome {
        Some(outcome) => view.outcome(outcome),
        None => view.error(StatusCode::BAD_REQUEST, "expired"),
    })
}
