//! Verifying the password hashes of the cities' old login systems, so that the old password can
//! bind a legacy account (the linker, `idp/flows/linker/`; `docs/migration.md`).
//!
//! Well-kept crates do the work: `bcrypt`, `pbkdf2`, `sha-crypt`, `scrypt`, `argon2` (RustCrypto)
//! and `pwhash` for md5-crypt. By hand are only the parsing of passlib's and Django's PBKDF2
//! strings, the reading of sha-crypt strings for a password that is not UTF-8, and the constant-time
//! comparison of their output. A password is tried as the bytes the old system hashed: its UTF-8,
//! or what a browser sent for it from a page in windows-1252, ISO-8859-1 or ISO-8859-15
//! (`[legacy] password_encodings`, [`verify_in`]). Each verifier is tested against hashes made by
//! passlib (`tests/data/legacy_hashes.tsv` and, of windows-1252 and ISO-8859-15 bytes,
//! `tests/data/legacy_hashes_cp1252.tsv` and `legacy_hashes_latin9.tsv`; written by
//! `scripts/legacy_vectors.py`).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use subtle::ConstantTimeEq;

use crate::config::{
    Encoding, FieldOrder, HashInput, PasswordEncoding, SaltEncoding, SaltedShaLayout, ShaDigest,
};

/// A hash format the verifier knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyFormat {
    /// `$2a$`, `$2b$`, `$2y$`.
    Bcrypt,
    /// passlib `$pbkdf2$` (SHA-1), `$pbkdf2-sha256$`, `$pbkdf2-sha512$`.
    PasslibPbkdf2,
    /// Django `pbkdf2_sha256$` and `pbkdf2_sha1$`.
    DjangoPbkdf2,
    /// `$6$`.
    Sha512Crypt,
    /// `$5$`.
    Sha256Crypt,
    /// `$1$`.
    Md5Crypt,
    /// `$argon2i$`, `$argon2id$` (PHC).
    Argon2,
    /// `$scrypt$` (PHC).
    Scrypt,
    /// Salted SHA-1 in the tenant's layout (`[legacy.salted_sha]`).
    SaltedSha1,
    /// Salted SHA-256 in the tenant's layout.
    SaltedSha256,
}

impl LegacyFormat {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            LegacyFormat::Bcrypt => "bcrypt",
            LegacyFormat::PasslibPbkdf2 => "pbkdf2 (passlib)",
            LegacyFormat::DjangoPbkdf2 => "pbkdf2 (django)",
            LegacyFormat::Sha512Crypt => "sha512-crypt",
            LegacyFormat::Sha256Crypt => "sha256-crypt",
            LegacyFormat::Md5Crypt => "md5-crypt",
            LegacyFormat::Argon2 => "argon2",
            LegacyFormat::Scrypt => "scrypt",
            LegacyFormat::SaltedSha1 => "salted-sha1",
            LegacyFormat::SaltedSha256 => "salted-sha256",
        }
    }

    /// The format of this report name.
    pub fn from_name(name: &str) -> Option<Self> {
        ALL.into_iter().find(|f| f.name() == name)
    }
}

/// Every format, in report order.
pub const ALL: [LegacyFormat; 10] = [
    LegacyFormat::Bcrypt,
    LegacyFormat::PasslibPbkdf2,
    LegacyFormat::DjangoPbkdf2,
    LegacyFormat::Sha512Crypt,
    LegacyFormat::Sha256Crypt,
    LegacyFormat::Md5Crypt,
    LegacyFormat::Argon2,
    LegacyFormat::Scrypt,
    LegacyFormat::SaltedSha1,
    LegacyFormat::SaltedSha256,
];

/// The format of a stored hash, if it is one the verifier knows: a self-describing format when
/// the hash has that format's exact form (`well_formed`), or else the tenant's salted SHA layout
/// when the hash parses in it. A hash with a self-describing prefix that is not of its format's
/// form is of no known format (unusable), and never read as salted SHA.
pub fn detect(hash: &str, salted: Option<&SaltedShaLayout>) -> Option<LegacyFormat> {
    let hash = hash.trim();
    if let Some(format) = detect_self_describing(hash) {
        return well_formed(hash, format).then_some(format);
    }
    let layout = salted?;
    salted_parts(hash, layout)?;
    Some(match layout.digest {
        ShaDigest::Sha1 => LegacyFormat::SaltedSha1,
        ShaDigest::Sha256 => LegacyFormat::SaltedSha256,
    })
}

fn detect_self_describing(hash: &str) -> Option<LegacyFormat> {
    let format = if ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p)) {
        LegacyFormat::Bcrypt
    } else if ["$pbkdf2$", "$pbkdf2-sha256$", "$pbkdf2-sha512$"]
        .iter()
        .any(|p| hash.starts_with(p))
    {
        LegacyFormat::PasslibPbkdf2
    } else if hash.starts_with("pbkdf2_sha256$") || hash.starts_with("pbkdf2_sha1$") {
        LegacyFormat::DjangoPbkdf2
    } else if hash.starts_with("$6$") {
        LegacyFormat::Sha512Crypt
    } else if hash.starts_with("$5$") {
        LegacyFormat::Sha256Crypt
    } else if hash.starts_with("$1$") {
        LegacyFormat::Md5Crypt
    } else if hash.starts_with("$argon2i$") || hash.starts_with("$argon2id$") {
        LegacyFormat::Argon2
    } else if hash.starts_with("$scrypt$") {
        LegacyFormat::Scrypt
    } else {
        return None;
    };
    Some(format)
}

/// Whether `hash` (of the self-describing `format`) has the form its verifier reads as
/// [`over_cap`] does, so that the cost capped is the cost run. bcrypt: exactly
/// `$2a$`/`$2b$`/`$2y$`, a two-digit cost, `$` and 53 characters of bcrypt's alphabet (the
/// `bcrypt` crate itself drops empty `$` fields and reads the cost as any `u32`, so `$2b$031$…`,
/// `$2b$+31$…` and `$2b$$31$…` would run at cost 31). PBKDF2: a known digest, at least one
/// iteration, and a digest of [`MIN_PBKDF2_DIGEST_BYTES`] up to its hash's output length. The
/// other formats' verifiers parse their cost exactly as [`over_cap`] does.
fn well_formed(hash: &str, format: LegacyFormat) -> bool {
    match format {
        LegacyFormat::Bcrypt => bcrypt_well_formed(hash),
        LegacyFormat::PasslibPbkdf2 => passlib_parts(hash).is_some(),
        LegacyFormat::DjangoPbkdf2 => django_parts(hash).is_some(),
        LegacyFormat::Sha512Crypt => sha_crypt_well_formed(hash, "$6$", 86),
        LegacyFormat::Sha256Crypt => sha_crypt_well_formed(hash, "$5$", 43),
        _ => true,
    }
}

/// `^<prefix>(rounds=\d+\$)?[^$]{0,16}\$[./A-Za-z0-9]{<checksum>}$`: what glibc and passlib
/// write (glibc takes any salt bytes but `$`, up to 16; passlib's are of the crypt alphabet). The
/// `sha-crypt` crate panics on a checksum that does not decode (`$5$abc$x`).
fn sha_crypt_well_formed(hash: &str, prefix: &str, checksum: usize) -> bool {
    let crypt64 = |part: &str| {
        part.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'/')
    };
    let Some(rest) = hash.strip_prefix(prefix) else {
        return false;
    };
    let rest = match rest.strip_prefix("rounds=") {
        Some(rounds) => match rounds.split_once('$') {
            Some((digits, rest))
                if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) =>
            {
                rest
            }
            _ => return false,
        },
        None => rest,
    };
    rest.split_once('$')
        .is_some_and(|(salt, sum)| salt.len() <= 16 && sum.len() == checksum && crypt64(sum))
}

/// `^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$`.
fn bcrypt_well_formed(hash: &str) -> bool {
    let b = hash.as_bytes();
    b.len() == 60
        && b.starts_with(b"$2")
        && matches!(b[2], b'a' | b'b' | b'y')
        && b[3] == b'$'
        && b[4].is_ascii_digit()
        && b[5].is_ascii_digit()
        && b[6] == b'$'
        && b[7..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'/')
}

/// The highest bcrypt cost run: 2^14 rounds, about one second of a core. Old systems used 10 to
/// 12 (OWASP asks for at least 10).
pub const MAX_BCRYPT_COST: u32 = 14;
/// The longest password a sha256/sha512-crypt hash is checked for: 256 bytes. The format hashes
/// the password once per byte of it before its rounds, and about twice in each round, so a 64 KiB
/// password would make one check at the rounds' cap cost minutes; at 256 bytes the cap stays about
/// a second. A longer password never matches such a hash (the resident sets a new password).
pub const MAX_SHA_CRYPT_PASSWORD_BYTES: usize = 256;
/// The most sha256/sha512-crypt rounds run: a million, about half a second of a core; the
/// default is 5,000 and the distributions that raised it went to tens or hundreds of thousands
/// (the format itself allows 999,999,999, minutes of a core).
pub const MAX_SHA_CRYPT_ROUNDS: u64 = 1_000_000;
/// The shortest PBKDF2 digest that can match: 16 bytes. A digest of n bytes matches about one
/// password in 2^(8n), so a truncated one (a row of 1 or 2 bytes) would let almost any password
/// in. The longest is its hash's output (20, 32 or 64 bytes, what passlib and Django write): each
/// further block would cost all the iterations again.
pub const MIN_PBKDF2_DIGEST_BYTES: usize = 16;
/// The most PBKDF2 iterations run: two million, about a second of a core for SHA-256; above
/// OWASP's 2023 advice (1,300,000 for SHA-1, 600,000 for SHA-256) and Django's 1,000,000 of 2025.
pub const MAX_PBKDF2_ITERATIONS: u32 = 2_000_000;
/// The most memory an old scrypt or argon2 hash may ask for: 64 MiB (each hashing thread holds
/// it while it runs).
pub const MAX_MEMORY_KIB: u64 = 64 * 1024;
/// The most argon2 passes run (OWASP's profiles use 1 to 5).
pub const MAX_ARGON2_PASSES: u32 = 10;
/// The most scrypt work: memory times parallelism, 256 MiB (four lanes at the memory cap).
pub const MAX_SCRYPT_WORK_KIB: u64 = 4 * MAX_MEMORY_KIB;

/// Why a hash of a known format is never run: its cost is over one of the caps above (a hostile
/// or mistaken export must not make one login cost minutes, nor take the hashing pool). `None`
/// when it is within them, or when it does not parse (then it never verifies anyway).
pub fn over_cap(hash: &str, format: LegacyFormat) -> Option<String> {
    let hash = hash.trim();
    match format {
        LegacyFormat::Bcrypt => {
            if !bcrypt_well_formed(hash) {
                return None;
            }
            let cost: u32 = hash.get(4..6)?.parse().ok()?;
            (cost > MAX_BCRYPT_COST)
                .then(|| format!("bcrypt cost {cost} is over the cap of {MAX_BCRYPT_COST}"))
        }
        LegacyFormat::Sha512Crypt | LegacyFormat::Sha256Crypt => {
            let rounds: u64 = hash
                .split('$')
                .nth(2)?
                .strip_prefix("rounds=")?
                .parse()
                .ok()?;
            (rounds > MAX_SHA_CRYPT_ROUNDS).then(|| {
                format!("sha-crypt rounds {rounds} are over the cap of {MAX_SHA_CRYPT_ROUNDS}")
            })
        }
        LegacyFormat::PasslibPbkdf2 | LegacyFormat::DjangoPbkdf2 => {
            let rounds: u64 = match format {
                LegacyFormat::PasslibPbkdf2 => pbkdf2_cost(hash.split('$').nth(2)?)?.0,
                _ => hash.split('$').nth(1)?.parse().ok()?,
            };
            (rounds > u64::from(MAX_PBKDF2_ITERATIONS)).then(|| {
                format!("pbkdf2 iterations {rounds} are over the cap of {MAX_PBKDF2_ITERATIONS}")
            })
        }
        LegacyFormat::Argon2 => {
            let parsed = argon2::password_hash::phc::PasswordHash::new(hash).ok()?;
            let params = argon2::Params::try_from(&parsed).ok()?;
            if u64::from(params.m_cost()) > MAX_MEMORY_KIB {
                Some(format!(
                    "argon2 memory {} KiB is over the cap of {MAX_MEMORY_KIB} KiB",
                    params.m_cost()
                ))
            } else {
                (params.t_cost() > MAX_ARGON2_PASSES).then(|| {
                    format!(
                        "argon2 passes {} are over the cap of {MAX_ARGON2_PASSES}",
                        params.t_cost()
                    )
                })
            }
        }
        LegacyFormat::Scrypt => {
            let parsed = scrypt::password_hash::PasswordHash::new(hash).ok()?;
            let params = scrypt::Params::try_from(&parsed).ok()?;
            // 128 · r · N bytes.
            let memory_kib = (1u64 << params.log_n().min(63)) * u64::from(params.r()) / 8;
            if memory_kib > MAX_MEMORY_KIB {
                Some(format!(
                    "scrypt memory {memory_kib} KiB is over the cap of {MAX_MEMORY_KIB} KiB"
                ))
            } else {
                (memory_kib * u64::from(params.p()) > MAX_SCRYPT_WORK_KIB).then(|| {
                    format!(
                        "scrypt work {} KiB (memory × p) is over the cap of {MAX_SCRYPT_WORK_KIB} KiB",
                        memory_kib * u64::from(params.p())
                    )
                })
            }
        }
        LegacyFormat::Md5Crypt | LegacyFormat::SaltedSha1 | LegacyFormat::SaltedSha256 => None,
    }
}

/// The format of a hash that can be run: of a known format ([`detect`]) and within the cost caps
/// ([`over_cap`]); `None` for an unknown, malformed or too costly hash, which never verifies.
pub fn usable(hash: &str, salted: Option<&SaltedShaLayout>) -> Option<LegacyFormat> {
    let hash = hash.trim();
    detect(hash, salted).filter(|&format| over_cap(hash, format).is_none())
}

/// Whether a password of `bytes` bytes is run against a hash of `format`: a sha-crypt hash only up
/// to [`MAX_SHA_CRYPT_PASSWORD_BYTES`], whose cost grows with the password; the others hash a
/// long password down first (or truncate it, as bcrypt does at 72 bytes).
pub fn runs_for(format: LegacyFormat, bytes: usize) -> bool {
    match format {
        LegacyFormat::Sha512Crypt | LegacyFormat::Sha256Crypt => {
            bytes <= MAX_SHA_CRYPT_PASSWORD_BYTES
        }
        _ => true,
    }
}

/// Whether `password` matches the legacy `hash`: false for unknown or malformed hashes, for hashes
/// over a cost cap ([`usable`]) and for a password too long for the format ([`runs_for`]), which
/// are never run; false too if a verifier panics on a hash it should have refused.
/// `salted` is the tenant's salted SHA layout, if it has one.
pub fn verify(password: &str, hash: &str, salted: Option<&SaltedShaLayout>) -> bool {
    verify_in(password, hash, salted, &[PasswordEncoding::Utf8])
}

/// [`verify`] with `password` tried in each of `encodings` (the old login page's): each is run,
/// also after one matched and where two give the same bytes (an ASCII password), so that a check
/// takes as long whatever the password matched in — the wait of a wrong password is learnt per
/// kind of hash (`flows::password_check`, which measures a password by [`measure`], as
/// an old sha-crypt hash costs). An encoding whose bytes are too long for the hash
/// ([`runs_for`]) is not run.
pub fn verify_in(
    password: &str,
    hash: &str,
    salted: Option<&SaltedShaLayout>,
    encodings: &[PasswordEncoding],
) -> bool {
    let hash = hash.trim();
    let usable = usable(hash, salted);
    encodings.iter().fold(false, |matched, &encoding| {
        let bytes = encoded(password, encoding);
        let format = usable.filter(|&format| runs_for(format, bytes.len()));
        let this = std::panic::catch_unwind(|| run(&bytes, hash, format, salted)).unwrap_or(false);
        matched | this
    })
}

/// The bytes a browser sent for `password` from a page in `encoding` (the WHATWG Encoding
/// standard's encoder, which writes a character the encoding lacks as `&#NNNN;`, as a form does).
pub fn encoded(password: &str, encoding: PasswordEncoding) -> std::borrow::Cow<'_, [u8]> {
    match encoding {
        PasswordEncoding::Utf8 => std::borrow::Cow::Borrowed(password.as_bytes()),
        PasswordEncoding::Windows1252 => encoding_rs::WINDOWS_1252.encode(password).0,
        PasswordEncoding::Iso8859_15 => encoding_rs::ISO_8859_15.encode(password).0,
    }
}

/// The length a check of `password` is measured by, for the time an old sha-crypt hash takes
/// (whose cost grows with the bytes it hashes) and the wait a wrong password learns: its longest
/// bytes among `encodings` that such a hash runs ([`MAX_SHA_CRYPT_PASSWORD_BYTES`] or fewer), or
/// its longest when none is that short (no sha-crypt hash runs it then). It depends on the
/// password and the tenant's encodings alone, so every kind of hash waits at the same length,
/// and it is the length of the longest run a sha-crypt hash makes of it.
pub fn measure(password: &str, encodings: &[PasswordEncoding]) -> usize {
    let lengths = || {
        encodings
            .iter()
            .map(|&encoding| encoded(password, encoding).len())
    };
    lengths()
        .filter(|&bytes| bytes <= MAX_SHA_CRYPT_PASSWORD_BYTES)
        .max()
        .or_else(|| lengths().max())
        .unwrap_or(password.len())
}

fn run(
    password: &[u8],
    hash: &str,
    format: Option<LegacyFormat>,
    salted: Option<&SaltedShaLayout>,
) -> bool {
    match format {
        Some(LegacyFormat::Bcrypt) => bcrypt::verify(password, hash).unwrap_or(false),
        Some(LegacyFormat::PasslibPbkdf2) => passlib_pbkdf2(password, hash).unwrap_or(false),
        Some(LegacyFormat::DjangoPbkdf2) => django_pbkdf2(password, hash).unwrap_or(false),
        Some(LegacyFormat::Sha512Crypt) => sha_crypt_matches(password, hash, true),
        Some(LegacyFormat::Sha256Crypt) => sha_crypt_matches(password, hash, false),
        Some(LegacyFormat::Md5Crypt) => pwhash::md5_crypt::verify(password, hash),
        Some(LegacyFormat::Argon2) => {
            use argon2::password_hash::PasswordVerifier;
            argon2::Argon2::default()
                .verify_password(password, hash)
                .is_ok()
        }
        Some(LegacyFormat::Scrypt) => {
            use scrypt::password_hash::{PasswordHash, PasswordVerifier};
            PasswordHash::new(hash)
                .is_ok_and(|parsed| scrypt::Scrypt.verify_password(password, &parsed).is_ok())
        }
        Some(LegacyFormat::SaltedSha1 | LegacyFormat::SaltedSha256) => {
            salted.is_some_and(|layout| salted_sha(password, hash, layout))
        }
        None => false,
    }
}

/// Whether `password` matches a sha512-crypt (`sha512`) or sha256-crypt hash, well formed
/// ([`sha_crypt_well_formed`]): `$6$[rounds=N$]salt$checksum`, the salt's bytes as written, the
/// default 5,000 rounds, and rounds outside 1,000 to 999,999,999 never matching (as the crate's
/// own check of a UTF-8 password does).
fn sha_crypt_matches(password: &[u8], hash: &str, sha512: bool) -> bool {
    let mut fields = hash.split('$').skip(2);
    let (Some(first), Some(second)) = (fields.next(), fields.next()) else {
        return false;
    };
    let (rounds, salt, checksum) = match first.strip_prefix("rounds=") {
        Some(rounds) => match (rounds.parse::<usize>(), fields.next()) {
            (Ok(rounds), Some(checksum)) => (rounds, second, checksum),
            _ => return false,
        },
        None => (5_000, first, second),
    };
    if fields.next().is_some() {
        return false;
    }
    let computed = if sha512 {
        sha_crypt::Sha512Params::new(rounds)
            .and_then(|params| sha_crypt::sha512_crypt_b64(password, salt.as_bytes(), &params))
    } else {
        sha_crypt::Sha256Params::new(rounds)
            .and_then(|params| sha_crypt::sha256_crypt_b64(password, salt.as_bytes(), &params))
    };
    computed.is_ok_and(|computed| bool::from(computed.as_bytes().ct_eq(checksum.as_bytes())))
}

/// The salt and digest of `hash` in `layout`, when it parses and the digest has the right length.
fn salted_parts(hash: &str, layout: &SaltedShaLayout) -> Option<(Vec<u8>, Vec<u8>)> {
    let rest = hash.strip_prefix(layout.prefix.as_str())?;
    let length = match layout.digest {
        ShaDigest::Sha1 => 20,
        ShaDigest::Sha256 => 32,
    };
    if layout.separator.is_empty() {
        return one_value_parts(rest, layout, length);
    }
    // Split next to the digest, which never holds the separator: a text salt may.
    let (salt, digest) = match layout.order {
        FieldOrder::SaltHash => rest.rsplit_once(layout.separator.as_str())?,
        FieldOrder::HashSalt => {
            let (digest, salt) = rest.split_once(layout.separator.as_str())?;
            (salt, digest)
        }
    };
    let digest = decoded(digest, layout.hash_encoding)?;
    let salt = match layout.salt_encoding {
        SaltEncoding::Text => salt.as_bytes().to_vec(),
        SaltEncoding::Hex => hex::decode(salt).ok()?,
        SaltEncoding::Base64 => STANDARD.decode(salt).ok()?,
    };
    (digest.len() == length).then_some((salt, digest))
}

/// `text` in `encoding` (base64 with or without its padding).
fn decoded(text: &str, encoding: Encoding) -> Option<Vec<u8>> {
    match encoding {
        Encoding::Hex => hex::decode(text).ok(),
        Encoding::Base64 => STANDARD
            .decode(text)
            .or_else(|_| STANDARD_NO_PAD.decode(text))
            .ok(),
    }
}

/// The salt and digest of `value` written as one (no separator: LDAP's `{SSHA}`, base64 of the
/// digest then the salt), split at the digest's `length`; the salt is what is left, never empty.
/// The configuration allows this only with one encoding for both (`idp/config/validate/tenant.rs`).
fn one_value_parts(
    value: &str,
    layout: &SaltedShaLayout,
    length: usize,
) -> Option<(Vec<u8>, Vec<u8>)> {
    let bytes = decoded(value, layout.hash_encoding)?;
    if bytes.len() <= length {
        return None;
    }
    let (digest, salt) = match layout.order {
        FieldOrder::HashSalt => {
            let (digest, salt) = bytes.split_at(length);
            (digest, salt)
        }
        FieldOrder::SaltHash => {
            let (salt, digest) = bytes.split_at(bytes.len() - length);
            (digest, salt)
        }
    };
    Some((salt.to_vec(), digest.to_vec()))
}

fn salted_sha(password: &[u8], hash: &str, layout: &SaltedShaLayout) -> bool {
    use sha2::Digest;
    let Some((salt, expected)) = salted_parts(hash, layout) else {
        return false;
    };
    let input = match layout.input {
        HashInput::SaltPassword => [salt.as_slice(), password].concat(),
        HashInput::PasswordSalt => [password, salt.as_slice()].concat(),
    };
    let actual = match layout.digest {
        ShaDigest::Sha1 => sha1::Sha1::digest(&input).to_vec(),
        ShaDigest::Sha256 => sha2::Sha256::digest(&input).to_vec(),
    };
    bool::from(actual.as_slice().ct_eq(&expected))
}

/// A PBKDF2 hash (passlib's or Django's) as its verifier reads it.
struct Pbkdf2Parts<'a> {
    /// `sha1`, `sha256` or `sha512`.
    digest: &'a str,
    rounds: u64,
    salt: Vec<u8>,
    expected: Vec<u8>,
}

impl<'a> Pbkdf2Parts<'a> {
    /// The parts, when the digest is known, there is an iteration and the expected digest is
    /// [`MIN_PBKDF2_DIGEST_BYTES`] long up to the hash's output length (else malformed).
    fn checked(
        digest: &'a str,
        rounds: u64,
        salt: Vec<u8>,
        expected: Vec<u8>,
    ) -> Option<Pbkdf2Parts<'a>> {
        let longest = match digest {
            "sha1" => 20,
            "sha256" => 32,
            "sha512" => 64,
            _ => return None,
        };
        (rounds > 0 && (MIN_PBKDF2_DIGEST_BYTES..=longest).contains(&expected.len())).then_some(
            Pbkdf2Parts {
                digest,
                rounds,
                salt,
                expected,
            },
        )
    }

    fn matches(&self, password: &[u8]) -> bool {
        use pbkdf2::pbkdf2_hmac;
        let Ok(rounds) = u32::try_from(self.rounds) else {
            return false;
        };
        if rounds > MAX_PBKDF2_ITERATIONS {
            return false;
        }
        let salt = self.salt.as_slice();
        let mut out = vec![0u8; self.expected.len()];
        match self.digest {
            "sha1" => pbkdf2_hmac::<sha1::Sha1>(password, salt, rounds, &mut out),
            "sha256" => pbkdf2_hmac::<sha2::Sha256>(password, salt, rounds, &mut out),
            "sha512" => pbkdf2_hmac::<sha2::Sha512>(password, salt, rounds, &mut out),
            _ => return false,
        }
        bool::from(out.as_slice().ct_eq(&self.expected))
    }
}

/// passlib's "adapted base64": standard alphabet with `.` for `+`, no padding.
fn ab64(text: &str) -> Option<Vec<u8>> {
    STANDARD_NO_PAD.decode(text.replace('.', "+")).ok()
}

/// `$pbkdf2-<digest>$<rounds>$<salt ab64>$<hash ab64>` (SHA-1 is plain `$pbkdf2$`): passlib's;
/// or the PHC string format's `$pbkdf2-<digest>$i=<rounds>[,l=<length>]$<salt b64>$<hash b64>`
/// (RustCrypto's `pbkdf2` and other PHC libraries; the salt is the bytes its base64 encodes, as
/// in passlib), whose length, when given, must be the hash's.
fn passlib_parts(hash: &str) -> Option<Pbkdf2Parts<'static>> {
    let mut parts = hash.split('$').skip(1);
    let digest = match parts.next()? {
        "pbkdf2" => "sha1",
        "pbkdf2-sha256" => "sha256",
        "pbkdf2-sha512" => "sha512",
        _ => return None,
    };
    let (rounds, length) = pbkdf2_cost(parts.next()?)?;
    let salt = ab64(parts.next()?)?;
    let expected = ab64(parts.next()?)?;
    if length.is_some_and(|length| length != expected.len()) || parts.next().is_some() {
        return None;
    }
    Pbkdf2Parts::checked(digest, rounds, salt, expected)
}

/// The cost field of a passlib or PHC PBKDF2 hash: the iterations, and the PHC form's `l=`
/// length if it has one. passlib writes the bare number; the PHC form `i=<n>` or `i=<n>,l=<n>`,
/// in that order.
fn pbkdf2_cost(field: &str) -> Option<(u64, Option<usize>)> {
    let number = |text: &str| -> Option<u64> {
        text.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| text.parse().ok())
            .flatten()
    };
    let Some(params) = field.strip_prefix("i=") else {
        return Some((number(field)?, None));
    };
    match params.split_once(",l=") {
        Some((rounds, length)) => {
            let length = usize::try_from(number(length)?).ok()?;
            Some((number(rounds)?, Some(length)))
        }
        None => Some((number(params)?, None)),
    }
}

/// `pbkdf2_<digest>$<iterations>$<salt text>$<hash base64>`.
fn django_parts(hash: &str) -> Option<Pbkdf2Parts<'_>> {
    let mut parts = hash.split('$');
    let digest = parts.next()?.strip_prefix("pbkdf2_")?;
    let rounds = parts.next()?.parse().ok()?;
    let salt = parts.next()?.as_bytes().to_vec();
    let expected = STANDARD.decode(parts.next()?).ok()?;
    Pbkdf2Parts::checked(digest, rounds, salt, expected)
}

fn passlib_pbkdf2(password: &[u8], hash: &str) -> Option<bool> {
    Some(passlib_parts(hash)?.matches(password))
}

fn django_pbkdf2(password: &[u8], hash: &str) -> Option<bool> {
    Some(django_parts(hash)?.matches(password))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const VECTORS: &str = include_str!("../../tests/data/legacy_hashes.tsv");

    /// The first three tab-separated fields of each non-empty line of a table of vectors.
    fn rows(table: &str) -> impl Iterator<Item = [&str; 3]> {
        table.lines().filter(|l| !l.trim().is_empty()).map(|line| {
            let mut fields = line.split('\t');
            [(); 3].map(|()| fields.next().unwrap())
        })
    }

    #[test]
    fn every_reference_hash_verifies_and_a_wrong_password_does_not() {
        let mut seen = std::collections::BTreeSet::new();
        for [kind, password, hash] in rows(VECTORS) {
            assert!(detect(hash, None).is_some(), "{kind}: {hash}");
            assert!(
                verify(password, hash, None),
                "{kind} must verify: {password:?} {hash}"
            );
            assert!(
                !verify(&format!("{password}x"), hash, None),
                "{kind} must refuse a wrong password"
            );
            seen.insert(kind);
        }
        assert_eq!(seen.len(), 15, "{seen:?}");
    }

    const CP1252_VECTORS: &str = include_str!("../../tests/data/legacy_hashes_cp1252.tsv");
    const LATIN9_VECTORS: &str = include_str!("../../tests/data/legacy_hashes_latin9.tsv");

    #[test]
    fn a_hash_of_windows_1252_bytes_verifies_in_that_encoding_only() {
        use PasswordEncoding::{Iso8859_15, Utf8, Windows1252};
        for (table, encoding, other) in [
            (CP1252_VECTORS, Windows1252, Iso8859_15),
            (LATIN9_VECTORS, Iso8859_15, Windows1252),
        ] {
            let mut seen = std::collections::BTreeSet::new();
            for [kind, password, hash] in rows(table) {
                let wrong = format!("{password}x");
                for (encodings, matches) in [
                    (&[encoding][..], true),
                    (&[Utf8, encoding][..], true),
                    (&[encoding, Utf8, other][..], true),
                    (&[Utf8][..], false),
                    // "€", "Š" and "Ž" are other bytes in the other one; "ä" is not.
                    (
                        &[other, Utf8][..],
                        encoded(password, other) == encoded(password, encoding),
                    ),
                ] {
                    assert_eq!(
                        verify_in(password, hash, None, encodings),
                        matches,
                        "{kind} in {encodings:?}: {password:?} {hash}"
                    );
                    assert!(!verify_in(&wrong, hash, None, encodings), "{kind}");
                }
                assert!(!verify(password, hash, None), "{kind}");
                seen.insert(kind);
            }
            assert_eq!(seen.len(), 15, "{encoding:?}: {seen:?}");
        }
        // A hash of UTF-8 still verifies where windows-1252 is tried too, ASCII or not.
        for [kind, password, hash] in rows(VECTORS) {
            assert!(
                verify_in(password, hash, None, &[Windows1252, Utf8]),
                "{kind}: {password:?}"
            );
            let ascii = password.is_ascii();
            assert_eq!(verify_in(password, hash, None, &[Windows1252]), ascii);
        }
    }

    #[test]
    fn a_salted_sha_of_windows_1252_bytes_verifies_in_that_encoding() {
        use PasswordEncoding::{Utf8, Windows1252};
        // hashlib.sha1(b"suola" + "Sälasana-ÄÖå €".encode("cp1252")).hexdigest()
        let hash = "suola$e3ec575ec21e542e45cabdaf891a934e5f1a4c0c";
        let layout = Some(layout_a());
        let password = "Sälasana-ÄÖå €";
        assert!(verify_in(
            password,
            hash,
            layout.as_ref(),
            &[Utf8, Windows1252]
        ));
        assert!(!verify_in(password, hash, layout.as_ref(), &[Utf8]));
    }

    #[test]
    fn windows_1252_is_what_a_browser_sends() {
        let bytes = |text| encoded(text, PasswordEncoding::Windows1252).into_owned();
        assert_eq!(bytes("äÖå"), [0xE4, 0xD6, 0xE5]);
        assert_eq!(bytes("€"), [0x80]);
        // A character the page's encoding lacks: the form sends its number.
        assert_eq!(bytes("Ωx"), b"&#937;x");
        assert_eq!(
            encoded("ä", PasswordEncoding::Utf8).as_ref(),
            "ä".as_bytes()
        );
        let latin9 = |text| encoded(text, PasswordEncoding::Iso8859_15).into_owned();
        assert_eq!(latin9("ä€Š"), [0xE4, 0xA4, 0xA6]);
        let both = [PasswordEncoding::Utf8, PasswordEncoding::Windows1252];
        assert_eq!(measure("aΩ", &both), 7);
        assert_eq!(measure("ää", &both), 4);
        // The longest a sha-crypt hash runs: 400 UTF-8 bytes are not, 200 windows-1252 ones are.
        assert_eq!(measure(&"ä".repeat(200), &both), 200);
        assert_eq!(measure(&"Ж".repeat(37), &both), 74);
        assert_eq!(measure(&"ä".repeat(300), &both), 600);
    }

    #[test]
    fn unknown_and_malformed_hashes_never_verify() {
        for hash in [
            "",
            "plaintext",
            "$pbkdf2-sha256$x$y$z",
            "pbkdf2_sha256$0$salt$AAAA",
            "$6$",
            "{SSHA}abc",
        ] {
            assert!(!verify("salasana", hash, Some(&layout_a())), "{hash}");
        }
        assert_eq!(detect("{SSHA}abc", None), None);
        // The PHC form of a right password's hash (`legacy_hashes.tsv`), but with a length that
        // is not the hash's, its parameters out of order, no iterations, a sign, a field too
        // many: of no known format, never verified.
        let (salt, hash) = (
            "c2FsdHNhbHRzYWx0c2FsdA",
            "SaaIfDy4p5YHqdHML+qB/w7GyX/Vw3ukTjousWXWA9U",
        );
        let good = format!("$pbkdf2-sha256$i=1000,l=32${salt}${hash}");
        assert!(verify("salasana123", &good, None));
        for cost in ["i=1000,l=31", "l=32,i=1000", "i=,l=32", "i=+1000"] {
            let bad = format!("$pbkdf2-sha256${cost}${salt}${hash}");
            assert_eq!(detect(&bad, None), None, "{bad}");
            assert!(!verify("salasana123", &bad, None), "{bad}");
        }
        let extra = format!("{good}$");
        assert_eq!(detect(&extra, None), None);
    }

    const SALTED: &str = include_str!("../../tests/data/legacy_salted_sha.tsv");

    /// The layouts `scripts/salted_sha_vectors.py` writes.
    pub(crate) fn layout_a() -> SaltedShaLayout {
        SaltedShaLayout {
            digest: ShaDigest::Sha1,
            prefix: String::new(),
            separator: "$".into(),
            order: FieldOrder::SaltHash,
            hash_encoding: Encoding::Hex,
            salt_encoding: SaltEncoding::Text,
            input: HashInput::SaltPassword,
        }
    }

    fn layout_b() -> SaltedShaLayout {
        SaltedShaLayout {
            digest: ShaDigest::Sha256,
            prefix: "{SSHA256}".into(),
            separator: ":".into(),
            order: FieldOrder::HashSalt,
            hash_encoding: Encoding::Base64,
            salt_encoding: SaltEncoding::Hex,
            input: HashInput::PasswordSalt,
        }
    }

    #[test]
    fn salted_sha_in_the_configured_layout_verifies() {
        let mut seen = 0;
        for [layout, password, hash] in rows(SALTED) {
            let (right, wrong, format) = match layout {
                "a" => (layout_a(), layout_b(), LegacyFormat::SaltedSha1),
                _ => (layout_b(), layout_a(), LegacyFormat::SaltedSha256),
            };
            assert_eq!(detect(hash, Some(&right)), Some(format), "{hash}");
            assert!(verify(password, hash, Some(&right)), "{layout}: {hash}");
            assert!(!verify(&format!("{password}x"), hash, Some(&right)));
            // Without the layout, or in the other one, the hash means nothing.
            assert_eq!(detect(hash, None), None);
            assert!(!verify(password, hash, None));
            assert!(!verify(password, hash, Some(&wrong)));
            seen += 1;
        }
        assert_eq!(seen, 6);
    }

    /// LDAP's `{SSHA}`: base64 of the digest and the salt as one value, no separator.
    #[test]
    fn one_value_salted_sha_splits_at_the_digest() {
        let ldap = SaltedShaLayout {
            digest: ShaDigest::Sha1,
            prefix: "{SSHA}".into(),
            separator: String::new(),
            order: FieldOrder::HashSalt,
            hash_encoding: Encoding::Base64,
            salt_encoding: SaltEncoding::Base64,
            input: HashInput::PasswordSalt,
        };
        let hash = "{SSHA}yntvqRLwLUBBXrqRJa69VkeSWuEBAgMEBQYHCA==";
        assert_eq!(detect(hash, Some(&ldap)), Some(LegacyFormat::SaltedSha1));
        assert!(verify("salasana", hash, Some(&ldap)));
        assert!(!verify("salasanA", hash, Some(&ldap)));
        // The salt first, SHA-256 of salt then password.
        let salt_first = SaltedShaLayout {
            digest: ShaDigest::Sha256,
            prefix: String::new(),
            order: FieldOrder::SaltHash,
            input: HashInput::SaltPassword,
            ..ldap.clone()
        };
        let hash = "AQIDBAUGBwgmd6GUdoaqcJBNFamo0El9155Cez7L/bgDWGTXFOEkaA==";
        assert!(verify("salasana", hash, Some(&salt_first)));
        // A digest alone (no salt left) is no such hash.
        assert_eq!(
            detect("{SSHA}yntvqRLwLUBBXrqRJa69VkeSWuE=", Some(&ldap)),
            None
        );
    }

    /// The cap a self-describing hash exceeds, if any.
    fn cap_exceeded(hash: &str) -> Option<String> {
        over_cap(hash, detect(hash, None).unwrap())
    }

    /// Each cap: a hash just within it is run, one just over it is not (checked before any
    /// hashing, so these over-cap hashes cost nothing here).
    #[test]
    fn costs_over_the_caps_are_never_run() {
        let over = [
            "$2b$15$cd/PVnsiDJWMgHzgjB6kau.clFYNpL7uSV7.RvpKRpDfZlfAkPTY2",
            "$2y$31$cd/PVnsiDJWMgHzgjB6kau.clFYNpL7uSV7.RvpKRpDfZlfAkPTY2",
            "$6$rounds=1000001$Z4bpj4wF9dn4fmPX$.QwhICvr3HCdjUW3QuDObHJ8CfGsxrx4j2kvdiwZTXKFe5claminEjKAiQ.7w1kb459KgfrfQaTekaGB0rjSe1",
            "$5$rounds=999999999$U7Tq5wW9Xp0.bRp0$bhf7MmVXcqMQg9BPbNp9UbpEmN0uvMpZ5loXx9updt2",
            "$pbkdf2-sha256$2000001$55yzNmbsXasVwvjfO4dw7g$nty87UT3PKjRvpHtE/DG.DucF.pYPiLQnpwjkFbdFfw",
            "$pbkdf2-sha256$i=2000001,l=32$c2FsdHNhbHRzYWx0c2FsdA$SaaIfDy4p5YHqdHML+qB/w7GyX/Vw3ukTjousWXWA9U",
            "pbkdf2_sha256$4294967295$QAodWHhGl3VC$HU2Sd76mENc5Z+koKQjpSfG0tTtpg9MAY+hy5n0D3hw=",
            "$argon2id$v=19$m=65537,t=2,p=4$2tvbW4uRUkqJMQagVAoh5A$sm0qcih8xKHgts8hD4ohmKHJs6rGiujfiugfqp4MDqw",
            "$argon2i$v=19$m=1024,t=11,p=4$1drb+59z7l3rvXdOCWFszQ$oYrTi7pFNN6K7sgFHlwdlPN8DasSs7r88FfWNgpnrIE",
            "$scrypt$ln=17,r=8,p=1$mRNCqPWec+79X6uVco6xlg$WX8uyMK0t3Vrxpw3K89wgtvz5cYbL8yjkew9HJ4oRyg",
            "$scrypt$ln=16,r=8,p=5$mRNCqPWec+79X6uVco6xlg$WX8uyMK0t3Vrxpw3K89wgtvz5cYbL8yjkew9HJ4oRyg",
        ];
        for hash in over {
            assert!(cap_exceeded(hash).is_some(), "{hash}");
            assert!(!verify("salasana123", hash, None), "{hash}");
        }
        let within = [
            "$2b$14$cd/PVnsiDJWMgHzgjB6kau.clFYNpL7uSV7.RvpKRpDfZlfAkPTY2",
            "$6$rounds=1000000$Z4bpj4wF9dn4fmPX$.QwhICvr3HCdjUW3QuDObHJ8CfGsxrx4j2kvdiwZTXKFe5claminEjKAiQ.7w1kb459KgfrfQaTekaGB0rjSe1",
            "$pbkdf2-sha256$2000000$55yzNmbsXasVwvjfO4dw7g$nty87UT3PKjRvpHtE/DG.DucF.pYPiLQnpwjkFbdFfw",
            "$pbkdf2-sha256$i=2000000,l=32$c2FsdHNhbHRzYWx0c2FsdA$SaaIfDy4p5YHqdHML+qB/w7GyX/Vw3ukTjousWXWA9U",
            "pbkdf2_sha256$2000000$QAodWHhGl3VC$HU2Sd76mENc5Z+koKQjpSfG0tTtpg9MAY+hy5n0D3hw=",
            "$argon2id$v=19$m=65536,t=10,p=4$2tvbW4uRUkqJMQagVAoh5A$sm0qcih8xKHgts8hD4ohmKHJs6rGiujfiugfqp4MDqw",
            "$scrypt$ln=16,r=8,p=4$mRNCqPWec+79X6uVco6xlg$WX8uyMK0t3Vrxpw3K89wgtvz5cYbL8yjkew9HJ4oRyg",
        ];
        // And every reference hash is within the caps.
        let references = rows(VECTORS).map(|[_, _, hash]| hash);
        for hash in within.into_iter().chain(references) {
            assert_eq!(cap_exceeded(hash), None, "{hash}");
        }
    }

    /// A sha-crypt hash is of its format only in the form glibc and passlib write: the `sha-crypt`
    /// crate panics on a checksum that does not decode, after running the whole hash. Such a hash
    /// is of no known format, and `verify` answers false even were a verifier to panic.
    #[test]
    fn a_sha_crypt_hash_not_of_the_exact_form_is_never_run() {
        let sum512 = ".QwhICvr3HCdjUW3QuDObHJ8CfGsxrx4j2kvdiwZTXKFe5claminEjKAiQ.7w1kb459KgfrfQaTekaGB0rjSe1";
        let sum256 = "bhf7MmVXcqMQg9BPbNp9UbpEmN0uvMpZ5loXx9updt2";
        for hash in [
            "$5$abc$x".to_string(),
            "$6$abc$x".to_string(),
            format!("$6$Z4bpj4wF9dn4fmPX${}", &sum512[1..]),
            format!("$6$Z4bpj4wF9dn4fmPX${sum512}x"),
            format!("$6$Z4bpj4wF9dn4fmPX_${sum512}"),
            format!("$6$Z4bpj4wF9dn4fm${sum512}$"),
            format!("$6$rounds=$Z4bpj4wF9dn4fmPX${sum512}"),
            format!("$6$rounds=+5000$Z4bpj4wF9dn4fmPX${sum512}"),
            format!("$6$salt_longer_than_16${sum512}"),
            format!("$5$U7Tq5wW9Xp0.bRp0${sum512}"),
            format!("$5$U7Tq5wW9Xp0.bRp0${}!", &sum256[1..]),
        ] {
            assert_eq!(detect(&hash, None), None, "{hash}");
            assert!(!verify("salasana123", &hash, None), "{hash}");
        }
        for hash in [
            format!("$6$Z4bpj4wF9dn4fmPX${sum512}"),
            format!("$6$rounds=5000$Z4bpj4wF9dn4fmPX${sum512}"),
            format!("$5$U7Tq5wW9Xp0.bRp0${sum256}"),
            format!("$5$${sum256}"),
            // glibc takes any salt but `$` (PHP's base64_encode gives `+` and `=`).
            format!("$5$a+b=${sum256}"),
        ] {
            assert!(detect(&hash, None).is_some(), "{hash}");
        }
        assert!(verify(
            "salasana123",
            &format!("$6$Z4bpj4wF9dn4fmPX${sum512}"),
            None
        ));
    }

    /// A password over 256 bytes is never run against a sha-crypt hash (its cost grows with the
    /// password's length); the other formats take any length.
    #[test]
    fn an_overlong_password_is_never_run_against_sha_crypt() {
        let bytes = MAX_SHA_CRYPT_PASSWORD_BYTES;
        for format in [LegacyFormat::Sha512Crypt, LegacyFormat::Sha256Crypt] {
            assert!(runs_for(format, bytes));
            assert!(!runs_for(format, bytes + 1));
        }
        assert!(runs_for(LegacyFormat::Bcrypt, 64 * 1024));
        let hash = "$6$rounds=1000$Z4bpj4wF9dn4fmPX$.QwhICvr3HCdjUW3QuDObHJ8CfGsxrx4j2kvdiwZTXKFe5claminEjKAiQ.7w1kb459KgfrfQaTekaGB0rjSe1";
        assert!(!verify(&"a".repeat(bytes + 1), hash, None));
    }

    /// bcrypt strings the `bcrypt` crate would read at cost 31 (it drops empty `$` fields and
    /// reads the cost as any `u32`), and others not of the exact form: of no known format, so
    /// imported unusable and never run — not read as cost 3, nor as salted SHA.
    #[test]
    fn a_bcrypt_hash_not_of_the_exact_form_is_never_run() {
        let salt_and_hash = "cd/PVnsiDJWMgHzgjB6kau.clFYNpL7uSV7.RvpKRpDfZlfAkPTY2";
        let dollar_layout = SaltedShaLayout {
            hash_encoding: Encoding::Base64,
            ..layout_a()
        };
        for shape in [
            "$2b$031$",
            "$2b$+31$",
            "$2b$$31$",
            "$2y$031$",
            "$2a$+9$",
            "$2b$04$$",
            "$$2b$04$",
            "$2b$０4$",
        ] {
            let hash = format!("{shape}{salt_and_hash}");
            // Asserted before `verify`: a cost-31 run would take a day.
            assert_eq!(detect(&hash, None), None, "{hash}");
            assert_eq!(detect(&hash, Some(&dollar_layout)), None, "{hash}");
            assert_eq!(over_cap(&hash, LegacyFormat::Bcrypt), None, "{hash}");
            assert!(!verify("salasana123", &hash, None), "{hash}");
        }
        for hash in [
            format!("$2b$04${}", &salt_and_hash[1..]),
            format!("$2b$04${salt_and_hash}x"),
            format!("$2b$04${}!", &salt_and_hash[1..]),
            format!("$2x$04${salt_and_hash}"),
        ] {
            assert_eq!(detect(&hash, None), None, "{hash}");
        }
        let exact = format!("$2b$04${salt_and_hash}");
        assert_eq!(detect(&exact, None), Some(LegacyFormat::Bcrypt));
    }

    /// A passlib PBKDF2-SHA256 hash of `password` with one iteration and a digest of `length`
    /// bytes (longer than the 32 of SHA-256 is PBKDF2's next blocks).
    fn passlib_sha256(password: &str, length: usize) -> String {
        let mut digest = vec![0u8; length];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), b"suola", 1, &mut digest);
        let ab64 = |bytes: &[u8]| STANDARD_NO_PAD.encode(bytes).replace('+', ".");
        format!("$pbkdf2-sha256$1${}${}", ab64(b"suola"), ab64(&digest))
    }

    /// A PBKDF2 digest of 1 or 2 bytes would match one password in 256 or 65,536: under 16
    /// bytes (or over the hash's output) it is malformed, imported unusable and never matches.
    #[test]
    fn a_truncated_pbkdf2_digest_never_matches() {
        let one_byte = passlib_sha256("salasana", 1);
        assert_eq!(detect(&one_byte, None), None);
        assert!(!verify("salasana", &one_byte, None));
        // About one in 256 guesses would match a one-byte digest: none does.
        let matching = (0..2000)
            .filter(|i| verify(&format!("arvaus{i}"), &one_byte, None))
            .count();
        assert_eq!(matching, 0);
        for length in [2, 15, 33] {
            let hash = passlib_sha256("salasana", length);
            assert_eq!(detect(&hash, None), None, "{length} bytes");
            assert!(!verify("salasana", &hash, None), "{length} bytes");
        }
        for length in [16, 32] {
            let hash = passlib_sha256("salasana", length);
            assert_eq!(detect(&hash, None), Some(LegacyFormat::PasslibPbkdf2));
            assert!(verify("salasana", &hash, None), "{length} bytes");
            assert!(!verify("salasana1", &hash, None), "{length} bytes");
        }
        // Django's: the same rule; and an empty digest or no iteration is malformed too.
        let mut digest = [0u8; 2];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"salasana", b"suola", 1, &mut digest);
        let django = format!("pbkdf2_sha256$1$suola${}", STANDARD.encode(digest));
        for hash in [
            django.as_str(),
            "pbkdf2_sha256$1$suola$",
            "pbkdf2_sha1$0$suola$AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ] {
            assert_eq!(detect(hash, None), None, "{hash}");
            assert!(!verify("salasana", hash, None), "{hash}");
        }
    }

    #[test]
    fn a_self_describing_hash_is_never_read_as_salted_sha() {
        let [_, _, bcrypt] = rows(VECTORS).next().unwrap();
        assert_eq!(
            detect(bcrypt, Some(&layout_a())),
            Some(LegacyFormat::Bcrypt)
        );
        for format in ALL {
            assert_eq!(LegacyFormat::from_name(format.name()), Some(format));
        }
    }
}
