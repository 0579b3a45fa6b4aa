//! What an e-service asks for with `acr_values` or the `acr` claim, and what the tokens say
//! (`amr`, `acr`): a voluntary request answered honestly, an essential one refused when the login
//! cannot reach it, and a step-up of a live session to the second factor.

use idp::store::second_factors::{self, TotpRow};

use crate::both_stores;
use crate::helpers::{Backend, TestApp, tenant};
use crate::rp::{self, location, param};

const PASSWORD: &str = "oikea hevonen patteri";
const MFA: &str = "urn:idp:acr:mfa";

async fn app_with_user(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.add_user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki Esimerkki")
        .await;
    app
}

/// Gives the user of `email` a one-time-code factor (as its enrolment stores it).
async fn give_code_factor(app: &TestApp, email: &str) {
    let user_id = app.user_id("seinajoki", email).await;
    let now = app.now();
    app.db_run(move |conn| {
        let row = TotpRow {
            user_id,
            tenant_id: "seinajoki".into(),
            secret: "sealed".into(),
            last_step: None,
            created_at: now,
        };
        second_factors::set_totp(conn, &row).unwrap();
    })
    .await;
}

/// `back`, where a request of `what` was sent back to the client, carries the error `error`.
#[track_caller]
fn assert_error(back: &url::Url, error: &str, what: &str) {
    assert_eq!(
        param(back, "error").as_deref(),
        Some(error),
        "{what}: {back}"
    );
}

both_stores!(a_voluntary_acr_the_login_cannot_reach_is_answered_honestly);
async fn a_voluntary_acr_the_login_cannot_reach_is_answered_honestly(backend: Backend) {
    let app = app_with_user(backend).await;
    let client = rp::basic(&app).await;
    // The resident has no second factor: acr_values is a wish (OIDC Core §3.1.2.1).
    let started = rp::start(&client, &[], &[("acr_values", MFA)]);
    let redeemed =
        rp::log_in_and_redeem(&app.browser(), &client, started, "erkki@testi.fi", PASSWORD).await;
    let claims = redeemed.payload();
    assert_eq!(claims["acr"], "urn:idp:acr:password");
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
}

both_stores!(an_essential_acr_the_login_cannot_reach_is_refused);
async fn an_essential_acr_the_login_cannot_reach_is_refused(backend: Backend) {
    let app = app_with_user(backend).await;
    let client = rp::basic(&app).await;
    // The tenant's mfa level, or only values the tenant does not know (no login can give the
    // e-service one of them: OIDC Core §5.5.1.1).
    for values in [format!("\"{MFA}\""), "\"urn:other:high\"".to_string()] {
        let claims =
            format!(r#"{{"id_token":{{"acr":{{"essential":true,"values":[{values}]}}}}}}"#);
        let started = rp::start(&client, &[], &[("claims", &claims)]);
        let back = rp::log_in(&app.browser(), &started.url, "erkki@testi.fi", PASSWORD).await;
        assert_error(&back, "unmet_authentication_requirements", &values);
        assert_eq!(
            param(&back, "state").as_deref(),
            Some(started.state.secret().as_str())
        );
        assert!(param(&back, "code").is_none());
    }
}

both_stores!(a_claims_parameter_that_is_not_json_is_an_invalid_request);
async fn a_claims_parameter_that_is_not_json_is_an_invalid_request(backend: Backend) {
    let app = app_with_user(backend).await;
    let client = rp::basic(&app).await;
    for claims in ["{not json", "[1,2]", "\"acr\""] {
        let back = rp::authorize(&app.browser(), &client, &[("claims", claims)]).await;
        assert_error(&back, "invalid_request", claims);
        assert_eq!(
            param(&back, "error_description").as_deref(),
            Some("claims is not a JSON object")
        );
    }
}

both_stores!(a_stronger_acr_steps_a_live_session_up_to_the_second_factor);
async fn a_stronger_acr_steps_a_live_session_up_to_the_second_factor(backend: Backend) {
    let app = app_with_user(backend).await;
    give_code_factor(&app, "erkki@testi.fi").await;
    let client = rp::basic(&app).await;
    let browser = app.browser();
    // A password login: the session is one factor.
    let started = rp::start(&client, &[], &[]);
    let first = rp::log_in_and_redeem(&browser, &client, started, "erkki@testi.fi", PASSWORD).await;
    assert_eq!(first.payload()["acr"], "urn:idp:acr:password");

    // Asked for more, the live session does not do: the second factor's page, no code.
    let started = rp::start(&client, &[], &[("acr_values", MFA)]);
    let next = location(&browser.get(started.url.clone()).send().await.unwrap());
    assert_eq!(next.path(), "/seinajoki/login/second-factor", "{next}");
    assert!(param(&next, "request").is_some());

    // With prompt=none there is no page to show: interaction_required.
    let back = rp::authorize(
        &browser,
        &client,
        &[("acr_values", MFA), ("prompt", "none")],
    )
    .await;
    assert_error(&back, "interaction_required", "prompt=none");

    // A request that asks nothing more still gets its code from the session.
    let back = rp::authorize(&browser, &client, &[]).await;
    assert!(param(&back, "code").is_some(), "{back}");

    // The half-done step-up names the user, and what was proved: the password only.
    let kinds = app.audit_kinds("seinajoki").await;
    assert!(!kinds.iter().any(|k| k == "login.stepped_up"), "{kinds:?}");
    let user = app.user_id("seinajoki", "erkki@testi.fi").await;
    let now = app.now();
    let sessions = app
        .db_run(move |conn| {
            idp::store::sessions::live_for_user(conn, tenant("seinajoki"), &user, now).unwrap()
        })
        .await;
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].amr, "pwd");
}

both_stores!(a_step_up_whose_session_ended_meanwhile_spends_no_recovery_code);
/// A step-up to the second factor names the session it raises. When that session ends before the
/// code is given (a logout in another tab, its time over), the recovery code posted is not spent,
/// audited or told to the owner: the login is gone ("expired"). Before, the code was used up and a
/// false "a recovery code was used to log in" mail went out, with no login.
async fn a_step_up_whose_session_ended_meanwhile_spends_no_recovery_code(backend: Backend) {
    let app = app_with_user(backend).await;
    give_code_factor(&app, "erkki@testi.fi").await;
    let user = app.user_id("seinajoki", "erkki@testi.fi").await;
    let codes = idp::crypto::totp::recovery_codes();
    let hashes: Vec<String> = codes
        .iter()
        .map(|c| crate::second_factor_recovery::plain_sha256(&user, c))
        .collect();
    let (id, now) = (user.clone(), app.now());
    app.db_run(move |conn| {
        second_factors::set_recovery_codes(conn, tenant("seinajoki"), &id, &hashes, now).unwrap();
    })
    .await;
    let client = rp::basic(&app).await;
    let browser = app.browser();
    let started = rp::start(&client, &[], &[]);
    rp::log_in_and_redeem(&browser, &client, started, "erkki@testi.fi", PASSWORD).await;
    let started = rp::start(&client, &[], &[("acr_values", MFA)]);
    let next = location(&browser.get(started.url.clone()).send().await.unwrap());
    let request = param(&next, "request").unwrap();
    let html = crate::helpers::journeys::page(&browser, next).await;

    // The session ends meanwhile, as a logout in another tab ends it.
    let (id, now) = (user.clone(), app.now());
    app.db_run(move |conn| {
        let t = tenant("seinajoki");
        for live in idp::store::sessions::live_for_user(conn, t, &id, now).unwrap() {
            idp::store::sessions::end(conn, t, &live.id, now).unwrap();
        }
    })
    .await;
    let fields = [
        ("request", request.as_str()),
        ("recovery", codes[0].as_str()),
    ];
    let url = app.url("/seinajoki/login/second-factor");
    let answer = crate::helpers::journeys::post_with_csrf(&browser, url, &html, &fields).await;
    assert_eq!(answer.status(), 400);
    let used = app
        .audited("seinajoki", "second_factor.recovery_code_used")
        .await;
    assert!(used.is_empty(), "{used:?}");
    let left = app
        .db_run(move |conn| {
            second_factors::unused_recovery_codes(conn, tenant("seinajoki"), &user).unwrap()
        })
        .await;
    assert_eq!(left, 10);
    assert!(app.mails().is_empty());
    app.stop().await;
}

both_stores!(a_level_renamed_in_the_configuration_is_what_older_sessions_answer);
/// The city renames its password level (`[acr] password`) and restarts. A session of before
/// gives an e-service that asks for the new name, as essential, an ID token that says the new
/// name, which discovery lists. Before, the session's stored name went into every code for up
/// to 30 days: the old name, which the e-service refused.
async fn a_level_renamed_in_the_configuration_is_what_older_sessions_answer(backend: Backend) {
    let app = app_with_user(backend).await;
    let browser = TestApp::browser_builder().build().unwrap();
    let first = rp::redeem_login(
        &browser,
        &rp::basic(&app).await,
        &[],
        "erkki@testi.fi",
        PASSWORD,
    )
    .await;
    assert_eq!(first.payload()["acr"], "urn:idp:acr:password");
    let low = "urn:city:low";
    let app = app
        .restart_with(|dir| {
            let path = dir.join("tenants/seinajoki.toml");
            let renamed = format!("\n[acr]\npassword = \"{low}\"\n");
            crate::helpers::append(&path, &renamed);
        })
        .await;
    let client = rp::basic(&app).await;
    let essential = format!(r#"{{"id_token":{{"acr":{{"essential":true,"value":"{low}"}}}}}}"#);
    let quiet = rp::start(&client, &[], &[("claims", &essential)]);
    let back = location(&browser.get(quiet.url.clone()).send().await.unwrap());
    let redeemed = rp::redeem(&client, quiet, &back).await;
    assert_eq!(redeemed.payload()["acr"], low);
    let discovery: serde_json::Value = app
        .get("/seinajoki/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    let supported = discovery["acr_values_supported"].as_array().unwrap();
    assert!(supported.contains(&serde_json::json!(low)), "{supported:?}");
    app.stop().await;
}
