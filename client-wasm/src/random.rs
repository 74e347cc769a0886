//! The browser's CSPRNG (`crypto.getRandomValues`, through getrandom) as a `CryptoRng`.
//!
//! If the platform cannot give randomness at all there is no safe way to go on, so that
//! failure panics (inside `UnwrapErr`); it never depends on anything a peer sent.

use getrandom::SysRng;
use rand_core::UnwrapErr;

/// Randomness from the browser (or the operating system in native tests).
pub type OsRng = UnwrapErr<SysRng>;

/// A fresh handle to the system CSPRNG.
pub fn os_rng() -> OsRng {
    UnwrapErr(SysRng)
}
