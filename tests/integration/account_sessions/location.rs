//! A session's coarse location: with `[sessions] location` on and a location database, the
//! account page names where each login came from ("Tampere, Finland"); the session keeps only
//! that, never the address; without the setting nothing is looked up.

use super::support::{FIREFOX, PASSWORD, listed_sessions};
use crate::both_stores;
use crate::helpers::journeys::sign_in_with;
use crate::helpers::{Backend, TestApp, assert_has, project_root, tenant};

/// A browser whose requests come, through the trusted proxy, from `address`.
fn browser_from(address: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-forwarded-for", address.parse().unwrap());
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(FIREFOX)
        .default_headers(headers)
        .build()
        .unwrap()
}

async fn app(backend: Backend, location: bool) -> TestApp {
    let database = project_root().join("tests/data/geoip-test.mmdb");
    TestApp::builder(backend)
        .behind_proxy()
        .server_toml(&format!("geoip_database = \"{}\"", database.display()))
        .tenant_toml(&format!("\n[sessions]\nlocation = {location}\n"))
        .user("seinajoki", "erkki@testi.fi", PASSWORD, "Erkki")
        .spawn()
        .await
}

/// The locations the sessions of the user stored, and their count.
async fn stored_locations(app: &TestApp) -> Vec<Option<String>> {
    app.db_run(|conn| {
        use diesel::prelude::*;
        use idp::store::schema::sso_sessions;
        sso_sessions::table
            .filter(sso_sessions::tenant_id.eq(tenant("seinajoki").id()))
            .order(sso_sessions::created_at.asc())
            .select(sso_sessions::location)
            .load::<Option<String>>(conn)
            .unwrap()
    })
    .await
}

both_stores!(the_account_page_names_where_each_login_came_from);
async fn the_account_page_names_where_each_login_came_from(backend: Backend) {
    let app = app(backend, true).await;
    sign_in_with(
        &app,
        browser_from("198.51.100.4"),
        "seinajoki",
        "erkki@testi.fi",
        PASSWORD,
    )
    .await;
    app.clock.advance(60);
    let signed = sign_in_with(
        &app,
        browser_from("192.0.2.17"),
        "seinajoki",
        "erkki@testi.fi",
        PASSWORD,
    )
    .await;

    let listed = listed_sessions(&signed.page);
    assert_eq!(listed.len(), 2, "{}", signed.page);
    assert_has(
        &listed[0].0,
        "<span class=\"session-location\">Arvioitu sijainti: Tampere, Finland</span>",
    );
    assert_has(
        &listed[1].0,
        "<span class=\"session-location\">Arvioitu sijainti: Sweden</span>",
    );
    // Only the location is kept: no column of the session holds the address.
    assert_eq!(
        stored_locations(&app).await,
        [
            Some("Sweden".to_string()),
            Some("Tampere, Finland".to_string())
        ]
    );
    let page = signed.page.clone();
    assert!(
        !page.contains("192.0.2.17") && !page.contains("198.51.100.4"),
        "{page}"
    );
    app.stop().await;
}

/// A login from `address` in a tenant with locations `on` or off shows and keeps no location.
async fn assert_no_location(backend: Backend, on: bool, address: &str) {
    let app = app(backend, on).await;
    let browser = browser_from(address);
    let signed = sign_in_with(&app, browser, "seinajoki", "erkki@testi.fi", PASSWORD).await;
    assert!(!signed.page.contains("session-location"), "{}", signed.page);
    assert_eq!(stored_locations(&app).await, [None]);
    app.stop().await;
}

both_stores!(an_address_the_database_does_not_know_shows_no_location);
async fn an_address_the_database_does_not_know_shows_no_location(backend: Backend) {
    assert_no_location(backend, true, "203.0.113.9").await;
}

both_stores!(a_tenant_that_does_not_show_locations_looks_none_up);
async fn a_tenant_that_does_not_show_locations_looks_none_up(backend: Backend) {
    assert_no_location(backend, false, "192.0.2.17").await;
}

both_stores!(a_tenant_that_turns_locations_off_shows_none_stored_before);
/// The city turns `[sessions] location` off and restarts: the account page shows no location,
/// also of the sessions that stored one before.
async fn a_tenant_that_turns_locations_off_shows_none_stored_before(backend: Backend) {
    let app = app(backend, true).await;
    let browser = browser_from("192.0.2.17");
    let signed = sign_in_with(&app, browser, "seinajoki", "erkki@testi.fi", PASSWORD).await;
    assert_has(&signed.page, "session-location");
    let app = app
        .restart_with(|dir| {
            let path = dir.join("tenants/seinajoki.toml");
            let text = std::fs::read_to_string(&path).unwrap();
            let off = text.replace("location = true", "location = false");
            std::fs::write(&path, off).unwrap();
        })
        .await;
    let page = crate::helpers::journeys::page(&signed.browser, app.url("/seinajoki/account")).await;
    assert_eq!(listed_sessions(&page).len(), 1, "{page}");
    assert!(!page.contains("session-location"), "{page}");
    app.stop().await;
}
