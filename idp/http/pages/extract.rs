//! The extractors of the resident's pages, so that a handler starts where its page starts:
//! [`View`] (the tenant's page view, or the 404 of an unknown tenant), [`Posted`] (a form whose
//! CSRF field is checked, or the 400 page), [`SignedIn`] (the signed-in resident, or the way to
//! the login).
//!
//! Each reads the request in the order the handlers always have: the body of a POST, the tenant,
//! the language and flow cookie, the form, and only then the session. `SignedIn<Posted>` checks
//! the form before it looks at the session, so a refused form writes nothing.
//!
//! The session a `SignedIn` read may end before the handler's change runs (a recovery): every
//! change of the account page runs through [`SignedIn::change`], which does it only while the
//! session is still live (`flows::account::signed_in`).

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest};

use super::csrf::{account_tag, posted_account_tag};
use super::error::PageError;
use super::view::View;
use crate::flows::account::sessions::{Overview, overview};
use crate::flows::account::{self, Counted, Ran};
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::former::{Olds, olds};
use crate::flows::oidc::request::Params;
use crate::flows::oidc::{pending, steps};
use crate::flows::second_factor::account::{AccountFactor, status};
use crate::http::extract::{Extracting, TenantRequest, after};
use crate::http::util::top_level_navigation;
use crate::store::passkeys::{self, PasskeyRow};
use crate::store::users::UserRow;
use crate::store::{DbConnection, Tenant};

impl FromRequest for View {
    type Error = actix_web::Error;
    type Future = Extracting<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        after(req, payload, |request: TenantRequest| async move {
            Ok(View::new(request.state, &request.req, request.tenant, None))
        })
    }
}

/// A posted form of a page: the page's view and the form's fields, its `csrf` field this
/// browser's (else the 400 page, [`View::form`]).
pub struct Posted {
    /// The page's view.
    pub view: View,
    /// The form's fields.
    pub params: Params,
}

impl Posted {
    /// The field `name`, empty when missing.
    pub fn field(&self, name: &str) -> String {
        self.params.get(name).cloned().unwrap_or_default()
    }
}

impl FromRequest for Posted {
    type Error = actix_web::Error;
    type Future = Extracting<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        after(req, payload, |request: TenantRequest| async move {
            let mut view = View::new(request.state, &request.req, request.tenant, None);
            let params = view.form(&request.body).await?;
            view.return_after_post(&params);
            Ok(Posted { view, params })
        })
    }
}

/// What a page's request typed into its form, when it posted one: the account page shows it again
/// with an error (a typo in the new address, a name too long) rather than lose it.
pub trait Typed {
    /// The field `name` as posted; `None` for a page that was not posted.
    fn typed(&self, _name: &str) -> Option<&str> {
        None
    }
}

impl Typed for View {}

impl Typed for Posted {
    fn typed(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

impl AsRef<View> for View {
    fn as_ref(&self) -> &View {
        self
    }
}

impl AsRef<View> for Posted {
    fn as_ref(&self) -> &View {
        &self.view
    }
}

impl AsMut<View> for View {
    fn as_mut(&mut self) -> &mut View {
        self
    }
}

impl AsMut<View> for Posted {
    fn as_mut(&mut self) -> &mut View {
        &mut self.view
    }
}

/// The fields a request of a page carries: a posted form's, none for a page opened.
pub trait Fields {
    /// The field `name`, if the request posted it.
    fn posted(&self, _name: &str) -> Option<&str> {
        None
    }
}

impl Fields for View {}

impl Fields for Posted {
    fn posted(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// The signed-in resident of the account page: `page` first (a [`View`], or a [`Posted`] form),
/// then the browser's session, its user and the user's old accounts. Without a session, the
/// answer is the way to the login of the account page (`pending::account_login`), which comes
/// back here; or, when the client address has too many logins waiting already, the page that says
/// so (429, [`View::too_many_waiting`]); or, when the browser did not open the page as a page (an
/// image, a frame: `http::util::top_level_navigation`), the 400 page, and no login is stored.
pub struct SignedIn<T = View> {
    /// The page (or form) the resident is on.
    pub page: T,
    /// The session's id.
    pub session_id: String,
    /// The signed-in user.
    pub user: UserRow,
    /// The old accounts bound to the user, and those of the address it can bind.
    pub olds: Olds,
    /// The user's passkeys.
    pub passkeys: Vec<PasskeyRow>,
    /// An authority user's second factor (none for a resident).
    pub second_factor: Option<AccountFactor>,
    /// The user's live sessions and the e-services that hold their consent or offline access.
    pub sessions: Overview,
    /// The passkey or old account the posted form is about (its `passkey` or `account` field):
    /// an error of that form marks that item's field only.
    pub item: Option<String>,
}

impl<T: AsRef<View>> SignedIn<T> {
    /// The page's view.
    pub fn view(&self) -> &View {
        self.page.as_ref()
    }

    /// Runs the flow `f` of a change the resident makes on the account page (see
    /// [`View::flow`]), in one write transaction with this session read again, the user's row
    /// held (`account::while_signed_in`): when the session ended after this request read it (a
    /// recovery), nothing is done and the answer is the way to the login, as without a session.
    /// For a change that ends or removes, or checks the password: never refused.
    pub async fn change<R, E, F>(&self, f: F) -> Result<R, PageError>
    where
        F: FnOnce(&Minter<'_>, &mut DbConnection) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: Into<FlowError> + Send + 'static,
    {
        self.run(Counted::No, f).await
    }

    /// As [`SignedIn::change`], for a change that adds to the account's audit trail without a
    /// password check: past `[limits] account_changes_per_hour` in the last hour, nothing is
    /// done and the answer is the "too many changes" page (429).
    pub async fn counted_change<R, E, F>(&self, f: F) -> Result<R, PageError>
    where
        F: FnOnce(&Minter<'_>, &mut DbConnection) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: Into<FlowError> + Send + 'static,
    {
        self.run(Counted::Yes, f).await
    }

    async fn run<R, E, F>(&self, counted: Counted, f: F) -> Result<R, PageError>
    where
        F: FnOnce(&Minter<'_>, &mut DbConnection) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: Into<FlowError> + Send + 'static,
    {
        let (user, session) = (self.user.id.clone(), self.session_id.clone());
        let binding = self.view().binding.clone();
        let navigation = top_level_navigation(&self.view().req);
        let changed = self
            .view()
            .flow(move |m, conn| {
                let signed = (user.as_str(), session.as_str());
                let change = |conn: &mut DbConnection| f(m, conn).map_err(Into::into);
                match account::while_signed_in(m, conn, signed, counted, change)? {
                    Ran::Done(value) => Ok::<_, FlowError>(Ok(value)),
                    Ran::TooMany => Ok(Err(Elsewhere::TooManyChanges)),
                    Ran::SignedOut => Ok(Err(account_login(m, conn, &binding, navigation)?)),
                }
            })
            .await?;
        changed.map_err(|elsewhere| to_elsewhere(self.view(), elsewhere))
    }
}

/// The way to the login (or to the second factor) of the account page: the page with the pending
/// request, which comes back to the account page; or, when the client address has too many logins
/// waiting already, the page that says so.
fn to_elsewhere(view: &View, elsewhere: Elsewhere) -> PageError {
    match elsewhere {
        Elsewhere::To(page, request_id) => view.attach(view.to_page(page, &request_id)).into(),
        Elsewhere::TooMany => view.too_many_waiting().into(),
        Elsewhere::TooManyChanges => view.too_many_changes().into(),
        Elsewhere::NotAPage => view
            .error(StatusCode::BAD_REQUEST, pending::NOT_A_PAGE)
            .into(),
    }
}

/// The account page's login (a pending request of this browser), or [`Elsewhere::TooMany`]; or,
/// when the browser did not open the page as a page of its own (`navigation`: an image, a frame,
/// a script's fetch), [`Elsewhere::NotAPage`], and nothing is stored (`pending.rs`).
fn account_login(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    binding: &str,
    navigation: bool,
) -> Result<Elsewhere, FlowError> {
    if !navigation {
        return Ok(Elsewhere::NotAPage);
    }
    Ok(stored_at(
        "login",
        pending::account_login(m, conn, binding)?,
    ))
}

/// The page of a request stored for the account page (`id`), or [`Elsewhere::TooMany`] when its
/// client address had too many waiting already (`None`).
fn stored_at(page: &'static str, id: Option<String>) -> Elsewhere {
    match id {
        Some(id) => Elsewhere::To(page, id),
        None => Elsewhere::TooMany,
    }
}

impl<T> FromRequest for SignedIn<T>
where
    T: FromRequest<Error = actix_web::Error> + AsRef<View> + AsMut<View> + Fields + 'static,
    T::Future: 'static,
{
    type Error = actix_web::Error;
    type Future = Extracting<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        after(req, payload, |mut page: T| async move {
            let found = signed_in(page.as_ref()).await?;
            // A form of the account page is for the user it was shown to (its CSRF token's tag):
            // one from a tab left open when another resident signed in in this browser changes
            // nothing of theirs, and checks no password against their account.
            let tag = account_tag(&found.user.id);
            if let Some(presented) = page.posted("csrf")
                && posted_account_tag(presented) != Some(tag.as_str())
            {
                let refused = page.as_ref().error(StatusCode::CONFLICT, "other_account");
                return Err(PageError::from(refused).into());
            }
            page.as_mut().account_of = Some(tag);
            let item = ["passkey", "account"]
                .into_iter()
                .find_map(|field| page.posted(field))
                .map(str::to_string);
            Ok(SignedIn {
                item,
                page,
                session_id: found.session_id,
                user: found.user,
                olds: found.olds,
                passkeys: found.passkeys,
                second_factor: found.second_factor,
                sessions: found.sessions,
            })
        })
    }
}

/// What [`signed_in`] found.
struct Found {
    session_id: String,
    user: UserRow,
    olds: Olds,
    passkeys: Vec<PasskeyRow>,
    second_factor: Option<AccountFactor>,
    sessions: Overview,
}

/// Where [`signed_in`] sends the browser instead of the account page.
enum Elsewhere {
    /// To the page (`login`, `login/second-factor`) of the stored request.
    To(&'static str, String),
    /// Nowhere: the client address has too many logins waiting already.
    TooMany,
    /// Nowhere: the browser did not open the page as a page (an image, a frame, a fetch).
    NotAPage,
    /// Nowhere: the resident made `[limits] account_changes_per_hour` changes in the last hour.
    TooManyChanges,
}

/// The session's user, old accounts, passkeys, (an authority user's) second factor, sessions and
/// e-services; or the way to the login, or to the second factor when the session proved less than
/// the user can give ([`steps::account_step_up`]).
async fn signed_in(view: &View) -> Result<Found, PageError> {
    let cookie = view.cookie("session");
    let binding = view.binding.clone();
    let navigation = top_level_navigation(&view.req);
    let found = view
        .flow(move |m, conn| {
            let Some((session, user)) = account::current(m, conn, cookie.as_deref())? else {
                return Ok(Err(account_login(m, conn, &binding, navigation)?));
            };
            if let Some(id) = steps::account_step_up(m, conn, &session, &user, &binding)? {
                return Ok(Err(stored_at("login/second-factor", id)));
            }
            let tenant = Tenant::of(m.tenant);
            let olds = olds(conn, tenant, m.tenant.legacy.salted_sha.as_ref(), &user)?;
            let passkeys = passkeys::of_user(conn, tenant, &user.id)?;
            let second_factor = if user.is_authority {
                Some(status(m, conn, &user.id)?)
            } else {
                None
            };
            let sessions = overview(m, conn, &user, &session.id)?;
            Ok::<_, FlowError>(Ok(Found {
                sessions,
                session_id: session.id,
                user,
                olds,
                passkeys,
                second_factor,
            }))
        })
        .await?;
    found.map_err(|elsewhere| to_elsewhere(view, elsewhere))
}
