//! Chunk counting: text → (chunk, u64 count), in parallel, mergeable, independent of thread count.
//!
//! Two ways in:
//! * documents (`add_documents`): each text is pre-tokenized on its own;
//! * streams (`feed` / `end_stream`): bytes arrive in arbitrary pieces (a file read in blocks); they are cut
//!   only at points where cutting cannot change the chunks (`Pretokenizer::safe_cut`), so a file counts exactly
//!   as if it were one string.
//!
//! Invalid UTF-8 is replaced by U+FFFD (each maximal invalid subpart becomes one replacement char, as Python's
//! `errors="replace"` does) and counted in `invalid_sequences`; training never fails on it.

use crate::pretok::Pretokenizer;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use std::borrow::Cow;
use std::io::Read;
use std::path::Path;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum CountError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

pub type Counts = FxHashMap<Box<str>, u64>;

/// Count the chunks of one text into `map`.
#[inline]
pub fn count_into(pretok: &Pretokenizer, text: &str, map: &mut Counts) {
    pretok.split(text, |c| {
        if let Some(v) = map.get_mut(c) {
            *v += 1;
        } else {
            map.insert(c.into(), 1);
        }
    });
}

/// Add `b` into `a` (the larger map absorbs the smaller).
pub fn merge_counts(mut a: Counts, mut b: Counts) -> Counts {
    if a.len() < b.len() {
        std::mem::swap(&mut a, &mut b);
    }
    a.reserve(b.len());
    for (k, v) in b {
        *a.entry(k).or_insert(0) += v;
    }
    a
}

/// UTF-8 decode with replacement; returns the text and the number of invalid sequences replaced.
pub fn decode_lossy(b: &[u8]) -> (Cow<'_, str>, u64) {
    match std::str::from_utf8(b) {
        Ok(s) => (Cow::Borrowed(s), 0),
        Err(_) => {
            let s = String::from_utf8_lossy(b);
            let n = s.matches('\u{FFFD}').count() as u64 - count_literal_replacement(b);
            (Cow::Owned(s.into_owned()), n)
        }
    }
}

fn count_literal_replacement(b: &[u8]) -> u64 {
    b.windows(3).filter(|w| *w == [0xEF, 0xBF, 0xBD]).count() as u64
}

/// A streaming, parallel chunk counter.
pub struct Counter {
    pretok: Pretokenizer,
    counts: Counts,
    pending: Vec<u8>,
    block: usize,
    batch: usize,
    pub bytes_seen: u64,
    pub documents: u64,
    pub invalid_sequences: u64,
    /// Cuts made where no safe point was found within `max_block` (the count may then differ slightly from
    /// counting the stream as one string).
    pub forced_cuts: u64,
}

const MAX_BLOCK: usize = 64 << 20;

impl Counter {
    pub fn new(pretok: Pretokenizer) -> Self {
        let threads = rayon::current_num_threads().max(1);
        let block = 1 << 20;
        Counter {
            pretok,
            counts: Counts::default(),
            pending: Vec::new(),
            block,
            batch: block * 4 * threads,
            bytes_seen: 0,
            documents: 0,
            invalid_sequences: 0,
            forced_cuts: 0,
        }
    }

    pub fn pretok(&self) -> &Pretokenizer {
        &self.pretok
    }

    /// Count whole documents, each pre-tokenized on its own (in parallel).
    pub fn add_documents(&mut self, docs: &[&str]) {
        let pt = &self.pretok;
        let local = docs
            .par_iter()
            .with_min_len(64)
            .fold(Counts::default, |mut m, d| {
                count_into(pt, d, &mut m);
                m
            })
            .reduce(Counts::default, merge_counts);
        self.bytes_seen += docs.iter().map(|d| d.len() as u64).sum::<u64>();
        self.documents += docs.len() as u64;
        self.absorb(local);
    }

    /// Count raw documents given as bytes (invalid UTF-8 replaced).
    pub fn add_documents_bytes(&mut self, docs: &[&[u8]]) {
        let decoded: Vec<(Cow<str>, u64)> = docs.par_iter().map(|d| decode_lossy(d)).collect();
        self.invalid_sequences += decoded.iter().map(|d| d.1).sum::<u64>();
        let refs: Vec<&str> = decoded.iter().map(|d| d.0.as_ref()).collect();
        self.add_documents(&refs);
    }

    fn absorb(&mut self, local: Counts) {
        let old = std::mem::take(&mut self.counts);
        self.counts = merge_counts(old, local);
    }

    /// Feed the next bytes of a stream.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.bytes_seen += bytes.len() as u64;
        self.pending.extend_from_slice(bytes);
        if self.pending.len() >= self.batch {
            self.flush(false);
        }
    }

    /// The current stream ends (a file ends): count what is pending.
    pub fn end_stream(&mut self) {
        self.flush(true);
        self.documents += 1;
    }

    fn flush(&mut self, last: bool) {
        let buf = std::mem::take(&mut self.pending);
        let mut blocks: Vec<&[u8]> = Vec::new();
        let mut pos = 0;
        while pos < buf.len() {
            let rest = &buf[pos..];
            if last && rest.len() <= self.block {
                blocks.push(rest);
                pos = buf.len();
                break;
            }
            if !last && rest.len() < self.block * 2 {
                break;
            }
            let mut lim = self.block;
            let cut = loop {
                if let Some(c) = self.pretok.safe_cut(rest, lim) {
                    break Some(c);
                }
                if lim >= rest.len() {
                    break None;
                }
                lim = (lim * 2).min(rest.len());
            };
            match cut {
                Some(c) => {
                    blocks.push(&rest[..c]);
                    pos += c;
                }
                None if last || rest.len() >= MAX_BLOCK => {
                    // No safe point at all: cut at a char boundary and say so.
                    let mut c = rest.len().min(MAX_BLOCK);
                    while c < rest.len() && c > 0 && (rest[c] & 0xC0) == 0x80 {
                        c -= 1;
                    }
                    if c < rest.len() {
                        self.forced_cuts += 1;
                    }
                    blocks.push(&rest[..c]);
                    pos += c;
                }
                None => break,
            }
        }
        let pt = &self.pretok;
        let (local, invalid) = blocks
            .par_iter()
            .map(|b| {
                let (text, bad) = decode_lossy(b);
                let mut m = Counts::default();
                count_into(pt, &text, &mut m);
                (m, bad)
            })
            .reduce(
                || (Counts::default(), 0),
                |(a, x), (b, y)| (merge_counts(a, b), x + y),
            );
        self.invalid_sequences += invalid;
        self.absorb(local);
        self.pending = buf[pos..].to_vec();
    }

    /// Count a file: plain text, `.gz` or `.zst` (decompressed while streaming). The file is one stream.
    pub fn feed_file(&mut self, path: &Path) -> Result<(), CountError> {
        let io = |source| CountError::Io {
            path: path.display().to_string(),
            source,
        };
        let f = std::fs::File::open(path).map_err(io)?;
        let name = path.to_string_lossy().to_ascii_lowercase();
        let mut reader: Box<dyn Read> = if name.ends_with(".gz") {
            Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::new(
                f,
            )))
        } else if name.ends_with(".zst") || name.ends_with(".zstd") {
            let mut d = zstd::stream::read::Decoder::new(f).map_err(io)?;
            d.window_log_max(31).map_err(io)?;
            Box::new(d)
        } else {
            Box::new(f)
        };
        let mut buf = vec![0u8; 8 << 20];
        loop {
            let n = reader.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            self.feed(&buf[..n]);
        }
        self.end_stream();
        Ok(())
    }

    /// Merge another counter's counts into this one.
    pub fn merge(&mut self, other: Counter) {
        self.bytes_seen += other.bytes_seen;
        self.documents += other.documents;
        self.invalid_sequences += other.invalid_sequences;
        self.forced_cuts += other.forced_cuts;
        self.absorb(other.counts);
    }

    pub fn unique(&self) -> usize {
        self.counts.len()
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// The counts, sorted by chunk bytes (a deterministic order). Pending stream bytes are counted first.
    pub fn into_sorted(mut self) -> Vec<(Box<str>, u64)> {
        if !self.pending.is_empty() {
            self.flush(true);
        }
        let mut v: Vec<(Box<str>, u64)> = self.counts.into_iter().collect();
        v.par_sort_unstable_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pretok::Preset;

    #[test]
    fn stream_counts_equal_whole_text() {
        let text =
            "Hello world, this is a test.\nAnother line\n\n  with  spaces 123 4567\n".repeat(5000);
        let pt = Pretokenizer::preset(Preset::Cl100k);
        let mut whole = Counts::default();
        count_into(&pt, &text, &mut whole);
        let mut c = Counter::new(pt.clone());
        c.block = 4096;
        c.batch = 4096 * 8;
        for piece in text.as_bytes().chunks(1000) {
            c.feed(piece);
        }
        c.end_stream();
        assert_eq!(c.forced_cuts, 0);
        let mut a: Vec<_> = whole.into_iter().collect();
        a.sort();
        assert_eq!(a, c.into_sorted());
    }

    #[test]
    fn invalid_utf8_is_replaced_and_counted() {
        let mut c = Counter::new(Pretokenizer::preset(Preset::Gpt2));
        c.add_documents_bytes(&[b"ok \xff\xfe bad", "fine \u{FFFD}".as_bytes()]);
        assert_eq!(c.invalid_sequences, 2); // \xff and \xfe, as Python's errors="replace"
        let m = c.into_sorted();
        assert!(m.iter().any(|(k, _)| k.contains('\u{FFFD}')));
    }
}
