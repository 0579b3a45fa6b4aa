//! An e-service's callback that sends the browser on to another origin of its own (an
//! application behind a separate sign-in host), which the client lists in `onward_origins`:
//! browsers apply the login page's `form-action` to every redirect that follows its post (and
//! the form_post page's to those after its own), so without the list the login stopped at its
//! last step, the password page staying as it was.

use actix_web::web;

use super::{Rig, html, log_in};
use crate::helpers::first_party_client;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_may_send_the_resident_on_to_another_origin_of_the_e_service() {
    let (landing, app_server) = crate::rp::serve_on_loopback(|routes| {
        routes.route(
            "/landed",
            web::get().to(|| async {
                html("<!DOCTYPE html><html lang=\"en\"><title>App</title><h1>In the application</h1></html>")
            }),
        );
    });
    // The application at the name `localhost`: another origin than the callback's 127.0.0.1.
    let landed = format!("http://localhost:{}/landed", landing.port());
    // A query's answer is a GET, a form_post's a POST: both sent on by a 303.
    let (callback, sign_in_server) = crate::rp::serve_on_loopback(move |routes| {
        routes.service(web::redirect("/callback", landed.clone()).see_other());
    });
    let callback = format!("http://{callback}/callback");
    let onward = format!("onward_origins = [\"http://localhost:{}\"]", landing.port());
    let client = first_party_client("hopping", &callback, &[&onward]);
    let Some(rig) = Rig::start_with(|app| app.tenant_toml(&client)).await else {
        app_server.stop(true).await;
        sign_in_server.stop(true).await;
        return;
    };
    // The form_post page posts by its script (without one, the resident presses its button).
    for (javascript, mode) in [(true, "query"), (false, "query"), (true, "form_post")] {
        let browser = rig.browser(javascript).await;
        let mut url = url::Url::parse(&rig.app.url("/seinajoki/authorize")).unwrap();
        url.query_pairs_mut().extend_pairs([
            ("client_id", "hopping"),
            ("redirect_uri", callback.as_str()),
            ("response_type", "code"),
            ("scope", "openid email"),
            ("state", "hop"),
            ("response_mode", mode),
        ]);
        browser.goto(url.as_str()).await;
        browser.wait_for("#identifier").await;
        log_in(&browser, false, None).await;
        let at = browser.wait_for_url(|u| u.path() == "/landed").await;
        assert_eq!(at.host_str(), Some("localhost"));
        browser.shows("h1", "In the application").await;
        browser.quit().await;
    }
    rig.stop().await;
    app_server.stop(true).await;
    sign_in_server.stop(true).await;
}
