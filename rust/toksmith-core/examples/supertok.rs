//! Profiling driver: `cargo run --release --example supertok -- VOCAB TRANSITION|auto MAX_WORDS FILE...` counts
//! with superword and trains supertokens, printing the time of each phase.
use std::time::Instant;
use toksmith_core::bpe::supertok::{train, SuperConfig, Transition};
use toksmith_core::count::Counter;
use toksmith_core::pretok::Pretokenizer;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let vocab: usize = args[1].parse().expect("vocab size");
    let transition = match args[2].as_str() {
        "auto" => Transition::Auto,
        t => Transition::Fixed(t.parse().expect("transition")),
    };
    let max_words: usize = args[3].parse().expect("max words");
    let t = Instant::now();
    let mut c = Counter::new(Pretokenizer::from_spec("superword").unwrap());
    for f in &args[4..] {
        c.feed_file(std::path::Path::new(f)).expect("read");
    }
    let chunks = c.into_chunks();
    println!(
        "count {:.3}s ({} chunks)",
        t.elapsed().as_secs_f64(),
        chunks.len()
    );
    let t = Instant::now();
    let cfg = SuperConfig {
        vocab_size: vocab,
        transition,
        max_words: Some(max_words),
        ..Default::default()
    };
    let (m, rep) = train(
        chunks,
        &Pretokenizer::from_spec("cl100k").unwrap(),
        Pretokenizer::from_spec("superword").unwrap(),
        &cfg,
        &mut |_, _| true,
    )
    .expect("train");
    println!(
        "train {:.3}s: stage1 {:.3}s encode {:.3}s stage2 {:.3}s; transition {} merges {}",
        t.elapsed().as_secs_f64(),
        rep.seconds_stage1,
        rep.seconds_encode,
        rep.seconds_stage2,
        rep.transition,
        m.merges.len()
    );
    let c = &rep.stage2_log.counts;
    let q = |f: f64| c[((c.len() as f64 - 1.0) * f) as usize];
    println!(
        "stage-2 merge counts: first {} 25% {} 50% {} 75% {} last {}",
        q(0.0),
        q(0.25),
        q(0.5),
        q(0.75),
        q(1.0)
    );
}
