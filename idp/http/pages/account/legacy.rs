//! `POST /{tenant}/account/legacy`: binds another old account of the resident's address, proven
//! by its old password (keep-password, usable hash) or else by a link mailed to the address.

use actix_web::http::StatusCode;
use secrecy::SecretString;

use crate::flows::account;
use crate::flows::former::olds;
use crate::flows::linker;
use crate::flows::password_check::Stored;
use crate::http::pages::error::PageResult;
use crate::http::pages::extract::{Posted, SignedIn};
use crate::store::Tenant;
use crate::store::legacy::LegacyRow;
use crate::store::throttle::ThrottleKey;

/// `POST /{tenant}/account/legacy`: the old account chosen, by its password or a mailed link.
pub async fn link_legacy(mut signed: SignedIn<Posted>) -> PageResult {
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
    let username = account.username.clone();
    let matched = signed
        .check(key, stored, password_text, |_| (), "login-throttled")
        .await?;
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
        true => signed.show(Some("account-link-done"), None, StatusCode::OK),
        false => signed.show_refused("account-link-failed", StatusCode::UNAUTHORIZED),
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
