//! An e-service's callback that sends the browser on to another origin of its own (an
//! application behind a separate sign-in host), which the client lists in `onward_origins`:
//! browsers apply the login page's `form-action` to every redirect that follows its post (and
//! the form_post page's to those after its own), so without the list the login stopped at its
//! last step, the password page staying as it was.

use actix_web::web;

use super::{Browser, Rig, html, log_in};
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
    // A query's answer is a GET, a form_post's a POST: both sent on by a 303. Another callback
    // sends the browser on to an origin no client lists.
    let (callback, sign_in_server) = crate::rp::serve_on_loopback(move |routes| {
        routes.service(web::redirect("/callback", landed.clone()).see_other());
        routes.service(web::redirect("/elsewhere", "http://localhost:1/unlisted").see_other());
    });
    let (callback, elsewhere) = (
        format!("http://{callback}/callback"),
        format!("http://{callback}/elsewhere"),
    );
    let onward = format!("onward_origins = [\"http://localhost:{}\"]", landing.port());
    let clients = first_party_client("hopping", &callback, &[&onward])
        + &first_party_client("unlisting", &elsewhere, &[]);
    let Some(rig) = Rig::start_with(|app| app.tenant_toml(&clients).metrics()).await else {
        app_server.stop(true).await;
        sign_in_server.stop(true).await;
        return;
    };
    // The form_post page posts by its script (without one, the resident presses its button).
    for (javascript, mode) in [(true, "query"), (false, "query"), (true, "form_post")] {
        let browser = at_login(&rig, "hopping", &callback, javascript, mode).await;
        log_in(&browser, false, None).await;
        let at = browser.wait_for_url(|u| u.path() == "/landed").await;
        assert_eq!(at.host_str(), Some("localhost"));
        browser.shows("h1", "In the application").await;
        browser.quit().await;
    }

    // Unlisted, the redirect is blocked: the password page stays, saying so, and the browser
    // reports it to the tenant's `report-uri` (`http::csp_report`, whose log says so: by the
    // password form's address, as chromium reports a blocked redirect, `traces.rs`).
    // The form_post page's own script says so there (the block happens on that page).
    let reported =
        "idp_http_requests_total{route=\"/{tenant}/csp-report\",method=\"POST\",status=\"204\"}";
    for (n, mode) in ["query", "form_post"].into_iter().enumerate() {
        let browser = at_login(&rig, "unlisting", &elsewhere, true, mode).await;
        browser.fill("identifier", "erkki@testi.fi").await;
        browser.click("main form button[type=submit]").await;
        browser.fill("password", super::PASSWORD).await;
        browser.click("main form button[type=submit]").await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let reports = (n + 1) as f64;
        while crate::metrics::sample(&rig.app.scrape().await.2, reported) != Some(reports) {
            assert!(std::time::Instant::now() < deadline, "no report in {mode}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(browser.url().await.path().starts_with("/seinajoki/login"));
        // The page says why nothing happened (its script hears the browser's block).
        browser
            .shows(
                "#not-returned:not([hidden])",
                "Selain pysäytti paluun asiointipalveluun, koska palvelun osoitetta ei ole rekisteröity tähän kirjautumiseen.",
            )
            .await;
        browser.quit().await;
    }
    rig.stop().await;
    app_server.stop(true).await;
    sign_in_server.stop(true).await;
}

/// A browser (JavaScript on or off) of `rig`'s resident at the login of a request of `client`
/// answered at `redirect` in `mode`.
async fn at_login(
    rig: &Rig,
    client: &str,
    redirect: &str,
    javascript: bool,
    mode: &str,
) -> Browser {
    let browser = rig.browser(javascript).await;
    let mut url = url::Url::parse(&rig.app.url("/seinajoki/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs([
        ("client_id", client),
        ("redirect_uri", redirect),
        ("response_type", "code"),
        ("scope", "openid email"),
        ("state", "hop"),
        ("response_mode", mode),
    ]);
    browser.goto(url.as_str()).await;
    browser.wait_for("#identifier").await;
    browser
}
