//! Property tests of the form and query parser every endpoint and page uses.

use std::collections::HashMap;

use proptest::prelude::*;

use super::util::params;

proptest! {
    /// Any bytes: no panic; what is accepted holds no NUL.
    #[test]
    fn any_body(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(parsed) = params(&body) {
            prop_assert!(parsed.iter().all(|(k, v)| !k.contains('\0') && !v.contains('\0')));
        }
    }

    /// Distinct names with any values (but NUL) round-trip through the urlencoded form.
    #[test]
    fn a_form_round_trips(
        fields in proptest::collection::hash_map("[^\0]{0,12}", "[^\0]{0,40}", 0..8),
    ) {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&fields)
            .finish();
        let parsed: HashMap<String, String> = params(body.as_bytes()).unwrap();
        prop_assert_eq!(parsed, fields);
    }

    /// A name given twice is refused, whatever it holds, with a description that does not
    /// echo it.
    #[test]
    fn a_repeated_name_is_refused(name in "[^\0]{0,12}", a in "[^\0]{0,8}", b in "[^\0]{0,8}") {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair(&name, &a)
            .append_pair(&name, &b)
            .finish();
        let error = params(body.as_bytes()).unwrap_err();
        prop_assert_eq!(error.code, crate::flows::oidc::error::ErrorCode::InvalidRequest);
        prop_assert_eq!(error.description, "a parameter is given more than once");
    }
}
