//! Unicode character classes used by the hand-written splitters.
//!
//! The tables are derived at start-up from `regex-syntax`, the same Unicode data the `regex` crate (and so
//! tiktoken's `fancy-regex`) uses, so `\p{L}`, `\p{N}`, `\s` and `\w` mean exactly what they mean in the
//! reference patterns. Code points below U+10000 are answered from a 64 KiB flag table; the rest by binary
//! search over merged ranges.

use once_cell::sync::Lazy;
use regex_syntax::hir::{Class, HirKind};

/// `\p{L}`
pub const L: u8 = 1;
/// `\p{N}`
pub const N: u8 = 2;
/// `\s` (Unicode White_Space)
pub const WS: u8 = 4;
/// `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]` (o200k "upper-ish")
pub const UP: u8 = 8;
/// `[\p{Ll}\p{Lm}\p{Lo}\p{M}]` (o200k "lower-ish")
pub const LO: u8 = 16;
/// `\w`
pub const W: u8 = 32;
/// `\p{Nd}`-like numeric as Rust's `char::is_numeric` (Nd, Nl, No), used by the HF `Digits` step
pub const NUM: u8 = 64;

struct Tables {
    bmp: Vec<u8>,
    /// (start, end inclusive, flags) for code points >= 0x10000, sorted, non-overlapping.
    astral: Vec<(u32, u32, u8)>,
}

fn ranges(pattern: &str) -> Vec<(u32, u32)> {
    let hir = regex_syntax::ParserBuilder::new()
        .unicode(true)
        .utf8(true)
        .build()
        .parse(pattern)
        .expect("static class pattern parses");
    match hir.kind() {
        HirKind::Class(Class::Unicode(c)) => c
            .ranges()
            .iter()
            .map(|r| (r.start() as u32, r.end() as u32))
            .collect(),
        _ => panic!("pattern {pattern} is not a Unicode class"),
    }
}

static TABLES: Lazy<Tables> = Lazy::new(|| {
    let defs: [(&str, u8); 7] = [
        (r"\p{L}", L),
        (r"\p{N}", N),
        (r"\s", WS),
        (r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]", UP),
        (r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]", LO),
        (r"\w", W),
        (r"[\p{Nd}\p{Nl}\p{No}]", NUM),
    ];
    let mut bmp = vec![0u8; 0x10000];
    let mut points: Vec<(u32, u32, u8)> = Vec::new();
    for (pat, flag) in defs {
        for (s, e) in ranges(pat) {
            for cp in s..=e.min(0xFFFF) {
                bmp[cp as usize] |= flag;
            }
            if e >= 0x10000 {
                points.push((s.max(0x10000), e, flag));
            }
        }
    }
    // Turn overlapping (range, flag) pieces into disjoint ranges with OR-ed flags.
    let mut cuts: Vec<u32> = Vec::new();
    for &(s, e, _) in &points {
        cuts.push(s);
        cuts.push(e + 1);
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut astral: Vec<(u32, u32, u8)> = Vec::new();
    for w in cuts.windows(2) {
        let (s, e) = (w[0], w[1] - 1);
        let mut f = 0u8;
        for &(ps, pe, pf) in &points {
            if ps <= s && e <= pe {
                f |= pf;
            }
        }
        if f != 0 {
            match astral.last_mut() {
                Some(last) if last.1 + 1 == s && last.2 == f => last.1 = e,
                _ => astral.push((s, e, f)),
            }
        }
    }
    Tables { bmp, astral }
});

/// Force the tables to be built (e.g. before timing).
pub fn init() {
    Lazy::force(&TABLES);
}

/// The class flags of `c`.
#[inline(always)]
pub fn flags(c: char) -> u8 {
    let cp = c as u32;
    let t = &*TABLES;
    if cp < 0x10000 {
        t.bmp[cp as usize]
    } else {
        match t.astral.binary_search_by(|&(s, e, _)| {
            if e < cp {
                std::cmp::Ordering::Less
            } else if s > cp {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        }) {
            Ok(i) => t.astral[i].2,
            Err(_) => 0,
        }
    }
}

#[inline(always)]
pub fn is_letter(c: char) -> bool {
    flags(c) & L != 0
}
#[inline(always)]
pub fn is_number(c: char) -> bool {
    flags(c) & N != 0
}
#[inline(always)]
pub fn is_space(c: char) -> bool {
    flags(c) & WS != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_classes() {
        assert!(is_letter('a') && is_letter('Ж') && is_letter('中'));
        assert!(is_number('7') && is_number('٣') && is_number('½'));
        assert!(is_space(' ') && is_space('\n') && is_space('\u{3000}') && is_space('\u{85}'));
        assert!(!is_space('\u{1c}'));
        assert!(is_letter('𝐀')); // astral letter
        assert!(flags('\u{301}') & UP != 0 && flags('\u{301}') & L == 0); // combining mark
    }
}
