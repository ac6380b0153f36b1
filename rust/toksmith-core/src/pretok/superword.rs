//! The `superword` split: the stage-2 pre-tokenizer of supertoken (SuperBPE-style) training.
//!
//! It is cl100k with one change: a run of letters goes on across contractions and across single whitespace
//! characters (space, tab or newline: hard-wrapped text breaks lines between words) followed by letters, up to
//! `MAX_RUN` words, so a chunk can hold several words (`" of the same"`). Digits still go in groups of up to 3,
//! runs of punctuation and runs of two or more whitespace characters are still chunks of their own. Every
//! superword chunk is a concatenation of whole cl100k chunks (the split is coarser, never different), and inside
//! a chunk the cl100k boundaries that are joined all lie between a letter and one of `' '`, `'\t'`, `'\n'`,
//! `'\''`, characters that never follow a letter inside a cl100k chunk; so cl100k merges applied to a superword
//! chunk give the cl100k tokens of its words (the trainer checks this byte by byte and re-encodes where it cannot
//! be sure).
//!
//! Pattern (fancy-regex / tiktoken spelling, `SUPERWORD_PATTERN`):
//! `(?:'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?\p{L}+)(?:'(?i:[sdmt]|ll|ve|re)|[ \t\n]\p{L}+){0,31}|`
//! `\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s+$|\s*[\r\n]|\s+(?!\S)|\s`
//! and for Oniguruma (tokenizer.json) the same with `\z` for `$` (`SUPERWORD_HF_PATTERN`).

use super::classes::{flags, L, N, WS};

/// Most words (letter runs joined by whitespace or contractions) in one chunk.
pub const MAX_RUN: usize = 32;

pub const SUPERWORD_PATTERN: &str = concat!(
    r"(?:'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?\p{L}+)(?:'(?i:[sdmt]|ll|ve|re)|[ \t\n]\p{L}+){0,31}",
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s+$|\s*[\r\n]|\s+(?!\S)|\s"
);

/// The same split for Oniguruma (HF `tokenizers`), where `$` would also match before a newline.
pub const SUPERWORD_HF_PATTERN: &str = concat!(
    r"(?:'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?\p{L}+)(?:'(?i:[sdmt]|ll|ve|re)|[ \t\n]\p{L}+){0,31}",
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s+\z|\s*[\r\n]|\s+(?!\S)|\s"
);

#[inline(always)]
fn run_bytes(b: &[u8], mut i: usize, set: &[u8]) -> usize {
    while i < b.len() && set.contains(&b[i]) {
        i += 1;
    }
    i
}

use super::scan::{contraction_ci as contraction, dec, run};

/// The superword scanner (see the module doc for the pattern it implements).
pub fn superword<'a, F: FnMut(&'a str)>(s: &'a str, f: &mut F) {
    let n = s.len();
    let b = s.as_bytes();
    let mut i = 0;
    while i < n {
        let (c, cl) = dec(s, i);
        let fc = flags(c);
        let end = 'm: {
            // Alternative 1, first part: a contraction, or an optional non-letter/digit/newline then letters.
            let mut first = None;
            if c == '\'' {
                if let Some(k) = contraction(b, i + 1) {
                    first = Some(i + 1 + k);
                }
            }
            if first.is_none() {
                if fc & L != 0 {
                    first = Some(run(s, i + cl, |x| x & L != 0));
                } else if c != '\r' && c != '\n' && fc & N == 0 && i + cl < n {
                    let (c2, l2) = dec(s, i + cl);
                    if flags(c2) & L != 0 {
                        first = Some(run(s, i + cl + l2, |x| x & L != 0));
                    }
                }
            }
            if let Some(mut j) = first {
                // Then up to MAX_RUN - 1 contractions and words each led by one space, tab or newline.
                for _ in 1..MAX_RUN {
                    if j < n && b[j] == b'\'' {
                        if let Some(k) = contraction(b, j + 1) {
                            j += 1 + k;
                            continue;
                        }
                    }
                    if j + 1 < n && matches!(b[j], b' ' | b'\t' | b'\n') {
                        let (c2, l2) = dec(s, j + 1);
                        if flags(c2) & L != 0 {
                            j = run(s, j + 1 + l2, |x| x & L != 0);
                            continue;
                        }
                    }
                    break;
                }
                break 'm j;
            }
            if fc & N != 0 {
                let mut j = i + cl;
                for _ in 0..2 {
                    if j < n {
                        let (c2, l2) = dec(s, j);
                        if flags(c2) & N != 0 {
                            j += l2;
                            continue;
                        }
                    }
                    break;
                }
                break 'm j;
            }
            let nf = if i + cl < n {
                Some(flags(dec(s, i + cl).0))
            } else {
                None
            };
            if c == ' ' && nf.is_some_and(|x| x & (WS | L | N) == 0) {
                let j = run(s, i + 1, |x| x & (WS | L | N) == 0);
                break 'm run_bytes(b, j, b"\r\n");
            }
            if fc & WS == 0 {
                let j = run(s, i, |x| x & (WS | L | N) == 0);
                break 'm run_bytes(b, j, b"\r\n");
            }
            // Whitespace: `\s+$`, `\s*[\r\n]`, `\s+(?!\S)`, `\s`.
            let (mut j, mut last, mut count, mut nl) = (i, i, 0usize, None);
            while j < n {
                let (c2, l2) = dec(s, j);
                if flags(c2) & WS == 0 {
                    break;
                }
                if c2 == '\n' || c2 == '\r' {
                    nl = Some(j + l2);
                }
                last = j;
                count += 1;
                j += l2;
            }
            if j == n {
                break 'm n;
            }
            if let Some(e) = nl {
                break 'm e;
            }
            if count >= 2 {
                last
            } else {
                j
            }
        };
        f(&s[i..end]);
        i = end;
    }
}

/// Whether a byte separates words for `word_count`.
#[inline]
pub fn is_word_gap(x: u8) -> bool {
    matches!(x, b' ' | b'\t' | b'\n' | b'\r')
}

/// Number of words in a token: maximal runs of bytes other than ASCII space, tab, newline and carriage return (a
/// word cut by the token's edge counts).
pub fn word_count(token: &[u8]) -> usize {
    let mut n = 0;
    let mut prev_space = true;
    for &x in token {
        let space = is_word_gap(x);
        if !space && prev_space {
            n += 1;
        }
        prev_space = space;
    }
    n
}
