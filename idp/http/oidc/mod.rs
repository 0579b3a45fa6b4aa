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

/// The protocol's routes, to be mounted under `/{tenant}`: a resource a path (`http::routes`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    let (get, post) = (web::get, web::post);
    cfg.service(web::resource("/jwks").route(crate::http::util::get_or_head().to(jwks::jwks)))
        .service(
            web::resource("/authorize")
                .route(get().to(authorize::authorize))
                .route(post().to(authorize::authorize)),
        )
        .service(web::resource("/token").route(post().to(token::token)))
        .service(
            web::resource("/userinfo")
                .route(get().to(userinfo::get))
                .route(post().to(userinfo::post)),
        )
        .service(web::resource("/introspect").route(post().to(introspect::introspect)))
        .service(web::resource("/revoke").route(post().to(revoke::revoke)))
        .service(web::resource("/par").route(post().to(par::push)))
        .service(
            web::resource("/logout")
                .route(get().to(logout::logout))
                .route(post().to(logout::logout)),
        );
}
