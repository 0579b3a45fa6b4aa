//! The account page's second factor, for authority users: `POST /{tenant}/account/second-factor`
//! (set up or replace the one-time code, after the current password),
//! `POST /{tenant}/account/second-factor/confirm` (its first code; the recovery codes) and
//! `POST /{tenant}/account/recovery-codes` (new ones, after the current password).

use std::sync::Arc;

use actix_web::http::StatusCode;
use secrecy::SecretString;

use super::render::{ENROLLED_NOTICE, Place, codes_page, enrol_page};
use crate::crypto::kek::Kek;
use crate::flows::notice::Tell;
use crate::flows::second_factor::codes::{self, Confirmed};
use crate::flows::second_factor::renew_recovery_codes;
use crate::http::pages::account::current::CurrentPassword;
use crate::http::pages::error::{PageError, PageResult};
use crate::http::pages::extract::{Posted, SignedIn};
use crate::store::users::UserRow;

/// The current password asked before a change of the second factor.
const CURRENT: CurrentPassword = CurrentPassword {
    check: "account.second_factor",
    throttled: "second-factor-throttled",
    wrong: "second-factor-password-wrong",
};

/// The same for new recovery codes: its messages (`second-factor-codes-…`) show at its own form,
/// the second of the section.
const CURRENT_FOR_CODES: CurrentPassword = CurrentPassword {
    check: "account.second_factor",
    throttled: "second-factor-codes-throttled",
    wrong: "second-factor-codes-password-wrong",
};

/// The signed-in user is an authority user (the only ones with these forms); else the 403 page.
fn authority(signed: &SignedIn<Posted>) -> Result<(), PageError> {
    if signed.user.is_authority {
        Ok(())
    } else {
        Err(signed
            .view()
            .error(StatusCode::FORBIDDEN, "forbidden")
            .into())
    }
}

/// What a change of the factor takes, owned (for a flow's closure): the key-encryption key, the
/// user, and how its notice is written.
fn keys(signed: &SignedIn<Posted>) -> (Arc<Kek>, UserRow, Tell) {
    let services = &signed.view().state.services;
    let tell = Tell {
        mails: services.mails.clone(),
        language: signed.view().lang,
    };
    (services.kek.clone(), signed.user.clone(), tell)
}

/// `POST /{tenant}/account/second-factor`: after the current password, a new secret to set up.
pub async fn start(signed: SignedIn<Posted>) -> PageResult {
    authority(&signed)?;
    let password = SecretString::from(signed.page.field("password"));
    signed.current_password(&CURRENT, password, |_| ()).await?;
    let (kek, user) = (
        signed.view().state.services.kek.clone(),
        signed.user.clone(),
    );
    let enrolment = signed
        .counted_change(move |m, conn| codes::start(m, conn, &kek, &user))
        .await?;
    enrol_page(signed.view(), &Place::Account, &enrolment, None)
}

/// `POST /{tenant}/account/second-factor/confirm`: the first code of the new secret; right, the
/// factor replaces the old one and the new recovery codes are shown once.
pub async fn confirm(signed: SignedIn<Posted>) -> PageResult {
    authority(&signed)?;
    let (ceremony, code) = (signed.page.field("ceremony"), signed.page.field("code"));
    let missing = code.trim().is_empty();
    let (kek, user, tell) = keys(&signed);
    let confirmed = signed
        .counted_change(move |m, conn| {
            codes::confirm(m, conn, (&kek, &tell), &user, &ceremony, &code)
        })
        .await?;
    let view = signed.view();
    match confirmed {
        Confirmed::Enrolled(codes) => Ok(codes_page(
            view,
            &Place::Account,
            (ENROLLED_NOTICE, &codes),
            None,
        )),
        Confirmed::Wrong(enrolment) => {
            let error = if missing {
                "second-factor-missing"
            } else {
                "second-factor-wrong"
            };
            enrol_page(view, &Place::Account, &enrolment, Some(error))
        }
        Confirmed::Gone => Ok(signed.show_refused(
            "second-factor-enrol-expired",
            StatusCode::UNPROCESSABLE_ENTITY,
        )),
    }
}

/// `POST /{tenant}/account/recovery-codes`: after the current password, ten new recovery codes
/// (the old stop working), shown once.
pub async fn renew(signed: SignedIn<Posted>) -> PageResult {
    authority(&signed)?;
    let password = SecretString::from(signed.page.field("password"));
    signed
        .current_password(&CURRENT_FOR_CODES, password, |_| ())
        .await?;
    let (kek, user, tell) = keys(&signed);
    let renewed = signed
        .counted_change(move |m, conn| renew_recovery_codes(m, conn, (&kek, &tell), &user))
        .await?;
    Ok(match renewed {
        Some(codes) => {
            let shown = ("recovery-codes-renewed", codes.as_slice());
            codes_page(signed.view(), &Place::Account, shown, None)
        }
        None => signed.show_refused("second-factor-none", StatusCode::UNPROCESSABLE_ENTITY),
    })
}
