//! Profiling driver: `cargo run --release --example encode -- RANKS.tiktoken PRETOK FILE` encodes FILE as one
//! string and reports MB/s.
use std::time::Instant;
use toksmith_core::encode::Encoder;
use toksmith_core::formats::tiktoken;
use toksmith_core::pretok::Pretokenizer;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let pt = Pretokenizer::from_spec(&args[2]).expect("pre-tokenizer");
    let model = tiktoken::parse(&std::fs::read(&args[1]).expect("ranks"), pt, &[]).expect("parse");
    let enc = Encoder::new(model).expect("encoder");
    let text = std::fs::read_to_string(&args[3]).expect("text");
    let reps: usize = args.get(4).map(|s| s.parse().unwrap()).unwrap_or(3);
    for _ in 0..reps {
        let t = Instant::now();
        let ids = enc.encode(&text, false);
        let s = t.elapsed().as_secs_f64();
        println!(
            "{} tokens, {:.1} MB/s",
            ids.len(),
            text.len() as f64 / 1e6 / s
        );
    }
}
