//! [`TenantRequest`], the extractor every route below `/{tenant}` starts from: the tenant named
//! in the path, or the 404 of an unknown tenant ([`HttpError::UnknownTenant`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::error::ErrorInternalServerError;
use actix_web::http::Method;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest, web};

use super::errors::HttpError;
use super::pages::view::View;
use super::state::AppState;
use super::util;
use crate::config::TenantConfig;
use crate::flows::oidc::error::OAuthError;
use crate::flows::oidc::request::Params;

/// The future of an extractor of ours (actix handlers run on one thread: it need not be `Send`).
pub type Extracting<T> = Pin<Box<dyn Future<Output = Result<T, actix_web::Error>>>>;

/// The future of an extractor that builds on another: `T` first, then `then` of it.
pub fn after<T, U, F, Fut>(req: &HttpRequest, payload: &mut Payload, then: F) -> Extracting<U>
where
    T: FromRequest<Error = actix_web::Error> + 'static,
    T::Future: 'static,
    F: FnOnce(T) -> Fut + 'static,
    Fut: Future<Output = Result<U, actix_web::Error>> + 'static,
{
    let first = T::from_request(req, payload);
    Box::pin(async move { then(first.await?).await })
}

/// A request to a tenant's route: the state, the tenant, the request and, for a POST, its body.
///
/// The body of a POST is read first, so that one over `errors::BODY_LIMIT` is refused (413)
/// before the path is looked at.
pub struct TenantRequest {
    /// The state.
    pub state: web::Data<AppState>,
    /// The tenant of the path.
    pub tenant: Arc<TenantConfig>,
    /// The request.
    pub req: HttpRequest,
    /// The body of a POST (empty for other methods, whose bodies are not read).
    pub body: Bytes,
}

impl FromRequest for TenantRequest {
    type Error = actix_web::Error;
    type Future = Extracting<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if encoded(req) {
            // A compressed body (a few KiB of gzip inflates to many MB) is refused unread.
            return Box::pin(async {
                Err(actix_web::error::ErrorUnsupportedMediaType(
                    "a compressed body is not accepted",
                ))
            });
        }
        let body = (req.method() == Method::POST).then(|| Bytes::from_request(req, payload));
        let req = req.clone();
        Box::pin(async move {
            let body = match body {
                Some(body) => match tokio::time::timeout(BODY_TIME, body).await {
                    Ok(body) => body?,
                    // A client trickling its body held a connection (and a file descriptor) for
                    // as long as it liked: a form or a protocol request is a few KiB.
                    Err(_) => {
                        return Err(actix_web::error::ErrorRequestTimeout(
                            "the body did not arrive in time",
                        ));
                    }
                },
                None => Bytes::new(),
            };
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| ErrorInternalServerError("the state is missing"))?;
            let path = web::Path::<String>::extract(&req).await?;
            let tenant = state.tenant(&path).ok_or(HttpError::UnknownTenant)?;
            Ok(TenantRequest {
                state,
                tenant,
                req,
                body,
            })
        })
    }
}

/// How long a request's body may take to arrive once its head has (actix bounds the head only).
pub const BODY_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether the request says its body is encoded (`Content-Encoding` other than `identity`): no
/// client of ours compresses a form or a protocol request, and idp decodes none.
fn encoded(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(actix_web::http::header::CONTENT_ENCODING)
        .any(|v| {
            !v.to_str()
                .is_ok_and(|v| v.trim().eq_ignore_ascii_case("identity"))
        })
}

impl TenantRequest {
    /// The protocol parameters of the request: the query of a GET, the form of a POST.
    pub fn params(&self) -> Result<Params, OAuthError> {
        if self.req.method() == Method::POST {
            util::form(&self.req, &self.body)
        } else {
            util::params(self.req.query_string().as_bytes())
        }
    }

    /// A page view of the request, in the language of `params`' `ui_locales` first.
    pub fn view<E>(&self, params: &Result<Params, E>) -> View {
        let ui_locales = params.as_ref().ok().and_then(|p| p.get("ui_locales"));
        View::new(
            self.state.clone(),
            &self.req,
            self.tenant.clone(),
            ui_locales.map(String::as_str),
        )
    }
}
