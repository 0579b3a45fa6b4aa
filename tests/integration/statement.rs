//! What a tenant publishes: its accessibility statement at `/{tenant}/accessibility` (Act
//! 306/2019), linked from every page, and its privacy notice, linked from every page and mail.

use crate::both_stores;
use crate::helpers::journeys::{Login, post_with_csrf, says};
use crate::helpers::{Backend, TestApp, assert_has};
use crate::rp;

const PRIVACY: &str = "https://www.seinajoki.example/tietosuoja";

/// The statement in `language`, which must say each of `parts`.
async fn statement(app: &TestApp, language: &str, parts: &[&str]) -> String {
    let response = app
        .http
        .get(app.url("/seinajoki/accessibility"))
        .header("accept-language", language)
        .send()
        .await
        .unwrap();
    let page = says(response, 200, "id=\"compliance\"").await;
    for part in parts {
        assert_has(&page, part);
    }
    page
}

both_stores!(the_statement_says_what_the_act_asks_in_each_language);
async fn the_statement_says_what_the_act_asks_in_each_language(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fi = [
        "<h1>Saavutettavuusseloste</h1>",
        "Sivut täyttävät saavutettavuusvaatimukset osittain.",
        // The feedback channel: the support address, answered within 14 days.
        "asiakaspalvelu@seinajoki.example",
        "Vastaamme 14 päivän kuluessa.",
        // The supervisory authority, and when the pages were assessed, by whom.
        "saavutettavuus@traficom.fi",
        "Sivujen saavutettavuus on arvioitu 5.12.2026.",
        "Arvion on tehnyt palvelun tarjoaja itse.",
        // What is not accessible, and why.
        "vaativat JavaScriptin",
    ];
    statement(&app, "fi", &fi).await;
    let sv = [
        "<h1>Tillgänglighetsutlåtande</h1>",
        "Sidorna uppfyller tillgänglighetskraven delvis.",
    ];
    statement(&app, "sv", &sv).await;
    let en = ["The pages partially meet the accessibility requirements."];
    statement(&app, "en", &en).await;
    let unknown = app.get("/tampere/accessibility").await;
    assert_eq!(unknown.status(), 404);
    app.stop().await;
}

both_stores!(a_tenant_states_its_own_findings_and_links_its_privacy_notice);
async fn a_tenant_states_its_own_findings_and_links_its_privacy_notice(backend: Backend) {
    let app = TestApp::builder(backend)
        .tenant_setting(&format!("privacy_url = \"{PRIVACY}\""))
        .tenant_toml(concat!(
            "\n[accessibility]\ncompliance = \"full\"\nassessed_on = \"2026-11-30\"\n",
            "assessed_by = \"third-party\"\nfeedback_email = \"saavutettavuus@seinajoki.example\"\n",
            "answer_days = 10\n[accessibility.not_accessible]\n",
            "fi = \"Kaupungin logon kuvateksti puuttuu.\"\n",
        ))
        .user("seinajoki", "erkki@testi.fi", "oikea hevonen patteri", "Erkki")
        .spawn()
        .await;
    let fi = [
        "Sivut täyttävät saavutettavuusvaatimukset.",
        "saavutettavuus@seinajoki.example",
        "Vastaamme 10 päivän kuluessa.",
        "Sivujen saavutettavuus on arvioitu 30.11.2026.",
        "Arvion on tehnyt ulkopuolinen asiantuntija.",
        "<li>Kaupungin logon kuvateksti puuttuu.</li>",
    ];
    statement(&app, "fi", &fi).await;
    // A language without the city's own text shows idp's findings only.
    let en = statement(&app, "en", &[]).await;
    assert!(!en.contains("Kaupungin logon"), "{en}");
    // Its day as English writes it (it was 30.11.2026 in every language).
    assert_has(&en, "30 November 2026");

    // Every page's footer links the statement and the privacy notice.
    let client = rp::basic(&app).await;
    let login = Login::fresh(&app, &client).await;
    let page = login.page().await;
    assert_has(&page, "<a href=\"http://127.0.0.1:");
    assert_has(
        &page,
        "/seinajoki/accessibility\">Saavutettavuusseloste</a>",
    );
    assert_has(
        &page,
        &format!("<a href=\"{PRIVACY}\">Tietosuojaseloste</a>"),
    );
    // And every mail's footer the privacy notice.
    let url = app.url(&format!("/seinajoki/forgot?request={}", login.request));
    let form = crate::helpers::journeys::page(&login.browser, url).await;
    let fields = [
        ("request", login.request.as_str()),
        ("email", "erkki@testi.fi"),
    ];
    let sent = post_with_csrf(&login.browser, app.url("/seinajoki/forgot"), &form, &fields);
    assert_eq!(sent.await.status(), 200);
    let (mail, _) = app.mailed_link(1, "/seinajoki/reset?token=").await;
    assert_has(&mail, &format!("Tietosuojaseloste: {PRIVACY}"));
    app.stop().await;
}
