//! The one place where Rust errors become JavaScript errors.
//!
//! Every error reaching JavaScript is an `Error` whose `code` property is a stable,
//! kebab-case string that applications can switch on; the message never holds user data.

use js_sys::{Error, Reflect};
use sotto_e2ee::E2eeError;
use wasm_bindgen::JsValue;

/// Errors the bridge itself raises (bad arguments from JavaScript).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeError {
    /// An argument had the wrong shape or encoding.
    BadArgument(&'static str),
}

/// A JavaScript `Error` with `code` set.
pub fn coded(code: &str, message: &str) -> JsValue {
    let error = Error::new(message);
    // Setting a property on a fresh Error object cannot fail.
    let _ = Reflect::set(&error, &JsValue::from_str("code"), &JsValue::from_str(code));
    error.into()
}

pub fn to_js(error: E2eeError) -> JsValue {
    coded(error.code(), &error.to_string())
}

pub fn bad_argument(which: &'static str) -> JsValue {
    let BridgeError::BadArgument(name) = BridgeError::BadArgument(which);
    coded("bad-argument", &format!("argument `{name}` has the wrong shape"))
}
