//! `POST /{tenant}/account/export`: the signed-in resident's data as a JSON download ("Lataa
//! tietoni", GDPR Art. 15 and 20), made by `flows::export`. A form's POST with its CSRF token,
//! not a link: a GET could be made by any other site's page and kept by a cache.

use actix_web::HttpResponse;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};

use crate::flows::error::FlowError;
use crate::flows::export::{self, Asker};
use crate::flows::lookup::Whose;
use crate::http::pages::error::PageResult;
use crate::http::pages::extract::{Posted, SignedIn};
use crate::http::pages::view::OrPage;
use crate::http::util;

/// `POST /{tenant}/account/export`: the download, audited as `account.exported`. It counts
/// against the resident's allowance of changes (`[limits] account_changes_per_hour`): checked
/// before anything is read, and again, exactly, where the event is written with the session read
/// again (`SignedIn::counted_change`), so that no download is handed out past the allowance, nor
/// to a session a recovery ended while the export was read.
pub async fn download(signed: SignedIn<Posted>) -> PageResult {
    let view = signed.view();
    signed.counted_change(|_, _| Ok::<_, FlowError>(())).await?;
    let id = signed.user.id.clone();
    let read = view
        .flow(move |m, conn| export::read(m, conn, Whose::Id(&id)))
        .await?;
    let Some((document, user_id)) = read else {
        // The account went after the session was read: the account page, which logs in again.
        let base = view.state.config.settings.server.public_base();
        let account = format!("{base}/{}/account", view.tenant.id);
        return Ok(view.attach(util::see_other(&account)));
    };
    signed
        .counted_change(move |m, conn| export::record(m, conn, &user_id, Asker::Resident))
        .await?;
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
