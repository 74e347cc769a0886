//! Origin policy. `ALLOWED_ORIGINS` is a comma-separated list of exact origins
//! (`https://sotto.example`), or `*` for any. Empty or unset: same origin only (the Origin
//! header must equal the request URL's origin). A request without an Origin header is not a
//! browser request, and Origin cannot protect against non-browsers anyway: it is allowed.
use worker::{Env, Request};

pub fn allowed(req: &Request, env: &Env) -> bool {
    let Some(origin) = req.headers().get("origin").ok().flatten() else {
        return true;
    };
    let list = env
        .var("ALLOWED_ORIGINS")
        .map(|v| v.to_string())
        .unwrap_or_default();
    let own = req.url().ok().map(|u| u.origin().ascii_serialization());
    decide(&origin, &list, own.as_deref())
}

/// The pure decision, separated for reading.
fn decide(origin: &str, list: &str, own: Option<&str>) -> bool {
    let entries: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if entries.is_empty() {
        return own == Some(origin);
    }
    entries.iter().any(|e| *e == "*" || *e == origin)
}
