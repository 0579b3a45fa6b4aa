//! The resident's login pages: identifier first, concealment, remember me, throttling, languages,
//! CSRF, headers.

use url::Url;

use crate::both_stores;
use crate::helpers::journeys::{
    Login, answer, hidden, page, post_with_csrf, says, session_set_cookie, sign_in, submit_link,
    text_of,
};
use crate::helpers::{Backend, NewUser, Old, TestApp, assert_has};
use crate::linker::vectors;
use crate::rp::{self, csrf, location, param};

const PASSWORD: &str = "oikea hevonen patteri";

async fn app(backend: Backend) -> TestApp {
    TestApp::with_user(backend, "erkki@testi.fi", PASSWORD, "Erkki").await
}

/// A browser at the identifier page of a fresh authorization request of rp-basic.
async fn at_login(app: &TestApp, extra: &[(&str, &str)]) -> Login {
    let client = rp::basic(app).await;
    Login::start(&app.browser(), &client, &[], extra).await
}

both_stores!(identifier_first_conceals_whether_an_account_exists);
async fn identifier_first_conceals_whether_an_account_exists(backend: Backend) {
    let app = app(backend).await;
    let login = at_login(&app, &[("login_hint", "erkki@testi.fi")]).await;
    let page = login.browser.get(login.url.clone()).send().await.unwrap();
    let headers = page.headers().clone();
    let html = page.text().await.unwrap();
    // The seed's wording, the prefilled hint, labels and the notice.
    for expected in [
        "<html lang=\"fi\">",
        "<label for=\"identifier\">Sähköpostiosoite / käyttäjätunnus</label>",
        "value=\"erkki@testi.fi\"",
        "autocomplete=\"username\"",
        ">Jatka</button>",
        "Unohtuiko käyttäjätunnus tai salasana?",
        "Kirjautumisjärjestelmä on hiljattain muuttunut.",
        "ohje sisäänkirjautumiseen (pdf)</a> muutosten jälkeen.",
        "Viranomaiskäyttäjä?",
        // The tenant requires a second factor of authority users (the default): the note says
        // the first login sets one up, or an official who "ignores the changes" meets it
        // unprepared.
        "Ensimmäisellä kirjautumiskerralla otat lisäksi käyttöön toisen tunnistautumisen",
    ] {
        assert!(html.contains(expected), "{expected}: {html}");
    }
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        !csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );

    // Known and unknown addresses get the same next page.
    let (known_status, known) = login.identify("erkki@testi.fi").await;
    let (unknown_status, unknown) = login.identify("nobody@testi.fi").await;
    assert_eq!((known_status, unknown_status), (200, 200));
    assert_eq!(
        known.replace("erkki@testi.fi", "X"),
        unknown.replace("nobody@testi.fi", "X"),
        "the password page must not tell whether the account exists"
    );
    assert!(known.contains("autocomplete=\"current-password\""));
    assert!(known.contains("Muista kirjautumiseni tässä tietokoneessa"));
    // Seinäjoki keeps the old passwords: the seed's words, for every account alike.
    assert_has(
        &known,
        "Syötä nyt salasanasi. Se on edelleen sama kuin ennenkin.",
    );
    // An empty identifier is an error tied to its field.
    let (status, html) = login.identify("  ").await;
    assert_eq!(status, 422);
    assert_has(&html, "aria-describedby=\"identifier-error\"");
    app.stop().await;
}

both_stores!(a_bookmarked_login_or_an_expired_one_leaves_a_way_on);
/// A bookmark of the login page (no e-service asked) is the account page's login, which returns
/// there; a login that expired while the resident was away says so and links to the account
/// page's login. Before, both were a 400 page without a link.
async fn a_bookmarked_login_or_an_expired_one_leaves_a_way_on(backend: Backend) {
    let app = app(backend).await;
    let browser = app.browser();
    let bookmark = browser
        .get(app.url("/seinajoki/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&bookmark).as_str(), app.url("/seinajoki/account"));
    let login = location(
        &browser
            .get(app.url("/seinajoki/account"))
            .send()
            .await
            .unwrap(),
    );
    let done = rp::submit_login(&browser, &login, "erkki@testi.fi", PASSWORD, false).await;
    assert_eq!(location(&done).as_str(), app.url("/seinajoki/account"));

    let login = at_login(&app, &[]).await;
    let page = login.page().await;
    app.clock.advance(3600);
    let (status, expired) = answer(
        login
            .post(
                "/login/identifier",
                &page,
                &[("identifier", "erkki@testi.fi")],
            )
            .await,
    )
    .await;
    assert_eq!(status, 400, "{expired}");
    assert_has(&expired, "data-reason=\"expired\"");
    let text = "Kirjaudu sisään Omat tiedot -sivulle";
    crate::helpers::journeys::assert_links(&app, &expired, "/seinajoki/account", text);
    app.stop().await;
}

both_stores!(the_identifier_step_does_not_tell_an_old_account_proven_by_its_password);
async fn the_identifier_step_does_not_tell_an_old_account_proven_by_its_password(backend: Backend) {
    // Seinäjoki keeps old passwords: one old account at an address, and an authority's old
    // username, are proven by their password on the password page.
    let app = TestApp::builder(backend)
        .user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki")
        .tenant_setting("authority_second_factor = \"off\"")
        .spawn()
        .await;
    let md5 = vectors("salasana123")
        .into_iter()
        .find(|(kind, _)| kind == "md5-crypt")
        .unwrap()
        .1;
    let old = Old::new("seinajoki", "aino.vanha", "SJK-O1").email("aino@testi.fi");
    let aino = app.import(old.hash(&md5)).await;
    let authority = Old::new("seinajoki", "Viranomainen", "SJK-V1").hash(&md5);
    let authority = app.import(authority.authority()).await;

    // One login (one request, one CSRF token): the identifier step of each is the same page.
    let login = at_login(&app, &[]).await;
    let (_, unknown) = login.identify("nobody@testi.fi").await;
    let unknown = unknown.replace("nobody@testi.fi", "X");
    assert!(!unknown.contains("name=\"account\""), "{unknown}");
    for identifier in ["erkki@testi.fi", "aino@testi.fi", "viranomainen"] {
        let (status, page) = login.identify(identifier).await;
        assert_eq!(status, 200, "{identifier}");
        assert_eq!(
            page.replace(identifier, "X"),
            unknown,
            "{identifier}: the password page must not tell that an old account exists"
        );
    }
    // Nor does the chooser's step, posted with no account or a made-up one (its page differs
    // from the identifier step's only in where the language form returns to).
    let page = login.page().await;
    let unknown = unknown.replace("/seinajoki/login/identifier", "/seinajoki/login/choose");
    for identifier in [
        "nobody@testi.fi",
        "erkki@testi.fi",
        "aino@testi.fi",
        "viranomainen",
    ] {
        for account in ["", "made-up"] {
            let fields = [("identifier", identifier), ("account", account)];
            let (status, chosen) = answer(login.post("/login/choose", &page, &fields).await).await;
            assert_eq!(status, 200, "{identifier}");
            assert_eq!(
                chosen.replace(identifier, "X"),
                unknown,
                "{identifier}, {account:?}: the chooser must not tell that an old account exists"
            );
        }
    }

    // The password step finds the one old account without the field, and binds it.
    for (identifier, id) in [("aino@testi.fi", &aino), ("viranomainen", &authority)] {
        let login = at_login(&app, &[]).await;
        let (_, page) = login.identify(identifier).await;
        let wrong = login.password(&page, identifier, "väärä").await;
        says(
            wrong,
            401,
            "Sähköpostiosoite / käyttäjätunnus tai salasana on väärin.",
        )
        .await;
        assert_eq!(app.bound_to(id).await, None, "{identifier}");
        let done = login.password(&page, identifier, "salasana123").await;
        assert_eq!(done.status(), 303, "{identifier}");
        assert!(app.bound_to(id).await.is_some(), "{identifier}");
    }
    app.stop().await;
}

both_stores!(a_revealing_tenant_gives_the_seeds_hint);
async fn a_revealing_tenant_gives_the_seeds_hint(backend: Backend) {
    let app = TestApp::builder(backend)
        .user("kouvola", "kaisa@testi.fi", PASSWORD, "Kaisa")
        .spawn()
        .await;
    let mut authorize = Url::parse(&app.url("/kouvola/authorize")).unwrap();
    authorize.query_pairs_mut().extend_pairs([
        ("client_id", "kouvola-demo"),
        ("redirect_uri", "http://localhost:8082/callback"),
        ("response_type", "code"),
        ("scope", "openid"),
    ]);
    let login = Login::at(&app.browser(), authorize).await;
    let (status, html) = login.identify("nobody@testi.fi").await;
    assert_eq!(status, 422);
    assert_has(&html, "Tunnusta ei tunnistettu.");
    assert_has(&html, "kokeile toista käyttämääsi sähköpostiosoitetta");
    let (status, html) = login.identify("Kaisa@Testi.fi").await;
    assert_eq!(status, 200);
    assert!(html.contains("autocomplete=\"current-password\""));
    app.stop().await;
}

both_stores!(remember_me_makes_the_session_cookie_persistent);
async fn remember_me_makes_the_session_cookie_persistent(backend: Backend) {
    let app = app(backend).await;
    for (remember, persistent) in [(false, false), (true, true)] {
        let login = at_login(&app, &[]).await;
        let response = login.submit("erkki@testi.fi", PASSWORD, remember).await;
        assert_eq!(response.status(), 303);
        let cookie = session_set_cookie(&response, "seinajoki").unwrap();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        assert_eq!(cookie.contains("Max-Age=2592000"), persistent, "{cookie}");
    }
    app.stop().await;
}

both_stores!(failed_passwords_are_throttled_per_account);
async fn failed_passwords_are_throttled_per_account(backend: Backend) {
    let app = app(backend).await;
    let login = at_login(&app, &[]).await;
    for _ in 0..5 {
        let response = login.submit("erkki@testi.fi", "väärä", false).await;
        assert_eq!(response.status(), 401);
    }
    // Blocked now: even the right password is not checked.
    let response = login.submit("ERKKI@testi.fi", PASSWORD, false).await;
    says(response, 429, "Liian monta epäonnistunutta yritystä.").await;
    // After the delay (30 s for the fifth failure) the right password works.
    app.clock.advance(31);
    let response = login.submit("erkki@testi.fi", PASSWORD, false).await;
    assert_eq!(response.status(), 303);
    app.stop().await;
}

both_stores!(the_page_speaks_the_residents_language);
async fn the_page_speaks_the_residents_language(backend: Backend) {
    let app = app(backend).await;
    // ui_locales first.
    let login = at_login(&app, &[("ui_locales", "sv-FI en")]).await;
    let html = login.page().await;
    assert!(
        html.contains("<html lang=\"sv\">") && html.contains(">Fortsätt</button>"),
        "{html}"
    );
    assert!(
        html.contains("Inloggningssystemet har nyligen ändrats."),
        "the Swedish notice"
    );
    // Then Accept-Language (as a browser sends it with every request, the authorization request
    // included: the login keeps the language it started in).
    let client = rp::basic(&app).await;
    let started = rp::start(&client, &[], &[]);
    let browser = app.browser();
    let languages = |request: reqwest::RequestBuilder, accepted: &str| {
        request.header("accept-language", accepted.to_string())
    };
    let german = "de, en;q=0.8, fi;q=0.5";
    let authorize = languages(browser.get(started.url), german);
    let login = location(&authorize.send().await.unwrap());
    let in_language =
        async |accepted: &str| text_of(languages(browser.get(login.clone()), accepted)).await;
    let html = in_language(german).await;
    assert!(
        html.contains("<html lang=\"en\">") && html.contains(">Continue</button>"),
        "{html}"
    );
    // The selector's choice beats both, and returns to the page.
    let back = format!("{}?{}", login.path(), login.query().unwrap());
    let fields = [("lang", "sv"), ("return", back.as_str())];
    let chosen = post_with_csrf(&browser, app.url("/seinajoki/language"), &html, &fields).await;
    assert_eq!(location(&chosen).as_str(), login.as_str());
    let html = in_language("en").await;
    assert_has(&html, "<html lang=\"sv\">");
    // Never an open redirect.
    let fields = [("lang", "fi"), ("return", "https://evil.example/")];
    let refused = post_with_csrf(&browser, app.url("/seinajoki/language"), &html, &fields).await;
    assert_eq!(refused.status(), 400);
    // Slashes of another alphabet are a path of ours, sent percent-encoded: a `Location` is
    // ASCII, never raw UTF-8 that a proxy or a client might read as something else.
    let fields = [
        ("lang", "fi"),
        ("return", "/seinajoki/\u{2215}\u{2215}evil.example"),
    ];
    let chosen = post_with_csrf(&browser, app.url("/seinajoki/language"), &html, &fields).await;
    assert_eq!(chosen.status(), 303);
    let sent = chosen.headers()["location"].as_bytes();
    let expected = app.url("/seinajoki/%E2%88%95%E2%88%95evil.example");
    assert_eq!(sent, expected.as_bytes());
    app.stop().await;
}

/// Chooses Swedish with the language selector of `page` (the answer to a posted form) in
/// `browser`, and opens the page the selector returns to, which must open (200) in Swedish.
async fn in_swedish(app: &TestApp, browser: &reqwest::Client, page: &str) -> String {
    let back = hidden(page, "return")
        .replace("&#x2F;", "/")
        .replace("&amp;", "&");
    let fields = [("lang", "sv"), ("return", back.as_str())];
    let url = app.url("/seinajoki/language");
    let chosen = post_with_csrf(browser, url, page, &fields).await;
    assert_eq!(chosen.status(), 303, "{back}");
    let (status, back) = answer(browser.get(location(&chosen)).send().await.unwrap()).await;
    assert_eq!(status, 200, "{back}");
    assert_has(&back, "<html lang=\"sv\"");
    back
}

both_stores!(the_language_selector_on_the_answer_to_a_form_returns_to_a_page_that_opens);
/// The language chosen on the password page (the answer to the identifier's form), on the
/// account page after a change, and on a reset link's page after a refused password, leads back
/// to that page in Swedish. Before, it led to the posted path, which has no page (404), or to the
/// link's path without its token ("link expired").
async fn the_language_selector_on_the_answer_to_a_form_returns_to_a_page_that_opens(
    backend: Backend,
) {
    let app = app(backend).await;
    let login = at_login(&app, &[]).await;
    let (_, password_page) = login.identify("erkki@testi.fi").await;
    let back = in_swedish(&app, &login.browser, &password_page).await;
    assert_has(&back, &login.request);

    let signed = sign_in(&app, "seinajoki", "erkki@testi.fi", PASSWORD).await;
    let url = app.url("/seinajoki/account/name");
    let saved = post_with_csrf(&signed.browser, url, &signed.page, &[("name", "E")]).await;
    let (_, saved) = answer(saved).await;
    let back = in_swedish(&app, &signed.browser, &saved).await;
    assert_has(&back, "value=\"E\"");

    let forgot = page(&login.browser, app.url("/seinajoki/forgot")).await;
    let fields = [("email", "erkki@testi.fi")];
    post_with_csrf(
        &login.browser,
        app.url("/seinajoki/forgot"),
        &forgot,
        &fields,
    )
    .await;
    let mail = app.wait_for_mails(1).await.swap_remove(0);
    let link = app.link_in(&mail, "/seinajoki/reset?token=").unwrap();
    let form = page(&login.browser, &link).await;
    let mismatch = [("password", "uusi pitkä salasana"), ("password2", "toinen")];
    let refused = submit_link(&login.browser, &link, &form, &mismatch).await;
    let (_, refused) = answer(refused).await;
    let back = in_swedish(&app, &login.browser, &refused).await;
    assert_has(&back, "autocomplete=\"new-password\"");
    app.stop().await;
}

both_stores!(forms_without_this_browsers_token_are_refused);
/// In the login's language (Swedish here, from the e-service's `ui_locales`), though the browser
/// asks for Finnish: the refusal was Finnish.
async fn forms_without_this_browsers_token_are_refused(backend: Backend) {
    let app = app(backend).await;
    let login = at_login(&app, &[("ui_locales", "sv")]).await;
    for token in ["", "forged"] {
        let response = login
            .browser
            .post(app.url("/seinajoki/login/password"))
            .header("accept-language", "fi")
            .form(&[
                ("csrf", token),
                ("request", login.request.as_str()),
                ("identifier", "erkki@testi.fi"),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        let refused = says(response, 400, "data-reason=\"csrf\"").await;
        assert_has(&refused, "<html lang=\"sv\"");
    }
    // The stylesheet is served from our origin (no inline styles).
    let css = app.get("/static/idp.css").await;
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    app.stop().await;
}

both_stores!(an_authority_user_logs_in_with_the_username);
async fn an_authority_user_logs_in_with_the_username(backend: Backend) {
    // The username is the subject here; the second factor is `second_factor.rs`'s.
    let app = TestApp::with_tenant_setting(backend, "authority_second_factor = \"off\"").await;
    let authority = NewUser::authority(
        "Rakennusvalvonta7",
        "Rakennusvalvonta",
        "viranomaisen salasana",
    );
    app.add("seinajoki", authority).await.unwrap();
    let login = at_login(&app, &[]).await;
    // No second factor asked of them here: the note says only "log in as before".
    let page = crate::helpers::journeys::page(&login.browser, login.url.clone()).await;
    assert_has(&page, "Viranomaiskäyttäjä?");
    assert!(!page.contains("toisen tunnistautumisen"), "{page}");
    let response = login
        .submit("rakennusvalvonta7", "viranomaisen salasana", false)
        .await;
    let back = location(&response);
    assert!(param(&back, "code").is_some(), "{back}");
    app.stop().await;
}

both_stores!(the_citys_logo_and_colour);
async fn the_citys_logo_and_colour(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let html = at_login(&app, &[]).await.page().await;
    assert_has(&html, "<img class=\"logo\"");
    assert_has(&html, "alt=\"Seinäjoen kaupunki\"");
    let theme = app.get("/seinajoki/theme.css").await.text().await.unwrap();
    assert_eq!(theme, ":root { --brand: #00594f; }\n");
    let logo = app.get("/seinajoki/logo").await;
    assert_eq!(logo.headers()["content-type"], "image/svg+xml");
    assert_eq!(
        logo.headers()["content-security-policy"],
        "default-src 'none'; style-src 'unsafe-inline'"
    );
    assert!(logo.text().await.unwrap().starts_with("<svg"));
    app.stop().await;
}

both_stores!(a_tenant_sets_its_own_lifetimes_and_password_rules);
async fn a_tenant_sets_its_own_lifetimes_and_password_rules(backend: Backend) {
    let app = TestApp::builder(backend)
        .tenant_toml("\n[sessions]\nremember_seconds = 86400\n\n[passwords]\nmin_length = 12\n")
        .user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki")
        .spawn()
        .await;
    let login = at_login(&app, &[]).await;
    let response = login.submit("erkki@testi.fi", PASSWORD, true).await;
    let cookie = session_set_cookie(&response, "seinajoki").unwrap();
    assert_has(&cookie, "Max-Age=86400");
    // The account page asks for 12 characters.
    let account = page(&login.browser, app.url("/seinajoki/account")).await;
    assert_has(&account, "Vähintään 12 merkkiä.");
    let fields = [
        ("current", PASSWORD),
        ("password", "kymmenen!!"),
        ("password2", "kymmenen!!"),
    ];
    let url = app.url("/seinajoki/account/password");
    let refused = post_with_csrf(&login.browser, url, &account, &fields).await;
    says(refused, 422, "Salasanassa on oltava vähintään 12 merkkiä.").await;
    app.stop().await;
}

both_stores!(a_logins_language_holds_on_every_page_and_mail);
/// The language a login starts in (here from `ui_locales`) holds on its identifier, password and
/// forgot pages and in the mail it causes, although the browser prefers English; the selector
/// changes it for the rest of the login.
async fn a_logins_language_holds_on_every_page_and_mail(backend: Backend) {
    let app = app(backend).await;
    let client = rp::basic(&app).await;
    for (tag, continue_button, password_intro, forgot_title, mail_subject, reset_title) in [
        (
            "fi",
            ">Jatka</button>",
            "Syötä nyt salasanasi. Se on edelleen sama kuin ennenkin.",
            "Unohtuiko käyttäjätunnus tai salasana?",
            "Salasanan asettaminen",
            "Aseta uusi salasana",
        ),
        (
            "sv",
            ">Fortsätt</button>",
            "Skriv nu ditt lösenord.",
            "Glömt användarnamnet eller lösenordet?",
            "Ange lösenord",
            "Ange ett nytt lösenord",
        ),
    ] {
        let started = rp::start(&client, &[], &[("ui_locales", tag)]);
        let browser = app.browser();
        let english = |request: reqwest::RequestBuilder| request.header("accept-language", "en");
        let get = async |url: &str| text_of(english(browser.get(url))).await;
        let post = async |url: &str, page: &str, fields: &[(&str, &str)]| {
            let mut form = vec![("csrf", csrf(page))];
            form.extend(fields.iter().map(|(k, v)| (*k, v.to_string())));
            english(browser.post(app.url(url)))
                .form(&form)
                .send()
                .await
                .unwrap()
        };
        let login = location(&english(browser.get(started.url)).send().await.unwrap());
        let request = param(&login, "request").unwrap();
        let page = get(login.as_str()).await;
        let lang = format!("<html lang=\"{tag}\">");
        assert!(
            page.contains(&lang) && page.contains(continue_button),
            "identifier page: {page}"
        );
        let fields = [
            ("request", request.as_str()),
            ("identifier", "erkki@testi.fi"),
        ];
        let password = post("/seinajoki/login/identifier", &page, &fields).await;
        assert_eq!(password.status(), 200);
        let password = password.text().await.unwrap();
        assert!(
            password.contains(&lang) && password.contains(password_intro),
            "password page: {password}"
        );
        let forgot = get(&app.url(&format!("/seinajoki/forgot?request={request}"))).await;
        assert!(forgot.contains(forgot_title), "forgot page: {forgot}");
        let before = app.mails().len();
        let fields = [("request", request.as_str()), ("email", "erkki@testi.fi")];
        let sent = post("/seinajoki/forgot", &forgot, &fields).await;
        assert_eq!(sent.status(), 200);
        let sent = sent.text().await.unwrap();
        assert_has(&sent, &lang);
        let mails = app.mails();
        assert_eq!(mails.len(), before + 1);
        // (Already decoded: decoding again would mangle a token that starts with two hex digits.)
        let mail = mails
            .iter()
            .find(|m| m.contains(mail_subject))
            .unwrap_or_else(|| panic!("no mail with {mail_subject}: {mails:#?}"));
        // Its link, opened in a browser that prefers English, still shows the login's language.
        let link = app.link_in(mail, "/seinajoki/reset?token=").unwrap();
        let reset = text_of(english(app.browser().get(link))).await;
        assert!(
            reset.contains(&lang) && reset.contains(reset_title),
            "reset page: {reset}"
        );
    }

    // The selector changes the login's language for the rest of it (the password page too).
    let login = Login::start(&app.browser(), &client, &[], &[("ui_locales", "fi")]).await;
    let page = login.page().await;
    assert_has(&page, "<input type=\"hidden\" name=\"request\"");
    let fields = [
        ("lang", "en"),
        ("return", "/seinajoki/login/identifier"),
        ("request", login.request.as_str()),
    ];
    let url = app.url("/seinajoki/language");
    let back = post_with_csrf(&login.browser, url, &page, &fields).await;
    assert_eq!(back.status(), 303);
    let password = login
        .browser
        .post(app.url("/seinajoki/login/identifier"))
        .header("accept-language", "fi")
        .form(&[
            ("csrf", csrf(&page).as_str()),
            ("request", login.request.as_str()),
            ("identifier", "erkki@testi.fi"),
        ]);
    let password = text_of(password).await;
    assert!(
        password.contains("<html lang=\"en\">") && password.contains("Now enter your password."),
        "{password}"
    );
    app.stop().await;
}
