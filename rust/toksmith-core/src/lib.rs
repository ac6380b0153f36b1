//! toksmith-core: pure-Rust tokenizer engineering core (no Python types here).
//!
//! Data flows one way: `pretok` splits text into chunks, `count` turns chunks into counts, `bpe` learns merges
//! from counts, `model` holds the result, `encode` applies it, `formats` reads and writes files.

pub mod bpe;
pub mod bytelevel;
pub mod bytelm;
pub mod count;
pub mod count_table;
pub mod encode;
pub mod formats;
pub mod model;
pub mod morph;
pub mod pretok;
pub mod wordpiece;

/// Run `f` on a rayon pool of `n` threads (for tests that results do not depend on the thread count).
#[cfg(test)]
pub(crate) fn on_threads<R: Send>(n: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .expect("a thread pool")
        .install(f)
}
