//! What the login's pages share: [`LoginForm`], a posted form of a pending login (its view in
//! the login's language, its request and identifier), and the pages it shows again — the
//! identifier, the password, the choice between old accounts, a claim's old password.

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse};

use crate::domain::text;
use crate::flows::linker::route::IN_USE;
use crate::flows::oidc::request::Params;
use crate::http::extract::{Extracting, after};
use crate::http::pages::extract::Posted;
use crate::http::pages::view::View;
use crate::store::legacy::LegacyRow;

/// A posted form of the login pages: the view (in the language of the login), the fields, the
/// pending request and the identifier (trimmed), empty when missing.
pub struct LoginForm {
    /// The page's view.
    pub view: View,
    /// The form's fields.
    pub params: Params,
    /// The pending authorization request.
    pub request_id: String,
    /// The identifier typed, trimmed.
    pub identifier: String,
}

impl FromRequest for LoginForm {
    type Error = actix_web::Error;
    type Future = Extracting<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        after(req, payload, |posted: Posted| async move {
            let Posted { mut view, params } = posted;
            let request_id = params.get("request").cloned().unwrap_or_default();
            let identifier = params
                .get("identifier")
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            view.in_login(&request_id).await;
            Ok(LoginForm {
                view,
                params,
                request_id,
                identifier,
            })
        })
    }
}

impl LoginForm {
    /// The field `name`, empty when missing.
    pub fn field(&self, name: &str) -> String {
        self.params.get(name).cloned().unwrap_or_default()
    }

    /// The password page; `account` is the old account chosen among several of one address.
    pub fn password_page(
        &self,
        account: Option<&str>,
        error: Option<&str>,
        status: StatusCode,
    ) -> HttpResponse {
        let mut context = self.view.context();
        context.insert("request_id", &self.request_id);
        context.insert("identifier", &self.identifier);
        context.insert("account", &account.unwrap_or_default());
        context.insert("error", &error);
        self.view.respond(status, "password.html", &context)
    }

    /// The choice between the old accounts of one address; `in_use`: the address has an account
    /// already, offered first (its password page), and the old accounts are claimed.
    pub fn choose_page(
        &self,
        accounts: &[LegacyRow],
        in_use: bool,
        error: Option<&str>,
    ) -> HttpResponse {
        #[derive(serde::Serialize)]
        struct Choice {
            id: String,
            shown: String,
        }
        let choices: Vec<Choice> = accounts
            .iter()
            .map(|a| Choice {
                id: a.id.clone(),
                shown: shown(&self.view, &a.username),
            })
            .collect();
        let mut context = self.view.context();
        context.insert("request_id", &self.request_id);
        context.insert("identifier", &self.identifier);
        context.insert("choices", &choices);
        context.insert("in_use", &in_use.then_some(IN_USE));
        self.view.form_page("choose_account.html", context, error)
    }

    /// The claim's first step under keep-password: the old password of the chosen account.
    pub fn claim_password_page(
        &self,
        account: &str,
        username: Option<&str>,
        error: Option<&str>,
        status: StatusCode,
    ) -> HttpResponse {
        let mut context = self.view.context();
        context.insert("step", "password");
        context.insert("request_id", &self.request_id);
        context.insert("identifier", &self.identifier);
        context.insert("account", account);
        context.insert("username", &username.map(|u| shown(&self.view, u)));
        context.insert("error", &error);
        self.view.respond(status, "claim.html", &context)
    }
}

/// The identifier page; `error` is a message key and its hint.
pub fn identifier_page(
    view: &View,
    request_id: &str,
    identifier: &str,
    error: Option<(&str, Option<&str>)>,
) -> HttpResponse {
    let mut context = view.context();
    context.insert("request_id", request_id);
    context.insert("identifier", identifier);
    context.insert("hint", &error.and_then(|e| e.1));
    view.form_page("login.html", context, error.map(|e| e.0))
}

/// An old username as the login pages show it (masked when the tenant says so).
pub fn shown(view: &View, username: &str) -> String {
    if view.tenant.legacy.mask_usernames {
        text::mask(username)
    } else {
        username.to_string()
    }
}
