//! Bookkeeping cost of the exact byte-level covering structure, without a language model:
//! `cargo run --release --example bytelm -- TOKENIZER [PRETOK] TEXTFILE [MAX_BYTES]`
//! (`TOKENIZER`: a `.tiktoken` file with its pre-tokenizer spec, or a `tokenizer.json`). Every covering
//! state gets the same fixed pseudo-random next-token row (made outside the timers), so the numbers are the
//! Rust side only: per byte (`push` + `next_byte`) and per language-model row (mask + prefix sums).
use std::sync::Arc;
use std::time::Instant;
use toksmith_core::bytelm::{ByteCover, CoverConfig};
use toksmith_core::encode::Encoder;
use toksmith_core::formats::{self, hf_json, tiktoken};
use toksmith_core::pretok::Pretokenizer;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (model, rest) = if args[1].ends_with(".tiktoken") {
        let pt = Pretokenizer::from_spec(&args[2]).expect("pre-tokenizer");
        let data = std::fs::read(&args[1]).expect("ranks");
        (tiktoken::parse(&data, pt, &[]).expect("parse"), &args[3..])
    } else {
        let data = formats::read_file(std::path::Path::new(&args[1])).expect("json");
        (hf_json::parse(&data, &args[1]).expect("parse"), &args[2..])
    };
    let text = std::fs::read_to_string(&rest[0]).expect("text");
    let max: usize = rest.get(1).map(|s| s.parse().unwrap()).unwrap_or(2000);
    let text: String = text
        .chars()
        .scan(0usize, |n, c| {
            *n += c.len_utf8();
            (*n <= max).then_some(c)
        })
        .collect();
    let enc = Arc::new(Encoder::new(model).expect("encoder"));
    let t = Instant::now();
    let mut cover = ByteCover::new(enc.clone(), CoverConfig::default()).expect("cover");
    let build = t.elapsed().as_secs_f64();
    let n = cover.vocab_size();
    let mut s = 0x2545F4914F6CDD1Du64;
    let row: Vec<f64> = (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s % 1000) as f64 / 100.0).exp()
        })
        .collect();
    let mut max_live = 0;
    let t = Instant::now();
    // SentencePiece-style models: the dummy-prefix space comes first
    let stream: Vec<u8> = cover
        .stream_prefix()
        .iter()
        .chain(text.as_bytes())
        .copied()
        .collect();
    for &b in &stream {
        for sid in cover.pending() {
            cover.provide_probs(sid, &row).expect("provide");
        }
        max_live = max_live.max(cover.n_live());
        cover.next_byte().expect("dist");
        cover.push(b).expect("push");
    }
    for sid in cover.pending() {
        cover.provide_probs(sid, &row).expect("provide");
    }
    let total = t.elapsed().as_secs_f64();
    let st = cover.stats.clone();
    let bytes = st.bytes as f64;
    println!(
        "{} ids, {} trie tokens; build {:.2} s; {} bytes, {} rows ({:.2}/byte), max live states {}",
        n,
        cover.trie().len(),
        build,
        st.bytes,
        st.provided,
        st.provided as f64 / bytes,
        max_live
    );
    println!(
        "per byte: bookkeeping {:.2} us (push + next_byte); per row: mask {:.1} us, prefix sums {:.1} us; total {:.1} us/byte",
        st.byte_seconds / bytes * 1e6,
        st.mask_seconds / st.provided as f64 * 1e6,
        st.row_seconds / st.provided as f64 * 1e6,
        total / bytes * 1e6
    );
    let cached = cover.validity().cached();
    let ctx = cover.chunk_ctx();
    println!(
        "context tables: {} built in {:.2} s ({} token signatures); pair-validity lists cached: {}",
        ctx.keys_built,
        ctx.key_seconds,
        ctx.n_signatures(),
        cached
    );
}
