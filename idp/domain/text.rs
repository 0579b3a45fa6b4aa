//! Text someone typed that a page or a mail may show later (a passkey's name, a browser's
//! `User-Agent`): only what shows as itself is kept.

use icu_properties::CodePointMapData;
use icu_properties::props::{GeneralCategory, GeneralCategoryGroup};
use std::borrow::Cow;

use unicode_normalization::UnicodeNormalization;

/// The lookup and uniqueness key of an identifier someone types (a mail address, an old or an
/// authority username): trimmed, NFKC-normalised and lowercased (Unicode-aware), and a domain
/// after its last `@` that is not all ASCII in its ASCII form (UTS #46 ToASCII: `hämeenlinna.fi`
/// is `xn--hmeenlinna-q5a.fi`). One written form of a name is one key: "Pääkäyttäjä" typed on a
/// Mac (decomposed, NFD) or in a browser (composed, NFC), exported by an old system either way, or
/// in full-width letters; an address on an internationalised domain as typed into a text field or
/// as a browser sends an `type="email"` field (Chromium sends its domain in punycode). A domain
/// that has no ASCII form stays as it is.
pub fn lookup_key(typed: &str) -> String {
    let folded: String = typed.trim().nfkc().collect();
    let folded = folded.trim();
    // The domain's ASCII form maps its case itself (UTS #46): lowercased first, a capital sigma
    // at a word's end would be the final sigma, another domain than the one mail goes to.
    match with_ascii_domain(folded) {
        Cow::Owned(ascii) => match ascii.rsplit_once('@') {
            Some((local, domain)) => format!("{}@{domain}", local.to_lowercase()),
            None => ascii.to_lowercase(),
        },
        Cow::Borrowed(_) => folded.to_lowercase(),
    }
}

/// `address` with a domain that is not all ASCII in its ASCII form (UTS #46 ToASCII), the local
/// part as it is: what a mail is sent to. An SMTP relay without SMTPUTF8 refuses a Unicode domain
/// (RFC 6531), while its ASCII form is the same mailbox to every relay.
pub fn with_ascii_domain(address: &str) -> Cow<'_, str> {
    match address.rsplit_once('@') {
        Some((local, domain)) if !domain.is_ascii() => match idna::domain_to_ascii(domain) {
            Ok(ascii) if !ascii.is_empty() => format!("{local}@{ascii}").into(),
            _ => address.into(),
        },
        _ => address.into(),
    }
}

/// A username as the choice page shows it when the tenant masks them: the first and last
/// character, the rest as `*` ("m*****a").
pub fn mask(username: &str) -> String {
    let chars: Vec<char> = username.chars().collect();
    match chars.as_slice() {
        [] => String::new(),
        [only] => format!("{only}*"),
        [first, middle @ .., last] => {
            format!("{first}{}{last}", "*".repeat(middle.len().max(1)))
        }
    }
}

/// An account's login name shown to someone who may not be its owner, enough for its owner to
/// know it and no outline for anyone else: an address's local part as its first and last
/// character around a fixed `***` (its first only, when it has three or fewer), its domain kept
/// ("e***i@testi.fi"); a username so whole.
pub fn mask_login(login: &str) -> String {
    let fixed = |name: &str| {
        let chars: Vec<char> = name.chars().collect();
        match chars.as_slice() {
            [first, .., last] if chars.len() > 3 => format!("{first}***{last}"),
            [first, ..] => format!("{first}***"),
            [] => "***".to_string(),
        }
    };
    match login.rsplit_once('@') {
        Some((local, domain)) => format!("{}@{domain}", fixed(local)),
        None => fixed(login),
    }
}

/// Whether `c` does not show as itself: a control character (`Cc`), a format character (`Cf`:
/// the marks, embeddings, overrides and isolates that reorder text, zero-width spaces and joiners,
/// the soft hyphen), a private-use or unassigned code point (`Co`, `Cn`), or a line or paragraph
/// separator (`Zl`, `Zp`). With them a text can read otherwise than its characters (a right-to-left
/// override turns `exe.txt` round) or hide words from a check that reads them.
pub fn invisible(c: char) -> bool {
    let category = CodePointMapData::<GeneralCategory>::new().get(c);
    GeneralCategoryGroup::Other.contains(category)
        || matches!(
            category,
            GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator
        )
}

/// `typed` without its [`invisible`] characters, trimmed, at most `max_chars` characters; `None`
/// when nothing is left.
pub fn visible(typed: &str, max_chars: usize) -> Option<String> {
    let kept: String = typed
        .chars()
        .filter(|c| !invisible(*c))
        .collect::<String>()
        .trim()
        .chars()
        .take(max_chars)
        .collect();
    Some(kept.trim_end().to_string()).filter(|k| !k.is_empty())
}

#[cfg(test)]
mod tests {
    use super::{invisible, lookup_key, mask, mask_login, visible, with_ascii_domain};

    #[test]
    fn what_does_not_show_as_itself_is_invisible() {
        for c in [
            '\u{0}',
            '\n',
            '\u{1b}',
            '\u{85}', // controls
            '\u{200b}',
            '\u{200d}',
            '\u{200e}',
            '\u{202e}',
            '\u{2066}',
            '\u{feff}',
            '\u{ad}',
            '\u{e0041}', // format: zero-width, marks, override, isolate, BOM, soft hyphen, tag
            '\u{e000}',
            '\u{10ffff}', // private use, a noncharacter
            '\u{2028}',
            '\u{2029}', // line and paragraph separators
        ] {
            assert!(invisible(c), "{:04x}", u32::from(c));
        }
        for c in [
            'a', 'ä', 'Å', ' ', '\u{a0}', '–', '手', 'ऋ', '\u{94b}', '🔑', '€',
        ] {
            assert!(!invisible(c), "{:04x}", u32::from(c));
        }
    }

    #[test]
    fn visible_text_is_trimmed_and_bounded() {
        assert_eq!(visible(" \u{202e}a\u{200b}b ", 5), Some("ab".into()));
        assert_eq!(visible("  abc  def", 5), Some("abc".into()));
        assert_eq!(visible("\u{2066} \t\u{2069}", 5), None);
    }

    #[test]
    fn one_written_form_of_a_name_is_one_key() {
        let composed = lookup_key(" Pääkäyttäjä ");
        assert_eq!(composed, "pääkäyttäjä");
        assert_eq!(
            lookup_key("PA\u{308}A\u{308}KA\u{308}YTTA\u{308}JA\u{308}"),
            composed
        );
        assert_eq!(lookup_key("ＭＡＴＴＩ．Ｍ"), "matti.m");
        assert_eq!(lookup_key("ﬁlippa"), "filippa");
    }

    #[test]
    fn an_internationalised_domain_is_one_key_in_either_form() {
        let ascii = "matti@xn--hmeenlinna-q5a.fi";
        assert_eq!(lookup_key("Matti@Hämeenlinna.fi"), ascii);
        assert_eq!(lookup_key("matti@ha\u{308}meenlinna.fi"), ascii);
        assert_eq!(lookup_key("MATTI@XN--HMEENLINNA-Q5A.FI"), ascii);
        // The local part is kept as typed (folded); only the domain has an ASCII form.
        assert_eq!(lookup_key("mä@testi.fi"), "mä@testi.fi");
        assert_eq!(lookup_key("äiti@äänekoski.fi"), "äiti@xn--nekoski-4waa.fi");
        // A capital sigma at a domain word's end: the key's domain is the one mail goes to.
        let greek = "a@ΑΣ-x.gr";
        assert_eq!(lookup_key(greek), lookup_key(&with_ascii_domain(greek)));
        assert_eq!(
            lookup_key("ΑΣ@ΑΣ.gr"),
            format!(
                "ας@{}",
                with_ascii_domain("a@ΑΣ.gr").split_once('@').unwrap().1
            )
        );
        // No domain, or one without an ASCII form: as before.
        assert_eq!(lookup_key("pääkäyttäjä"), "pääkäyttäjä");
        assert_eq!(lookup_key("a@b\u{2028}ä"), "a@b\u{2028}ä");
    }

    #[test]
    fn mail_goes_to_a_domain_in_ascii() {
        assert_eq!(
            with_ascii_domain("Äiti@Äänekoski.fi"),
            "Äiti@xn--nekoski-4waa.fi"
        );
        assert_eq!(with_ascii_domain("Erkki@Testi.FI"), "Erkki@Testi.FI");
        assert_eq!(with_ascii_domain("ei-osoite"), "ei-osoite");
    }

    #[test]
    fn masking_keeps_the_ends_and_hides_the_length_of_short_names() {
        assert_eq!(mask("matti.meikalainen"), "m***************n");
        assert_eq!(mask("ab"), "a*b");
        assert_eq!(mask("a"), "a*");
        assert_eq!(mask("äiti"), "ä**i");
        assert_eq!(mask(""), "");
        assert_eq!(mask_login("erkki@testi.fi"), "e***i@testi.fi");
        assert_eq!(mask_login("matti.meikalainen@testi.fi"), "m***n@testi.fi");
        assert_eq!(mask_login("abc@b.fi"), "a***@b.fi");
        assert_eq!(mask_login("matti.m"), "m***m");
    }
}
