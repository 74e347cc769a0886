//! Native benchmark: encrypt + decrypt one frame at several sizes (no harness).
//! `cargo bench -p sotto-e2ee --bench frames`
#![allow(
    clippy::unwrap_used,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation
)]

use std::hint::black_box;
use std::time::Instant;

use sotto_e2ee::frame::{FrameReceiver, FrameSender};
use sotto_e2ee::{Codec, SenderKey};

fn main() {
    let key = SenderKey::from_bytes([7u8; 16]);
    println!(
        "{:>8} {:>6} {:>10} {:>14} {:>10}",
        "size", "codec", "iters", "us/frame", "MB/s"
    );
    for codec in [Codec::Vp8, Codec::H264] {
        for size in [100usize, 1_000, 10_000, 100_000] {
            let mut frame: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8 | 1).collect();
            if codec == Codec::H264 {
                frame.splice(0..0, [0, 0, 0, 1, 0x65, 0x88, 0x84]);
                frame.truncate(size);
            }
            let mut tx = FrameSender::new(&key, 1).unwrap();
            let mut rx = FrameReceiver::new(&key, 1).unwrap();
            let iters = (20_000_000 / size).clamp(200, 100_000);
            // warm up
            for _ in 0..iters / 10 {
                let enc = tx.encrypt(codec, &frame).unwrap();
                black_box(rx.decrypt(codec, &enc).unwrap());
            }
            let start = Instant::now();
            for _ in 0..iters {
                let enc = tx.encrypt(codec, black_box(&frame)).unwrap();
                black_box(rx.decrypt(codec, &enc).unwrap());
            }
            let secs = start.elapsed().as_secs_f64();
            let us = secs * 1e6 / iters as f64;
            let mbps = (size * iters) as f64 / secs / 1e6;
            println!(
                "{size:>8} {:>6} {iters:>10} {us:>14.2} {mbps:>10.1}",
                format!("{codec:?}")
            );
        }
    }
}
