//! The database of a server under test, read and written directly: users added as `users add`
//! does, the store's handle of a tenant.

use idp::store::Store;

/// Adds a user with a password to `tenant` of the database `store` opens; returns the user's
/// subject.
pub async fn add_user(
    store: &Store,
    now: chrono::NaiveDateTime,
    tenant: &str,
    email: &str,
    password: &str,
    name: &str,
) -> String {
    let store = store.clone();
    let (tenant, email, password, name) = (
        tenant.to_string(),
        email.to_string(),
        password.to_string(),
        name.to_string(),
    );
    tokio::task::spawn_blocking(move || {
        let email = idp::domain::Email::parse(&email).unwrap();
        let hash = idp::crypto::password::hash(&secrecy::SecretString::from(password)).unwrap();
        let mut conn = store.conn().unwrap();
        idp::flows::users::add(
            &mut conn,
            now,
            &idp::flows::users::AddUser {
                tenant: self::tenant(&tenant),
                email: Some(&email),
                username: None,
                name: Some(&name),
                password_hash: Some(&hash),
                email_verified: true,
            },
        )
        .unwrap()
        .subject
    })
    .await
    .unwrap()
}

/// The store's handle of tenant `id`, for tests that read the database directly (a minimal
/// tenant configuration of that id, kept for the rest of the test binary's run).
pub fn tenant(id: &str) -> idp::store::Tenant<'static> {
    let config: idp::config::TenantConfig = toml::from_str(&format!(
        "id = \"{id}\"\nname = \"{id}\"\npolicy = \"keep-password\"\n"
    ))
    .unwrap();
    idp::store::Tenant::of(Box::leak(Box::new(config)))
}
