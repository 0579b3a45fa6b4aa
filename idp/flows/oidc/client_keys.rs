//! The keys clients publish at their `jwks_uri` (private_key_jwt), fetched with care: a client's
//! keys are fetched by one request at a time (the verifications that need them meanwhile wait
//! for that one fetch), kept for a minute, a failed fetch is not tried again for a minute either
//! (a flood of junk assertions costs at most one fetch a minute per client), and a body is read
//! only up to [`MAX_BODY`], so a huge answer is never held in memory.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;

/// How long fetched keys are used before they are fetched again.
pub const FRESH_FOR: Duration = Duration::from_secs(60);

/// How long after a failed fetch the keys are not fetched again (each verification meanwhile
/// fails at once, as the fetch did).
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);

/// The largest key set read from a `jwks_uri`, in bytes.
pub const MAX_BODY: usize = 64 * 1024;

/// What is known of one `jwks_uri`.
#[derive(Default)]
enum Known {
    /// Never fetched.
    #[default]
    Nothing,
    /// Fetched at `at`.
    Keys { at: Instant, keys: Arc<JwkSet> },
    /// Its last fetch, at `at`, failed.
    Failure { at: Instant, error: String },
}

/// The cache of clients' keys, by `jwks_uri`; one per node.
#[derive(Default)]
pub struct ClientKeys {
    by_uri: parking_lot::Mutex<HashMap<String, Arc<tokio::sync::Mutex<Known>>>>,
}

impl ClientKeys {
    /// The keys at `jwks_uri`: cached, or fetched with `http` by this call or one running
    /// already; a recent failure is answered from the cache.
    pub async fn get(&self, http: &reqwest::Client, jwks_uri: &str) -> Result<Arc<JwkSet>, String> {
        let slot = self
            .by_uri
            .lock()
            .entry(jwks_uri.to_string())
            .or_default()
            .clone();
        // Held across the fetch: the others asking for these keys wait for its outcome.
        let mut known = slot.lock_owned().await;
        match &*known {
            Known::Keys { at, keys } if at.elapsed() < FRESH_FOR => return Ok(keys.clone()),
            Known::Failure { at, error } if at.elapsed() < RETRY_AFTER_FAILURE => {
                return Err(error.clone());
            }
            _ => {}
        }
        // The fetch and the record of its outcome run on their own: a request abandoned midway
        // (its connection reset) would otherwise cancel the fetch before its outcome is kept,
        // and the next junk assertion would fetch again, past the minute's limit.
        let (http, jwks_uri) = (http.clone(), jwks_uri.to_string());
        let fetching = tokio::spawn(async move {
            let fetched = fetch(&http, &jwks_uri).await;
            let at = Instant::now();
            *known = match &fetched {
                Ok(keys) => Known::Keys {
                    at,
                    keys: keys.clone(),
                },
                Err(error) => Known::Failure {
                    at,
                    error: error.clone(),
                },
            };
            fetched
        });
        fetching
            .await
            .unwrap_or_else(|e| Err(format!("the fetch of the keys failed: {e}")))
    }
}

/// One fetch of a key set, its body read piece by piece up to [`MAX_BODY`].
async fn fetch(http: &reqwest::Client, jwks_uri: &str) -> Result<Arc<JwkSet>, String> {
    let mut response = http.get(jwks_uri).send().await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    let too_large = || format!("the key set is larger than {MAX_BODY} bytes");
    if response
        .content_length()
        .is_some_and(|length| length > MAX_BODY as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    let keys: JwkSet = serde_json::from_slice(&body).map_err(|e| format!("not a key set: {e}"))?;
    Ok(Arc::new(keys))
}
