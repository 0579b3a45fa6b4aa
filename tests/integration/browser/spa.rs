//! An e-service's single-page application in chromium (`http::cors`): its page, on another
//! origin than idp's, sends the resident to log in with PKCE made in the browser, then exchanges
//! the code, reads userinfo and refreshes with `fetch` — what the browser lets it read only
//! because its origin is in its client's `web_origins`. The same page on an origin no client
//! lists reads nothing.

use actix_web::web;

use super::{Rig, html, log_in};

/// The application: `?issuer=` starts a login; back with `?code=` it exchanges the code, reads
/// userinfo and refreshes; `?probe=` only tries the token endpoint. What it could read is put in
/// `#out`, with the class `done` when it has finished.
const PAGE: &str = r#"<!DOCTYPE html><html lang="en"><title>SPA</title><p id="out"></p><script>
const out = document.getElementById("out");
const show = (text) => { out.textContent = text; out.className = "done"; };
const b64 = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const form = (fields) => ({ method: "POST", body: new URLSearchParams(fields) });
async function main() {
  const query = new URLSearchParams(location.search);
  const issuer = query.get("issuer") || sessionStorage.getItem("issuer");
  const discovery = await (await fetch(issuer + "/.well-known/openid-configuration")).json();
  const redirect = location.origin + "/spa";
  if (query.get("probe")) {
    try {
      const answer = await fetch(discovery.token_endpoint, form({ grant_type: "refresh_token", refresh_token: "x", client_id: "spa" }));
      show("read " + answer.status + " " + (await answer.json()).error);
    } catch (error) {
      show("blocked");
    }
    return;
  }
  if (!query.get("code")) {
    const verifier = b64(crypto.getRandomValues(new Uint8Array(32)));
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
    sessionStorage.setItem("verifier", verifier);
    sessionStorage.setItem("issuer", issuer);
    const url = new URL(discovery.authorization_endpoint);
    url.search = new URLSearchParams({
      client_id: "spa", redirect_uri: redirect, response_type: "code", state: "spa",
      scope: "openid email offline_access", prompt: "consent",
      code_challenge: b64(new Uint8Array(digest)), code_challenge_method: "S256",
    });
    location.assign(url);
    return;
  }
  const tokens = await (await fetch(discovery.token_endpoint, form({
    grant_type: "authorization_code", code: query.get("code"), redirect_uri: redirect,
    client_id: "spa", code_verifier: sessionStorage.getItem("verifier"),
  }))).json();
  const info = await (await fetch(discovery.userinfo_endpoint, { headers: { Authorization: "Bearer " + tokens.access_token } })).json();
  const renewed = await (await fetch(discovery.token_endpoint, form({
    grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: "spa",
  }))).json();
  show("email " + info.email + ", renewed " + (renewed.refresh_token ? "yes" : "no"));
}
main().catch((error) => show("failed: " + error));
</script></html>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_page_application_logs_in_and_calls_the_endpoints_in_chromium() {
    let (address, spa) = crate::rp::serve_on_loopback(|routes| {
        routes.route("/spa", web::get().to(|| async { html(PAGE) }));
    });
    let origin = format!("http://{address}");
    let client = format!(
        "\n[[clients]]\nclient_id = \"spa\"\ntoken_endpoint_auth_method = \"none\"\n\
         redirect_uris = [\"{origin}/spa\"]\nweb_origins = [\"{origin}\"]\nfirst_party = true\n"
    );
    let Some(rig) = Rig::start_with(|app| app.tenant_toml(&client)).await else {
        spa.stop(true).await;
        return;
    };
    let issuer = rig.app.issuer("seinajoki");
    let browser = rig.browser(true).await;

    // The same page served at the name `localhost`: an origin no client lists.
    let elsewhere = format!(
        "http://localhost:{}/spa?probe=1&issuer={issuer}",
        address.port()
    );
    browser.goto(&elsewhere).await;
    browser.shows("#out.done", "blocked").await;
    // At its own origin the probe reads the protocol's error.
    browser
        .goto(&format!("{origin}/spa?probe=1&issuer={issuer}"))
        .await;
    browser.shows("#out.done", "read 400 invalid_grant").await;

    browser.goto(&format!("{origin}/spa?issuer={issuer}")).await;
    browser.wait_for("#identifier").await;
    log_in(&browser, false, None).await;
    browser
        .shows("#out.done", "email erkki@testi.fi, renewed yes")
        .await;
    rig.finish(browser).await;
    spa.stop(true).await;
}
