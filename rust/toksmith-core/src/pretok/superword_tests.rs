use super::superword::{word_count, SUPERWORD_HF_PATTERN, SUPERWORD_PATTERN};
use super::*;

const ALPHABET: &[char] = &[
    'a', 'b', 'Z', 'Q', ' ', ' ', ' ', ' ', ' ', '\n', '\r', '\t', '\'', '\'', 's', 'S', 'ſ', 'l',
    'L', 'e', 'E', 'v', 'r', 'd', 'm', 't', 'T', '1', '2', '٣', '½', '.', ',', '!', '/', '\u{301}',
    '中', '\u{3000}', '\u{a0}', 'ǅ', 'ʰ', '𝐀', '\u{85}', '_', '-', '😀', 'é', 'Ж', '\u{200d}',
];

fn random_strings(seed: u64, count: usize, max_len: usize) -> Vec<String> {
    let mut x = seed;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..count)
        .map(|_| {
            let len = (next() % max_len as u64) as usize;
            (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                .collect()
        })
        .collect()
}

fn cases() -> Vec<String> {
    let mut v: Vec<String> = [
        "Hello, world! It's 12345 o'clock.\n\n  Then   'LL we'RE x\r\n",
        "I don't know what you're saying, but it's the same as the other one",
        "the dogs' bowls and rock 'n' roll 'sup x'sup don'tknow",
        "  leading and trailing  ",
        "one two  three   four\tfive\u{a0}six\nseven",
        "naïve cafe\u{301} 中文 字符 Жж",
        "x\n  ",
        "",
        " ",
        "a",
        "1234567 and 89",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("a ".repeat(40));
    v.push("it's a b\nc\td e's ".repeat(12));
    v.extend(random_strings(0x5EED, 4000, 48));
    v.extend(random_strings(0x5EED + 1, 300, 400));
    v
}

fn regex_split(re: &fancy_regex::Regex, t: &str) -> Vec<String> {
    re.find_iter(t)
        .map(|m| m.unwrap().as_str().to_string())
        .collect()
}

#[test]
fn scanner_matches_reference_regex() {
    let p = Pretokenizer::preset(Preset::Superword);
    let re = fancy_regex::Regex::new(SUPERWORD_PATTERN).unwrap();
    for t in cases() {
        let ours: Vec<String> = p.split_to_vec(&t).into_iter().map(String::from).collect();
        assert_eq!(ours, regex_split(&re, &t), "on {t:?}");
    }
}

#[test]
fn hf_spelling_is_equivalent() {
    let a = fancy_regex::Regex::new(SUPERWORD_PATTERN).unwrap();
    let b = fancy_regex::Regex::new(SUPERWORD_HF_PATTERN).unwrap();
    for t in cases() {
        assert_eq!(regex_split(&a, &t), regex_split(&b, &t), "on {t:?}");
    }
    assert_eq!(
        Pretokenizer::regex(SUPERWORD_HF_PATTERN)
            .unwrap()
            .as_preset(),
        Some(Preset::Superword)
    );
}

#[test]
fn multi_word_chunks() {
    let p = Pretokenizer::preset(Preset::Superword);
    assert_eq!(
        p.split_to_vec("In the end, I don't know it.\n\nOf 12345 men  and\nwomen\n\nso"),
        vec![
            "In the end",
            ",",
            " I don't know it",
            ".\n\n",
            "Of",
            " ",
            "123",
            "45",
            " men",
            " ",
            " and\nwomen",
            "\n\n",
            "so"
        ]
    );
    // At most MAX_RUN words per chunk.
    let long = "a ".repeat(40);
    let chunks = p.split_to_vec(&long);
    assert_eq!(chunks[0], "a ".repeat(32).trim_end());
}

#[test]
fn coarser_than_cl100k() {
    // Every superword chunk is a concatenation of whole cl100k chunks, and splitting a superword chunk alone with
    // cl100k gives the same pieces as in the whole text.
    let sw = Pretokenizer::preset(Preset::Superword);
    let cl = Pretokenizer::preset(Preset::Cl100k);
    for t in cases() {
        let pieces: Vec<&str> = sw
            .split_to_vec(&t)
            .into_iter()
            .flat_map(|c| cl.split_to_vec(c))
            .collect();
        assert_eq!(pieces, cl.split_to_vec(&t), "on {t:?}");
    }
}

#[test]
fn safe_cut_gives_same_chunks() {
    let p = Pretokenizer::preset(Preset::Superword);
    for t in random_strings(99, 1500, 80) {
        let b = t.as_bytes();
        for lim in [b.len() / 3, b.len() / 2, b.len().saturating_sub(2)] {
            if let Some(cut) = p.safe_cut(b, lim) {
                let mut a: Vec<&str> = p.split_to_vec(&t[..cut]);
                a.extend(p.split_to_vec(&t[cut..]));
                assert_eq!(a, p.split_to_vec(&t), "{t:?} cut at {cut}");
            }
        }
    }
    // A letter followed by one space or newline is not a safe point for superword (it is for cl100k).
    assert_eq!(p.safe_cut(b"ab cd", 3), None);
    assert_eq!(p.safe_cut(b"ab\ncd", 3), None);
    assert_eq!(p.safe_cut(b"ab\n\ncd", 5), Some(4));
    assert_eq!(p.safe_cut(b"12 cd", 3), Some(2));
    // Gutenberg-like text has plenty of safe points, and cutting there changes nothing.
    let t = "It was the best of times,\nit was the worst of times.\n\nAnd so on\nand so forth\n\n"
        .repeat(50);
    let b = t.as_bytes();
    let mut start = 0;
    let mut pieces: Vec<&str> = Vec::new();
    while let Some(cut) = p
        .safe_cut(&b[start..], 300)
        .filter(|_| b.len() - start > 300)
    {
        pieces.extend(p.split_to_vec(&t[start..start + cut]));
        start += cut;
    }
    assert!(start > b.len() / 2);
    pieces.extend(p.split_to_vec(&t[start..]));
    assert_eq!(pieces, p.split_to_vec(&t));
}

#[test]
fn words_in_tokens() {
    assert_eq!(word_count(b" of the"), 2);
    assert_eq!(word_count(b"of the "), 2);
    assert_eq!(word_count(b"e of th"), 3);
    assert_eq!(word_count(b"   "), 0);
    assert_eq!(word_count(b"end\nof"), 2);
    assert_eq!(word_count(b"don't"), 1);
    assert_eq!(
        Pretokenizer::from_spec("superword").unwrap().spec(),
        "superword"
    );
}
