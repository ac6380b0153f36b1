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
