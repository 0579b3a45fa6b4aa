//! Passkeys (WebAuthn, through webauthn-rs): the relying party of a tenant (`party`), the
//! ceremonies waiting between their two requests (`ceremony`), adding a passkey (`register`),
//! proving one (`verify`, throttled like a password), and the journeys that use them: the account
//! page's list (`manage`), logging in with a passkey (`login`), a passkey as the second factor or
//! its enrolment (`second`), and the offer after a password login (`offer`).

pub mod ceremony;
pub mod login;
pub mod manage;
pub mod offer;
pub mod party;
pub mod register;
pub mod second;
pub mod verify;

pub use self::login::{finish_login, start_login};
pub use self::manage::{Recorded, recorded, remove, rename};
pub use self::offer::{add_from_offer, go_on, offer_user, start_offer};
pub use self::party::{relying_party, warn_if_off};
pub use self::register::{finish_registration, has_room, start_registration};
pub use self::second::{finish_enrol, finish_second, start_in_half};
pub use self::verify::{finish_confirm, start_confirm};
