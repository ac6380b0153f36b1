//! Profiling driver: `cargo run --release --example train -- VOCAB PRETOK FILE...` counts and trains, printing
//! the time of each phase.
use std::time::Instant;
use toksmith_core::bpe::{train, TrainConfig};
use toksmith_core::count::Counter;
use toksmith_core::pretok::Pretokenizer;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let vocab: usize = args[1].parse().expect("vocab size");
    let pt = Pretokenizer::from_spec(&args[2]).expect("pre-tokenizer");
    let t = Instant::now();
    let mut c = Counter::new(pt.clone());
    for f in &args[3..] {
        c.feed_file(std::path::Path::new(f)).expect("read");
    }
    let chunks = c.into_chunks();
    let tc = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let cfg = TrainConfig {
        vocab_size: vocab,
        min_frequency: std::env::var("MIN_FREQUENCY")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2),
        ..Default::default()
    };
    let m = train(&chunks, pt, &cfg, None, &mut |_, _| true).expect("train");
    println!(
        "count {:.3}s ({} chunks)  merge {:.3}s ({} merges)",
        tc,
        chunks.len(),
        t.elapsed().as_secs_f64(),
        m.merges.len()
    );
}
