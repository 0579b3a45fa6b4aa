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

use actix_web::middleware::from_fn;
use actix_web::web;

use crate::config::Config;
use crate::http::cors;

/// The protocol's routes, to be mounted under `/{tenant}`: a resource a path (`http::routes`).
/// Those a single-page application calls answer its cross-origin requests ([`cors`]).
pub fn routes(config: Arc<Config>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let (get, post) = (web::get, web::post);
        let of_clients = |resource: actix_web::Resource| {
            resource
                .wrap(cors::for_clients(config.clone()))
                .wrap(from_fn(cors::withhold))
        };
        cfg.service(web::resource("/jwks").route(crate::http::util::get_or_head().to(jwks::jwks)))
            .service(
                web::resource("/authorize")
                    .route(get().to(authorize::authorize))
                    .route(post().to(authorize::authorize)),
            )
            .service(of_clients(web::resource("/token")).route(post().to(token::token)))
            .service(
                web::resource("/userinfo")
                    .wrap(cors::for_bearers(config.clone()))
                    .route(get().to(userinfo::get))
                    .route(post().to(userinfo::post)),
            )
            .service(web::resource("/introspect").route(post().to(introspect::introspect)))
            .service(of_clients(web::resource("/revoke")).route(post().to(revoke::revoke)))
            .service(of_clients(web::resource("/par")).route(post().to(par::push)))
            .service(
                web::resource("/logout")
                    .route(get().to(logout::logout))
                    .route(post().to(logout::logout)),
            );
    }
}
