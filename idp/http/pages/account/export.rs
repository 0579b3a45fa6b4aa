//! `POST /{tenant}/account/export`: the signed-in resident's data as a JSON download ("Lataa
//! tietoni", GDPR Art. 15 and 20), made by `flows::export`. A form's POST with its CSRF token,
//! not a link: a GET could be made by any other site's page and kept by a cache.

use actix_web::HttpResponse;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};

use crate::flows::error::FlowError;
use crate::flows::export::{self, Asker, Whose};
use crate::http::pages::error::PageResult;
use crate::http::pages::extract::{Posted, SignedIn};
use crate::http::pages::view::OrPage;
use crate::http::util;

/// `POST /{tenant}/account/export`: the download, audited as `account.exported`.
pub async fn download(signed: SignedIn<Posted>) -> PageResult {
    let view = signed.view();
    let id = signed.user.id.clone();
    let document = view
        .flow(move |m, conn| export::export(m, conn, Whose::Id(&id), Asker::Resident))
        .await?;
    let Some(document) = document else {
        // The account went after the session was read: the account page, which logs in again.
        let base = view.state.config.settings.server.public_base();
        let account = format!("{base}/{}/account", view.tenant.id);
        return Ok(view.attach(util::see_other(&account)));
    };
    let json = document
        .to_json()
        .map_err(FlowError::server)
        .or_page(view)?;
    let day = document.exported_at.get(..10).unwrap_or("");
    let file = format!("idp-export-{}-{day}.json", view.tenant.id);
    let response = HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json; charset=utf-8"))
        .insert_header((
            CONTENT_DISPOSITION,
            format!("attachment; filename=\"{file}\""),
        ))
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(json);
    Ok(view.attach(response))
}
