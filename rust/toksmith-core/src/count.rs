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
///
/// Each worker thread counts into its own map (kept for the whole run, so a chunk is allocated once per thread,
/// not once per block); the maps are added together when the counts are read. Sums do not depend on which
/// thread counted what, so the result is the same for any thread count.
pub struct Counter {
    pretok: Pretokenizer,
    counts: Counts,
    shards: Vec<std::sync::Mutex<Counts>>,
    pending: Vec<u8>,
    block: usize,
    batch: usize,
    pub bytes_seen: u64,
    pub documents: u64,
    pub invalid_sequences: u64,
    /// Cuts made where no safe point was found within `MAX_BLOCK` (the count may then differ slightly from
    /// counting the stream as one string).
    pub forced_cuts: u64,
}

const MAX_BLOCK: usize = 64 << 20;
const READ_BUF: usize = 4 << 20;

impl Counter {
    pub fn new(pretok: Pretokenizer) -> Self {
        let block = 1 << 20;
        Counter {
            pretok,
            counts: Counts::default(),
            shards: Vec::new(),
            pending: Vec::new(),
            block,
            batch: block * 16,
            bytes_seen: 0,
            documents: 0,
            invalid_sequences: 0,
            forced_cuts: 0,
        }
    }

    pub fn pretok(&self) -> &Pretokenizer {
        &self.pretok
    }

    fn ensure_shards(&mut self) {
        let n = rayon::current_num_threads().max(1);
        while self.shards.len() < n {
            self.shards.push(std::sync::Mutex::new(Counts::default()));
        }
    }

    /// Count whole documents, each pre-tokenized on its own (in parallel).
    pub fn add_documents(&mut self, docs: &[&str]) {
        self.bytes_seen += docs.iter().map(|d| d.len() as u64).sum::<u64>();
        self.documents += docs.len() as u64;
        // Group small documents so a task is worth scheduling.
        let per = docs
            .len()
            .div_ceil(rayon::current_num_threads().max(1) * 8)
            .max(1);
        self.ensure_shards();
        let pt = &self.pretok;
        let shards = &self.shards;
        docs.par_chunks(per).for_each(|group| {
            let i = rayon::current_thread_index().unwrap_or(0) % shards.len();
            let mut m = shards[i].lock().expect("count shard lock");
            for d in group {
                count_into(pt, d, &mut m);
            }
        });
    }

    /// Count raw documents given as bytes (invalid UTF-8 replaced).
    pub fn add_documents_bytes(&mut self, docs: &[&[u8]]) {
        let decoded: Vec<(Cow<str>, u64)> = docs.par_iter().map(|d| decode_lossy(d)).collect();
        self.invalid_sequences += decoded.iter().map(|d| d.1).sum::<u64>();
        let refs: Vec<&str> = decoded.iter().map(|d| d.0.as_ref()).collect();
        self.add_documents(&refs);
    }

    /// Add the per-thread maps into `counts`.
    fn consolidate(&mut self) {
        let shards: Vec<Counts> = self
            .shards
            .iter_mut()
            .map(|m| std::mem::take(m.get_mut().expect("count shard lock")))
            .collect();
        for s in shards {
            let old = std::mem::take(&mut self.counts);
            self.counts = merge_counts(old, s);
        }
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

    /// Cut `buf` into blocks at safe points. Returns the blocks and how many bytes they cover.
    fn cut_blocks<'b>(&mut self, buf: &'b [u8], last: bool) -> (Vec<&'b [u8]>, usize) {
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
        (blocks, pos)
    }

    fn flush(&mut self, last: bool) {
        let buf = std::mem::take(&mut self.pending);
        let (blocks, pos) = self.cut_blocks(&buf, last);
        self.ensure_shards();
        let pt = &self.pretok;
        let shards = &self.shards;
        let invalid: u64 = blocks
            .par_iter()
            .with_max_len(1)
            .map(|b| {
                let (text, bad) = decode_lossy(b);
                let i = rayon::current_thread_index().unwrap_or(0) % shards.len();
                let mut m = shards[i].lock().expect("count shard lock");
                count_into(pt, &text, &mut m);
                bad
            })
            .sum();
        self.invalid_sequences += invalid;
        let mut rest = buf;
        rest.drain(..pos);
        self.pending = rest;
    }

    /// Count a file: plain text, `.gz` or `.zst` (decompressed while streaming). The file is one stream.
    /// Reading and decompressing run on their own thread, overlapping with counting.
    pub fn feed_file(&mut self, path: &Path) -> Result<(), CountError> {
        let io = |source| CountError::Io {
            path: path.display().to_string(),
            source,
        };
        let f = std::fs::File::open(path).map_err(io)?;
        let size = f.metadata().map(|m| m.len() as usize).unwrap_or(READ_BUF);
        let name = path.to_string_lossy().to_ascii_lowercase();
        let mut reader: Box<dyn Read + Send> = if name.ends_with(".gz") {
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
        if size < READ_BUF && !(name.ends_with(".gz") || name.ends_with(".zst")) {
            // Small plain file: read it at once.
            let mut data = Vec::with_capacity(size);
            reader.read_to_end(&mut data).map_err(io)?;
            self.feed(&data);
            self.end_stream();
            return Ok(());
        }
        let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(4);
        let result = std::thread::scope(|s| {
            s.spawn(move || loop {
                let mut buf = vec![0u8; READ_BUF];
                let mut filled = 0;
                while filled < buf.len() {
                    match reader.read(&mut buf[filled..]) {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                }
                if filled == 0 {
                    return;
                }
                buf.truncate(filled);
                if tx.send(Ok(buf)).is_err() {
                    return;
                }
            });
            for msg in rx {
                let data = msg?;
                self.feed(&data);
            }
            Ok::<(), std::io::Error>(())
        });
        result.map_err(io)?;
        self.end_stream();
        Ok(())
    }

    /// Merge another counter's counts into this one.
    pub fn merge(&mut self, mut other: Counter) {
        other.consolidate();
        self.consolidate();
        self.bytes_seen += other.bytes_seen;
        self.documents += other.documents;
        self.invalid_sequences += other.invalid_sequences;
        self.forced_cuts += other.forced_cuts;
        let old = std::mem::take(&mut self.counts);
        self.counts = merge_counts(old, other.counts);
    }

    /// Number of distinct chunks so far.
    pub fn unique(&mut self) -> usize {
        self.consolidate();
        self.counts.len()
    }

    pub fn counts(&mut self) -> &Counts {
        self.consolidate();
        &self.counts
    }

    /// The counts in no particular order (training does not depend on it: merges are chosen by count and
    /// token ids only). Pending stream bytes are counted first.
    pub fn into_chunks(mut self) -> Vec<(Box<str>, u64)> {
        if !self.pending.is_empty() {
            self.flush(true);
        }
        self.consolidate();
        self.counts.into_iter().collect()
    }

    /// The counts, sorted by chunk bytes.
    pub fn into_sorted(self) -> Vec<(Box<str>, u64)> {
        let mut v = self.into_chunks();
        v.par_sort_unstable_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

/// Hooks for count tables and memory budgets (`count_table`).
impl Counter {
    /// Count the stream bytes still pending now (at the end of input).
    pub fn flush_pending(&mut self) {
        if !self.pending.is_empty() {
            self.flush(true);
        }
    }

    /// Take the count maps (one per worker thread, and the consolidated one), leaving the counter with no
    /// counts; its statistics and any pending stream bytes stay. A chunk may appear in several maps.
    pub fn take_count_maps(&mut self) -> Vec<Counts> {
        let mut out: Vec<Counts> = self
            .shards
            .iter_mut()
            .map(|m| std::mem::take(m.get_mut().expect("count shard lock")))
            .collect();
        out.push(std::mem::take(&mut self.counts));
        out.retain(|m| !m.is_empty());
        out
    }

    /// Add counts (read back from a count table, say).
    pub fn add_counts(&mut self, counts: Counts) {
        self.consolidate();
        let old = std::mem::take(&mut self.counts);
        self.counts = merge_counts(old, counts);
    }

    /// Estimated heap bytes held by the count maps: hash tables (by capacity) plus one allocation per chunk
    /// (glibc malloc sizes, averaged over a sample of up to 1024 chunks per map).
    pub fn count_maps_bytes(&mut self) -> usize {
        fn map_bytes(m: &Counts) -> usize {
            if m.is_empty() {
                return m.capacity() * (std::mem::size_of::<(Box<str>, u64)>() + 1);
            }
            let (n, sum) = m.keys().take(1024).fold((0usize, 0usize), |(n, s), k| {
                (n + 1, s + ((k.len() + 8 + 15) & !15).max(32))
            });
            m.capacity() * (std::mem::size_of::<(Box<str>, u64)>() + 1) + m.len() * sum / n
        }
        let shards: usize = self
            .shards
            .iter_mut()
            .map(|m| map_bytes(m.get_mut().expect("count shard lock")))
            .sum();
        shards + map_bytes(&self.counts)
    }

    /// The counts sorted by chunk, borrowed (pending stream bytes are not counted: see `flush_pending`).
    pub fn sorted_counts(&mut self) -> Vec<(&str, u64)> {
        self.consolidate();
        let mut v: Vec<(&str, u64)> = self.counts.iter().map(|(k, c)| (k.as_ref(), *c)).collect();
        v.par_sort_unstable_by(|a, b| a.0.cmp(b.0));
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
        assert_eq!(c.unique(), 0);
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
