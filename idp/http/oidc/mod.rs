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

use std::sync::Arc;

use actix_web::web;

use crate::config::Config;
use crate::http::cors;

/// The protocol's routes, to be mounted under `/{tenant}`: a resource a path (`http::routes`).
/// Those a single-page application calls answer its cross-origin requests ([`cors`]).
pub fn routes(config: Arc<Config>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let (get, post) = (web::get, web::post);
        let for_pages = || cors::for_web_origins(config.clone());
        cfg.service(
            web::resource("/jwks")
                .wrap(cors::published())
                .route(crate::http::util::get_or_head().to(jwks::jwks)),
        )
        .service(
            web::resource("/authorize")
                .route(get().to(authorize::authorize))
                .route(post().to(authorize::authorize)),
        )
        .service(
            web::resource("/token")
                .wrap(for_pages())
                .route(post().to(token::token)),
        )
        .service(
            web::resource("/userinfo")
                .wrap(for_pages())
                .route(get().to(userinfo::get))
                .route(post().to(userinfo::post)),
        )
        .service(web::resource("/introspect").route(post().to(introspect::introspect)))
        .service(
            web::resource("/revoke")
                .wrap(for_pages())
                .route(post().to(revoke::revoke)),
        )
        .service(
            web::resource("/par")
                .wrap(for_pages())
                .route(post().to(par::push)),
        )
        .service(
            web::resource("/logout")
                .route(get().to(logout::logout))
                .route(post().to(logout::logout)),
        );
    }
}
