//! The account page's sessions and e-services: the resident's browsers listed by their
//! User-Agent, one ended from another browser (its cookie useless, its e-services told by
//! back-channel logout), this browser's own ended, another resident's ids refused, and an
//! e-service's access revoked (its refresh token dead, its logout sent, its consent asked again).

mod location;
pub(crate) mod support;

use self::support::{
    BCL_CALLBACK, CHROME, PASSWORD, SESSION_UNKNOWN, app_client, app_tokens, app_with_receiver,
    end_session, erkki_in_firefox, listed_services, listed_sessions, logout_claims, own_sid,
    refresh, revoke, signed_in, stop,
};
use crate::both_stores;
use crate::helpers::journeys::{answer, page, post_with_csrf};
use crate::helpers::{Backend, assert_has};
use crate::oidc_backchannel::wait_for;
use crate::rp::{self, location};

both_stores!(two_browsers_are_listed_and_one_ends_the_other);
async fn two_browsers_are_listed_and_one_ends_the_other(backend: Backend) {
    let (app, receiver, handle) = app_with_receiver(backend).await;
    // Chrome logs in at the e-service rp-bcl: its session holds rp-bcl's grant.
    let chrome = app.browser_as(CHROME);
    let bcl = rp::client(
        &app,
        "seinajoki",
        "rp-bcl",
        Some("rp-bcl-secret"),
        BCL_CALLBACK,
    )
    .await;
    let redeemed = rp::redeem_login(&chrome, &bcl, &[], "erkki@testi.fi", PASSWORD).await;
    let chrome_sid = redeemed.payload()["sid"].as_str().unwrap().to_string();
    // Firefox signs in at the account page.
    let firefox = erkki_in_firefox(&app).await;

    // Chrome comes back ten minutes later: its last use is recorded.
    app.clock.advance(600);
    assert!(signed_in(&app, &chrome).await);
    let fresh = page(&firefox.browser, app.url("/seinajoki/account")).await;
    let listed = listed_sessions(&fresh);
    assert_eq!(listed.len(), 2, "{fresh}");
    let (this, other) = (&listed[0], &listed[1]);
    assert_has(
        &this.0,
        "<span class=\"session-browser\">Firefox, Linux</span> <strong class=\"session-this\">(tämä selain)</strong>",
    );
    assert_has(
        &other.0,
        "<span class=\"session-browser\">Chrome, Windows</span><br>",
    );
    assert!(!other.0.contains("tämä selain"), "{}", other.0);
    assert_eq!(other.1, chrome_sid);
    let row = {
        let sid = chrome_sid.clone();
        app.db_run(move |conn| {
            let tenant = crate::helpers::tenant("seinajoki");
            idp::store::sessions::find(conn, tenant, &sid)
                .unwrap()
                .unwrap()
        })
        .await
    };
    assert_eq!(row.user_agent.as_deref(), Some(CHROME));
    assert!(row.last_seen_at - row.created_at >= chrono::Duration::seconds(600));
    let used = crate::helpers::helsinki(row.last_seen_at).format("%-d.%-m.%Y klo %H.%M");
    assert_has(&other.0, &format!("viimeksi käytetty {used}</span>"));
    assert_has(
        &fresh,
        "<button type=\"submit\" class=\"secondary\" aria-describedby=\"session-2\">Kirjaudu ulos tästä istunnosta</button>",
    );

    // Firefox ends Chrome's session.
    let (status, ended) = end_session(&app, &firefox, &chrome_sid).await;
    assert_eq!(status, 200, "{ended}");
    assert_has(
        &ended,
        "<p id=\"message\" class=\"notice\" role=\"status\">Istunto päättyi. Siinä käytetyt asiointipalvelut saivat tiedon uloskirjautumisesta.</p>",
    );
    assert_eq!(listed_sessions(&ended).len(), 1, "{ended}");
    assert!(!ended.contains("Chrome"), "{ended}");
    assert!(
        !signed_in(&app, &chrome).await,
        "Chrome's cookie opens nothing"
    );
    assert!(signed_in(&app, &firefox.browser).await, "Firefox stays");

    // rp-bcl, which had a grant in Chrome's session, hears of it.
    wait_for(&receiver, 1, &app).await;
    let bodies = receiver.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let claims = logout_claims(&bodies[0]);
    assert_eq!(claims["aud"], "rp-bcl");
    assert_eq!(claims["sid"], chrome_sid.as_str());
    assert_eq!(claims["sub"], redeemed.claims.subject().as_str());
    let erkki = app.user_id("seinajoki", "erkki@testi.fi").await;
    let audited = app.audited("seinajoki", "session.ended").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].user_id.as_deref(), Some(erkki.as_str()));

    // The same session again: it is gone.
    let (status, again) = end_session(&app, &firefox, &chrome_sid).await;
    assert_eq!(status, 404);
    assert_has(&again, SESSION_UNKNOWN);
    stop(&app, handle).await;
}

both_stores!(ending_this_session_logs_this_browser_out);
async fn ending_this_session_logs_this_browser_out(backend: Backend) {
    let (app, _receiver, handle) = app_with_receiver(backend).await;
    let signed = erkki_in_firefox(&app).await;
    let (listed, id) = listed_sessions(&signed.page).remove(0);
    assert_has(&listed, "(tämä selain)");
    let response = post_with_csrf(
        &signed.browser,
        app.url("/seinajoki/account/sessions/end"),
        &signed.page,
        &[("session", &id)],
    )
    .await;
    let removal = crate::helpers::journeys::session_set_cookie(&response, "seinajoki").unwrap();
    assert!(
        removal.starts_with("idp-session-seinajoki=;") && removal.contains("Max-Age=0"),
        "{removal}"
    );
    let (status, text) = answer(response).await;
    assert_eq!(status, 200);
    assert_has(&text, "<h1>Olet kirjautunut ulos</h1>");
    assert!(!signed_in(&app, &signed.browser).await);
    // Even with the old cookie put back, the session is over.
    let response =
        crate::helpers::journeys::account_with_cookie(&app, "seinajoki", &signed.cookie).await;
    assert_eq!(location(&response).path(), "/seinajoki/login");
    stop(&app, handle).await;
}

both_stores!(another_residents_session_and_e_service_are_refused);
async fn another_residents_session_and_e_service_are_refused(backend: Backend) {
    let (app, receiver, handle) = app_with_receiver(backend).await;
    let erkki = erkki_in_firefox(&app).await;
    // Maija uses rp-app with offline access, then opens her account page.
    let maija_browser = app.browser_as(CHROME);
    let tokens = app_tokens(&app, &maija_browser, "maija@testi.fi").await;
    let maija_page = page(&maija_browser, app.url("/seinajoki/account")).await;
    let (_, maija_sid) = listed_sessions(&maija_page).remove(0);
    assert_eq!(listed_services(&maija_page).len(), 1, "{maija_page}");

    // Erkki names Maija's session, and Maija's e-service.
    let (status, refused) = end_session(&app, &erkki, &maija_sid).await;
    assert_eq!(status, 404);
    assert_has(&refused, SESSION_UNKNOWN);
    let (status, refused) = revoke(&app, &erkki, "rp-app").await;
    assert_eq!(status, 404);
    assert_has(
        &refused,
        "<p id=\"sessions-error\" class=\"error\" role=\"alert\">Tällä asiointipalvelulla ei ole pääsyä tietoihisi. Pääsy on ehkä jo peruttu.</p>",
    );
    // Without the CSRF token nothing happens either.
    let forged = erkki
        .browser
        .post(app.url("/seinajoki/account/sessions/end"))
        .form(&[("session", own_sid(&erkki).as_str())])
        .send()
        .await
        .unwrap();
    let (status, text) = answer(forged).await;
    assert_eq!(status, 400);
    assert_has(&text, "Pyyntö ei ole kelvollinen.");

    assert!(
        signed_in(&app, &maija_browser).await,
        "Maija's session lives"
    );
    assert!(signed_in(&app, &erkki.browser).await, "so does Erkki's");
    let client = app_client(&app).await;
    refresh(&client, &tokens.refresh_token())
        .await
        .expect("Maija's refresh token works");
    assert!(app.audited("seinajoki", "session.ended").await.is_empty());
    assert!(app.audited("seinajoki", "client.revoked").await.is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(receiver.bodies.lock().unwrap().is_empty());
    stop(&app, handle).await;
}

both_stores!(revoking_an_e_service_ends_its_refresh_token_and_asks_consent_again);
async fn revoking_an_e_service_ends_its_refresh_token_and_asks_consent_again(backend: Backend) {
    let (app, receiver, handle) = app_with_receiver(backend).await;
    let signed = erkki_in_firefox(&app).await;
    assert_has(
        &signed.page,
        "<p id=\"services-none\">Millään asiointipalvelulla ei ole lupaasi eikä pysyvää pääsyä tietoihisi.</p>",
    );
    // The third-party rp-app with consent and offline access; the first-party rp-basic with
    // offline access and no consent.
    let tokens = app_tokens(&app, &signed.browser, "erkki@testi.fi").await;
    let basic = rp::basic(&app).await;
    let started = rp::start(&basic, &["offline_access"], &[]);
    let back = location(
        &signed
            .browser
            .get(started.url.clone())
            .send()
            .await
            .unwrap(),
    );
    let basic_tokens = rp::redeem(&basic, started, &back).await;
    let client = app_client(&app).await;
    let refreshed = refresh(&client, &tokens.refresh_token())
        .await
        .expect("refresh works");

    let fresh = page(&signed.browser, app.url("/seinajoki/account")).await;
    let services = listed_services(&fresh);
    assert_eq!(services.len(), 2, "{fresh}");
    let since = crate::helpers::helsinki(app.now()).format("%-d.%-m.%Y");
    assert_has(
        &services[0],
        "<span class=\"service-name\">Kirjastosovellus</span>",
    );
    assert_has(
        &services[0],
        &format!("tiedot: openid email offline_access, {since} klo "),
    );
    assert_has(
        &services[0],
        ", pääsy myös silloin, kun et ole kirjautuneena</span>",
    );
    assert_has(
        &services[0],
        "<input type=\"hidden\" name=\"client\" value=\"rp-app\">",
    );
    assert_has(
        &services[0],
        "aria-describedby=\"service-1\">Peru pääsy</button>",
    );
    assert_has(&services[1], "<span class=\"service-name\">Basic RP</span>");
    assert_has(&services[1], "tiedot: openid offline_access, ");

    let (status, revoked) = revoke(&app, &signed, "rp-app").await;
    assert_eq!(status, 200, "{revoked}");
    assert_has(
        &revoked,
        "<p id=\"message\" class=\"notice\" role=\"status\">Pääsy peruttiin. Asiointipalvelu voi käyttää tietojasi uudelleen vasta, kun kirjaudut siihen taas (ja annat luvan uudelleen, jos se kysyy).</p>",
    );
    let left = listed_services(&revoked);
    assert_eq!(left.len(), 1, "{revoked}");
    assert_has(&left[0], "Basic RP");

    // Its refresh token is dead; rp-basic's lives.
    let dead = refresh(&client, &refreshed).await.unwrap_err();
    assert!(dead.starts_with("invalid_grant"), "{dead}");
    refresh(&basic, &basic_tokens.refresh_token())
        .await
        .expect("rp-basic's refresh works");
    // Its logout names the resident (it ends all it holds of them), not a session.
    wait_for(&receiver, 1, &app).await;
    let bodies = receiver.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let claims = logout_claims(&bodies[0]);
    assert_eq!(claims["aud"], "rp-app");
    assert_eq!(claims["sub"], tokens.claims.subject().as_str());
    assert!(claims.get("sid").is_none(), "{claims}");
    let audited = app.audited("seinajoki", "client.revoked").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].client_id.as_deref(), Some("rp-app"));
    assert_eq!(
        audited[0].detail.as_deref(),
        Some(r#"{"consent":true,"grants":1}"#)
    );

    // The next login at rp-app asks for consent again; the session itself lives on.
    let again = rp::start(&client, &["email"], &[]);
    let asked = location(&signed.browser.get(again.url.clone()).send().await.unwrap());
    assert_eq!(asked.path(), "/seinajoki/consent", "{asked}");
    stop(&app, handle).await;
}
