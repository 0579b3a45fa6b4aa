//! Passkeys on the account page, the offer after a password login, a password reset, and a public
//! URL on an IP address; the real endpoints over HTTP, with a software authenticator
//! (`helpers::webauthn`). Logging in with a passkey and the second factor: `passkeys_login.rs`.

use diesel::prelude::*;

use crate::both_stores;
use crate::helpers::journeys::{
    Login, answer, hidden, invalid_fields, page, post_with_csrf, says, set_password, submit_link,
};
use crate::helpers::webauthn::{
    self, Authenticator, add_on_account, log_in, not_now, options, sign_in, step_up_on_account,
};
use crate::helpers::{Backend, TestApp, TestAppBuilder, assert_has, authority};
use crate::rp::{self, location, param};
use serde_json::{Value, json};

pub const EMAIL: &str = "pirjo@testi.fi";
pub const PASSWORD: &str = "pirjon pitkä salasana";

/// A server at `http://localhost:PORT` (passkeys on) with Pirjo, a resident of seinajoki.
pub async fn with_pirjo(builder: TestAppBuilder) -> TestApp {
    builder
        .localhost()
        .user("seinajoki", EMAIL, PASSWORD, "Pirjo")
        .spawn()
        .await
}

/// [`with_pirjo`] and a second resident, Matti (password `matin salasana`).
async fn with_pirjo_and_matti(backend: Backend) -> TestApp {
    let builder =
        TestApp::builder(backend).user("seinajoki", "matti@testi.fi", "matin salasana", "Matti");
    with_pirjo(builder).await
}

/// The name of the `n`th passkey of the account page's list, as the page shows it.
fn passkey_named(n: usize, name: &str) -> String {
    format!("<p class=\"passkey-name\" id=\"passkey-{n}\">{name}</p>")
}

both_stores!(the_account_page_adds_renames_and_removes_passkeys);
async fn the_account_page_adds_renames_and_removes_passkeys(backend: Backend) {
    let app = with_pirjo(TestApp::builder(backend)).await;
    let mut signed = sign_in(&app, "seinajoki", EMAIL, PASSWORD).await;
    assert_has(&signed.page, "Sinulla ei ole vielä pääsyavaimia.");
    assert_has(&signed.page, "id=\"passkey-add\"");
    assert_has(&signed.page, "/static/passkeys.js\" defer></script>");

    let mut laptop = Authenticator::new(&app);
    let added = add_on_account(&app, &signed, (&mut laptop, PASSWORD), "  Läppäri ").await;
    let html = says(added, 200, "Pääsyavain lisätty.").await;
    assert_has(&html, &passkey_named(1, "Läppäri"));
    // Each item's buttons name their passkey (to a screen reader the list's "Poista" buttons were
    // alike).
    for button in ["Nimeä uudelleen", "Poista"] {
        assert_has(
            &html,
            &format!("aria-describedby=\"passkey-1\">{button}</button>"),
        );
    }
    let today = crate::helpers::helsinki(app.now()).format("%-d.%-m.%Y");
    assert_has(&html, &format!("Lisätty {today}, ei vielä käytetty"));
    // The user handle is the user's internal id (a UUID), never the address.
    let user_id = app.user_id("seinajoki", EMAIL).await;
    let handle = uuid::Uuid::parse_str(&user_id).unwrap().as_bytes().to_vec();
    assert_eq!(laptop.made[0].1, handle);
    // A second one, unnamed: the default name.
    // With a passkey, the password alone no longer reaches the page where factors change (a
    // passkey added on a password-only session would then pass as two factors): the account page
    // and its forms ask for the passkey first.
    let url = app.url("/seinajoki/account/passkeys/options");
    let refused = post_with_csrf(&signed.browser, &url, &html, &[]).await;
    let to = location(&refused);
    assert_eq!(to.path(), "/seinajoki/login/second-factor", "{to}");
    step_up_on_account(&app, &mut signed, &mut laptop).await;
    let mut phone = Authenticator::new(&app);
    let added = add_on_account(&app, &signed, (&mut phone, PASSWORD), "").await;
    let html = says(added, 200, "Pääsyavain lisätty.").await;
    assert_has(&html, &passkey_named(2, "Pääsyavain 2"));

    // Renamed with a plain form; an empty name is refused.
    let browser = &signed.browser;
    let laptop_id = hidden(&html, "passkey");
    let rename = app.url("/seinajoki/account/passkeys/rename");
    let fields = [("passkey", laptop_id.as_str()), ("name", "Työläppäri")];
    let renamed = post_with_csrf(browser, &rename, &html, &fields).await;
    let html = says(renamed, 200, "Pääsyavaimen nimi vaihdettu.").await;
    assert_has(&html, &passkey_named(1, "Työläppäri"));
    let fields = [("passkey", laptop_id.as_str()), ("name", " \t ")];
    let empty = post_with_csrf(browser, &rename, &html, &fields).await;
    let html = says(empty, 422, "Anna pääsyavaimelle nimi.").await;
    assert_has(&html, "id=\"passkeys-error\"");
    // The error is the renamed passkey's name field's, no other passkey's (nor its password's).
    assert_eq!(invalid_fields(&html), ["passkey-name-1"]);
    assert_has(&html, "<title>Virhe: Omat tiedot");

    // Removal needs the current password or a passkey.
    let remove = app.url("/seinajoki/account/passkeys/remove");
    let fields = [("passkey", laptop_id.as_str())];
    let unchecked = post_with_csrf(browser, &remove, &html, &fields).await;
    let needs = "Anna nykyinen salasanasi tai vahvista poisto pääsyavaimella.";
    let html = says(unchecked, 422, needs).await;
    assert_eq!(invalid_fields(&html), ["passkey-password-1"]);
    let fields = [("passkey", laptop_id.as_str()), ("password", "väärä")];
    let wrong = post_with_csrf(browser, &remove, &html, &fields).await;
    let html = says(
        wrong,
        422,
        "Salasana oli väärin. Pääsyavainta ei poistettu.",
    )
    .await;
    assert_has(&html, "Työläppäri");

    // Confirmed with the phone's passkey (the options list both of hers).
    let url = app.url("/seinajoki/account/passkeys/confirm-options");
    let asked = options(browser, &url, &html, &[]).await;
    let listed = &asked["options"]["publicKey"]["allowCredentials"];
    assert_eq!(listed.as_array().unwrap().len(), 2, "{asked}");
    let confirmation = phone.get(&asked);
    let mut fields = vec![("passkey", laptop_id.as_str())];
    fields.extend(confirmation.fields());
    let removed = post_with_csrf(browser, &remove, &html, &fields).await;
    let html = says(removed, 200, "Pääsyavain poistettu.").await;
    assert!(!html.contains("Työläppäri"), "{html}");
    assert_has(
        &html,
        &format!("Lisätty {today}, viimeksi käytetty {today}"),
    );

    // The same confirmation again is refused: a ceremony is used once.
    let phone_id = hidden(&html, "passkey");
    let mut fields = vec![("passkey", phone_id.as_str())];
    fields.extend(confirmation.fields());
    let replayed = post_with_csrf(browser, &remove, &html, &fields).await;
    let expired = "Pääsyavaimen pyyntö vanheni tai oli jo käytetty. Yritä uudelleen.";
    let html = says(replayed, 400, expired).await;
    assert_has(&html, "Pääsyavain 2");

    // The last one, with the password; the password still logs in.
    let fields = [("passkey", phone_id.as_str()), ("password", PASSWORD)];
    let removed = post_with_csrf(browser, &remove, &html, &fields).await;
    let html = says(removed, 200, "Pääsyavain poistettu.").await;
    assert_has(&html, "Sinulla ei ole vielä pääsyavaimia.");
    sign_in(&app, "seinajoki", EMAIL, PASSWORD).await;

    let kinds = app.audit_kinds("seinajoki").await;
    let count = |kind: &str| kinds.iter().filter(|k| *k == kind).count();
    assert_eq!(count("passkey.added"), 2, "{kinds:?}");
    assert_eq!(count("passkey.renamed"), 1, "{kinds:?}");
    assert_eq!(count("passkey.removed"), 2, "{kinds:?}");
    let details = app.audit_details("seinajoki", "passkey.renamed").await;
    assert_eq!(details[0]["name"], "Työläppäri");
    // Each removal is told to her address, as each addition is, without the passkey's name.
    let mails = app.wait_for_mails(4).await;
    let removed = "Tililtäsi palvelussa Seinäjoen kaupunki poistettiin pääsyavain.";
    let told: Vec<&String> = mails.iter().filter(|m| m.contains(removed)).collect();
    assert_eq!(told.len(), 2, "{mails:?}");
    for mail in told {
        assert_has(mail, "To: pirjo@testi.fi");
        assert!(
            !mail.contains("Työläppäri") && !mail.contains("Pääsyavain 2"),
            "{mail}"
        );
    }
    app.stop().await;
}

both_stores!(the_account_page_keeps_only_its_newest_passkey_ceremonies);
/// Each "remove with a passkey" on the account page starts a ceremony kept on the server for
/// five minutes; a signed-in resident asking twenty times keeps the newest three, not twenty rows.
async fn the_account_page_keeps_only_its_newest_passkey_ceremonies(backend: Backend) {
    let app = with_pirjo(TestApp::builder(backend)).await;
    let (signed, _) = pirjo_stepped_up(&app, "Läppäri").await;
    let url = app.url("/seinajoki/account/passkeys/confirm-options");
    for _ in 0..20 {
        options(&signed.browser, &url, &signed.page, &[]).await;
    }
    assert_eq!(ceremonies_of(&app, "passkey_confirm").await, 3);
    app.stop().await;
}

/// Pirjo signed in, with a passkey named `name` added on the account page and her session
/// stepped up with it: the session and the passkey's authenticator.
async fn pirjo_stepped_up(
    app: &TestApp,
    name: &str,
) -> (crate::helpers::journeys::SignedIn, Authenticator) {
    let mut signed = sign_in(app, "seinajoki", EMAIL, PASSWORD).await;
    let mut key = Authenticator::new(app);
    let added = add_on_account(app, &signed, (&mut key, PASSWORD), name).await;
    says(added, 200, "Pääsyavain lisätty.").await;
    step_up_on_account(app, &mut signed, &mut key).await;
    (signed, key)
}

/// How many ceremonies of `purpose` wait on the server.
pub(crate) async fn ceremonies_of(app: &TestApp, purpose: &'static str) -> i64 {
    use idp::store::schema::ceremonies;
    let of_purpose = ceremonies::table.filter(ceremonies::purpose.eq(purpose));
    let counted = of_purpose.select(diesel::dsl::count_star());
    app.db_run(move |conn| counted.first(conn).unwrap()).await
}

// A session alone (a browser left signed in, a stolen cookie) must not add a passkey: it would
// outlive the session, a change of password and "sign out everywhere", and log in as two factors.
// The options are given only once the current password is checked, before the browser's prompt.
both_stores!(a_session_alone_cannot_add_a_passkey);
async fn a_session_alone_cannot_add_a_passkey(backend: Backend) {
    let app = with_pirjo(TestApp::builder(backend)).await;
    let signed = sign_in(&app, "seinajoki", EMAIL, PASSWORD).await;
    let html = &signed.page;
    assert_has(
        html,
        "<label for=\"passkey-add-password\">Nykyinen salasana (lisäämistä varten)</label>",
    );
    assert_has(
        html,
        "id=\"passkey-add-password\" name=\"password\" type=\"password\"",
    );
    let url = app.url("/seinajoki/account/passkeys/options");
    let refusal = |key: &str, message: &str| json!({ "error": key, "message": message });

    let none = post_with_csrf(&signed.browser, &url, html, &[]).await;
    assert_eq!(none.status(), 422);
    assert_eq!(none.headers()["cache-control"], "no-store");
    let needs = "Anna nykyinen salasanasi, niin voit lisätä pääsyavaimen.";
    let expected = refusal("passkey-add-needs-password", needs);
    assert_eq!(none.json::<Value>().await.unwrap(), expected);

    let fields = [("password", "arvattu salasana")];
    let wrong = post_with_csrf(&signed.browser, &url, html, &fields).await;
    assert_eq!(wrong.status(), 422);
    let wrong_text = "Salasana oli väärin. Pääsyavainta ei lisätty.";
    let expected = refusal("passkey-add-password-wrong", wrong_text);
    assert_eq!(wrong.json::<Value>().await.unwrap(), expected);
    let failed = app.audit_details("seinajoki", "login.failed").await;
    assert_eq!(
        failed.last().unwrap()["check"],
        "account.passkey_add",
        "{failed:?}"
    );

    // No ceremony was begun: nothing an authenticator could answer, and nothing added.
    let begun = app
        .db_run(|conn| {
            use diesel::prelude::*;
            let table = idp::store::schema::ceremonies::table;
            table.count().get_result::<i64>(conn).unwrap()
        })
        .await;
    assert_eq!(begun, 0);
    let pirjo = app.user_id("seinajoki", EMAIL).await;
    assert_eq!(passkey_count(&app, &pirjo).await, 0);

    // The right password: the options, and the passkey is added.
    let mut key = Authenticator::new(&app);
    let added = add_on_account(&app, &signed, (&mut key, PASSWORD), "Läppäri").await;
    says(added, 200, "Pääsyavain lisätty.").await;
    assert_eq!(passkey_count(&app, &pirjo).await, 1);
    // Her address is told, with the way to a new password if it was not her; the name its adder
    // chose is not in the mail (no text of a request reaches a mail). Nothing was mailed before.
    let notice = app.wait_for_mails(1).await.swap_remove(0);
    assert_eq!(app.mails().len(), 1);
    assert_has(&notice, "To: pirjo@testi.fi");
    assert_has(
        &notice,
        "Tiliisi palvelussa Seinäjoen kaupunki lisättiin uusi pääsyavain.",
    );
    assert_eq!(
        app.link_in(&notice, "/seinajoki/forgot").as_deref(),
        Some(app.url("/seinajoki/forgot").as_str())
    );
    assert!(!notice.contains("Läppäri"), "{notice}");
    app.stop().await;
}

both_stores!(another_residents_passkey_cannot_be_touched);
async fn another_residents_passkey_cannot_be_touched(backend: Backend) {
    let app = with_pirjo_and_matti(backend).await;
    let mut pirjo = sign_in(&app, "seinajoki", EMAIL, PASSWORD).await;
    let mut key = Authenticator::new(&app);
    let added = add_on_account(&app, &pirjo, (&mut key, PASSWORD), "Oma").await;
    let html = says(added, 200, "Pääsyavain lisätty.").await;
    let id = hidden(&html, "passkey");

    let matti = sign_in(&app, "seinajoki", "matti@testi.fi", "matin salasana").await;
    let remove = app.url("/seinajoki/account/passkeys/remove");
    let fields = [("passkey", id.as_str()), ("password", "matin salasana")];
    let refused = post_with_csrf(&matti.browser, &remove, &matti.page, &fields).await;
    assert_eq!(refused.status(), 409);
    let rename = app.url("/seinajoki/account/passkeys/rename");
    let fields = [("passkey", id.as_str()), ("name", "Matin")];
    let refused = post_with_csrf(&matti.browser, &rename, &matti.page, &fields).await;
    assert_eq!(refused.status(), 422);

    step_up_on_account(&app, &mut pirjo, &mut key).await;
    assert_has(&pirjo.page, &passkey_named(1, "Oma"));
    app.stop().await;
}

both_stores!(the_offer_comes_once_and_not_again_within_the_interval);
async fn the_offer_comes_once_and_not_again_within_the_interval(backend: Backend) {
    let builder = TestApp::builder(backend).tenant_toml("\n[passkeys]\noffer_again_days = 2\n");
    let app = with_pirjo(builder).await;
    let client = rp::basic(&app).await;
    let login = Login::fresh(&app, &client).await;
    let offer = location(&login.submit(EMAIL, PASSWORD, false).await);
    assert_eq!(offer.path(), "/seinajoki/passkey-offer");

    // The offer is this browser's, and the signed-in user's.
    let stranger = app.browser().get(offer.clone()).send().await.unwrap();
    says(stranger, 400, "Kirjautumispyyntö on vanhentunut").await;
    let html = page(&login.browser, offer.clone()).await;
    assert_has(&html, "<h1>Ota pääsyavain käyttöön</h1>");
    assert_has(&html, "<form id=\"passkey-add\"");
    assert_has(&html, "hidden>");
    assert_has(&html, "Pääsyavaimen lisääminen vaatii JavaScriptin");

    // "Not now" needs no script: on to the e-service, with a password login's amr.
    let back = location(&not_now(&login.browser, &offer).await);
    let again = not_now_again(&login.browser, &offer, &html).await;
    assert_eq!(again, 400, "the offer is answered once");
    let payload = login.redeem(&client, &back).await.payload();
    assert_eq!(payload["amr"], serde_json::json!(["pwd"]));

    // Within the interval, not offered again.
    let login = Login::fresh(&app, &client).await;
    let back = location(&login.submit(EMAIL, PASSWORD, false).await);
    assert!(param(&back, "code").is_some(), "{back}");
    // After it, offered again.
    app.clock.advance(3 * 24 * 3600);
    let login = Login::fresh(&app, &client).await;
    let offer = location(&login.submit(EMAIL, PASSWORD, false).await);
    assert_eq!(offer.path(), "/seinajoki/passkey-offer");
    app.stop().await;
}

/// Posts "not now" to the offer at `offer` again (with the CSRF token of `html`): the status.
async fn not_now_again(browser: &reqwest::Client, offer: &url::Url, html: &str) -> u16 {
    let request = param(offer, "request").unwrap();
    let action = offer.as_str().split('?').next().unwrap();
    let response = post_with_csrf(browser, action, html, &[("request", &request)]).await;
    answer(response).await.0
}

both_stores!(a_reset_mail_lists_the_passkeys_and_the_reset_keeps_them);
async fn a_reset_mail_lists_the_passkeys_and_the_reset_keeps_them(backend: Backend) {
    let app = with_pirjo(TestApp::builder(backend)).await;
    let (signed, mut key) = pirjo_stepped_up(&app, "Työkone").await;
    let phone = &mut Authenticator::new(&app);
    let added = add_on_account(&app, &signed, (phone, PASSWORD), "Puhelin").await;
    says(added, 200, "Pääsyavain lisätty.").await;

    let client = rp::basic(&app).await;
    let login = Login::fresh(&app, &client).await;
    let link = reset_link(&app, &login).await;
    let mail = mail_with(&app, &link);
    // Each passkey by what idp recorded, the oldest first; never by its name.
    assert_has(
        &mail,
        "Tililläsi on nämä pääsyavaimet. Salasanan vaihtaminen ei poista niitä; jos et muista \
         lisänneesi jotakin niistä, voit poistaa ne samalla, kun asetat uuden salasanan:",
    );
    listed_by_their_days(&app, &mail);
    assert!(
        !mail.contains("Työkone") && !mail.contains("Puhelin"),
        "{mail}"
    );

    let done = set_password(&login.browser, &link, "aivan uusi salasana").await;
    assert_eq!(done.status(), 303);
    // The passkeys stay, and still log in.
    assert!(
        app.audit_kinds("seinajoki")
            .await
            .contains(&"password.reset".to_string())
    );
    let login = Login::fresh(&app, &client).await;
    let back = location(&log_in(&login, &mut key).await);
    assert!(param(&back, "code").is_some(), "{back}");
    assert_eq!(stored_names(&app).await, ["Työkone", "Puhelin"]);
    no_passkey_removed(&app).await;
    app.stop().await;
}

// Someone who learned the password names passkeys to mislead the resident: a bidi override that
// turns the text around, a link to a look-alike site, "the city's key, do not remove". The city's
// own reset mail (signed by its relay) carries none of it: it describes each passkey by the dates
// idp recorded. The reset page, shown to the holder of the mailbox only, shows those dates first,
// and the name as the adder's words.
both_stores!(an_intruders_passkey_name_never_reaches_the_reset_mail);
async fn an_intruders_passkey_name_never_reaches_the_reset_mail(backend: Backend) {
    let app = with_pirjo(TestApp::builder(backend)).await;
    let mut intruder = sign_in(&app, "seinajoki", EMAIL, PASSWORD).await;
    let mut key = Authenticator::new(&app);
    let typed = "Kaupungin tukiavain \u{202e}– älä poista\u{200b}\u{2066}";
    let added = add_on_account(&app, &intruder, (&mut key, PASSWORD), typed).await;
    says(added, 200, "Pääsyavain lisätty.").await;
    // Stored without the override, the zero-width space and the isolate.
    let support = "Kaupungin tukiavain – älä poista";
    assert_eq!(stored_names(&app).await, [support]);
    step_up_on_account(&app, &mut intruder, &mut key).await;
    let phone = &mut Authenticator::new(&app);
    let added = add_on_account(&app, &intruder, (phone, PASSWORD), support).await;
    let html = says(added, 200, "Pääsyavain lisätty.").await;
    // The first renamed to a link (the account page with a two-factor session allows it).
    let lure = "Vahvista tili: https://sjk-tunnistus.fi/v";
    let first = hidden(&html, "passkey");
    let fields = [("passkey", first.as_str()), ("name", lure)];
    let rename = app.url("/seinajoki/account/passkeys/rename");
    let renamed = post_with_csrf(&intruder.browser, &rename, &html, &fields).await;
    says(renamed, 200, "Pääsyavaimen nimi vaihdettu.").await;
    assert_eq!(stored_names(&app).await, [lure, support]);

    // Anyone asks for a reset of Pirjo's account.
    let client = rp::basic(&app).await;
    let login = Login::fresh(&app, &client).await;
    let link = reset_link(&app, &login).await;
    let mail = mail_with(&app, &link);
    for word in ["sjk-tunnistus", "Vahvista tili", "tukiavain", "älä poista"] {
        assert!(!mail.contains(word), "{word}: {mail}");
    }
    let (used, unused) = listed_by_their_days(&app, &mail);

    // The page: the dates first, each name after them as its adder's words, and the hint says so.
    let html = page(&login.browser, &link).await;
    let named = "<span class=\"hint\">Lisääjän antama nimi:</span>";
    assert_has(
        &html,
        &format!("<strong>{used}</strong><br>{named} Vahvista tili: https://sjk-tunnistus.fi/v"),
    );
    assert_has(
        &html,
        &format!("<strong>{unused}</strong><br>{named} Kaupungin tukiavain – älä poista"),
    );
    assert_has(
        &html,
        "Uusi salasana ei poista pääsyavaimia. Nimen on antanut se, joka pääsyavaimen lisäsi: \
         katso päivämääriä. Jos et muista lisänneesi jotakin niistä, poista ne. Voit lisätä omasi \
         uudelleen tilisivulla.",
    );
    app.stop().await;
}

/// Asserts that the reset mail `mail` lists, in its text and its HTML, a passkey added and used
/// today, then one added today and not used yet; the two descriptions.
#[track_caller]
fn listed_by_their_days(app: &TestApp, mail: &str) -> (String, String) {
    let today = crate::helpers::helsinki(app.now()).format("%-d.%-m.%Y");
    let used = format!("Lisätty {today}, viimeksi käytetty {today}");
    let unused = format!("Lisätty {today}, ei vielä käytetty");
    in_order(mail, &[&format!("- {used}"), &format!("- {unused}")]);
    in_order(
        mail,
        &[&format!("<li>{used}</li>"), &format!("<li>{unused}</li>")],
    );
    (used, unused)
}

/// Asserts that `text` holds each of `parts`, in this order.
#[track_caller]
fn in_order(text: &str, parts: &[&str]) {
    let mut rest = text;
    for part in parts {
        let at = rest
            .find(part)
            .unwrap_or_else(|| panic!("no {part} (in order): {text}"));
        rest = &rest[at + part.len()..];
    }
}

/// The reset mail whose link is `link`.
fn mail_with(app: &TestApp, link: &str) -> String {
    let mail = app.mails().into_iter().find(|m| m.contains(link));
    mail.unwrap_or_else(|| panic!("no mail with {link}"))
}

/// The names of Pirjo's passkeys as stored, the oldest first.
async fn stored_names(app: &TestApp) -> Vec<String> {
    let user_id = app.user_id("seinajoki", EMAIL).await;
    app.db_run(move |conn| {
        let tenant = crate::helpers::tenant("seinajoki");
        idp::store::passkeys::of_user(conn, tenant, &user_id).unwrap()
    })
    .await
    .into_iter()
    .map(|p| p.name)
    .collect()
}

/// Pirjo asks for a reset link in `login`; the link mailed.
async fn reset_link(app: &TestApp, login: &Login) -> String {
    reset_link_of(app, login, EMAIL).await
}

/// [`reset_link`] for the account of `email`.
async fn reset_link_of(app: &TestApp, login: &Login, email: &str) -> String {
    let path = "/seinajoki/reset?token=";
    let known = app.links(path).len();
    let url = app.url(&format!("/seinajoki/forgot?request={}", login.request));
    let form = page(&login.browser, url).await;
    let fields = [("request", login.request.as_str()), ("email", email)];
    let asked = post_with_csrf(&login.browser, app.url("/seinajoki/forgot"), &form, &fields);
    assert_eq!(asked.await.status(), 200);
    app.next_link(path, known).await
}

// Someone who learned the password adds a passkey (the account's first: the password is enough).
// From then on the account page asks for it, and the resident's password alone does not open it;
// a reset that removes the passkeys gives her the account back.
both_stores!(a_reset_removes_an_intruders_passkey_when_asked);
async fn a_reset_removes_an_intruders_passkey_when_asked(backend: Backend) {
    let app = with_pirjo(TestApp::builder(backend)).await;
    let intruder = sign_in(&app, "seinajoki", EMAIL, PASSWORD).await;
    let mut key = Authenticator::new(&app);
    let added = add_on_account(&app, &intruder, (&mut key, PASSWORD), "Minun").await;
    says(added, 200, "Pääsyavain lisätty.").await;
    let account = app.url("/seinajoki/account");
    let asked_at = location(&intruder.browser.get(&account).send().await.unwrap());
    assert_eq!(asked_at.path(), "/seinajoki/login/second-factor");

    let client = rp::basic(&app).await;
    let login = Login::fresh(&app, &client).await;
    let link = reset_link(&app, &login).await;
    let html = page(&login.browser, &link).await;
    let new = reset_with_the_box_checked(&login, &link, &html).await;

    // The passkey is gone: it logs in nowhere.
    let login = Login::fresh(&app, &client).await;
    let refused = log_in(&login, &mut key).await;
    let unknown = "Tätä pääsyavainta ei ole liitetty mihinkään tämän palvelun tiliin. \
                   Toisen kaupungin palveluun lisätty pääsyavain toimii vain siellä.";
    says(refused, 401, unknown).await;
    // The new password alone opens the account page again (no step-up).
    let signed = sign_in(&app, "seinajoki", EMAIL, new).await;
    assert_has(&signed.page, "Sinulla ei ole vielä pääsyavaimia.");
    assert_eq!(
        app.audit_details("seinajoki", "passkey.removed").await,
        [serde_json::json!({ "by": "reset", "passkeys": 1 })]
    );
    app.stop().await;
}

both_stores!(the_reset_page_offers_to_remove_passkeys_only_when_there_are_some);
async fn the_reset_page_offers_to_remove_passkeys_only_when_there_are_some(backend: Backend) {
    let app = with_pirjo(TestApp::builder(backend)).await;
    let client = rp::basic(&app).await;
    let login = Login::fresh(&app, &client).await;
    let link = reset_link(&app, &login).await;
    let html = page(&login.browser, &link).await;
    assert_has(&html, "id=\"password2\"");
    assert!(!html.contains("remove_passkeys"), "{html}");
    assert!(!html.contains("<fieldset"), "{html}");

    let signed = sign_in(&app, "seinajoki", EMAIL, PASSWORD).await;
    let key = &mut Authenticator::new(&app);
    let added = add_on_account(&app, &signed, (key, PASSWORD), "Työkone").await;
    says(added, 200, "Pääsyavain lisätty.").await;
    let login = Login::fresh(&app, &client).await;
    let link = reset_link(&app, &login).await;
    let html = page(&login.browser, &link).await;
    assert_has(&html, "<legend>Tilisi pääsyavaimet</legend>");
    let today = crate::helpers::helsinki(app.now()).format("%-d.%-m.%Y");
    assert_has(
        &html,
        &format!(
            "<li><strong>Lisätty {today}, ei vielä käytetty</strong><br><span class=\"hint\">\
             Lisääjän antama nimi:</span> Työkone</li>"
        ),
    );
    let unchecked = "<input id=\"remove-passkeys\" name=\"remove_passkeys\" type=\"checkbox\" \
                     value=\"yes\"><label for=\"remove-passkeys\">Poista nämä pääsyavaimet</label>";
    assert_has(&html, unchecked);
    // A form sent back with an error keeps the choice.
    let fields = [
        ("password", "aivan uusi salasana"),
        ("password2", "toinen salasana"),
        ("remove_passkeys", "yes"),
    ];
    let mismatch = submit_link(&login.browser, &link, &html, &fields).await;
    let (status, html) = answer(mismatch).await;
    assert_eq!(status, 422, "{html}");
    assert_has(
        &html,
        "value=\"yes\" checked><label for=\"remove-passkeys\">",
    );
    app.stop().await;
}

both_stores!(passkeys_are_off_when_the_public_url_is_an_ip_address);
async fn passkeys_are_off_when_the_public_url_is_an_ip_address(backend: Backend) {
    let app = TestApp::with_user(backend, EMAIL, PASSWORD, "Pirjo").await;
    let client = rp::basic(&app).await;
    let login = Login::fresh(&app, &client).await;
    let html = login.page().await;
    assert_has(&html, "autocomplete=\"username\" ");
    assert!(!html.contains("Kirjaudu pääsyavaimella"), "{html}");
    assert!(!html.contains("passkeys.js"), "{html}");
    let url = format!("{}/login/passkey/options", login.tenant_url);
    let fields = [("request", login.request.as_str())];
    let refused = post_with_csrf(&login.browser, &url, &html, &fields).await;
    assert_eq!(refused.status(), 404);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body, serde_json::json!({ "error": "unavailable" }));
    // A password login is not offered a passkey.
    let back = location(&login.submit(EMAIL, PASSWORD, false).await);
    assert!(param(&back, "code").is_some(), "{back}");
    let signed = webauthn::sign_in(&app, "seinajoki", EMAIL, PASSWORD).await;
    assert!(!signed.page.contains("passkey-add"), "{}", signed.page);
    app.stop().await;
}

both_stores!(the_script_is_served_by_idp_and_no_page_has_an_inline_script);
async fn the_script_is_served_by_idp_and_no_page_has_an_inline_script(backend: Backend) {
    let app = with_pirjo(TestApp::builder(backend)).await;
    let text = app
        .get_text("/static/passkeys.js", 200, "text/javascript; charset=utf-8")
        .await;
    assert_has(&text, "navigator.credentials.create(request)");
    assert_has(&text, "isConditionalMediationAvailable");
    let client = rp::basic(&app).await;
    let login = Login::fresh(&app, &client).await;
    let opened = login.browser.get(login.url.clone()).send().await.unwrap();
    let csp = opened.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(csp.starts_with("default-src 'self';"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let html = opened.text().await.unwrap();
    assert_has(&html, "autocomplete=\"username webauthn\"");
    assert_has(&html, "data-passkey-start hidden");
    for script in html.split("<script").skip(1) {
        assert!(script.starts_with(" src=\""), "an inline script: {script}");
    }
    app.stop().await;
}

both_stores!(a_credential_added_already_is_refused_with_a_message);
/// A credential already in the tenant (here Matti's) is refused before it is stored, with the
/// "added already" message, on the account page and at the offer (a transaction within the
/// offer's): no 500, the ceremony used up, and the offer's login still goes on.
async fn a_credential_added_already_is_refused_with_a_message(backend: Backend) {
    let app = with_pirjo_and_matti(backend).await;
    let matti = app.user_id("seinajoki", "matti@testi.fi").await;
    const DUPLICATE: &str = "Tämä pääsyavain on jo lisätty.";
    // At the offer after a password login (the first: later ones come after 30 days).
    let client = rp::basic(&app).await;
    let login = Login::fresh(&app, &client).await;
    let offer = location(&login.submit(EMAIL, PASSWORD, false).await);
    assert_eq!(offer.path(), "/seinajoki/passkey-offer");
    let html = page(&login.browser, offer.clone()).await;
    let request = param(&offer, "request").unwrap();
    let url = app.url("/seinajoki/passkey-offer/options");
    let asked = options(&login.browser, &url, &html, &[("request", &request)]).await;
    let mut phone = Authenticator::new(&app);
    let answer = phone.create(&asked);
    taken(&app, &matti, &phone, "pk-2").await;
    let mut fields = vec![("request", request.as_str()), ("name", "Puhelin")];
    fields.extend(answer.fields());
    let url = app.url("/seinajoki/passkey-offer/add");
    let refused = post_with_csrf(&login.browser, &url, &html, &fields).await;
    let html = says(refused, 409, DUPLICATE).await;
    assert_has(&html, "<h1>Ota pääsyavain käyttöön</h1>");
    let back = location(&not_now(&login.browser, &offer).await);
    assert!(param(&back, "code").is_some(), "{back}");
    // On the account page.
    let signed = sign_in(&app, "seinajoki", EMAIL, PASSWORD).await;
    let html = page(&signed.browser, app.url("/seinajoki/account")).await;
    let url = app.url("/seinajoki/account/passkeys/options");
    let asked = options(&signed.browser, &url, &html, &[("password", PASSWORD)]).await;
    let mut key = Authenticator::new(&app);
    let answer = key.create(&asked);
    taken(&app, &matti, &key, "pk-1").await;
    let mut fields = answer.fields().to_vec();
    fields.push(("name", "Läppäri"));
    let add = app.url("/seinajoki/account/passkeys");
    let refused = post_with_csrf(&signed.browser, &add, &html, &fields).await;
    let html = says(refused, 409, DUPLICATE).await;
    assert_has(&html, "Sinulla ei ole vielä pääsyavaimia.");
    // The ceremony was used: the same answer again finds none.
    let again = post_with_csrf(&signed.browser, &add, &html, &fields).await;
    says(
        again,
        400,
        "Pääsyavaimen pyyntö vanheni tai oli jo käytetty.",
    )
    .await;

    assert!(
        app.audit_kinds("seinajoki")
            .await
            .iter()
            .all(|k| k != "passkey.added")
    );
    let pirjo = app.user_id("seinajoki", EMAIL).await;
    let theirs = passkey_count(&app, &pirjo).await;
    assert_eq!(theirs, 0);
    app.stop().await;
}

// An authority user's passkey may be the second factor the tenant requires: the mailbox alone must
// not remove it (the next login would enrol a new factor). The reset page offers no box, and a box
// posted anyway removes nothing; support resets the factors.
both_stores!(an_authority_users_reset_does_not_remove_the_passkeys);
async fn an_authority_users_reset_does_not_remove_the_passkeys(backend: Backend) {
    let app = TestApp::builder(backend).localhost().spawn().await;
    let email = "virkailija@testi.fi";
    let user = crate::helpers::NewUser {
        email: Some(email),
        ..crate::helpers::NewUser::authority("Virkailija", "Virkailija", PASSWORD)
    };
    app.add("seinajoki", user).await.unwrap();
    let user_id = app.user_id("seinajoki", email).await;
    // Stored as if enrolled (whether it verifies does not matter here).
    stored(
        &app,
        &user_id,
        ("virkailijan", "dmlya2FpbGlqYW4"),
        "Virkapuhelin",
    )
    .await;

    let client = rp::basic(&app).await;
    let login = Login::fresh(&app, &client).await;
    let link = reset_link_of(&app, &login, email).await;
    let (mail, _) = app.mailed_link(1, "/seinajoki/reset?token=").await;
    assert_has(
        &mail,
        "jos et muista lisänneesi jotakin niistä, poista se tilisivulla:",
    );
    let today = crate::helpers::helsinki(app.now()).format("%-d.%-m.%Y");
    assert_has(&mail, &format!("- Lisätty {today}, ei vielä käytetty"));
    assert!(!mail.contains("Virkapuhelin"), "{mail}");
    let html = page(&login.browser, &link).await;
    assert_has(&html, "id=\"password2\"");
    assert!(!html.contains("remove_passkeys"), "{html}");
    reset_with_the_box_checked(&login, &link, &html).await;
    let left = passkey_count(&app, &user_id).await;
    assert_eq!(left, 1);
    no_passkey_removed(&app).await;
    app.stop().await;
}

// Where the tenant asks its authority users for no second factor, a one-time code set up on the
// account page is the user's choice: whoever learned the password may have set one up, and the
// account page then asks for it. The reset mail and page name it by its day beside the passkeys,
// and the box removes it with its recovery codes, so the new password alone opens the page again.
both_stores!(a_reset_removes_an_authority_users_one_time_code_where_the_tenant_asks_for_none);
async fn a_reset_removes_an_authority_users_one_time_code_where_the_tenant_asks_for_none(
    backend: Backend,
) {
    let app = authority::authority_app_at_address(backend, "off").await;
    let email = authority::ADDRESS;
    authority::seed_totp(&app).await;

    let client = rp::basic(&app).await;
    let login = Login::fresh(&app, &client).await;
    let link = reset_link_of(&app, &login, email).await;
    let today = crate::helpers::helsinki(app.now()).format("%-d.%-m.%Y");
    let (mail, _) = app.mailed_link(1, "/seinajoki/reset?token=").await;
    assert_has(
        &mail,
        &format!(
            "Tililläsi on myös todennussovelluksen kertakäyttökoodi, otettu käyttöön {today}. \
             Salasanan vaihtaminen ei poista sitä; jos et ottanut sitä käyttöön, voit poistaa sen \
             samalla, kun asetat uuden salasanan."
        ),
    );
    let html = page(&login.browser, &link).await;
    assert_has(
        &html,
        "<legend>Tilillesi lisätty salasanan lisäksi</legend>",
    );
    assert_has(
        &html,
        &format!(
            "<li><strong>Todennussovelluksen kertakäyttökoodi, otettu käyttöön {today}\
             </strong></li>"
        ),
    );
    assert_has(&html, "<label for=\"remove-passkeys\">Poista nämä</label>");
    let new = reset_with_the_box_checked(&login, &link, &html).await;

    let signed = sign_in(&app, "seinajoki", email, new).await;
    assert_has(&signed.page, "Kertakäyttökoodia ei ole otettu käyttöön.");
    assert_eq!(
        app.audit_details("seinajoki", "second_factor.reset").await,
        [json!({ "by": "reset", "totp": true, "recovery_codes": 0 })]
    );
    app.stop().await;
}

both_stores!(a_reset_that_removes_the_passkeys_removes_the_recovery_codes_they_made);
/// Where a tenant asks authority users for no second factor (`off`), a passkey alone lets the
/// account page make recovery codes (an intruder's passkey too). The reset's box removes the
/// passkeys and every recovery code with them: kept, the codes would pass again as a second
/// factor once the owner sets one up. Before, they were removed only with a one-time code.
async fn a_reset_that_removes_the_passkeys_removes_the_recovery_codes_they_made(backend: Backend) {
    let app = authority::authority_app_at_address(backend, "off").await;
    let email = authority::ADDRESS;
    let id = authority::authority_id(&app).await;
    crate::export::add_passkey(&app, id.clone()).await;
    let (of, now) = (id.clone(), app.now());
    app.db_run(move |conn| {
        use idp::store::schema::recovery_codes;
        for n in 0..3 {
            diesel::insert_into(recovery_codes::table)
                .values((
                    recovery_codes::user_id.eq(&of),
                    recovery_codes::code_hash.eq(format!("hash-{n}")),
                    recovery_codes::tenant_id.eq("seinajoki"),
                    recovery_codes::created_at.eq(now),
                ))
                .execute(conn)
                .unwrap();
        }
    })
    .await;

    let client = rp::basic(&app).await;
    let login = Login::fresh(&app, &client).await;
    let link = reset_link_of(&app, &login, email).await;
    let html = page(&login.browser, &link).await;
    assert_has(
        &html,
        "<label for=\"remove-passkeys\">Poista nämä pääsyavaimet</label>",
    );
    reset_with_the_box_checked(&login, &link, &html).await;
    let left: i64 = app
        .db_run(move |conn| {
            use idp::store::schema::recovery_codes;
            recovery_codes::table
                .filter(recovery_codes::user_id.eq(&id))
                .count()
                .get_result(conn)
                .unwrap()
        })
        .await;
    assert_eq!(left, 0);
    assert_eq!(
        app.audit_details("seinajoki", "second_factor.reset").await,
        [json!({ "by": "reset", "totp": false, "recovery_codes": 3 })]
    );
    app.stop().await;
}

/// Sets a new password through the reset link `link` (its page `html`) in `login`'s browser, with
/// the box "remove these passkeys" checked: the login goes on (303). The new password.
async fn reset_with_the_box_checked(login: &Login, link: &str, html: &str) -> &'static str {
    let new = "aivan uusi salasana";
    let fields = [
        ("password", new),
        ("password2", new),
        ("remove_passkeys", "yes"),
    ];
    let done = submit_link(&login.browser, link, html, &fields).await;
    assert_eq!(done.status(), 303);
    new
}

/// No passkey of seinajoki was removed (none audited as `passkey.removed`).
async fn no_passkey_removed(app: &TestApp) {
    let removed = app.audit_details("seinajoki", "passkey.removed").await;
    assert!(removed.is_empty(), "{removed:?}");
}

/// How many passkeys the user `user_id` of seinajoki has.
async fn passkey_count(app: &TestApp, user_id: &str) -> usize {
    let user_id = user_id.to_string();
    app.db_run(move |conn| {
        let tenant = crate::helpers::tenant("seinajoki");
        idp::store::passkeys::of_user(conn, tenant, &user_id)
            .unwrap()
            .len()
    })
    .await
}

/// Stores the newest credential of `key` as the user `user_id`'s passkey `id`, as if it had been
/// added before.
async fn taken(app: &TestApp, user_id: &str, key: &Authenticator, id: &str) {
    let credential = idp::crypto::keys::b64(&key.made.last().unwrap().0);
    stored(app, user_id, (id, &credential), "Matin").await;
}

/// Stores the passkey `id` of credential `credential` named `name` for the user `user_id`, as if
/// it had been added before (whether it verifies does not matter: its key is `{}`).
async fn stored(app: &TestApp, user_id: &str, (id, credential): (&str, &str), name: &str) {
    let row = idp::store::passkeys::PasskeyRow {
        id: id.into(),
        tenant_id: "seinajoki".into(),
        user_id: user_id.into(),
        credential_id: credential.into(),
        name: name.into(),
        passkey: "{}".into(),
        backup_eligible: false,
        created_at: app.now(),
        last_used_at: None,
    };
    app.db_run(move |conn| idp::store::passkeys::insert(conn, &row).unwrap())
        .await;
}

both_stores!(an_account_holds_twenty_passkeys_at_most);
/// Without a cap a script holding a session and the password could add a passkey every two
/// minutes (the page's hourly allowance) for good, each listed in every ceremony, mail, export
/// and page of the account. Twenty at most: the twenty-first is refused before any ceremony
/// begins, and once one is removed, another can be added.
async fn an_account_holds_twenty_passkeys_at_most(backend: Backend) {
    let app = with_pirjo(TestApp::builder(backend)).await;
    let mut signed = sign_in(&app, "seinajoki", EMAIL, PASSWORD).await;
    let mut key = Authenticator::new(&app);
    let added = add_on_account(&app, &signed, (&mut key, PASSWORD), "Läppäri").await;
    says(added, 200, "Pääsyavain lisätty.").await;
    // With a passkey, the account page asks for it first.
    step_up_on_account(&app, &mut signed, &mut key).await;
    let pirjo = app.user_id("seinajoki", EMAIL).await;
    // Nineteen more, as copies of the first under other credential ids.
    let user = pirjo.clone();
    app.db_run(move |conn| {
        let tenant = crate::helpers::tenant("seinajoki");
        let first = idp::store::passkeys::of_user(conn, tenant, &user)
            .unwrap()
            .remove(0);
        for n in 0..19 {
            let mut copy = first.clone();
            copy.id = format!("{}-{n}", first.id);
            copy.credential_id = format!("{}{n}", first.credential_id);
            idp::store::passkeys::insert(conn, &copy).unwrap();
        }
    })
    .await;
    assert_eq!(passkey_count(&app, &pirjo).await, 20);
    let begun = async || ceremonies_of(&app, "passkey_register").await;
    let before = begun().await;
    let url = app.url("/seinajoki/account/passkeys/options");
    let page = crate::helpers::journeys::page(&signed.browser, app.url("/seinajoki/account")).await;
    let fields = [("password", PASSWORD)];
    let full = post_with_csrf(&signed.browser, &url, &page, &fields).await;
    assert_eq!(full.status(), 409);
    assert_eq!(
        full.json::<Value>().await.unwrap(),
        json!({
            "error": "passkey-too-many",
            "message": "Tilillä on jo 20 pääsyavainta, eikä enempää voi lisätä. Poista jokin, jota et enää käytä, niin voit lisätä uuden."
        })
    );
    assert_eq!(begun().await, before, "no ceremony begun");
    // One removed: another can be added.
    let user = pirjo.clone();
    app.db_run(move |conn| {
        use diesel::prelude::*;
        use idp::store::schema::passkeys;
        let one = passkeys::table
            .filter(passkeys::user_id.eq(&user))
            .select(passkeys::id);
        let id: String = one.first(conn).unwrap();
        diesel::delete(passkeys::table.find(id))
            .execute(conn)
            .unwrap();
    })
    .await;
    let mut another = Authenticator::new(&app);
    let added = add_on_account(&app, &signed, (&mut another, PASSWORD), "Puhelin").await;
    says(added, 200, "Pääsyavain lisätty.").await;
    assert_eq!(passkey_count(&app, &pirjo).await, 20);
    app.stop().await;
}
