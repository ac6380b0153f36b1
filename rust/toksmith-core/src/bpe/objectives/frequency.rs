//! `frequency`: plain BPE, the most frequent pair (ties to the smallest ids). The selector itself is
//! `scorer::Frequency`, which `bpe::train` uses by default; this file registers it as an objective.

pub use crate::bpe::scorer::Frequency;

pub fn new(min_frequency: u64) -> Frequency {
    Frequency::new(min_frequency)
}
