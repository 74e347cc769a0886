//! `POST /api/turn-credentials`: short-lived TURN credentials in the coturn "REST API" style
//! (`use-auth-secret` / `static-auth-secret` in coturn):
//!
//! ```text
//! username   = "<expiry unix seconds>:<16 random bytes, base64url>"
//! credential = base64(HMAC-SHA1(TURN_SECRET, username))
//! ```
//! HMAC-SHA1 and the random bytes come from the platform's WebCrypto (`crypto.subtle`,
//! `crypto.getRandomValues`): this crate links no crypto code. The TURN secret only
//! authenticates relay usage; it can decrypt nothing.
//!
//! Without `TURN_SECRET` or `TURN_URLS` the answer is `204 No Content`: there is no relay to
//! hand out, which is no error of the request (every default-mode client asks, and a 5xx
//! shows as a failed request in each one's console); a relay-only client refuses to go on
//! without credentials (`turn-unavailable`).
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use js_sys::futures::JsFuture;
use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use worker::{Env, Response, Result};

use crate::adapter::var_u64;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues, catch)]
    fn get_random_values(buf: &mut [u8]) -> std::result::Result<JsValue, JsValue>;
    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = importKey, catch)]
    fn import_key(
        format: &str,
        key: &Uint8Array,
        algorithm: &Object,
        extractable: bool,
        usages: &Array,
    ) -> std::result::Result<Promise, JsValue>;
    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = sign, catch)]
    fn sign(
        algorithm: &str,
        key: &JsValue,
        data: &Uint8Array,
    ) -> std::result::Result<Promise, JsValue>;
}

#[derive(Serialize)]
struct Credentials {
    username: String,
    credential: String,
    ttl: u64,
    urls: Vec<String>,
}

const DEFAULT_TTL_S: u64 = 3600;
const MAX_TTL_S: u64 = 86_400;

pub async fn credentials(env: &Env) -> Result<Response> {
    let secret = env
        .secret("TURN_SECRET")
        .map(|s| s.to_string())
        .or_else(|_| env.var("TURN_SECRET").map(|v| v.to_string()))
        .unwrap_or_default();
    let urls: Vec<String> = env
        .var("TURN_URLS")
        .map(|v| v.to_string())
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if secret.is_empty() || urls.is_empty() {
        return no_relay();
    }
    let ttl = var_u64(env, "TURN_TTL_SECONDS")
        .unwrap_or(DEFAULT_TTL_S)
        .clamp(60, MAX_TTL_S);
    let expiry = crate::sockets::now_ms() / 1000 + ttl;
    let mut nonce = [0u8; 16];
    get_random_values(&mut nonce).map_err(|_| internal())?;
    let username = format!("{expiry}:{}", URL_SAFE_NO_PAD.encode(nonce));
    let mac = hmac_sha1(secret.as_bytes(), username.as_bytes()).await?;
    let body = Credentials {
        username,
        credential: STANDARD.encode(mac),
        ttl,
        urls,
    };
    let mut response = Response::from_json(&body)?;
    response.headers_mut().set("cache-control", "no-store")?;
    Ok(response)
}

/// No TURN relay configured: nothing to hand out.
fn no_relay() -> Result<Response> {
    let mut response = Response::empty()?.with_status(204);
    response.headers_mut().set("cache-control", "no-store")?;
    Ok(response)
}

fn internal() -> worker::Error {
    worker::Error::RustError("turn".into())
}

async fn hmac_sha1(key: &[u8], data: &[u8]) -> Result<Vec<u8>> {
    let algorithm = Object::new();
    Reflect::set(&algorithm, &"name".into(), &"HMAC".into()).map_err(|_| internal())?;
    Reflect::set(&algorithm, &"hash".into(), &"SHA-1".into()).map_err(|_| internal())?;
    let usages = Array::of1(&"sign".into());
    let key = import_key("raw", &Uint8Array::from(key), &algorithm, false, &usages)
        .map_err(|_| internal())?;
    let key = JsFuture::from(key).await.map_err(|_| internal())?;
    let signature = sign("HMAC", &key, &Uint8Array::from(data)).map_err(|_| internal())?;
    let signature = JsFuture::from(signature).await.map_err(|_| internal())?;
    Ok(Uint8Array::new(&signature).to_vec())
}
