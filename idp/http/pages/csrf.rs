//! The pages' CSRF tokens: the browser's flow secret hashed, and on the account page the tag of
//! the signed-in user its forms are for.

use crate::crypto::secret;

/// The tag of the user `user_id` that an account page's CSRF token carries: 16 hexadecimal
/// digits of a hash, so that the page shows no id.
pub fn account_tag(user_id: &str) -> String {
    secret::hash(&format!("account\n{user_id}"))[..16].to_string()
}

/// The account tag a posted CSRF token carries, if any.
pub fn posted_account_tag(presented: &str) -> Option<&str> {
    presented.split_once('.').map(|(_, tag)| tag)
}

/// The CSRF token of the browser whose flow secret is `binding`.
pub fn csrf_token(binding: &str) -> String {
    secret::hash(&format!("csrf\n{binding}"))
}
