//! The one place where Rust errors become JavaScript errors.
//!
//! Every error reaching JavaScript is an `Error` whose `code` property is a stable,
//! kebab-case string that applications can switch on; the message never holds user data.

use js_sys::{Error, Reflect};
use sotto_e2ee::E2eeError;
use wasm_bindgen::JsValue;

/// Errors the bridge itself raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeError {
    /// An argument from JavaScript had the wrong shape or encoding (names the argument).
    BadArgument(&'static str),
    /// A result could not be converted to a JavaScript value.
    Internal,
}

impl BridgeError {
    /// The stable code JavaScript sees.
    pub fn code(self) -> &'static str {
        match self {
            BridgeError::BadArgument(_) => "bad-argument",
            BridgeError::Internal => "internal",
        }
    }

    fn message(self) -> String {
        match self {
            BridgeError::BadArgument(name) => format!("argument `{name}` has the wrong shape"),
            BridgeError::Internal => "could not convert a result for JavaScript".to_owned(),
        }
    }
}

impl From<BridgeError> for JsValue {
    fn from(error: BridgeError) -> Self {
        coded(error.code(), &error.message())
    }
}

/// A JavaScript `Error` with `code` set.
fn coded(code: &str, message: &str) -> JsValue {
    let error = Error::new(message);
    // Setting a property on a fresh Error object cannot fail.
    let _ = Reflect::set(&error, &JsValue::from_str("code"), &JsValue::from_str(code));
    error.into()
}

/// Maps an error of the E2EE core to a JavaScript `Error` with its code.
pub fn to_js(error: E2eeError) -> JsValue {
    coded(error.code(), &error.to_string())
}
