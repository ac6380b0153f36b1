//! Hand-written scanners, one per preset. Each follows its regex alternative by alternative (leftmost-first,
//! with the backtracking the regex would do) and is tested against the regex itself.

use super::classes::{flags, L, LO, N, UP, WS};

/// The char at byte `i` of `s` and its length in bytes.
#[inline(always)]
pub(super) fn dec(s: &str, i: usize) -> (char, usize) {
    let b = s.as_bytes()[i];
    if b < 0x80 {
        (b as char, 1)
    } else {
        let c = s[i..]
            .chars()
            .next()
            .expect("i is a char boundary inside s");
        (c, c.len_utf8())
    }
}

/// End of the run of chars from `i` whose flags satisfy `pred`.
#[inline(always)]
pub(super) fn run(s: &str, mut i: usize, pred: impl Fn(u8) -> bool) -> usize {
    let n = s.len();
    let b = s.as_bytes();
    let ascii = ascii_flags();
    loop {
        // ASCII fast path: one table lookup per byte.
        while i < n && b[i] < 0x80 && pred(ascii[b[i] as usize]) {
            i += 1;
        }
        if i >= n || b[i] < 0x80 {
            return i;
        }
        let (c, l) = dec(s, i);
        if !pred(flags(c)) {
            return i;
        }
        i += l;
    }
}

/// Flags of the 128 ASCII chars.
#[inline(always)]
fn ascii_flags() -> &'static [u8; 128] {
    static T: once_cell::sync::Lazy<[u8; 128]> = once_cell::sync::Lazy::new(|| {
        let mut t = [0u8; 128];
        for (i, x) in t.iter_mut().enumerate() {
            *x = flags(i as u8 as char);
        }
        t
    });
    &T
}

/// End of the run of chars from `i` that are in `set`.
#[inline(always)]
fn run_bytes(s: &str, mut i: usize, set: &[u8]) -> usize {
    let b = s.as_bytes();
    while i < b.len() && set.contains(&b[i]) {
        i += 1;
    }
    i
}

/// A whitespace run from `i`: (end, start of its last char, number of chars, end of its last \r or \n).
#[inline(always)]
fn ws_run(s: &str, i: usize) -> (usize, usize, usize, Option<usize>) {
    let n = s.len();
    let (mut j, mut last, mut count, mut nl) = (i, i, 0usize, None);
    while j < n {
        let (c, l) = dec(s, j);
        if flags(c) & WS == 0 {
            break;
        }
        if c == '\n' || c == '\r' {
            nl = Some(j + 1);
        }
        last = j;
        count += 1;
        j += l;
    }
    (j, last, count, nl)
}

/// `\s+(?!\S)|\s+` (and `\s++$|\s+(?!\S)|\s`, the same): the run minus its last char when a non-space follows
/// and the run has two or more chars.
#[inline(always)]
fn ws_plain(s: &str, i: usize) -> usize {
    let (j, last, count, _) = ws_run(s, i);
    if j == s.len() || count < 2 {
        j
    } else {
        last
    }
}

/// `'(?:[sdmt]|ll|ve|re)` after the apostrophe at `j - 1`: the length matched after it.
#[inline(always)]
fn contraction_cs(b: &[u8], j: usize) -> Option<usize> {
    match b.get(j)? {
        b's' | b'd' | b'm' | b't' => Some(1),
        b'l' if b.get(j + 1) == Some(&b'l') => Some(2),
        b'v' | b'r' if b.get(j + 1) == Some(&b'e') => Some(2),
        _ => None,
    }
}

/// Case-insensitive `[sdmt]|ll|ve|re` (Unicode simple case folding: `s` also matches U+017F `ſ`).
#[inline(always)]
pub(super) fn contraction_ci(b: &[u8], j: usize) -> Option<usize> {
    let lower = |k: usize| b.get(k).map(|c| c.to_ascii_lowercase());
    match lower(j)? {
        b's' | b'd' | b'm' | b't' => Some(1),
        b'l' if lower(j + 1) == Some(b'l') => Some(2),
        b'v' | b'r' if lower(j + 1) == Some(b'e') => Some(2),
        0xC5 if b.get(j + 1) == Some(&0xBF) => Some(2), // ſ
        _ => None,
    }
}

/// GPT-2: `'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s`
pub fn gpt2<'a, F: FnMut(&'a str)>(s: &'a str, f: &mut F) {
    let n = s.len();
    let b = s.as_bytes();
    let mut i = 0;
    while i < n {
        let (c, cl) = dec(s, i);
        let end = 'm: {
            if c == '\'' {
                if let Some(k) = contraction_cs(b, i + 1) {
                    break 'm i + 1 + k;
                }
            }
            let mut body = i;
            let mut bf = flags(c);
            if c == ' ' && i + cl < n {
                let (c2, _) = dec(s, i + 1);
                let f2 = flags(c2);
                if f2 & WS == 0 {
                    body = i + 1;
                    bf = f2;
                }
            }
            if bf & WS != 0 {
                break 'm ws_plain(s, i);
            }
            if bf & L != 0 {
                run(s, body, |x| x & L != 0)
            } else if bf & N != 0 {
                run(s, body, |x| x & N != 0)
            } else {
                run(s, body, |x| x & (L | N | WS) == 0)
            }
        };
        f(&s[i..end]);
        i = end;
    }
}

/// cl100k (tiktoken 0.14):
/// `'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s`
///
/// With `classic`, Llama 3's spelling `...|\s*[\r\n]+|\s+(?!\S)|\s+` (no `\s++$`).
pub fn cl100k<'a, F: FnMut(&'a str)>(s: &'a str, f: &mut F, classic: bool) {
    let n = s.len();
    let b = s.as_bytes();
    let mut i = 0;
    while i < n {
        let (c, cl) = dec(s, i);
        let fc = flags(c);
        let end = 'm: {
            if c == '\'' {
                if let Some(k) = contraction_ci(b, i + 1) {
                    break 'm i + 1 + k;
                }
            }
            if fc & L != 0 {
                break 'm run(s, i + cl, |x| x & L != 0);
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
            // here c is neither letter nor number
            let next = if i + cl < n {
                Some(dec(s, i + cl))
            } else {
                None
            };
            let nf = next.map(|(c2, _)| flags(c2)).unwrap_or(0);
            if c != '\r' && c != '\n' && nf & L != 0 {
                break 'm run(s, i + cl, |x| x & L != 0);
            }
            if c == ' ' && next.is_some() && nf & (WS | L | N) == 0 {
                let j = run(s, i + 1, |x| x & (WS | L | N) == 0);
                break 'm run_bytes(s, j, b"\r\n");
            }
            if fc & WS == 0 {
                let j = run(s, i, |x| x & (WS | L | N) == 0);
                break 'm run_bytes(s, j, b"\r\n");
            }
            let (j, last, count, nl) = ws_run(s, i);
            if j == n {
                if classic {
                    if let Some(e) = nl {
                        break 'm e;
                    }
                }
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

/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)?` at `j`: bytes matched (0 if none).
#[inline(always)]
fn opt_contraction(b: &[u8], j: usize) -> usize {
    if b.get(j) == Some(&b'\'') {
        if let Some(k) = contraction_ci(b, j + 1) {
            return 1 + k;
        }
    }
    0
}

/// Start of the char that ends right before byte `i`.
#[inline(always)]
fn prev_start(b: &[u8], mut i: usize) -> usize {
    i -= 1;
    while b[i] & 0xC0 == 0x80 {
        i -= 1;
    }
    i
}

/// o200k alternative 1 from `st`: `[UP]*[LO]+ contraction?`, with the backtracking of the greedy `[UP]*`.
#[inline(always)]
fn o200k_alt1(s: &str, st: usize) -> Option<usize> {
    let n = s.len();
    let b = s.as_bytes();
    if st >= n {
        return None;
    }
    let u_end = run(s, st, |x| x & UP != 0);
    let mut k = u_end;
    loop {
        if k < n {
            let (c, _) = dec(s, k);
            if flags(c) & LO != 0 {
                let w_end = run(s, k, |x| x & LO != 0);
                return Some(w_end + opt_contraction(b, w_end));
            }
        }
        if k <= st {
            return None;
        }
        k = prev_start(b, k);
    }
}

/// o200k alternative 2 from `st`: `[UP]+[LO]* contraction?`.
#[inline(always)]
fn o200k_alt2(s: &str, st: usize) -> Option<usize> {
    if st >= s.len() {
        return None;
    }
    let (c, _) = dec(s, st);
    if flags(c) & UP == 0 {
        return None;
    }
    let u_end = run(s, st, |x| x & UP != 0);
    let w_end = run(s, u_end, |x| x & LO != 0);
    Some(w_end + opt_contraction(s.as_bytes(), w_end))
}

/// o200k: see `O200K_PATTERN`.
pub fn o200k<'a, F: FnMut(&'a str)>(s: &'a str, f: &mut F) {
    let n = s.len();
    let mut i = 0;
    while i < n {
        let (c, cl) = dec(s, i);
        let fc = flags(c);
        let end = 'm: {
            let pre_ok = c != '\r' && c != '\n' && fc & (L | N) == 0;
            if fc & (UP | LO) != 0 || pre_ok {
                if pre_ok {
                    if let Some(e) = o200k_alt1(s, i + cl) {
                        break 'm e;
                    }
                }
                if let Some(e) = o200k_alt1(s, i) {
                    break 'm e;
                }
                if pre_ok {
                    if let Some(e) = o200k_alt2(s, i + cl) {
                        break 'm e;
                    }
                }
                if let Some(e) = o200k_alt2(s, i) {
                    break 'm e;
                }
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
                flags(dec(s, i + cl).0)
            } else {
                WS // "no next char" behaves like a space here
            };
            if c == ' ' && nf & (WS | L | N) == 0 {
                let j = run(s, i + 1, |x| x & (WS | L | N) == 0);
                break 'm run_bytes(s, j, b"\r\n/");
            }
            if fc & (WS | L | N) == 0 {
                let j = run(s, i, |x| x & (WS | L | N) == 0);
                break 'm run_bytes(s, j, b"\r\n/");
            }
            let (j, last, count, nl) = ws_run(s, i);
            if let Some(e) = nl {
                break 'm e;
            }
            if j == n || count < 2 {
                j
            } else {
                last
            }
        };
        f(&s[i..end]);
        i = end;
    }
}

/// ` ?\S+|\s+(?!\S)|\s+`
pub fn whitespace<'a, F: FnMut(&'a str)>(s: &'a str, f: &mut F) {
    let n = s.len();
    let mut i = 0;
    while i < n {
        let (c, cl) = dec(s, i);
        let fc = flags(c);
        let end = if fc & WS == 0 {
            run(s, i, |x| x & WS == 0)
        } else if c == ' ' && i + cl < n && flags(dec(s, i + 1).0) & WS == 0 {
            run(s, i + 1, |x| x & WS == 0)
        } else {
            ws_plain(s, i)
        };
        f(&s[i..end]);
        i = end;
    }
}
