//! Count tables: chunk counts in a compact, sorted, checksummed binary form, for shipping counts between
//! machines, spilling them to disk under a memory budget, and merging sorted runs like an external sort.
//!
//! # Format (version 1)
//! Integers are little-endian; `varint` is unsigned LEB128.
//! ```text
//! header   magic b"TKSCOUNT" | version u32 = 1 | varint len + pre-tokenizer spec (UTF-8)
//! entries  sorted by chunk bytes, strictly increasing, each:
//!          varint (shared prefix length with the previous chunk + 1) | varint suffix length | suffix bytes
//!          | varint count (> 0)
//! end      varint 0
//! trailer  u64 entries | u64 total count | u64 bytes seen | u64 documents | u64 invalid UTF-8 sequences
//!          | u64 forced cuts | u32 CRC-32 of every byte before it
//! ```
//! Chunks are front-coded (shared prefix with the previous chunk), so a table is a small fraction of the
//! in-memory hash map. Readers check the magic, the version, the order of the keys, UTF-8, the trailer's
//! entry count and total against what they read, and the checksum; a truncated or corrupt table is an error,
//! never a partial count. The checksum sits at the end so that tables can be written and read as streams;
//! a merge verifies every input's checksum when it reaches that input's end, before it returns.
//!
//! # Memory budget
//! [`Spill`] watches a [`Counter`]: when its count maps pass the budget it writes them as a sorted run to
//! a temporary folder and empties them; at the end the runs and what is left in memory are merged in one
//! streaming pass ([`merge_runs`]). Sums do not depend on where the cuts fell, so the counts (and the
//! trained tokenizer) are exactly those without a budget.

use crate::count::Counter;
use std::cmp::Ordering;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

pub const MAGIC: &[u8; 8] = b"TKSCOUNT";
pub const VERSION: u32 = 1;

#[derive(Debug, Error)]
pub enum TableError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("not a toksmith count table (bad magic)")]
    BadMagic,
    #[error("count table version {0} is not supported (this build reads version {VERSION})")]
    Version(u32),
    #[error("corrupt count table: {0}")]
    Corrupt(String),
    #[error(
        "corrupt count table: checksum mismatch (stored {stored:08x}, computed {computed:08x})"
    )]
    Checksum { stored: u32, computed: u32 },
    #[error("count tables use different pre-tokenizers ({0} and {1}); they cannot be merged")]
    SpecMismatch(String, String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{name}: {source}")]
    Named {
        name: String,
        #[source]
        source: Box<TableError>,
    },
}

impl TableError {
    /// The same error, prefixed with the name of the table it came from.
    pub fn named(self, name: &str) -> TableError {
        TableError::Named {
            name: name.to_string(),
            source: Box::new(self),
        }
    }
}

fn corrupt(msg: impl Into<String>) -> TableError {
    TableError::Corrupt(msg.into())
}

/// What a table says about the counts it holds (the counter's statistics travel with the counts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableMeta {
    pub entries: u64,
    pub total: u64,
    pub bytes_seen: u64,
    pub documents: u64,
    pub invalid_sequences: u64,
    pub forced_cuts: u64,
}

impl TableMeta {
    /// The statistics of a counter (entries and total are filled in by the writer).
    pub fn of_counter(c: &Counter) -> TableMeta {
        TableMeta {
            bytes_seen: c.bytes_seen,
            documents: c.documents,
            invalid_sequences: c.invalid_sequences,
            forced_cuts: c.forced_cuts,
            ..Default::default()
        }
    }

    fn add_stats(&mut self, o: &TableMeta) {
        self.bytes_seen += o.bytes_seen;
        self.documents += o.documents;
        self.invalid_sequences += o.invalid_sequences;
        self.forced_cuts += o.forced_cuts;
    }
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Writes a table as a stream. Entries must come in strictly increasing chunk order.
pub struct TableWriter<W: Write> {
    w: W,
    crc: crc32fast::Hasher,
    buf: Vec<u8>,
    prev: Vec<u8>,
    meta: TableMeta,
}

impl<W: Write> TableWriter<W> {
    pub fn new(w: W, pretok_spec: &str) -> Result<Self, TableError> {
        let mut t = TableWriter {
            w,
            crc: crc32fast::Hasher::new(),
            buf: Vec::with_capacity(1 << 16),
            prev: Vec::new(),
            meta: TableMeta::default(),
        };
        t.buf.extend_from_slice(MAGIC);
        t.buf.extend_from_slice(&VERSION.to_le_bytes());
        put_varint(&mut t.buf, pretok_spec.len() as u64);
        t.buf.extend_from_slice(pretok_spec.as_bytes());
        Ok(t)
    }

    fn drain(&mut self) -> io::Result<()> {
        self.crc.update(&self.buf);
        self.w.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Append one entry. `count` must be > 0 and `key` greater than the previous key.
    pub fn push(&mut self, key: &[u8], count: u64) -> Result<(), TableError> {
        if self.meta.entries > 0 && key <= self.prev.as_slice() {
            return Err(corrupt("entries written out of order"));
        }
        if count == 0 {
            return Err(corrupt("zero count written"));
        }
        let shared = key
            .iter()
            .zip(self.prev.iter())
            .take_while(|(a, b)| a == b)
            .count();
        put_varint(&mut self.buf, shared as u64 + 1);
        put_varint(&mut self.buf, (key.len() - shared) as u64);
        self.buf.extend_from_slice(&key[shared..]);
        put_varint(&mut self.buf, count);
        self.prev.truncate(shared);
        self.prev.extend_from_slice(&key[shared..]);
        self.meta.entries += 1;
        self.meta.total = self
            .meta
            .total
            .checked_add(count)
            .ok_or_else(|| corrupt("total count overflows u64"))?;
        if self.buf.len() >= 1 << 16 {
            self.drain()?;
        }
        Ok(())
    }

    /// Write the trailer (with `stats`' bytes/documents/invalid/forced cuts) and return the writer and the meta.
    pub fn finish(mut self, stats: &TableMeta) -> Result<(W, TableMeta), TableError> {
        let mut meta = self.meta;
        meta.add_stats(stats);
        put_varint(&mut self.buf, 0);
        for v in [
            meta.entries,
            meta.total,
            meta.bytes_seen,
            meta.documents,
            meta.invalid_sequences,
            meta.forced_cuts,
        ] {
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self.drain()?;
        let crc = self.crc.clone().finalize();
        self.w.write_all(&crc.to_le_bytes())?;
        self.w.flush()?;
        Ok((self.w, meta))
    }
}

/// A reader that feeds every byte it returns into a CRC.
struct CrcRead<R: BufRead> {
    r: R,
    crc: crc32fast::Hasher,
}

impl<R: BufRead> CrcRead<R> {
    fn byte(&mut self) -> Result<u8, TableError> {
        let mut b = [0u8; 1];
        self.exact(&mut b)?;
        Ok(b[0])
    }
    fn exact(&mut self, out: &mut [u8]) -> Result<(), TableError> {
        self.r.read_exact(out).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                corrupt("truncated")
            } else {
                TableError::Io(e)
            }
        })?;
        self.crc.update(out);
        Ok(())
    }
    fn varint(&mut self) -> Result<u64, TableError> {
        let mut v = 0u64;
        let mut shift = 0u32;
        loop {
            let b = self.byte()?;
            if shift >= 64 || (shift == 63 && b > 1) {
                return Err(corrupt("varint too long"));
            }
            v |= ((b & 0x7F) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
            shift += 7;
        }
    }
    fn u64(&mut self) -> Result<u64, TableError> {
        let mut b = [0u8; 8];
        self.exact(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
}

/// Reads a table as a stream of (chunk, count) in increasing chunk order.
pub struct TableReader<R: BufRead> {
    r: CrcRead<R>,
    spec: String,
    key: Vec<u8>,
    scratch: Vec<u8>,
    count: u64,
    seen: TableMeta,
    meta: Option<TableMeta>,
}

/// Longest chunk a table may hold (a sanity bound against corrupt lengths).
const MAX_KEY: u64 = 1 << 31;

impl<R: BufRead> TableReader<R> {
    pub fn new(r: R) -> Result<Self, TableError> {
        let mut r = CrcRead {
            r,
            crc: crc32fast::Hasher::new(),
        };
        let mut magic = [0u8; 8];
        r.exact(&mut magic).map_err(|e| match e {
            TableError::Corrupt(_) => TableError::BadMagic,
            e => e,
        })?;
        if &magic != MAGIC {
            return Err(TableError::BadMagic);
        }
        let mut v = [0u8; 4];
        r.exact(&mut v)?;
        let version = u32::from_le_bytes(v);
        if version != VERSION {
            return Err(TableError::Version(version));
        }
        let n = r.varint()?;
        if n > 1 << 20 {
            return Err(corrupt("pre-tokenizer spec too long"));
        }
        let mut spec = vec![0u8; n as usize];
        r.exact(&mut spec)?;
        let spec =
            String::from_utf8(spec).map_err(|_| corrupt("pre-tokenizer spec is not UTF-8"))?;
        Ok(TableReader {
            r,
            spec,
            key: Vec::new(),
            scratch: Vec::new(),
            count: 0,
            seen: TableMeta::default(),
            meta: None,
        })
    }

    /// The pre-tokenizer spec the counts were made with.
    pub fn spec(&self) -> &str {
        &self.spec
    }

    /// The current entry's chunk (valid after `advance` returned true).
    pub fn key(&self) -> &[u8] {
        &self.key
    }
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The trailer, once `advance` has returned false (the checksum is verified by then).
    pub fn meta(&self) -> Option<TableMeta> {
        self.meta
    }

    /// Move to the next entry; false at the end (after the trailer and checksum were checked).
    pub fn advance(&mut self) -> Result<bool, TableError> {
        if self.meta.is_some() {
            return Ok(false);
        }
        let shared1 = self.r.varint()?;
        if shared1 == 0 {
            self.read_trailer()?;
            return Ok(false);
        }
        let shared = shared1 - 1;
        if shared > self.key.len() as u64 {
            return Err(corrupt("shared prefix longer than the previous chunk"));
        }
        let suffix = self.r.varint()?;
        if shared + suffix > MAX_KEY {
            return Err(corrupt("chunk too long"));
        }
        let start = shared as usize;
        let mut next = std::mem::take(&mut self.scratch);
        next.clear();
        next.extend_from_slice(&self.key[..start]);
        next.resize(start + suffix as usize, 0);
        self.r.exact(&mut next[start..])?;
        let count = self.r.varint()?;
        if count == 0 {
            return Err(corrupt("zero count"));
        }
        // Strictly increasing: both keys share `start` bytes, so the rest decides.
        if self.seen.entries > 0 && next[start..] <= self.key[start..] {
            return Err(corrupt("chunks out of order"));
        }
        if std::str::from_utf8(&next).is_err() {
            return Err(corrupt("chunk is not UTF-8"));
        }
        self.scratch = std::mem::replace(&mut self.key, next);
        self.count = count;
        self.seen.entries += 1;
        self.seen.total = self
            .seen
            .total
            .checked_add(count)
            .ok_or_else(|| corrupt("total count overflows u64"))?;
        Ok(true)
    }

    fn read_trailer(&mut self) -> Result<(), TableError> {
        let mut f = [0u64; 6];
        for x in f.iter_mut() {
            *x = self.r.u64()?;
        }
        let computed = self.r.crc.clone().finalize();
        let mut c = [0u8; 4];
        self.r.r.read_exact(&mut c).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                corrupt("truncated")
            } else {
                TableError::Io(e)
            }
        })?;
        let stored = u32::from_le_bytes(c);
        if stored != computed {
            return Err(TableError::Checksum { stored, computed });
        }
        let meta = TableMeta {
            entries: f[0],
            total: f[1],
            bytes_seen: f[2],
            documents: f[3],
            invalid_sequences: f[4],
            forced_cuts: f[5],
        };
        if meta.entries != self.seen.entries || meta.total != self.seen.total {
            return Err(corrupt(format!(
                "trailer says {} entries / total {}, read {} / {}",
                meta.entries, meta.total, self.seen.entries, self.seen.total
            )));
        }
        if !self.r.r.fill_buf()?.is_empty() {
            return Err(corrupt("bytes after the checksum"));
        }
        self.meta = Some(meta);
        Ok(())
    }
}

/// A sorted source of (chunk, count): a table being read, or counts sorted in memory.
pub trait SortedRun {
    /// Move to the next entry; false at the end.
    fn advance(&mut self) -> Result<bool, TableError>;
    fn key(&self) -> &[u8];
    fn count(&self) -> u64;
    /// Statistics this source contributes (bytes, documents...), known at its end.
    fn stats(&self) -> TableMeta;
}

impl<R: BufRead> SortedRun for TableReader<R> {
    fn advance(&mut self) -> Result<bool, TableError> {
        TableReader::advance(self)
    }
    fn key(&self) -> &[u8] {
        &self.key
    }
    fn count(&self) -> u64 {
        self.count
    }
    fn stats(&self) -> TableMeta {
        self.meta.unwrap_or_default()
    }
}

/// Counts sorted in memory (unique, increasing keys), as a run.
pub struct VecRun<K: AsRef<str>> {
    items: std::vec::IntoIter<(K, u64)>,
    cur: Option<(K, u64)>,
    stats: TableMeta,
}

impl<K: AsRef<str>> VecRun<K> {
    /// `items` must be sorted by key with unique keys.
    pub fn new(items: Vec<(K, u64)>, stats: TableMeta) -> Self {
        VecRun {
            items: items.into_iter(),
            cur: None,
            stats,
        }
    }
}

impl<K: AsRef<str>> SortedRun for VecRun<K> {
    fn advance(&mut self) -> Result<bool, TableError> {
        self.cur = self.items.next();
        Ok(self.cur.is_some())
    }
    fn key(&self) -> &[u8] {
        self.cur
            .as_ref()
            .map(|c| c.0.as_ref().as_bytes())
            .unwrap_or(&[])
    }
    fn count(&self) -> u64 {
        self.cur.as_ref().map(|c| c.1).unwrap_or(0)
    }
    fn stats(&self) -> TableMeta {
        self.stats
    }
}

fn run_less(runs: &[Box<dyn SortedRun + '_>], a: usize, b: usize) -> bool {
    match runs[a].key().cmp(runs[b].key()) {
        Ordering::Less => true,
        Ordering::Greater => false,
        Ordering::Equal => a < b,
    }
}

fn sift_down(heap: &mut [usize], runs: &[Box<dyn SortedRun + '_>], mut i: usize) {
    loop {
        let l = 2 * i + 1;
        if l >= heap.len() {
            return;
        }
        let r = l + 1;
        let m = if r < heap.len() && run_less(runs, heap[r], heap[l]) {
            r
        } else {
            l
        };
        if run_less(runs, heap[m], heap[i]) {
            heap.swap(m, i);
            i = m;
        } else {
            return;
        }
    }
}

/// K-way merge of sorted runs (a heap over the runs; memory is one key per run). Equal chunks are summed.
/// `sink` gets the merged entries in increasing order. Returns the output's entries and total with the
/// summed statistics of all runs. Every table run is read to its end, so its checksum is verified.
pub fn merge_runs(
    runs: &mut [Box<dyn SortedRun + '_>],
    mut sink: impl FnMut(&[u8], u64) -> Result<(), TableError>,
) -> Result<TableMeta, TableError> {
    let mut heap: Vec<usize> = Vec::with_capacity(runs.len());
    for (i, r) in runs.iter_mut().enumerate() {
        if r.advance()? {
            heap.push(i);
        }
    }
    for i in (0..heap.len() / 2).rev() {
        sift_down(&mut heap, runs, i);
    }
    let mut out = TableMeta::default();
    let mut cur: Vec<u8> = Vec::new();
    while let Some(&top) = heap.first() {
        cur.clear();
        cur.extend_from_slice(runs[top].key());
        let mut sum: u64 = 0;
        while let Some(&t) = heap.first() {
            if runs[t].key() != cur.as_slice() {
                break;
            }
            sum = sum
                .checked_add(runs[t].count())
                .ok_or_else(|| corrupt("count overflows u64"))?;
            if runs[t].advance()? {
                sift_down(&mut heap, runs, 0);
            } else {
                let last = heap.pop().expect("non-empty heap");
                if !heap.is_empty() {
                    heap[0] = last;
                    sift_down(&mut heap, runs, 0);
                }
            }
        }
        sink(&cur, sum)?;
        out.entries += 1;
        out.total += sum;
    }
    for r in runs.iter() {
        out.add_stats(&r.stats());
    }
    Ok(out)
}

/// Open table files (buffered), checking that they were all counted with the same pre-tokenizer.
pub fn open_tables(
    paths: &[PathBuf],
) -> Result<Vec<TableReader<BufReader<std::fs::File>>>, TableError> {
    let mut out = Vec::with_capacity(paths.len());
    for p in paths {
        let name = p.display().to_string();
        let f = std::fs::File::open(p).map_err(|e| TableError::Io(e).named(&name))?;
        out.push(
            TableReader::new(BufReader::with_capacity(1 << 16, f)).map_err(|e| e.named(&name))?,
        );
    }
    check_specs(out.iter().map(|r| r.spec()))?;
    Ok(out)
}

/// All specs equal, or an error naming two that differ. Returns the spec (None for no tables).
pub fn check_specs<'a>(
    mut specs: impl Iterator<Item = &'a str>,
) -> Result<Option<String>, TableError> {
    let Some(first) = specs.next() else {
        return Ok(None);
    };
    for s in specs {
        if s != first {
            return Err(TableError::SpecMismatch(first.to_string(), s.to_string()));
        }
    }
    Ok(Some(first.to_string()))
}

/// Write the counter's counts (pending stream bytes counted first) as one table; the counter keeps them.
pub fn write_counter<W: Write>(c: &mut Counter, w: W) -> Result<(W, TableMeta), TableError> {
    c.flush_pending();
    let stats = TableMeta::of_counter(c);
    let spec = c.pretok().spec();
    let mut t = TableWriter::new(w, &spec)?;
    for (k, v) in c.sorted_counts() {
        t.push(k.as_bytes(), v)?;
    }
    t.finish(&stats)
}

/// Merge tables into one table written to `w` (streaming: memory is one key per input).
pub fn merge_tables_into<W: Write>(
    mut inputs: Vec<TableReader<impl BufRead>>,
    w: W,
) -> Result<(W, TableMeta), TableError> {
    let spec = check_specs(inputs.iter().map(|r| r.spec()))?.unwrap_or_default();
    let mut t = TableWriter::new(w, &spec)?;
    let mut runs: Vec<Box<dyn SortedRun + '_>> = inputs
        .iter_mut()
        .map(|r| Box::new(ByRef(r)) as Box<dyn SortedRun>)
        .collect();
    let meta = merge_runs(&mut runs, |k, v| t.push(k, v))?;
    drop(runs);
    t.finish(&meta)
}

/// Sorted chunk counts, the summed statistics, and how many chunks pruning dropped.
pub type MergedChunks = (Vec<(Box<str>, u64)>, TableMeta, u64);

/// Merge tables into sorted chunk counts in memory (what the trainer takes), with the summed statistics.
/// Chunks whose merged count is below `prune_below` are dropped (see `docs/DISTRIBUTED.md`: this makes
/// training approximate unless `prune_below <= 1`); the number dropped is returned too.
pub fn merge_tables_to_vec(
    mut inputs: Vec<TableReader<impl BufRead>>,
    prune_below: u64,
) -> Result<MergedChunks, TableError> {
    check_specs(inputs.iter().map(|r| r.spec()))?;
    let mut runs: Vec<Box<dyn SortedRun + '_>> = inputs
        .iter_mut()
        .map(|r| Box::new(ByRef(r)) as Box<dyn SortedRun>)
        .collect();
    let mut out: Vec<(Box<str>, u64)> = Vec::new();
    let mut pruned = 0u64;
    let meta = merge_runs(&mut runs, |k, v| {
        if v < prune_below {
            pruned += 1;
            return Ok(());
        }
        // Keys were checked to be UTF-8 by the reader.
        let s = std::str::from_utf8(k).map_err(|_| corrupt("chunk is not UTF-8"))?;
        out.push((s.into(), v));
        Ok(())
    })?;
    Ok((out, meta, pruned))
}

/// A `SortedRun` over a borrowed reader.
struct ByRef<'a, R: BufRead>(&'a mut TableReader<R>);

impl<R: BufRead> SortedRun for ByRef<'_, R> {
    fn advance(&mut self) -> Result<bool, TableError> {
        self.0.advance()
    }
    fn key(&self) -> &[u8] {
        &self.0.key
    }
    fn count(&self) -> u64 {
        self.0.count
    }
    fn stats(&self) -> TableMeta {
        self.0.meta.unwrap_or_default()
    }
}

static SPILL_SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A memory budget for a [`Counter`]: sorted runs spilled to a private temporary folder (removed on drop).
pub struct Spill {
    budget: usize,
    dir: PathBuf,
    runs: Vec<PathBuf>,
    /// Entries and bytes written to runs so far.
    pub run_entries: u64,
    pub run_bytes: u64,
    /// Largest estimate of the count maps seen at a check.
    pub peak_estimate: usize,
}

impl Spill {
    /// A budget of `budget` bytes for the count maps; runs go to a new folder under `parent` (default: the
    /// system temporary folder).
    pub fn new(budget: usize, parent: Option<&Path>) -> Result<Spill, TableError> {
        let parent = parent
            .map(Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = loop {
            let seq = SPILL_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let d = parent.join(format!(
                "toksmith-spill-{}-{nanos}-{seq}",
                std::process::id()
            ));
            match std::fs::create_dir(&d) {
                Ok(()) => break d,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(TableError::Io(e).named(&parent.display().to_string())),
            }
        };
        Ok(Spill {
            budget,
            dir,
            runs: Vec::new(),
            run_entries: 0,
            run_bytes: 0,
            peak_estimate: 0,
        })
    }

    pub fn budget(&self) -> usize {
        self.budget
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn runs(&self) -> &[PathBuf] {
        &self.runs
    }

    /// Spill if the counter's maps pass the budget. Returns whether it spilled.
    pub fn check(&mut self, c: &mut Counter) -> Result<bool, TableError> {
        let est = c.count_maps_bytes();
        self.peak_estimate = self.peak_estimate.max(est);
        if est > self.budget {
            self.spill(c)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Write the counter's in-memory counts as a sorted run and empty them (stream bytes still pending stay
    /// pending; the counter's statistics stay in the counter).
    pub fn spill(&mut self, c: &mut Counter) -> Result<(), TableError> {
        use rayon::prelude::*;
        let maps = c.take_count_maps();
        if maps.is_empty() {
            return Ok(());
        }
        // One sorted vector per thread map (each map is freed as it is turned into its vector).
        let mut vecs: Vec<Vec<(Box<str>, u64)>> = Vec::with_capacity(maps.len());
        for m in maps {
            let mut v: Vec<(Box<str>, u64)> = m.into_iter().collect();
            v.par_sort_unstable_by(|a, b| a.0.cmp(&b.0));
            vecs.push(v);
        }
        let path = self.dir.join(format!("run-{:05}.tkc", self.runs.len()));
        let name = path.display().to_string();
        let f = std::fs::File::create(&path).map_err(|e| TableError::Io(e).named(&name))?;
        let spec = c.pretok().spec();
        let mut t = TableWriter::new(BufWriter::with_capacity(1 << 20, f), &spec)?;
        let mut runs: Vec<Box<dyn SortedRun>> = vecs
            .into_iter()
            .map(|v| Box::new(VecRun::new(v, TableMeta::default())) as Box<dyn SortedRun>)
            .collect();
        merge_runs(&mut runs, |k, v| t.push(k, v)).map_err(|e| e.named(&name))?;
        drop(runs);
        let (w, meta) = t
            .finish(&TableMeta::default())
            .map_err(|e| e.named(&name))?;
        let f = w
            .into_inner()
            .map_err(|e| TableError::Io(e.into_error()).named(&name))?;
        f.sync_all().ok();
        self.run_entries += meta.entries;
        self.run_bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        self.runs.push(path);
        Ok(())
    }

    /// Spill what is left in memory, then stream the merge of all runs (with the counter's statistics) into
    /// `sink`. The counter stays usable (its counts live in the runs).
    pub fn merge_all(
        &mut self,
        c: &mut Counter,
        sink: impl FnMut(&[u8], u64) -> Result<(), TableError>,
    ) -> Result<TableMeta, TableError> {
        c.flush_pending();
        self.spill(c)?;
        let mut readers = open_tables(&self.runs)?;
        let mut runs: Vec<Box<dyn SortedRun + '_>> = readers
            .iter_mut()
            .map(|r| Box::new(ByRef(r)) as Box<dyn SortedRun>)
            .collect();
        let mut meta = merge_runs(&mut runs, sink)?;
        meta.add_stats(&TableMeta::of_counter(c));
        Ok(meta)
    }

    /// All counts (runs and memory) as one table written to `w`.
    pub fn write_table<W: Write>(
        &mut self,
        c: &mut Counter,
        w: W,
    ) -> Result<(W, TableMeta), TableError> {
        let spec = c.pretok().spec();
        let mut t = TableWriter::new(w, &spec)?;
        let meta = self.merge_all(c, |k, v| t.push(k, v))?;
        t.finish(&meta)
    }

    /// All counts (runs and memory) as sorted chunk counts in memory, for training.
    pub fn into_chunks(mut self, mut c: Counter) -> Result<Vec<(Box<str>, u64)>, TableError> {
        let mut out: Vec<(Box<str>, u64)> = Vec::new();
        self.merge_all(&mut c, |k, v| {
            let s = std::str::from_utf8(k).map_err(|_| corrupt("chunk is not UTF-8"))?;
            out.push((s.into(), v));
            Ok(())
        })?;
        Ok(out)
    }

    /// Number of distinct chunks (one merge pass over the runs; memory one key per run).
    pub fn unique(&mut self, c: &mut Counter) -> Result<u64, TableError> {
        Ok(self.merge_all(c, |_, _| Ok(()))?.entries)
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Like [`Counter::feed_file`] (plain, `.gz` or `.zst`, one stream, read on its own thread), calling `hook`
/// after every block fed, so a [`Spill`] can keep the counter within its budget in the middle of a file.
pub fn feed_file_with(
    c: &mut Counter,
    path: &Path,
    hook: &mut dyn FnMut(&mut Counter) -> Result<(), TableError>,
) -> Result<(), TableError> {
    const READ_BUF: usize = 4 << 20;
    let name = path.display().to_string();
    let io = |source: io::Error| TableError::Read {
        path: name.clone(),
        source,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let lower = path.to_string_lossy().to_ascii_lowercase();
    let mut reader: Box<dyn Read + Send> = if lower.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(f)))
    } else if lower.ends_with(".zst") || lower.ends_with(".zstd") {
        let mut d = zstd::stream::read::Decoder::new(f).map_err(io)?;
        d.window_log_max(31).map_err(io)?;
        Box::new(d)
    } else {
        Box::new(f)
    };
    let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(2);
    let result = std::thread::scope(|s| {
        s.spawn(move || loop {
            let mut buf = vec![0u8; READ_BUF];
            let mut filled = 0;
            while filled < buf.len() {
                match reader.read(&mut buf[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
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
            let data = msg.map_err(io)?;
            c.feed(&data);
            hook(c)?;
        }
        Ok::<(), TableError>(())
    });
    result?;
    c.end_stream();
    hook(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::count::{count_into, merge_counts, Counts};
    use crate::pretok::{Preset, Pretokenizer};
    use proptest::prelude::*;

    type Chunks = Vec<(Box<str>, u64)>;

    fn text(seed: u64, n: usize) -> String {
        // Deterministic pseudo-random words with some non-ASCII and digits.
        let words = [
            "the",
            "cat",
            "sat",
            "on",
            "mat",
            "é",
            "naïve",
            "日本語",
            "42",
            "1999",
            "hello",
            "world",
            "\n",
            "  ",
            "x",
            "zebra",
            "quantum",
            "it's",
            "don't",
            "Ωmega",
        ];
        let mut s = String::new();
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        for _ in 0..n {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            s.push_str(words[(x >> 33) as usize % words.len()]);
            if !(x >> 20).is_multiple_of(3) {
                s.push(' ');
            }
        }
        s
    }

    fn counts_of(pt: &Pretokenizer, t: &str) -> Counts {
        let mut m = Counts::default();
        count_into(pt, t, &mut m);
        m
    }

    fn sorted(m: Counts) -> Vec<(Box<str>, u64)> {
        let mut v: Vec<_> = m.into_iter().collect();
        v.sort();
        v
    }

    fn to_bytes(pt: &Pretokenizer, t: &str, docs: u64) -> Vec<u8> {
        let mut c = Counter::new(pt.clone());
        c.add_documents(&[t]);
        assert_eq!(c.documents, 1);
        c.documents = docs;
        write_counter(&mut c, Vec::new()).unwrap().0
    }

    fn read_all(b: &[u8]) -> Result<(Chunks, TableMeta), TableError> {
        let r = TableReader::new(b)?;
        let (v, meta, _) = merge_tables_to_vec(vec![r], 0)?;
        Ok((v, meta))
    }

    #[test]
    fn round_trip() {
        let pt = Pretokenizer::preset(Preset::Cl100k);
        let t = text(1, 5000);
        let bytes = to_bytes(&pt, &t, 7);
        let (v, meta) = read_all(&bytes).unwrap();
        assert_eq!(v, sorted(counts_of(&pt, &t)));
        assert_eq!(meta.entries as usize, v.len());
        assert_eq!(meta.total, v.iter().map(|x| x.1).sum::<u64>());
        assert_eq!(meta.documents, 7);
        assert_eq!(meta.bytes_seen, t.len() as u64);
        let r = TableReader::new(bytes.as_slice()).unwrap();
        assert_eq!(r.spec(), "cl100k");
        // Front coding makes the table much smaller than the text's distinct chunks spelled out.
        let spelled: usize = v.iter().map(|(k, _)| k.len() + 9).sum();
        assert!(bytes.len() < spelled, "{} vs {}", bytes.len(), spelled);
    }

    #[test]
    fn empty_table_round_trips() {
        let mut c = Counter::new(Pretokenizer::preset(Preset::Gpt2));
        let (b, meta) = write_counter(&mut c, Vec::new()).unwrap();
        assert_eq!(meta.entries, 0);
        let (v, meta) = read_all(&b).unwrap();
        assert!(v.is_empty());
        assert_eq!(meta, TableMeta::default());
    }

    #[test]
    fn corruption_is_detected() {
        let pt = Pretokenizer::preset(Preset::Gpt2);
        let b = to_bytes(&pt, &text(2, 2000), 1);
        // Every single-byte change after the magic and every truncation is an error, never a quiet result.
        for i in (0..b.len()).step_by(7) {
            let mut bad = b.clone();
            bad[i] ^= 0x24;
            assert!(read_all(&bad).is_err(), "flip at {i} not detected");
        }
        for n in (0..b.len()).step_by(13) {
            assert!(read_all(&b[..n]).is_err(), "truncation to {n} not detected");
        }
        let mut longer = b.clone();
        longer.push(0);
        assert!(read_all(&longer).is_err());
        assert!(matches!(
            read_all(b"NOTATABLE..."),
            Err(TableError::BadMagic)
        ));
        let mut v2 = b.clone();
        v2[8] = 2;
        assert!(matches!(read_all(&v2), Err(TableError::Version(2))));
    }

    #[test]
    fn writer_rejects_bad_order() {
        let mut t = TableWriter::new(Vec::new(), "gpt2").unwrap();
        t.push(b"b", 1).unwrap();
        assert!(t.push(b"a", 1).is_err());
        assert!(t.push(b"b", 1).is_err());
        assert!(t.push(b"c", 0).is_err());
    }

    #[test]
    fn different_pretokenizers_do_not_merge() {
        let a = to_bytes(&Pretokenizer::preset(Preset::Gpt2), "a b", 1);
        let b = to_bytes(&Pretokenizer::preset(Preset::Cl100k), "a b", 1);
        let rs = vec![
            TableReader::new(a.as_slice()).unwrap(),
            TableReader::new(b.as_slice()).unwrap(),
        ];
        assert!(matches!(
            merge_tables_to_vec(rs, 0),
            Err(TableError::SpecMismatch(..))
        ));
    }

    #[test]
    fn merge_equals_in_memory_merge_and_tree_order_does_not_matter() {
        let pt = Pretokenizer::preset(Preset::O200k);
        let texts: Vec<String> = (0..9)
            .map(|i| text(10 + i, 300 + 200 * i as usize))
            .collect();
        let tables: Vec<Vec<u8>> = texts.iter().map(|t| to_bytes(&pt, t, 1)).collect();
        let mut mem = Counts::default();
        for t in &texts {
            mem = merge_counts(mem, counts_of(&pt, t));
        }
        let want = sorted(mem);
        // Flat k-way merge.
        let rs: Vec<_> = tables
            .iter()
            .map(|b| TableReader::new(b.as_slice()).unwrap())
            .collect();
        let (flat, meta, _) = merge_tables_to_vec(rs, 0).unwrap();
        assert_eq!(flat, want);
        assert_eq!(meta.documents, 9);
        assert_eq!(
            meta.bytes_seen,
            texts.iter().map(|t| t.len() as u64).sum::<u64>()
        );
        // Tree: pairs, then pairs of pairs (through serialized intermediate tables).
        let mut level = tables.clone();
        while level.len() > 1 {
            level = level
                .chunks(2)
                .map(|g| {
                    let rs: Vec<_> = g
                        .iter()
                        .map(|b| TableReader::new(b.as_slice()).unwrap())
                        .collect();
                    merge_tables_into(rs, Vec::new()).unwrap().0
                })
                .collect();
        }
        let (tree, tmeta) = read_all(&level[0]).unwrap();
        assert_eq!(tree, want);
        assert_eq!(tmeta, meta);
        // Pruning drops exactly the chunks whose merged count is below the threshold.
        let rs: Vec<_> = tables
            .iter()
            .map(|b| TableReader::new(b.as_slice()).unwrap())
            .collect();
        let (pruned, _, n) = merge_tables_to_vec(rs, 3).unwrap();
        let kept: Vec<_> = want.iter().filter(|x| x.1 >= 3).cloned().collect();
        assert_eq!(pruned, kept);
        assert_eq!(n as usize, want.len() - kept.len());
    }

    #[test]
    fn spill_under_tiny_budget_equals_no_spill() {
        let pt = Pretokenizer::preset(Preset::Cl100k);
        let t = text(99, 40_000);
        let mut c = Counter::new(pt.clone());
        let mut sp = Spill::new(4096, None).unwrap();
        let dir = sp.dir().to_path_buf();
        for d in t.split("\n\n") {
            c.add_documents(&[d]);
            sp.check(&mut c).unwrap();
        }
        assert!(
            sp.runs().len() > 3,
            "tiny budget should spill: {} runs",
            sp.runs().len()
        );
        // The same documents counted without a budget.
        let mut same = Counter::new(pt.clone());
        for d in t.split("\n\n") {
            same.add_documents(&[d]);
        }
        let (b1, m1) = write_counter(&mut same, Vec::new()).unwrap();
        let (b2, m2) = sp.write_table(&mut c, Vec::new()).unwrap();
        assert_eq!(m1, m2);
        assert_eq!(b1, b2, "spilled table differs from the in-memory one");
        let unique = sp.unique(&mut c).unwrap();
        assert_eq!(unique, m1.entries);
        let chunks = sp.into_chunks(c).unwrap();
        assert_eq!(chunks.len() as u64, m1.entries);
        assert!(!dir.exists(), "spill folder not removed");
    }

    #[test]
    fn spill_while_streaming_a_file_equals_feed_file() {
        let pt = Pretokenizer::preset(Preset::Gpt2);
        let t = text(5, 300_000);
        let dir = std::env::temp_dir().join(format!("toksmith-ct-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("in.txt");
        std::fs::write(&path, &t).unwrap();
        let mut plain = Counter::new(pt.clone());
        plain.feed_file(&path).unwrap();
        let (want, wm) = write_counter(&mut plain, Vec::new()).unwrap();

        let mut c = Counter::new(pt.clone());
        let mut sp = Spill::new(2048, Some(&dir)).unwrap();
        feed_file_with(&mut c, &path, &mut |c| sp.check(c).map(|_| ())).unwrap();
        assert!(!sp.runs().is_empty());
        let (got, gm) = sp.write_table(&mut c, Vec::new()).unwrap();
        assert_eq!(wm, gm);
        assert_eq!(want, got);
        let missing = dir.join("missing.txt");
        let e = feed_file_with(&mut Counter::new(pt), &missing, &mut |_| Ok(())).unwrap_err();
        assert!(e.to_string().contains("missing.txt"), "{e}");
        drop(sp);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn prop_round_trip_and_merge(parts in proptest::collection::vec(
            proptest::collection::btree_map("[a-c\u{e9}\u{65e5}]{0,6}", 1u64..1_000_000_000_000, 0..40), 0..6)) {
            let tables: Vec<Vec<u8>> = parts.iter().map(|m| {
                let mut t = TableWriter::new(Vec::new(), "gpt2").unwrap();
                for (k, v) in m {
                    if !k.is_empty() {
                        t.push(k.as_bytes(), *v).unwrap();
                    }
                }
                t.finish(&TableMeta::default()).unwrap().0
            }).collect();
            let mut want: std::collections::BTreeMap<String, u64> = Default::default();
            for m in &parts {
                for (k, v) in m {
                    if !k.is_empty() {
                        *want.entry(k.clone()).or_default() += v;
                    }
                }
            }
            let rs: Vec<_> = tables.iter().map(|b| TableReader::new(b.as_slice()).unwrap()).collect();
            let (got, meta, _) = merge_tables_to_vec(rs, 0).unwrap();
            let want: Vec<(Box<str>, u64)> = want.into_iter().map(|(k, v)| (k.into(), v)).collect();
            prop_assert_eq!(meta.entries as usize, want.len());
            prop_assert_eq!(got, want);
        }
    }
}
