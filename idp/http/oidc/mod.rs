//! The OpenID Connect endpoints of each tenant, below `/{tenant}`: one file per endpoint, and
//! what the endpoints of authenticated clients share (`client_request`).

pub mod authorize;
pub mod client_request;
pub mod introspect;
pub mod jwks;
pub mod logout;
pub mod par;
pub mod revoke;
pub mod token;
pub mod userinfo;

use actix_web::web;

/// The protocol's routes, to be mounted under `/{tenant}`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/jwks", web::get().to(jwks::jwks))
        .route("/authorize", web::get().to(authorize::authorize))
        .route("/authorize", web::post().to(authorize::authorize))
        .route("/token", web::post().to(token::token))
        .route("/userinfo", web::get().to(userinfo::get))
        .route("/userinfo", web::post().to(userinfo::post))
        .route("/introspect", web::post().to(introspect::introspect))
        .route("/revoke", web::post().to(revoke::revoke))
        .route("/par", web::post().to(par::push))
        .route("/logout", web::get().to(logout::logout))
        .route("/logout", web::post().to(logout::logout));
}
