//! The linker's chooser: `POST /{tenant}/login/choose`, an old account chosen among several of
//! one address (or the account in use).

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
    let route = login
        .view
        .flow(
            move |m, conn| match linker::route_chosen(m, conn, &who, &account)? {
                Route::Unknown => linker::route(m, conn, &who),
                chosen => Ok(chosen),
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
        route => follow(&login, route).await,
    }
}
