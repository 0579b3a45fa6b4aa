//! The rendering of an authorization's outcome, wherever a login goes on (`/authorize`, the
//! password, the consent, a mailed link that ends a login): a redirect or form post to the client,
//! the login or consent page, or the error page.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_SECURITY_POLICY, HeaderValue};
use base64::Engine;
use serde::Serialize;
use sha2::Digest;

use super::csp::{form_targets, post_targets, report_uri, source_of};
use super::error::PageError;
use super::templates::FORM_POST_SCRIPT;
use super::view::View;
use crate::flows::oidc::outcome::{AuthResponse, Outcome};
use crate::flows::oidc::pending::{self, Pending, Step};
use crate::flows::oidc::request::{Params, ResponseMode};
use crate::flows::oidc::steps::{NewSession, Next};
use crate::http::util::see_other;

impl View {
    /// Renders what the authorization flow decided (setting the flow cookie when new).
    pub fn outcome(&self, outcome: Outcome) -> HttpResponse {
        let response = match outcome {
            Outcome::Respond(response) => self.to_client(&response),
            Outcome::Login { request_id } => self.to_page("login", &request_id),
            Outcome::Consent { request_id } => self.to_page("consent", &request_id),
            Outcome::SecondFactor { request_id } => {
                self.to_page("login/second-factor", &request_id)
            }
            Outcome::OfferPasskey { request_id } => self.to_page("passkey-offer", &request_id),
            Outcome::Page(reason) => return self.error(StatusCode::BAD_REQUEST, reason),
        };
        self.attach(response)
    }

    /// A login that goes on: its next page or the answer to the client, with the new session's
    /// cookie when one started (persistent for "remember me").
    pub fn go_on(&self, next: Next) -> HttpResponse {
        let response = self.outcome(next.outcome);
        match next.session {
            None => response,
            Some(session) => self.with_session(response, session),
        }
    }

    /// `response` with the cookie of `session` (persistent for "remember me").
    pub fn with_session(&self, response: HttpResponse, session: NewSession) -> HttpResponse {
        let max_age = session.remember.then(|| {
            let tokens = &self.state.config.settings.tokens;
            i64::try_from(self.tenant.remember_seconds(tokens)).unwrap_or(i64::MAX)
        });
        self.signed_into(response, session.value, max_age)
    }

    /// The pending login `request_id` of the browser with the flow secret `binding`, waiting at
    /// `step` (a page takes only a request at its own step), or the page that says it has
    /// expired.
    pub async fn pending(
        &self,
        request_id: &str,
        binding: Option<String>,
        step: Step,
    ) -> Result<Pending, PageError> {
        let id = request_id.to_string();
        let pending = self
            .flow(move |m, conn| {
                pending::pending_at(m, conn, &id, binding.as_deref(), |at| *at == step)
            })
            .await?;
        match pending {
            Some((_, pending)) => Ok(pending),
            None => Err(self.error(StatusCode::BAD_REQUEST, "expired").into()),
        }
    }

    /// A 303 to this tenant's page `page` of the pending request `request_id`.
    pub fn to_page(&self, page: &str, request_id: &str) -> HttpResponse {
        see_other(&format!(
            "{}/{}/{page}?request={request_id}",
            self.state.config.settings.server.public_base(),
            self.tenant.id
        ))
    }

    /// The answer to the client: a redirect with the parameters in the query, or a form post.
    fn to_client(&self, response: &AuthResponse) -> HttpResponse {
        let Ok(mut url) = url::Url::parse(&response.redirect_uri) else {
            return self.error(StatusCode::BAD_REQUEST, "unregistered_redirect_uri");
        };
        match response.response_mode {
            ResponseMode::Query => {
                if !response.params.is_empty() {
                    let mut query = url.query_pairs_mut();
                    for (name, value) in &response.params {
                        query.append_pair(name, value);
                    }
                }
                see_other(url.as_str())
            }
            ResponseMode::FormPost => self.form_post(response, &url),
        }
    }

    /// The page that posts the response to the client.
    fn form_post(&self, response: &AuthResponse, url: &url::Url) -> HttpResponse {
        let params = response
            .params
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()));
        let targets = post_targets(&self.tenant, &response.redirect_uri, url);
        self.post_page(&response.redirect_uri, params, &targets, &[source_of(url)])
    }

    /// The same POST again from our own page, for a POST that reached `/authorize` or `/logout`
    /// (`endpoint`, a URL of the issuer) without the tenant's cookies: `None` when this POST is
    /// that again already ([`AGAIN`]), to be answered as it came.
    ///
    /// An e-service's page that submits a form to us is another site, and the browser withholds
    /// our `SameSite=Lax` cookies from another site's POST (it sends them with its top-level GET,
    /// and with a POST from our own origin). Answered as it came, such a logout would end no
    /// session and tell no e-service, and such a login would not see the session and would replace
    /// the browser's flow cookie. The page posts the fields once more, from our origin, with
    /// [`AGAIN`] added: the parameters stay in a body (an ID token in a hint never reaches a URL,
    /// the browser's history or a proxy's log), and a browser that keeps no cookies is answered
    /// the second time as before.
    pub fn again_with_cookies(&self, endpoint: &str, params: &Params) -> Option<HttpResponse> {
        if params.contains_key(AGAIN) {
            return None;
        }
        let url = url::Url::parse(endpoint).ok()?;
        let mut fields: Vec<(&str, &str)> = params
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        fields.sort_unstable();
        fields.push((AGAIN, "1"));
        // Its answer is often a redirect to an e-service (a code, a logout's return), which the
        // browser checks against `form-action` too: our origin and the tenant's clients'.
        let mut targets = vec![source_of(&url)];
        targets.extend(form_targets(&self.tenant));
        Some(self.post_page(endpoint, fields.into_iter(), &targets, &[]))
    }

    /// A page that posts `params` to `action` at once, with its own CSP: its one script, a form to
    /// `targets` only (the sources the form and the redirects after it may reach), and framed by
    /// `framers` only. An answer to a client is framed by its own origin alone: an e-service's
    /// session check in a hidden frame (`prompt=none`) posts its answer from that frame, as a
    /// redirect's answer would reach it; the page holds no control to click.
    fn post_page<'a>(
        &self,
        action: &str,
        params: impl Iterator<Item = (&'a str, &'a str)>,
        targets: &[String],
        framers: &[String],
    ) -> HttpResponse {
        #[derive(Serialize)]
        struct Param<'a> {
            name: &'a str,
            value: &'a str,
        }
        let params: Vec<Param<'_>> = params.map(|(name, value)| Param { name, value }).collect();
        let mut context = tera::Context::new();
        context.insert("lang", self.lang.tag());
        context.insert("redirect_uri", action);
        context.insert("params", &params);
        context.insert("script", FORM_POST_SCRIPT);
        let mut page = self
            .state
            .pages
            .respond(StatusCode::OK, "form_post.html", &context);
        let script_hash = base64::engine::general_purpose::STANDARD
            .encode(sha2::Sha256::digest(FORM_POST_SCRIPT.as_bytes()));
        let framers = match framers {
            [] => "'none'".to_string(),
            some => some.join(" "),
        };
        let csp = format!(
            "default-src 'none'; script-src 'sha256-{script_hash}'; form-action {}; frame-ancestors {framers}; base-uri 'none'; report-uri {}",
            targets.join(" "),
            report_uri(
                self.state.config.settings.server.public_base(),
                &self.tenant
            )
        );
        if let Ok(value) = HeaderValue::from_str(&csp) {
            page.headers_mut().insert(CONTENT_SECURITY_POLICY, value);
        }
        page
    }
}

/// The field [`View::again_with_cookies`] adds to the POST it sends again: such a POST is
/// answered as it comes.
pub const AGAIN: &str = "idp_again";
