//! The linker's chooser: `POST /{tenant}/login/choose`, an old account chosen among several of
//! one address (or the account in use).

use actix_web::http::StatusCode;

use super::form::LoginForm;
use super::route::follow;
use crate::flows::linker;
use crate::flows::linker::route::Route;
use crate::http::pages::error::PageResult;

/// `POST /{tenant}/login/choose`: the old account chosen among several of one address.
pub async fn choose(login: LoginForm) -> PageResult {
    let account = login.field("account");
    let account_given = !account.is_empty();
    let who = login.identifier.clone();
    // The claim page's "forgot the old password": the old account proven by a link mailed to the
    // shared address instead, as "forgot password" proves an address nobody has bound yet (the
    // city's letter sends a resident who forgot the old password there). Never an authority's.
    let by_link = login.field("proof") == "link";
    // Nothing (or nothing of this address's) chosen: where the identifier alone leads, as the
    // identifier step would answer it.
    let (route, chosen) = login
        .view
        .flow(
            move |m, conn| match linker::route_chosen(m, conn, &who, &account)? {
                Route::Unknown => Ok((linker::route(m, conn, &who)?, false)),
                Route::ClaimPassword(old) if by_link && !old.is_authority => {
                    Ok((Route::ClaimLink(old), true))
                }
                chosen => Ok::<_, crate::flows::error::FlowError>((chosen, true)),
            },
        )
        .await?;
    // No choice, or a stale one (an account bound meanwhile), while there are still several: ask
    // again.
    let again = if account_given {
        "choose-taken"
    } else {
        "choose-missing"
    };
    match route {
        Route::Choose(accounts) => Ok(login.choose_page(&accounts, false, Some(again))),
        Route::Shared(accounts) => Ok(login.choose_page(&accounts, true, Some(again))),
        // An old account proven by its password that no chooser named: the page of an unknown
        // identifier, byte for byte, as at the identifier step (`identifier.rs`) — its id
        // would tell anyone that the address or username was in the old system.
        Route::Password { .. } if !chosen => Ok(login.password_page(None, None, StatusCode::OK)),
        route => follow(&login, route).await,
    }
}
