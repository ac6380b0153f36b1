//! Pre-tokenizers: split text into chunks before BPE.
//!
//! The presets reproduce published split patterns exactly, but are hand-written scanners instead of a regex
//! engine: this is the hot loop of counting and encoding. Each preset documents the pattern it implements;
//! `tests` (Rust) check them against `fancy-regex` and the Python suite checks them against Python's `regex`
//! module and tiktoken on FLORES-200 and random strings.

pub mod classes;
mod scan;
pub mod superword;

use classes::{L, LO, N, NUM, UP, W, WS};
use std::fmt;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum PretokError {
    #[error("unknown pre-tokenizer '{0}' (known: gpt2, cl100k, o200k, llama3, whitespace, superword, none, or regex:PATTERN)")]
    Unknown(String),
    #[error("invalid split regex: {0}")]
    BadRegex(String),
}

/// A named split pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Preset {
    /// GPT-2 / r50k / p50k (tiktoken 0.14 pattern; equal to the classic HF ByteLevel regex).
    Gpt2,
    /// cl100k_base (GPT-3.5/4), tiktoken 0.14 pattern with possessive quantifiers and `\s++$`.
    Cl100k,
    /// o200k_base (GPT-4o).
    O200k,
    /// Llama 3: the classic cl100k regex as written in Llama 3's tokenizer.json (differs from tiktoken 0.14's
    /// cl100k only for whitespace runs at the very end of a text that contain a newline followed by more
    /// whitespace).
    Llama3,
    /// Whitespace-delimited words that carry their leading space: ` ?\S+|\s+(?!\S)|\s+`.
    Whitespace,
    /// cl100k whose letter runs go on across single spaces and contractions: multi-word chunks, for supertoken
    /// training (see `superword`).
    Superword,
    /// No splitting: the whole text is one chunk.
    None,
}

pub const GPT2_PATTERN: &str =
    r"'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s";
/// The same split as written by GPT-2's HF tokenizer.json (ByteLevel use_regex).
pub const GPT2_HF_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
pub const CL100K_PATTERN: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s";
pub const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
pub const O200K_PATTERN: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|\p{N}{1,3}",
    r"| ?[^\s\p{L}\p{N}]+[\r\n/]*",
    r"|\s*[\r\n]+",
    r"|\s+(?!\S)",
    r"|\s+"
);
pub const WHITESPACE_PATTERN: &str = r" ?\S+|\s+(?!\S)|\s+";

impl Preset {
    pub const ALL: [Preset; 7] = [
        Preset::Gpt2,
        Preset::Cl100k,
        Preset::O200k,
        Preset::Llama3,
        Preset::Whitespace,
        Preset::Superword,
        Preset::None,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Preset::Gpt2 => "gpt2",
            Preset::Cl100k => "cl100k",
            Preset::O200k => "o200k",
            Preset::Llama3 => "llama3",
            Preset::Whitespace => "whitespace",
            Preset::Superword => "superword",
            Preset::None => "none",
        }
    }

    pub fn from_name(name: &str) -> Option<Preset> {
        Some(match name.to_ascii_lowercase().as_str() {
            "gpt2" | "r50k" | "r50k_base" | "p50k" | "p50k_base" => Preset::Gpt2,
            "cl100k" | "cl100k_base" | "gpt4" | "gpt-4" => Preset::Cl100k,
            "o200k" | "o200k_base" | "gpt4o" | "gpt-4o" => Preset::O200k,
            "llama3" | "llama-3" => Preset::Llama3,
            "whitespace" => Preset::Whitespace,
            "superword" | "superbpe" => Preset::Superword,
            "none" => Preset::None,
            _ => return None,
        })
    }

    /// The reference regex this preset implements (the tiktoken spelling where tiktoken has one).
    pub fn pattern(self) -> Option<&'static str> {
        match self {
            Preset::Gpt2 => Some(GPT2_PATTERN),
            Preset::Cl100k => Some(CL100K_PATTERN),
            Preset::O200k => Some(O200K_PATTERN),
            Preset::Llama3 => Some(LLAMA3_PATTERN),
            Preset::Whitespace => Some(WHITESPACE_PATTERN),
            Preset::Superword => Some(superword::SUPERWORD_PATTERN),
            Preset::None => None,
        }
    }

    /// Recognise a regex found in a tokenizer.json / given by a user as one of the presets.
    pub fn from_pattern(p: &str) -> Option<Preset> {
        let known: [(&str, Preset); 9] = [
            (GPT2_PATTERN, Preset::Gpt2),
            (GPT2_HF_PATTERN, Preset::Gpt2),
            (CL100K_PATTERN, Preset::Cl100k),
            (LLAMA3_PATTERN, Preset::Llama3),
            (O200K_PATTERN, Preset::O200k),
            (WHITESPACE_PATTERN, Preset::Whitespace),
            (superword::SUPERWORD_PATTERN, Preset::Superword),
            (superword::SUPERWORD_HF_PATTERN, Preset::Superword),
            // The classic cl100k spelling used by many HF files is exactly Llama 3's.
            (
                r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
                Preset::Llama3,
            ),
        ];
        known.iter().find(|(k, _)| *k == p).map(|(_, v)| *v)
    }
}

#[derive(Clone)]
enum Kind {
    Preset(Preset),
    Regex(Box<fancy_regex::Regex>, String),
}

/// A pre-tokenizer: an optional "each digit alone" step (HF `Digits(individual_digits=true)`) followed by a
/// split pattern.
#[derive(Clone)]
pub struct Pretokenizer {
    kind: Kind,
    individual_digits: bool,
}

impl fmt::Debug for Pretokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pretokenizer({})", self.spec())
    }
}

impl Pretokenizer {
    pub fn preset(p: Preset) -> Self {
        Pretokenizer {
            kind: Kind::Preset(p),
            individual_digits: false,
        }
    }

    /// Any regex (run with `fancy-regex`, slower than the presets). A regex equal to a preset's is mapped to it.
    pub fn regex(pattern: &str) -> Result<Self, PretokError> {
        if let Some(p) = Preset::from_pattern(pattern) {
            return Ok(Self::preset(p));
        }
        let re =
            fancy_regex::Regex::new(pattern).map_err(|e| PretokError::BadRegex(e.to_string()))?;
        Ok(Pretokenizer {
            kind: Kind::Regex(Box::new(re), pattern.to_string()),
            individual_digits: false,
        })
    }

    /// Parse a spec: a preset name, `regex:PATTERN`, optionally prefixed by `digits+` (each digit alone first).
    pub fn from_spec(spec: &str) -> Result<Self, PretokError> {
        let (digits, rest) = match spec.strip_prefix("digits+") {
            Some(r) => (true, r),
            None => (false, spec),
        };
        let mut p = if let Some(pat) = rest.strip_prefix("regex:") {
            Self::regex(pat)?
        } else {
            Self::preset(Preset::from_name(rest).ok_or_else(|| PretokError::Unknown(spec.into()))?)
        };
        p.individual_digits = digits;
        Ok(p)
    }

    pub fn with_individual_digits(mut self, on: bool) -> Self {
        self.individual_digits = on;
        self
    }

    pub fn individual_digits(&self) -> bool {
        self.individual_digits
    }

    /// The preset, if this is one.
    pub fn as_preset(&self) -> Option<Preset> {
        match &self.kind {
            Kind::Preset(p) => Some(*p),
            Kind::Regex(..) => None,
        }
    }

    /// The split regex, or `None` for no splitting.
    pub fn pattern(&self) -> Option<&str> {
        match &self.kind {
            Kind::Preset(p) => p.pattern(),
            Kind::Regex(_, s) => Some(s),
        }
    }

    /// A spec string that `from_spec` parses back to the same pre-tokenizer.
    pub fn spec(&self) -> String {
        let base = match &self.kind {
            Kind::Preset(p) => p.name().to_string(),
            Kind::Regex(_, s) => format!("regex:{s}"),
        };
        if self.individual_digits {
            format!("digits+{base}")
        } else {
            base
        }
    }

    /// Call `f` with each chunk of `text`, in order. Chunks are non-empty slices of `text`.
    #[inline]
    pub fn split<'a, F: FnMut(&'a str)>(&self, text: &'a str, mut f: F) {
        if self.individual_digits {
            let mut seg = 0;
            for (i, c) in text.char_indices() {
                if classes::flags(c) & NUM != 0 {
                    if seg < i {
                        self.split_base(&text[seg..i], &mut f);
                    }
                    let e = i + c.len_utf8();
                    f(&text[i..e]);
                    seg = e;
                }
            }
            if seg < text.len() {
                self.split_base(&text[seg..], &mut f);
            }
        } else {
            self.split_base(text, &mut f);
        }
    }

    #[inline]
    fn split_base<'a, F: FnMut(&'a str)>(&self, text: &'a str, f: &mut F) {
        match &self.kind {
            Kind::Preset(p) => match p {
                Preset::Gpt2 => scan::gpt2(text, f),
                Preset::Cl100k => scan::cl100k(text, f, false),
                Preset::Llama3 => scan::cl100k(text, f, true),
                Preset::O200k => scan::o200k(text, f),
                Preset::Whitespace => scan::whitespace(text, f),
                Preset::Superword => superword::superword(text, f),
                Preset::None => {
                    if !text.is_empty() {
                        f(text)
                    }
                }
            },
            Kind::Regex(re, _) => {
                for m in re.find_iter(text).flatten() {
                    if !m.as_str().is_empty() {
                        f(m.as_str());
                    }
                }
            }
        }
    }

    /// Collect the chunks (convenience for tests and Python).
    pub fn split_to_vec<'a>(&self, text: &'a str) -> Vec<&'a str> {
        let mut v = Vec::new();
        self.split(text, |c| v.push(c));
        v
    }

    /// Byte offset at or before `limit` (and > 0) where `text` may be cut so that splitting the two halves
    /// separately gives exactly the chunks of splitting the whole. `None` if no such point was found.
    ///
    /// A cut is safe right after an ASCII letter or digit that is followed by `' '` or `'\n'` (every preset ends
    /// its letter/number chunk there and starts afresh; no preset looks behind), or right after a `'\n'` that
    /// has a non-space character on both sides and is not followed by `/` (o200k's `[\r\n/]*`).
    pub fn safe_cut(&self, text: &[u8], limit: usize) -> Option<usize> {
        if matches!(self.kind, Kind::Regex(..)) || self.as_preset() == Some(Preset::None) {
            // Arbitrary regexes and "no split": only cut after a newline (documents are lines then).
            let lim = limit.min(text.len());
            return text[..lim].iter().rposition(|&b| b == b'\n').map(|p| p + 1);
        }
        let superword = self.as_preset() == Some(Preset::Superword);
        let lim = limit.min(text.len().saturating_sub(1));
        let mut p = lim;
        while p >= 1 {
            let a = text[p - 1];
            let b = text[p];
            if superword {
                // Letter runs go on across one space, tab or newline: cut after a digit followed by a space or
                // newline, or after a blank line ("\n\n") followed by a non-space character.
                if (b == b' ' || b == b'\n') && a.is_ascii_digit() {
                    return Some(p);
                }
                if a == b'\n' && p >= 2 && text[p - 2] == b'\n' {
                    if let Some(next) = char_at(text, p) {
                        if !classes::is_space(next) {
                            return Some(p);
                        }
                    }
                }
                p -= 1;
                continue;
            }
            if (b == b' ' || b == b'\n') && a.is_ascii_alphanumeric() {
                return Some(p);
            }
            if a == b'\n' && p >= 2 {
                if let (Some(prev), Some(next)) = (char_before(text, p - 1), char_at(text, p)) {
                    if !classes::is_space(prev) && !classes::is_space(next) && next != '/' {
                        return Some(p);
                    }
                }
            }
            p -= 1;
        }
        None
    }
}

fn char_at(b: &[u8], i: usize) -> Option<char> {
    let end = (i + 4).min(b.len());
    let s = match std::str::from_utf8(&b[i..end]) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&b[i..i + e.valid_up_to()]).ok()?,
    };
    s.chars().next()
}

fn char_before(b: &[u8], i: usize) -> Option<char> {
    let mut s = i.checked_sub(1)?;
    while s > 0 && (b[s] & 0xC0) == 0x80 && i - s < 4 {
        s -= 1;
    }
    std::str::from_utf8(&b[s..i]).ok()?.chars().next()
}

#[allow(dead_code)]
const _USE: (u8, u8, u8, u8, u8, u8) = (L, N, WS, UP, LO, W);

#[cfg(test)]
mod superword_tests;
#[cfg(test)]
mod tests;
