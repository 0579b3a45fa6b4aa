//! Logging in with a passkey at the identifier page (to the e-service, with an old account's
//! subject kept), refused at another city, replayed or late; the offer right after an old
//! account is linked; a passkey as an authority user's second factor and its enrolment, with
//! failed checks counted in the password throttle. The real endpoints over HTTP, with a software
//! authenticator (`helpers::webauthn`).

use reqwest::Response;
use serde_json::json;

use crate::both_stores;
use crate::helpers::journeys::{Login, page, post_with_csrf, says};
use crate::helpers::webauthn::{
    Authenticator, add_on_account, log_in, login_options, options, sign_in,
};
use crate::helpers::{Backend, NewUser, Old, TestApp, assert_has};
use crate::passkeys::{EMAIL, PASSWORD, with_pirjo};
use crate::rp::{self, location, param};

const EXPIRED: &str = "Pääsyavaimen pyyntö vanheni tai oli jo käytetty. Yritä uudelleen.";
const FAILED: &str = "Pääsyavainta ei voitu vahvistaa. Yritä uudelleen.";

/// Pirjo's app with a passkey of hers added on the account page.
async fn pirjo_with_a_passkey(backend: Backend) -> (TestApp, Authenticator) {
    let app = with_pirjo(TestApp::builder(backend)).await;
    let signed = sign_in(&app, "seinajoki", EMAIL, PASSWORD).await;
    let mut key = Authenticator::new(&app);
    let added = add_on_account(&app, &signed, (&mut key, PASSWORD), "Läppäri").await;
    says(added, 200, "Pääsyavain lisätty.").await;
    (app, key)
}

both_stores!(a_passkey_logs_in_to_the_e_service);
async fn a_passkey_logs_in_to_the_e_service(backend: Backend) {
    let (app, mut key) = pirjo_with_a_passkey(backend).await;
    let subject = app.user_by_email("seinajoki", EMAIL).await.subject;
    let client = rp::basic(&app).await;
    let login = Login::fresh(&app, &client).await;
    let (asked, html) = login_options(&login).await;
    assert_has(&html, "Kirjaudu pääsyavaimella");
    // A discoverable login: no passkeys listed, the browser's autofill may offer them.
    assert_eq!(asked["options"]["mediation"], "conditional");
    assert_eq!(asked["options"]["publicKey"]["rpId"], "localhost");
    assert_eq!(
        asked["options"]["publicKey"]["userVerification"],
        "required"
    );
    let answer = key.discover(&asked);
    let done = login.post("/login/passkey", &html, &answer.fields()).await;
    let back = location(&done);
    let payload = login.redeem(&client, &back).await.payload();
    assert_eq!(payload["sub"], subject);
    assert_eq!(payload["amr"], json!(["hwk", "mfa"]));
    assert_eq!(payload["acr"], "urn:idp:acr:mfa");

    // The same answer again, in a new login: its ceremony was used.
    let login = Login::fresh(&app, &client).await;
    let html = login.page().await;
    let replayed = login.post("/login/passkey", &html, &answer.fields()).await;
    let html = says(replayed, 400, EXPIRED).await;
    assert_has(&html, "id=\"passkey-error\"");
    // And with a fresh ceremony: the old signature does not answer its challenge.
    let (asked, html) = login_options(&login).await;
    let mut fields = answer.fields();
    fields[0].1 = asked["ceremony"].as_str().unwrap();
    let replayed = login.post("/login/passkey", &html, &fields).await;
    says(replayed, 401, FAILED).await;
    // A user handle that is not the passkey's user.
    let (asked, html) = login_options(&login).await;
    let someone = uuid::Uuid::new_v4();
    let posing = key.discover(&asked).as_user(someone.as_bytes());
    let refused = login.post("/login/passkey", &html, &posing.fields()).await;
    says(refused, 401, FAILED).await;
    // Late: a ceremony lasts five minutes.
    let (asked, html) = login_options(&login).await;
    app.clock.advance(301);
    let late = login
        .post("/login/passkey", &html, &key.discover(&asked).fields())
        .await;
    says(late, 400, EXPIRED).await;
    // In time, the same login goes on.
    let back = location(&log_in(&login, &mut key).await);
    assert!(param(&back, "code").is_some(), "{back}");
    assert_eq!(
        app.audit_details("seinajoki", "login.failed").await,
        vec![json!({ "check": "passkey" }); 2]
    );
    app.stop().await;
}

both_stores!(one_login_keeps_only_its_newest_passkey_ceremonies);
/// Each click of "log in with a passkey" (and the page's autofill) starts a ceremony kept on the
/// server for five minutes. One anonymous login asking twenty times keeps its newest three, not
/// twenty rows; the newest still logs in.
async fn one_login_keeps_only_its_newest_passkey_ceremonies(backend: Backend) {
    let (app, mut key) = pirjo_with_a_passkey(backend).await;
    let client = rp::basic(&app).await;
    let login = Login::fresh(&app, &client).await;
    for _ in 0..20 {
        login_options(&login).await;
    }
    let kept = || crate::passkeys::ceremonies_of(&app, "passkey_login");
    assert_eq!(kept().await, 3);
    let back = location(&log_in(&login, &mut key).await);
    assert!(param(&back, "code").is_some(), "{back}");
    assert_eq!(kept().await, 2, "the one answered is used up");
    app.stop().await;
}

both_stores!(a_passkey_of_another_city_is_refused);
async fn a_passkey_of_another_city_is_refused(backend: Backend) {
    let (app, mut key) = pirjo_with_a_passkey(backend).await;
    let kouvola = rp::basic_of(&app, "kouvola").await;
    let login = Login::fresh(&app, &kouvola).await;
    let refused = log_in(&login, &mut key).await;
    let unknown = "Tätä pääsyavainta ei ole liitetty mihinkään tämän palvelun tiliin. \
                   Toisen kaupungin palveluun lisätty pääsyavain toimii vain siellä.";
    says(refused, 401, unknown).await;
    app.stop().await;
}

both_stores!(an_old_account_linked_is_offered_a_passkey_and_keeps_its_subject);
async fn an_old_account_linked_is_offered_a_passkey_and_keeps_its_subject(backend: Backend) {
    let app = TestApp::builder(backend).localhost().spawn().await;
    let hash = bcrypt::hash("vanha salasana", 4).unwrap();
    let old = Old::new("seinajoki", "vanha.pirjo", "SJK-1234").email(EMAIL);
    app.import(old.hash(&hash)).await;
    let client = rp::basic(&app).await;
    let login = Login::fresh(&app, &client).await;
    let (status, html) = login.identify(EMAIL).await;
    assert_eq!(status, 200);
    let linked = login.password(&html, EMAIL, "vanha salasana").await;
    let offer = location(&linked);
    assert_eq!(offer.path(), "/seinajoki/passkey-offer");

    // Added at the offer; then on to the e-service with the old subject.
    let html = page(&login.browser, offer.clone()).await;
    let request = param(&offer, "request").unwrap();
    let url = app.url("/seinajoki/passkey-offer/options");
    let asked = options(&login.browser, &url, &html, &[("request", &request)]).await;
    let mut key = Authenticator::new(&app);
    let answer = key.create(&asked);
    let mut fields = vec![("request", request.as_str()), ("name", "Puhelin")];
    fields.extend(answer.fields());
    let url = app.url("/seinajoki/passkey-offer/add");
    let added = post_with_csrf(&login.browser, &url, &html, &fields).await;
    let back = location(&added);
    let payload = login.redeem(&client, &back).await.payload();
    assert_eq!(payload["sub"], "SJK-1234");
    assert_eq!(payload["amr"], json!(["pwd"]));
    let details = app.audit_details("seinajoki", "passkey.added").await;
    assert_eq!(details[0]["name"], "Puhelin");

    // The passkey logs in as the same subject.
    let login = Login::fresh(&app, &client).await;
    let back = location(&log_in(&login, &mut key).await);
    let payload = login.redeem(&client, &back).await.payload();
    assert_eq!(payload["sub"], "SJK-1234");
    assert_eq!(payload["amr"], json!(["hwk", "mfa"]));
    app.stop().await;
}

const OFFICER: &str = "Rakennusvalvonta7";
const OFFICER_PASSWORD: &str = "viranomaisen salasana";

/// The half-done login of the officer in a fresh browser: the login, its identifier page (for
/// the browser's CSRF token) and the pending request at the second factor.
async fn officer_half_login(app: &TestApp, client: &rp::Rp) -> (Login, String, String) {
    let login = Login::fresh(app, client).await;
    let html = login.page().await;
    let second = location(&login.submit(OFFICER, OFFICER_PASSWORD, false).await);
    assert_eq!(second.path(), "/seinajoki/login/second-factor");
    let request = param(&second, "request").unwrap();
    (login, html, request)
}

/// The server at localhost with the officer, an authority user of seinajoki (whose test tenant
/// keeps the default: `authority_second_factor = "required"`), and its relying party.
async fn with_officer(backend: Backend) -> (TestApp, rp::Rp) {
    let app = TestApp::builder(backend).localhost().spawn().await;
    let officer = NewUser::authority(OFFICER, "Rakennusvalvonta", OFFICER_PASSWORD);
    app.add("seinajoki", officer).await.unwrap();
    let client = rp::basic(&app).await;
    (app, client)
}

/// The officer's first login enrols `key`'s passkey as the second factor: the login and the
/// answer to the enrolment.
async fn enrol(app: &TestApp, client: &rp::Rp, key: &mut Authenticator) -> (Login, Response) {
    let (login, html, request) = officer_half_login(app, client).await;
    let fields = [("request", request.as_str())];
    // No passkey yet to ask for; one to enrol.
    let url = app.url("/seinajoki/login/second-factor/passkey/options");
    let none = post_with_csrf(&login.browser, &url, &html, &fields).await;
    assert_eq!(none.status(), 404);
    let url = app.url("/seinajoki/login/second-factor/passkey-enrol/options");
    let asked = options(&login.browser, &url, &html, &fields).await;
    let mut posted = fields.to_vec();
    let answer = key.create(&asked);
    posted.extend(answer.fields());
    let url = app.url("/seinajoki/login/second-factor/passkey-enrol");
    let enrolled = post_with_csrf(&login.browser, &url, &html, &posted).await;
    (login, enrolled)
}

both_stores!(an_authority_user_enrols_a_passkey_and_uses_it_as_the_second_factor);
async fn an_authority_user_enrols_a_passkey_and_uses_it_as_the_second_factor(backend: Backend) {
    let (app, client) = with_officer(backend).await;
    let mut key = Authenticator::new(&app);
    let (login, enrolled) = enrol(&app, &client, &mut key).await;
    let payload = login.redeem(&client, &location(&enrolled)).await.payload();
    assert_eq!(payload["amr"], json!(["pwd", "hwk", "mfa"]));
    assert_eq!(payload["acr"], "urn:idp:acr:mfa");

    // The next login asks for it; enrolling another is not offered.
    let (login, html, request) = officer_half_login(&app, &client).await;
    let browser = login.browser.clone();
    let fields = [("request", request.as_str())];
    let url = app.url("/seinajoki/login/second-factor/passkey-enrol/options");
    let refused = post_with_csrf(&browser, &url, &html, &fields).await;
    assert_eq!(refused.status(), 404);
    let options_url = app.url("/seinajoki/login/second-factor/passkey/options");
    let asked = options(&browser, &options_url, &html, &fields).await;
    let listed = &asked["options"]["publicKey"]["allowCredentials"];
    assert_eq!(listed.as_array().unwrap().len(), 1, "{asked}");
    // A signature that does not verify: the page says so and leads back.
    let url = app.url("/seinajoki/login/second-factor/passkey");
    let mut posted = fields.to_vec();
    let wrong = key.get(&asked).tampered();
    posted.extend(wrong.fields());
    let refused = post_with_csrf(&browser, &url, &html, &posted).await;
    let page = says(refused, 401, FAILED).await;
    assert_has(
        &page,
        &format!("/seinajoki/login/second-factor?request={request}"),
    );
    let asked = options(&browser, &options_url, &html, &fields).await;
    let mut posted = fields.to_vec();
    let right = key.get(&asked);
    posted.extend(right.fields());
    let done = post_with_csrf(&browser, &url, &html, &posted).await;
    let payload = login.redeem(&client, &location(&done)).await.payload();
    assert_eq!(payload["amr"], json!(["pwd", "hwk", "mfa"]));
    app.stop().await;
}

both_stores!(failed_passkey_checks_count_in_the_password_throttle);
async fn failed_passkey_checks_count_in_the_password_throttle(backend: Backend) {
    let (app, client) = with_officer(backend).await;
    let mut key = Authenticator::new(&app);
    let (_, enrolled) = enrol(&app, &client, &mut key).await;
    assert_eq!(enrolled.status(), 303);

    // Five answers that do not verify, as five wrong passwords would, block the account.
    let (login, html, request) = officer_half_login(&app, &client).await;
    let fields = [("request", request.as_str())];
    let options_url = app.url("/seinajoki/login/second-factor/passkey/options");
    let url = app.url("/seinajoki/login/second-factor/passkey");
    for _ in 0..5 {
        let asked = options(&login.browser, &options_url, &html, &fields).await;
        let mut posted = fields.to_vec();
        let wrong = key.get(&asked).tampered();
        posted.extend(wrong.fields());
        let refused = post_with_csrf(&login.browser, &url, &html, &posted).await;
        says(refused, 401, FAILED).await;
    }
    let asked = options(&login.browser, &options_url, &html, &fields).await;
    let mut posted = fields.to_vec();
    let right = key.get(&asked);
    posted.extend(right.fields());
    let blocked = post_with_csrf(&login.browser, &url, &html, &posted).await;
    assert!(blocked.headers().contains_key("retry-after"));
    let throttled = "Liian monta epäonnistunutta yritystä. Odota hetki ja yritä uudelleen.";
    says(blocked, 429, throttled).await;
    // The password is blocked as well: one throttle.
    let login = Login::fresh(&app, &client).await;
    let refused = login.submit(OFFICER, OFFICER_PASSWORD, false).await;
    says(refused, 429, throttled).await;
    app.stop().await;
}

/// Pirjo signed in with her password and a passkey added on the account page; an e-service asks
/// for two factors and the passkey's ceremony of the step-up is started: what it needs to answer.
struct StepUp {
    app: TestApp,
    signed: crate::helpers::journeys::SignedIn,
    client: rp::Rp,
    login: Login,
    html: String,
    /// The login's fields and the authenticator's answer, ready to post.
    posted: Vec<(String, String)>,
}

async fn passkey_step_up(backend: Backend) -> StepUp {
    let app = with_pirjo(TestApp::builder(backend)).await;
    let signed = sign_in(&app, "seinajoki", EMAIL, PASSWORD).await;
    let mut key = Authenticator::new(&app);
    let added = add_on_account(&app, &signed, (&mut key, PASSWORD), "Läppäri").await;
    let html = says(added, 200, "Pääsyavain lisätty.").await;
    let client = rp::basic(&app).await;
    let asked = [("acr_values", "urn:idp:acr:mfa")];
    let login = Login::start(&signed.browser, &client, &[], &asked).await;
    assert_eq!(login.url.path(), "/seinajoki/login/second-factor");
    let fields = [("request", login.request.as_str())];
    let url = app.url("/seinajoki/login/second-factor/passkey/options");
    let options = options(&signed.browser, &url, &html, &fields).await;
    let answer = key.get(&options);
    let posted = fields
        .iter()
        .chain(answer.fields().iter())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    StepUp {
        app,
        signed,
        client,
        login,
        html,
        posted,
    }
}

impl StepUp {
    async fn post(&self) -> Response {
        let posted: Vec<(&str, &str)> = self
            .posted
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let url = self.app.url("/seinajoki/login/second-factor/passkey");
        post_with_csrf(&self.signed.browser, &url, &self.html, &posted).await
    }
}

both_stores!(an_e_service_asking_for_two_factors_gets_a_passkey_step_up);
async fn an_e_service_asking_for_two_factors_gets_a_passkey_step_up(backend: Backend) {
    // The session is a password's; an e-service asks for more: the passkey raises it.
    let step = passkey_step_up(backend).await;
    let (app, signed) = (&step.app, &step.signed);
    let done = step.post().await;
    // The raised session gets a new cookie; a copy of the old one is a password's no more.
    let raised = crate::helpers::journeys::session_cookie(&done, "seinajoki").unwrap();
    assert_ne!(raised, signed.cookie);
    let stale =
        crate::helpers::journeys::account_with_cookie(app, "seinajoki", &signed.cookie).await;
    assert_eq!(location(&stale).path(), "/seinajoki/login");
    let payload = step
        .login
        .redeem(&step.client, &location(&done))
        .await
        .payload();
    assert_eq!(payload["amr"], json!(["pwd", "hwk", "mfa"]));
    assert_eq!(payload["acr"], "urn:idp:acr:mfa");
    assert_eq!(app.audited("seinajoki", "login.stepped_up").await.len(), 1);
    step.app.stop().await;
}

both_stores!(a_passkey_step_up_whose_session_ended_meanwhile_raises_nothing);
/// The step-up names the session it raises. When that session ends while the passkey answers (a
/// logout in another tab), the answer is the expired login's page: no session is made or raised,
/// no step-up audited, the old cookie is signed out still, and the passkey's answer is not used
/// (its ceremony stays, the key is not "last used" now), as a step-up's recovery code is not
/// spent (`acr::a_step_up_whose_session_ended_meanwhile_spends_no_recovery_code`).
async fn a_passkey_step_up_whose_session_ended_meanwhile_raises_nothing(backend: Backend) {
    let step = passkey_step_up(backend).await;
    let app = &step.app;
    let user = app.user_id("seinajoki", EMAIL).await;
    let last_used = async || {
        let user = user.clone();
        app.db_run(move |conn| {
            let t = crate::helpers::tenant("seinajoki");
            let keys = idp::store::passkeys::of_user(conn, t, &user).unwrap();
            keys.iter().map(|k| k.last_used_at).collect::<Vec<_>>()
        })
        .await
    };
    let before = last_used().await;
    app.clock.advance(5);
    let (id, now) = (user.clone(), app.now());
    app.db_run(move |conn| {
        let t = crate::helpers::tenant("seinajoki");
        for live in idp::store::sessions::live_for_user(conn, t, &id, now).unwrap() {
            idp::store::sessions::end(conn, t, &live.id, now).unwrap();
        }
    })
    .await;
    let done = step.post().await;
    assert_eq!(last_used().await, before);
    assert!(crate::helpers::journeys::session_cookie(&done, "seinajoki").is_none());
    says(done, 400, "Kirjautumispyyntö on vanhentunut").await;
    assert!(
        app.audited("seinajoki", "login.stepped_up")
            .await
            .is_empty()
    );
    let stale =
        crate::helpers::journeys::account_with_cookie(app, "seinajoki", &step.signed.cookie).await;
    assert_eq!(location(&stale).path(), "/seinajoki/login");
    step.app.stop().await;
}

both_stores!(a_passkey_of_an_account_being_deleted_says_so_once_it_proves_its_owner);
async fn a_passkey_of_an_account_being_deleted_says_so_once_it_proves_its_owner(backend: Backend) {
    let (app, mut key) = pirjo_with_a_passkey(backend).await;
    let asked = crate::deletion::cli_delete(&app, &["--email", EMAIL]).await;
    assert!(asked.status.success(), "{asked:?}");
    let erase_at = app.now() + chrono::Duration::days(14);
    let client = rp::basic(&app).await;

    // A signature that does not verify is refused as always: nothing about the deletion.
    let login = Login::fresh(&app, &client).await;
    let (asked, html) = login_options(&login).await;
    let stale = key.discover(&asked);
    let mut fields = stale.fields();
    let (other, _) = login_options(&login).await;
    fields[0].1 = other["ceremony"].as_str().unwrap();
    let refused = login.post("/login/passkey", &html, &fields).await;
    let text = says(refused, 401, FAILED).await;
    assert!(!text.contains("poistettavana"), "{text}");

    // The right passkey: the page the password gets, with the end of the grace period.
    let (asked, html) = login_options(&login).await;
    let answer = key.discover(&asked);
    let during = login.post("/login/passkey", &html, &answer.fields()).await;
    let date = crate::helpers::helsinki(erase_at).format("%-d.%-m.%Y klo %H.%M");
    says(
        during,
        403,
        &format!(
            "Tämä tili on poistettavana. Osoitteeseesi lähettämämme linkki peruu poiston {date} asti."
        ),
    )
    .await;
    assert_eq!(
        app.audit_details("seinajoki", "login.refused").await,
        [json!({ "reason": "deletion_pending", "check": "passkey" })]
    );
    app.stop().await;
}
