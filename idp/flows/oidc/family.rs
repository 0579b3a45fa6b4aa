//! Refresh token families (RFC 9700 §4.14.2): a grant's refresh tokens read `<handle>.<secret>`,
//! the handle the same for all of them (made from the grant's code) and its hash kept on the
//! grant. A rotated token's row becomes the new token's (one row a grant, however often its
//! e-service refreshes); presented again, the old token is still known by its handle, and its
//! family revoked. A token issued before families (no handle) is known by its row, which stays
//! until its grant expires.

use crate::crypto::secret;
use crate::store::grants::{self, GrantRow};
use crate::store::{DbConnection, StoreError, Tenant};

/// A refresh token as presented.
pub struct Presented<'t> {
    /// SHA-256 of the whole token: its row's key.
    pub hash: String,
    /// Its family's handle; none for a token issued before families.
    pub handle: Option<&'t str>,
}

impl<'t> Presented<'t> {
    /// Reads a presented token (anything: an unknown one is found by neither key).
    pub fn of(token: &'t str) -> Self {
        let handle = token
            .split_once('.')
            .map(|(handle, _)| handle)
            .filter(|h| !h.is_empty());
        Presented {
            hash: secret::hash(token),
            handle,
        }
    }

    /// The grant this token names, whoever's it is: by its row (the family's current token, or
    /// one issued before families) or else by its handle (a token of the family rotated already).
    pub fn grant(
        &self,
        conn: &mut DbConnection,
        tenant: Tenant<'_>,
    ) -> Result<Option<GrantRow>, StoreError> {
        if let Some(row) = grants::find_refresh(conn, tenant, &self.hash)? {
            return grants::find_grant(conn, tenant, &row.grant_id);
        }
        match self.handle {
            Some(handle) => grants::find_by_family(conn, tenant, &secret::hash(handle)),
            None => Ok(None),
        }
    }
}

/// The handle of the family a grant's refresh tokens carry, made from the grant's code: only
/// whoever holds the code can know it (a code presented twice revokes the grant all the same),
/// and the exchange names no family in a statement of its own.
pub fn handle_of_code(code: &str) -> String {
    secret::hash(&format!("refresh-family:{code}"))
}

/// The family (the hash of its handle) that the grant of `code` is created with.
pub fn of_code(code: &str) -> String {
    secret::hash(&handle_of_code(code))
}

/// A new refresh token of `grant`'s family (of `tenant`): `handle` is the presented token's, or
/// the code's; none for a token issued before families, whose grant is given a family now.
pub fn next_token(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    grant: &GrantRow,
    handle: Option<&str>,
) -> Result<String, StoreError> {
    let handle = handle.map_or_else(secret::random_token, str::to_string);
    // Named once; again only where a node of an older version rotated the family meanwhile.
    let family = secret::hash(&handle);
    if grant.refresh_family.as_deref() != Some(family.as_str()) {
        grants::set_family(conn, tenant, &grant.id, &family)?;
    }
    Ok(format!("{handle}.{}", secret::random_token()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_read_with_its_handle_or_without_one() {
        let family = Presented::of("handle.secret");
        assert_eq!(family.handle, Some("handle"));
        assert_eq!(family.hash, secret::hash("handle.secret"));
        assert_eq!(Presented::of("abc").handle, None);
        assert_eq!(Presented::of(".secret").handle, None);
        assert_eq!(Presented::of("").handle, None);
    }
}
