use super::*;

const ALPHABET: &[char] = &[
    'a', 'b', 'Z', 'Q', ' ', ' ', ' ', '\n', '\r', '\t', '\'', 's', 'S', 'ſ', 'l', 'L', 'e', 'E',
    'v', 'r', 'd', 'm', 't', 'T', '1', '2', '٣', '½', '.', '!', '/', '\u{301}', '中', '\u{3000}',
    '\u{a0}', 'Ǆ', 'ǅ', 'ʰ', 'ª', '𝐀', '\u{85}', '\u{1c}', '_', '-', '😀', 'é', 'Ж', 'ж',
    '\u{200d}', '\u{0e31}', '\u{0b}',
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

fn check(preset: Preset, cases: &[String]) {
    let p = Pretokenizer::preset(preset);
    let re = fancy_regex::Regex::new(preset.pattern().unwrap()).unwrap();
    for t in cases {
        let ours: Vec<String> = p.split_to_vec(t).into_iter().map(String::from).collect();
        let theirs: Vec<String> = re
            .find_iter(t)
            .map(|m| m.unwrap().as_str().to_string())
            .collect();
        assert_eq!(ours, theirs, "preset {} on {:?}", preset.name(), t);
    }
}

fn fixed_cases() -> Vec<String> {
    [
        "Hello, world! It's 12345 o'clock.\n\n  Then   'LL we'RE x\r\n",
        "  leading and trailing  ",
        "x\n  ",
        "x \n\n ",
        "HELLO World HTTPServer iPhone",
        "ǅemal ǄEMAL ʰa aʰ",
        "a\u{301}b \u{301}\u{301}x",
        "foo//bar\n/x",
        "'s 'S 'ſ 'sup 'll 'LL ''s",
        "中文字符 123456 ٣٤٥",
        "\t\tindent\n\tx",
        "",
        " ",
        "\n",
        "a",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn presets_match_reference_regexes_fixed() {
    for p in [
        Preset::Gpt2,
        Preset::Cl100k,
        Preset::O200k,
        Preset::Llama3,
        Preset::Whitespace,
    ] {
        check(p, &fixed_cases());
    }
}

#[test]
fn presets_match_reference_regexes_random() {
    for (k, p) in [
        Preset::Gpt2,
        Preset::Cl100k,
        Preset::O200k,
        Preset::Llama3,
        Preset::Whitespace,
    ]
    .into_iter()
    .enumerate()
    {
        check(p, &random_strings(0x9E3779B97F4A7C15 + k as u64, 3000, 40));
    }
}

#[test]
fn gpt2_hf_spelling_is_equivalent() {
    let a = fancy_regex::Regex::new(GPT2_PATTERN).unwrap();
    let b = fancy_regex::Regex::new(GPT2_HF_PATTERN).unwrap();
    let all = |re: &fancy_regex::Regex, t: &str| -> Vec<String> {
        re.find_iter(t)
            .map(|m| m.unwrap().as_str().to_string())
            .collect()
    };
    for t in random_strings(42, 2000, 30)
        .iter()
        .chain(fixed_cases().iter())
    {
        assert_eq!(all(&a, t), all(&b, t), "{t:?}");
    }
}

#[test]
fn digits_step_isolates_digits() {
    let p = Pretokenizer::from_spec("digits+gpt2").unwrap();
    assert_eq!(
        p.split_to_vec("ab 123x"),
        vec!["ab", " ", "1", "2", "3", "x"]
    );
}

#[test]
fn none_and_unknown() {
    let p = Pretokenizer::from_spec("none").unwrap();
    assert_eq!(p.split_to_vec("a b\nc"), vec!["a b\nc"]);
    assert!(Pretokenizer::from_spec("nope").is_err());
}

#[test]
fn safe_cut_gives_same_chunks() {
    for preset in [
        Preset::Gpt2,
        Preset::Cl100k,
        Preset::O200k,
        Preset::Llama3,
        Preset::Whitespace,
    ] {
        let p = Pretokenizer::preset(preset);
        for t in random_strings(7 + preset as u64, 500, 80) {
            let b = t.as_bytes();
            for lim in [b.len() / 3, b.len() / 2, b.len().saturating_sub(2)] {
                if let Some(cut) = p.safe_cut(b, lim) {
                    assert!(cut > 0 && cut <= lim);
                    let mut a: Vec<&str> = p.split_to_vec(&t[..cut]);
                    a.extend(p.split_to_vec(&t[cut..]));
                    assert_eq!(a, p.split_to_vec(&t), "{:?} cut at {}", t, cut);
                }
            }
        }
    }
}
