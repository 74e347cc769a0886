//! How long the passphrase backup takes with the recommended Argon2id parameters (64 MiB,
//! 3 passes, 1 lane), natively; the browser's wasm is slower (no threads, no SIMD by
//! default). `cargo bench -p sotto-contacts --bench backup`. A figure, never an assertion.
#![allow(clippy::unwrap_used)]
use std::time::Instant;

use sotto_contacts::{DisplayName, Identity, KdfParams};

fn main() {
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let id = Identity::generate(&mut rng, DisplayName::new("Bench").unwrap()).unwrap();
    for params in [
        KdfParams::RECOMMENDED,
        KdfParams {
            m_cost_kib: 19 * 1024,
            t_cost: 2,
            p_cost: 1,
        },
    ] {
        let mut export = Vec::new();
        let mut import = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            let file = id
                .export_backup(&mut rng, "a long passphrase", params)
                .unwrap();
            export.push(t.elapsed().as_secs_f64() * 1000.0);
            let t = Instant::now();
            Identity::import_backup(&file, "a long passphrase").unwrap();
            import.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        export.sort_by(f64::total_cmp);
        import.sort_by(f64::total_cmp);
        println!(
            "backup {} KiB x {} passes: export {:.0} ms, import {:.0} ms (median of 3)",
            params.m_cost_kib, params.t_cost, export[1], import[1]
        );
    }
}
