//! `POST /{tenant}/account/legacy`: binds another old account of the resident's address, proven
//! by its old password (keep-password, usable hash) or else by a link mailed to the address;
//! `POST /{tenant}/account/legacy/other`: one of another address, by its old username and
//! password.

use actix_web::http::StatusCode;
use secrecy::SecretString;

use crate::config::Policy;
use crate::domain::lookup_key;
use crate::flows::account;
use crate::flows::error::FlowError;
use crate::flows::former::olds;
use crate::flows::linker::{self, keeps_password, login_key};
use crate::flows::password_check::{DUMMY_HASH, Stored};
use crate::http::pages::error::PageResult;
use crate::http::pages::extract::{Posted, SignedIn};
use crate::store::Tenant;
use crate::store::legacy;
use crate::store::legacy::LegacyRow;
use crate::store::throttle::ThrottleKey;

/// `POST /{tenant}/account/legacy`: the old account chosen, by its password or a mailed link.
pub async fn link_legacy(signed: SignedIn<Posted>) -> PageResult {
    let chosen = signed.page.field("account");
    let Some(account) = signed
        .olds
        .linkable
        .iter()
        .find(|a| a.id == chosen)
        .cloned()
    else {
        // Bound meanwhile, or not one of this resident's: the page as it is now.
        return Ok(signed.show(None, None, StatusCode::CONFLICT));
    };
    let tenant = &signed.view().tenant;
    if !linker::keeps_password(tenant, &account) {
        return mail_link(&signed, account).await;
    }
    // The old password: throttled like a login, checked in the hashing pool.
    let password_text = SecretString::from(signed.page.field("password"));
    let stored = Stored::Legacy {
        hash: account.password_hash.clone().unwrap_or_default(),
        salted: tenant.legacy.salted_sha.clone(),
    };
    let key = ThrottleKey::Legacy(account.id.clone());
    let matched = signed
        .check(
            signed.attempt(key),
            stored,
            password_text,
            |_| (),
            "login-throttled",
        )
        .await?;
    let shown = ("account-link-done", "account-link-failed");
    bind_checked(signed, account, matched, shown).await
}

/// `POST /{tenant}/account/legacy/other`: binds an old account of another address, named by its
/// old username and proven by its old password, where the tenant keeps old passwords (an email-link
/// tenant's old accounts are proven by a link to their own address, which is not the resident's
/// here: a link mailed there would bind whoever reads that mailbox into this account). An
/// authority account, a bound one, one without a usable hash or no account at all reads as a
/// wrong password: the form tells nobody which old usernames exist. Throttled and audited like
/// the login it stands for, on the counters that login counts on.
pub async fn link_other(signed: SignedIn<Posted>) -> PageResult {
    let tenant = signed.view().tenant.clone();
    if tenant.policy != Policy::KeepPassword {
        return Ok(signed.view().error(StatusCode::NOT_FOUND, "not_found"));
    }
    let named = signed.page.field("username");
    let password_text = SecretString::from(signed.page.field("password"));
    // The old account the name proves, and the counter a login of that name counts on: the
    // check counts on both (an old account's own, and the login's), so that a name blocked here
    // is blocked at the login and back, whatever it names (a gap would tell which names exist).
    let (found, login) = signed
        .view()
        .flow(move |m, conn| {
            let found = legacy::find_by_username(conn, Tenant::of(m.tenant), &lookup_key(&named))?;
            Ok::<_, FlowError>((found, login_key(m, conn, &named)?))
        })
        .await?;
    let found = found
        .filter(|a| a.linked_user_id.is_none() && !a.is_authority && keeps_password(&tenant, a));
    let mut attempt = signed.attempt(login);
    let stored = match &found {
        Some(account) => {
            attempt.also = Some(ThrottleKey::Legacy(account.id.clone()));
            Stored::Legacy {
                hash: account.password_hash.clone().unwrap_or_default(),
                salted: tenant.legacy.salted_sha.clone(),
            }
        }
        None => Stored::Argon2(DUMMY_HASH.to_string()),
    };
    let matched = signed
        .check(
            attempt,
            stored,
            password_text,
            |_| (),
            "account-other-throttled",
        )
        .await?;
    let Some(account) = found else {
        let user = signed.user.clone();
        signed
            .view()
            .flow(move |m, conn| account::check_failed(m, conn, &user, "account.legacy"))
            .await?;
        return Ok(signed.show_refused("account-other-failed", StatusCode::UNAUTHORIZED));
    };
    let shown = ("account-link-done", "account-other-failed");
    bind_checked(signed, account, matched, shown).await
}

/// Binds `account` to the signed-in resident when its old password `matched`, or audits the
/// failed check; then the account page with the old accounts as they are now, saying `done` or
/// `failed` (message keys).
async fn bind_checked(
    mut signed: SignedIn<Posted>,
    account: LegacyRow,
    matched: Option<()>,
    (done, failed): (&'static str, &'static str),
) -> PageResult {
    let username = account.username.clone();
    let user = signed.user.clone();
    let bound = match matched {
        Some(()) => {
            signed
                .change(move |m, conn| linker::bind_to_user(m, conn, &account, &user, "password"))
                .await?
        }
        None => {
            signed
                .view()
                .flow(move |m, conn| account::check_failed(m, conn, &user, "account.legacy"))
                .await?;
            false
        }
    };
    // Whether or not it bound, the old accounts as they are now.
    let user = signed.user.clone();
    signed.olds = signed
        .view()
        .flow(move |m, conn| {
            olds(
                conn,
                Tenant::of(m.tenant),
                m.tenant.legacy.salted_sha.as_ref(),
                &user,
            )
        })
        .await?;
    // The right password, the account bound to this user meanwhile (the form posted twice, a
    // double click): done, never "the password is wrong" beside it listed as bound.
    let bound_meanwhile = matched.is_some() && signed.olds.bound.contains(&username);
    Ok(match bound || bound_meanwhile {
        true => signed.show(Some(done), None, StatusCode::OK),
        false => signed.show_refused(failed, StatusCode::UNAUTHORIZED),
    })
}

/// Mails the link that binds `account` to the resident's address, and says so.
async fn mail_link(signed: &SignedIn<Posted>, account: LegacyRow) -> PageResult {
    let user = &signed.user;
    let to = user.email.clone().unwrap_or_default();
    let view = signed.view();
    let mail_id = signed
        .counted_change(view.legacy_link(account, to, None, Some(user.id.clone())))
        .await?;
    // A reached mail limit reads as sent.
    let failed = view.send_failed(mail_id.as_deref()).await;
    let said = ("account-link-sent", "account-link-mail-failed");
    Ok(signed.after_mail(said, failed))
}
