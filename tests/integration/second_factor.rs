//! The second factor of authority users over real HTTP: the enrolment a login makes when the
//! tenant requires one, one-time codes on the app's clock (the steps around now accepted once, an
//! older one refused), the throttle of codes per user (a right password does not reset it),
//! recovery codes, the tenant's policy, honest tokens, and the half-done login bound to its
//! browser (the other pages refuse it).

use chrono::Duration;
use serde_json::json;

use crate::both_stores;
use crate::helpers::authority::{
    USERNAME, app_with_code, at_second_factor, authority_app, authority_app_with, authority_id,
    code, give, open, password_step, refused, second_factor_url, seed_totp, steady,
    to_second_factor, wrong, wrong_codes,
};
use crate::helpers::journeys::{Login, answer, hidden, page, post_with_csrf, says, session_cookie};
use crate::helpers::{Backend, NewUser, TestApp, assert_has};
use crate::rp::{self, location};

const THROTTLED: &str = "Liian monta epäonnistunutta yritystä. Odota hetki ja yritä uudelleen.";

both_stores!(a_required_second_factor_is_enrolled_before_the_login_ends);
async fn a_required_second_factor_is_enrolled_before_the_login_ends(backend: Backend) {
    let app = authority_app(backend, "required").await;
    let client = rp::basic(&app).await;
    let (login, response) = password_step(&app, &client, &[("ui_locales", "en")]).await;
    to_second_factor(&login, &response);
    // Without a factor the code page sends the browser to the enrolment.
    let asked = open(&login, second_factor_url(&login)).await;
    let enrol_url = location(&asked);
    assert_eq!(enrol_url.path(), "/seinajoki/login/second-factor/enrol");
    let enrol = says(open(&login, enrol_url).await, 200, "Set up a one-time code").await;
    assert_has(
        &enrol,
        "<div class=\"qr\" role=\"img\" aria-label=\"QR code for your authenticator app\"><svg",
    );
    assert_has(&enrol, "autocomplete=\"one-time-code\"");
    assert_has(&enrol, "inputmode=\"numeric\"");
    assert!(!enrol.contains("<?xml"), "{enrol}");
    let shown = enrol
        .split("<code id=\"secret\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap();
    assert_eq!(shown.len(), 39, "{shown}");
    let secret = totp_rs::Secret::try_from_base32(shown.replace(' ', "")).unwrap();
    let app_code = |offset: i64| {
        let at = app.now() + Duration::seconds(30 * offset);
        let totp = totp_rs::Builder::new()
            .with_secret(secret.clone())
            .build()
            .unwrap();
        totp.generate(u64::try_from(at.and_utc().timestamp()).unwrap())
            .to_string()
    };
    let ceremony = hidden(&enrol, "ceremony");
    let enrol_action = format!("{}/login/second-factor/enrol", login.tenant_url);
    let post_code = |code: String| {
        let fields = [
            ("request", login.request.clone()),
            ("ceremony", ceremony.clone()),
            ("code", code),
        ];
        let (browser, action, html) = (login.browser.clone(), enrol_action.clone(), enrol.clone());
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_with_csrf(&browser, action, &html, &fields).await
        }
    };
    steady(&app);
    // A wrong code shows the same secret again, the error at the field.
    let wrong = says(
        post_code("000000".into()).await,
        422,
        "The code is wrong or already used.",
    )
    .await;
    assert_has(&wrong, "aria-describedby=\"code-error\"");
    assert_has(&wrong, shown);
    // The right one: the recovery codes, shown once, and still no session.
    let enrolled = post_code(app_code(0)).await;
    assert_eq!(session_cookie(&enrolled, "seinajoki"), None);
    let codes_page = says(enrolled, 200, "Your recovery codes").await;
    let codes: Vec<String> = codes_page
        .split("<li><code>")
        .skip(1)
        .map(|c| c.split('<').next().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10, "{codes_page}");
    // Nothing on the page leads away from the codes but "Continue".
    assert!(!codes_page.contains("name=\"lang\""), "{codes_page}");
    // "Continue": the session starts now, its cookie set once, and the login ends at the client.
    let proceed = hidden(&codes_page, "proceed");
    let fields = [("proceed", proceed.as_str())];
    let done = login
        .post("/login/second-factor/continue", &codes_page, &fields)
        .await;
    let cookies = done
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter(|c| c.to_str().unwrap().starts_with("idp-session-seinajoki="))
        .count();
    assert_eq!(cookies, 1);
    let back = location(&done);
    let again = login
        .post("/login/second-factor/continue", &codes_page, &fields)
        .await;
    says(again, 400, "data-reason=\"expired\"").await;
    let claims = login.redeem(&client, &back).await.payload();
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], "urn:idp:acr:mfa");
    let user_id = authority_id(&app).await;
    let enrolled = app.audited("seinajoki", "second_factor.enrolled").await;
    assert_eq!(enrolled.len(), 1);
    assert_eq!(enrolled[0].user_id.as_deref(), Some(user_id.as_str()));

    // The next login asks for the code; the enrolment is not offered to a user who has one.
    let login = at_second_factor(&app, &client).await;
    let enrol_again = format!(
        "{}/login/second-factor/enrol?request={}",
        login.tenant_url, login.request
    );
    let refused = open(&login, enrol_again).await;
    assert_eq!(location(&refused).as_str(), second_factor_url(&login));
    // A recovery code (typed in capitals, with spaces) works once.
    let typed = codes[3].to_uppercase().replace('-', " ");
    let used = give(&login, &[("recovery", &typed)]).await;
    let claims = login.redeem(&client, &location(&used)).await.payload();
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    let (login, _) = password_step(&app, &client, &[]).await;
    let reused = give(&login, &[("recovery", &codes[3])]).await;
    let refused = says(reused, 401, "Varakoodi on väärä tai jo käytetty.").await;
    assert_has(&refused, "<details id=\"recovery-section\" open>");
    assert_has(
        &refused,
        "aria-describedby=\"recovery-hint recovery-error\"",
    );
    let other = give(&login, &[("recovery", &codes[4])]).await;
    assert_eq!(location(&other).path(), "/callback");
    let left = app
        .audit_details("seinajoki", "second_factor.recovery_code_used")
        .await;
    assert_eq!(left, [json!({"left": 9}), json!({"left": 8})]);
    app.stop().await;
}

both_stores!(a_password_only_session_enrols_no_factor_without_the_password);
/// A tenant that starts to require a second factor of its authority users: an authority user's
/// session from before, proven by the password alone (here made so in the database: the factor
/// removed, the session's `amr` back to `pwd`), on a shared computer. An e-service opened there
/// asks for the password again, which the enrolment then follows; the session alone enrols
/// nothing and proves no more. Before, the step-up of the session led straight to the
/// enrolment, and whoever held the cookie set up their own one-time code, raised the session to
/// two factors, and locked the owner out of the second factor.
async fn a_password_only_session_enrols_no_factor_without_the_password(backend: Backend) {
    let (app, client, secret) = app_with_code(backend).await;
    let (browser, _) = crate::helpers::authority::account(&app, Some(&secret)).await;
    let user = authority_id(&app).await;
    let of = user.clone();
    app.db_run(move |conn| {
        use diesel::prelude::*;
        use idp::store::schema::{recovery_codes, sso_sessions, totp_factors};
        diesel::delete(totp_factors::table.filter(totp_factors::user_id.eq(&of)))
            .execute(conn)
            .unwrap();
        diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(&of)))
            .execute(conn)
            .unwrap();
        diesel::update(sso_sessions::table.filter(sso_sessions::user_id.eq(&of)))
            .set((
                sso_sessions::amr.eq("pwd"),
                sso_sessions::acr.eq("urn:idp:acr:password"),
            ))
            .execute(conn)
            .unwrap();
    })
    .await;
    let started = rp::start(&client, &[], &[]);
    let asked = location(&browser.get(started.url).send().await.unwrap());
    assert_eq!(asked.path(), "/seinajoki/login", "{asked}");
    // A session check answers as for nobody signed in.
    let back = rp::prompt_none(&browser, &client).await;
    assert_eq!(rp::param(&back, "error").as_deref(), Some("login_required"));
    let of = user.clone();
    let (factors, amr) = app
        .db_run(move |conn| {
            use diesel::prelude::*;
            use idp::store::schema::{sso_sessions, totp_factors};
            let factors: i64 = totp_factors::table
                .filter(totp_factors::user_id.eq(&of))
                .count()
                .get_result(conn)
                .unwrap();
            let amr: Vec<String> = sso_sessions::table
                .filter(sso_sessions::user_id.eq(&of))
                .select(sso_sessions::amr)
                .load(conn)
                .unwrap();
            (factors, amr)
        })
        .await;
    assert_eq!((factors, amr), (0, vec!["pwd".to_string()]));
    // With the password the login goes on to the enrolment.
    let password = crate::helpers::authority::PASSWORD;
    let typed = rp::submit_login(&browser, &asked, USERNAME, password, false).await;
    assert_eq!(location(&typed).path(), "/seinajoki/login/second-factor");
    app.stop().await;
}

both_stores!(codes_around_now_are_accepted_once_and_older_ones_refused);
async fn codes_around_now_are_accepted_once_and_older_ones_refused(backend: Backend) {
    // The tenant names its own acr values.
    let acr = "\n[acr]\npassword = \"https://seinajoki.example/acr/1\"\nmfa = \"https://seinajoki.example/acr/2\"\n";
    let app = authority_app_with(backend, "required", acr).await;
    let client = rp::basic(&app).await;
    let secret = seed_totp(&app).await;
    steady(&app);
    // The code of the step before now is accepted.
    let login = at_second_factor(&app, &client).await;
    let page = says(
        open(&login, second_factor_url(&login)).await,
        200,
        "Kertakäyttökoodi",
    )
    .await;
    assert_has(&page, "autocomplete=\"one-time-code\"");
    assert_has(&page, "inputmode=\"numeric\"");
    let previous = code(&app, &secret, -1);
    let done = give(&login, &[("code", &previous)]).await;
    assert!(session_cookie(&done, "seinajoki").is_some());
    let claims = login.redeem(&client, &location(&done)).await.payload();
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], "https://seinajoki.example/acr/2");
    // The same code again (its step is used) is refused as used.
    let (login, _) = password_step(&app, &client, &[]).await;
    let replayed = used(&login, &previous).await;
    assert_has(&replayed, "aria-describedby=\"code-intro code-error\"");
    // The language selector of the refused page goes back to the code page, in that language.
    let back = hidden(&replayed, "return");
    assert_eq!(
        back,
        format!("/seinajoki/login/second-factor?request={}", login.request)
    );
    let fields = [("lang", "sv"), ("return", back.as_str())];
    let chosen = post_with_csrf(
        &login.browser,
        app.url("/seinajoki/language"),
        &replayed,
        &fields,
    )
    .await;
    assert_eq!(location(&chosen).as_str(), second_factor_url(&login));
    says(
        open(&login, second_factor_url(&login)).await,
        200,
        "Tvåstegsverifiering",
    )
    .await;
    // The code of the step after now is accepted (a phone's clock a little ahead) …
    let next = give(&login, &[("code", &code(&app, &secret, 1))]).await;
    assert_eq!(location(&next).path(), "/callback");
    // … after which the current step's code is older than the last accepted: refused as used;
    // a code two steps back is no code of now.
    let (login, _) = password_step(&app, &client, &[]).await;
    used(&login, &code(&app, &secret, 0)).await;
    wrong(&login, &code(&app, &secret, -2)).await;
    refused(
        &login,
        &[("code", "")],
        422,
        "Syötä todennussovelluksen näyttämä koodi.",
    )
    .await;
    // Two steps later, the code of the new now works.
    app.clock.advance(60);
    let later = give(&login, &[("code", &code(&app, &secret, 0))]).await;
    assert_eq!(location(&later).path(), "/callback");
    let failed = app.audited("seinajoki", "login.second_factor_failed").await;
    assert_eq!(failed.len(), 3);
    assert_eq!(failed[0].client_id.as_deref(), Some("rp-basic"));
    app.stop().await;
}

/// Posts the one-time code `code`, right but of a time step accepted before, to the second
/// factor's page of `login`, which must say it is used already (401, in Finnish); the page.
async fn used(login: &Login, code: &str) -> String {
    let text = "Tämä koodi on jo käytetty, ehkä toisessa välilehdessä.";
    refused(login, &[("code", code)], 401, text).await
}

both_stores!(a_code_used_in_another_tab_is_told_so_and_not_counted_as_wrong);
/// A resident with two tabs of logins types the app's code in the first (accepted), then the same
/// code in the second, again and again: each time the page says the code is used already, and
/// none counts as a wrong code. The next code of the app works. Before, each was "wrong", and the
/// fifth blocked the resident's codes for 30 seconds and more.
async fn a_code_used_in_another_tab_is_told_so_and_not_counted_as_wrong(backend: Backend) {
    let (app, client, secret) = app_with_code(backend).await;
    steady(&app);
    let first = at_second_factor(&app, &client).await;
    let second = at_second_factor(&app, &client).await;
    let now = code(&app, &secret, 0);
    let done = give(&first, &[("code", &now)]).await;
    assert_eq!(location(&done).path(), "/callback");
    for _ in 0..6 {
        used(&second, &now).await;
    }
    let next = give(&second, &[("code", &code(&app, &secret, 1))]).await;
    assert_eq!(location(&next).path(), "/callback");
    let failed = app.audited("seinajoki", "login.second_factor_failed").await;
    assert_eq!(failed.len(), 6);
    let detail: serde_json::Value =
        serde_json::from_str(failed[0].detail.as_deref().unwrap()).unwrap();
    assert_eq!(detail, json!({"method": "otp", "used": true}));
    app.stop().await;
}

/// A new login at the second factor, whose five wrong codes block the user's codes.
async fn blocked_by_five_wrong_codes(app: &TestApp, client: &rp::Rp) -> Login {
    let login = at_second_factor(app, client).await;
    wrong_codes(&login, 5).await;
    login
}

both_stores!(a_block_whose_first_refusal_failed_to_be_audited_is_audited_by_the_next);
/// The first refusal of a block marks the block as audited: were the mark and the event written
/// in two transactions, an event that failed would leave every refusal of the block (hours of a
/// known password tried) unaudited.
async fn a_block_whose_first_refusal_failed_to_be_audited_is_audited_by_the_next(backend: Backend) {
    let (app, client, secret) = app_with_code(backend).await;
    let login = blocked_by_five_wrong_codes(&app, &client).await;
    app.refuse_audit("login.throttled").await;
    let failed = give(&login, &[("code", &code(&app, &secret, 0))]).await;
    assert!(failed.status().is_server_error(), "{}", failed.status());
    app.allow_audit().await;
    let blocked = give(&login, &[("code", &code(&app, &secret, 0))]).await;
    says(blocked, 429, THROTTLED).await;
    let throttled = app.audited("seinajoki", "login.throttled").await;
    assert_eq!(throttled.len(), 1, "{throttled:?}");
    app.stop().await;
}

both_stores!(wrong_codes_are_throttled_per_user);
async fn wrong_codes_are_throttled_per_user(backend: Backend) {
    let (app, client, secret) = app_with_code(backend).await;
    let login = blocked_by_five_wrong_codes(&app, &client).await;
    // Blocked after five: even the right code is not checked, with the password page's message.
    let blocked = give(&login, &[("code", &code(&app, &secret, 0))]).await;
    assert!(blocked.headers().contains_key("retry-after"));
    says(blocked, 429, THROTTLED).await;
    // The count is the user's, not the login's: the password (a counter of its own) leads a
    // new login to the second factor, whose codes are blocked as well.
    let other = at_second_factor(&app, &client).await;
    let blocked = give(&other, &[("code", &code(&app, &secret, 0))]).await;
    says(blocked, 429, THROTTLED).await;
    let user_id = authority_id(&app).await;
    // Two refusals of one block of the user's codes: audited once, saying so.
    let throttled = app.audited("seinajoki", "login.throttled").await;
    assert_eq!(throttled.len(), 1, "{throttled:?}");
    assert_eq!(throttled[0].user_id.as_deref(), Some(user_id.as_str()));
    let detail = throttled[0].detail.as_deref().unwrap();
    assert!(
        detail.starts_with(r#"{"blocked":["second_factor"],"until":"20"#),
        "{detail}"
    );
    assert_eq!(
        app.audited("seinajoki", "login.second_factor_failed")
            .await
            .len(),
        5
    );
    // The block ends; a right code then clears the count.
    app.clock.advance(31);
    steady(&app);
    let done = give(&login, &[("code", &code(&app, &secret, 0))]).await;
    assert_eq!(location(&done).path(), "/callback");
    wrong_codes(&other, 4).await;
    app.stop().await;
}

both_stores!(the_count_of_code_guesses_lasts_a_day);
/// A password's count starts again 15 minutes after its first failure; a second factor's only a
/// day after: past the fifth wrong code, each further one blocks at once, however slowly they come.
async fn the_count_of_code_guesses_lasts_a_day(backend: Backend) {
    let (app, client, _) = app_with_code(backend).await;
    blocked_by_five_wrong_codes(&app, &client).await;
    // Sixteen minutes on, the block of 30 seconds is over but the count is not: the sixth wrong
    // code is checked, and blocks the next one.
    app.clock.advance(16 * 60);
    steady(&app);
    let (login, password) = password_step(&app, &client, &[]).await;
    to_second_factor(&login, &password);
    wrong(&login, "123456").await;
    says(give(&login, &[("code", "123456")]).await, 429, THROTTLED).await;
    // A day after the first failure the count starts again: five free.
    app.clock.advance(24 * 3600);
    steady(&app);
    let login = at_second_factor(&app, &client).await;
    wrong_codes(&login, 5).await;
    app.stop().await;
}

both_stores!(a_right_password_between_code_guesses_does_not_reset_their_count);
/// The attack: the password (which the attacker has), four guesses at the code, the password
/// again (which clears the password's counter), four more… The guesses are counted per user
/// whatever the password does: the fifth wrong one blocks them.
async fn a_right_password_between_code_guesses_does_not_reset_their_count(backend: Backend) {
    let (app, client, secret) = app_with_code(backend).await;
    let mut answers = Vec::new();
    let mut last = None;
    for _ in 0..3 {
        let login = at_second_factor(&app, &client).await;
        for _ in 0..4 {
            let (status, page) = answer(give(&login, &[("code", "123456")]).await).await;
            answers.push((status, page.contains(THROTTLED)));
        }
        last = Some(login);
    }
    let mut expected = vec![(401, false); 5];
    expected.resize(12, (429, true));
    assert_eq!(answers, expected);
    // Blocked: the right code of the last login is not checked either.
    let login = last.unwrap();
    let blocked = give(&login, &[("code", &code(&app, &secret, 0))]).await;
    says(blocked, 429, THROTTLED).await;
    app.stop().await;
}

both_stores!(the_policy_says_who_is_asked);
async fn the_policy_says_who_is_asked(backend: Backend) {
    // Optional: only an authority user who enrolled is asked.
    let app = authority_app(backend, "optional").await;
    let client = rp::basic(&app).await;
    let (login, response) = password_step(&app, &client, &[]).await;
    let claims = login.redeem(&client, &location(&response)).await.payload();
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(claims["acr"], "urn:idp:acr:password");
    let secret = seed_totp(&app).await;
    steady(&app);
    let (login, response) = password_step(&app, &client, &[]).await;
    to_second_factor(&login, &response);
    let done = give(&login, &[("code", &code(&app, &secret, 0))]).await;
    assert_eq!(location(&done).path(), "/callback");
    app.stop().await;
    // Off: never asked, even with a factor.
    let app = authority_app(backend, "off").await;
    let client = rp::basic(&app).await;
    seed_totp(&app).await;
    let (login, response) = password_step(&app, &client, &[]).await;
    assert!(session_cookie(&response, "seinajoki").is_some());
    let claims = login.redeem(&client, &location(&response)).await.payload();
    assert_eq!(claims["amr"], json!(["pwd"]));
    app.stop().await;
}

both_stores!(the_half_done_login_is_its_browsers_alone);
async fn the_half_done_login_is_its_browsers_alone(backend: Backend) {
    let (app, client, secret) = app_with_code(backend).await;
    let (login, _) = password_step(&app, &client, &[]).await;
    // Another browser, with its own flow cookie and CSRF token, finds no such login.
    let other = app.browser();
    says(
        other.get(second_factor_url(&login)).send().await.unwrap(),
        400,
        "data-reason=\"expired\"",
    )
    .await;
    let identifier = page(&other, login.url.clone()).await;
    let fields = [
        ("request", login.request.as_str()),
        ("code", &code(&app, &secret, 0)),
    ];
    let action = format!("{}/login/second-factor", login.tenant_url);
    says(
        post_with_csrf(&other, &action, &identifier, &fields).await,
        400,
        "data-reason=\"expired\"",
    )
    .await;
    let enrol = format!("{}/login/second-factor/enrol", login.tenant_url);
    let (status, _) = answer(
        other
            .get(format!("{enrol}?request={}", login.request))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    // The consent page does not take a login at its second factor.
    let html = page(&login.browser, second_factor_url(&login)).await;
    let consent = login
        .post("/consent", &html, &[("decision", "approve")])
        .await;
    says(consent, 400, "data-reason=\"expired\"").await;
    // Nor do the consent page and the identifier page show it: each takes its own step only.
    for path in ["consent", "login"] {
        let url = format!("{}/{path}?request={}", login.tenant_url, login.request);
        let expired = says(open(&login, url).await, 400, "data-reason=\"expired\"").await;
        assert!(!expired.contains("name=\"decision\""), "{expired}");
    }
    // Nor does the identifier form (which would lead to the password again, or mail a link).
    let fields = [("identifier", USERNAME)];
    let posted = login.post("/login/identifier", &html, &fields).await;
    says(posted, 400, "data-reason=\"expired\"").await;
    // Its own browser still can, once.
    let done = give(&login, &[("code", &code(&app, &secret, 0))]).await;
    assert_eq!(location(&done).path(), "/callback");
    let (status, _) = answer(open(&login, second_factor_url(&login)).await).await;
    assert_eq!(status, 400);
    app.stop().await;
}

both_stores!(a_code_of_the_secret_scanned_before_the_page_was_opened_again_enrols);
/// The resident scans the enrolment's secret, then the page is opened again (a reload, a change of
/// language), which shows a new secret; the code the app now shows is of the first. It enrols, and
/// the other secret is void. Before, it was "wrong" for ever: the app held a dead entry.
async fn a_code_of_the_secret_scanned_before_the_page_was_opened_again_enrols(backend: Backend) {
    let app = authority_app(backend, "required").await;
    let client = rp::basic(&app).await;
    let (login, first) = crate::helpers::authority::enrolment(&app, &client).await;
    let scanned = crate::helpers::authority::shown_secret(&first);
    let again = page(
        &login.browser,
        format!(
            "{}/login/second-factor/enrol?request={}",
            login.tenant_url, login.request
        ),
    )
    .await;
    assert_ne!(
        crate::helpers::authority::shown_secret(&again).base32(),
        scanned.base32()
    );
    steady(&app);
    let done = enrol_with(&app, &login, &again, &scanned).await;
    says(done, 200, "Varakoodisi").await;
    app.stop().await;
}

/// Posts the enrolment page `page` of `login` with the current code of `secret`: the answer.
async fn enrol_with(
    app: &TestApp,
    login: &Login,
    page: &str,
    secret: &idp::crypto::totp::TotpSecret,
) -> reqwest::Response {
    let fields = [
        ("request", login.request.as_str()),
        ("ceremony", &hidden(page, "ceremony")),
        ("code", &code(app, secret, 0)),
    ];
    let url = format!("{}/login/second-factor/enrol", login.tenant_url);
    post_with_csrf(&login.browser, url, page, &fields).await
}

both_stores!(an_enrolment_that_expired_while_its_login_waits_starts_again_on_its_page);
/// An official installs the app and types the key by hand, slower than the enrolment lasts (30
/// minutes, which its page says), in a city whose logins wait longer. The code of the expired
/// key gets the enrolment's page again with a new key and what happened, not the page of an
/// expired login (whose whole login started again, and whose key in the app was dead anyway).
async fn an_enrolment_that_expired_while_its_login_waits_starts_again_on_its_page(
    backend: Backend,
) {
    use crate::helpers::authority::{PASSWORD, shown_secret};
    let app = TestApp::builder(backend)
        .tenant_setting("authority_second_factor = \"required\"")
        .main_toml("[tokens]\nauthorization_request_seconds = 7200")
        .spawn()
        .await;
    let official = NewUser::authority(USERNAME, "Virkailija", PASSWORD);
    app.add("seinajoki", official).await.unwrap();
    let client = rp::basic(&app).await;
    let (login, first) = crate::helpers::authority::enrolment(&app, &client).await;
    assert_has(&first, "kuusinumeroinen koodi 30 minuutin kuluessa.");
    let typed = shown_secret(&first);
    app.clock.advance(31 * 60);
    steady(&app);
    let again = enrol_with(&app, &login, &first, &typed).await;
    let again = says(
        again,
        422,
        "Käyttöönotto ehti vanhentua, joten avain on nyt uusi.",
    )
    .await;
    let renewed = shown_secret(&again);
    assert_ne!(renewed.base32(), typed.base32());
    let done = enrol_with(&app, &login, &again, &renewed).await;
    says(done, 200, "Varakoodisi").await;
    app.stop().await;
}
