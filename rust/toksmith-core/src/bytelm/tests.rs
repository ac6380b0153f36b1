use super::*;
use crate::bpe::{train, TrainConfig};
use crate::count::{count_into, Counts};
use crate::encode::Encoder;
use crate::model::MergeMode;
use crate::pretok::Pretokenizer;
use std::sync::Arc;

/// Text with the characters the presets treat specially: apostrophes and contractions, digit runs, space and
/// newline runs, tabs, punctuation, 2-, 3- and 4-byte characters, upper/lower case.
const TEXT: &str = "Hello world, it's a test. We'll see 12345 and 6789! \
    L'été à Paris: café €12.50 — très bien.\n\n  Indented  text\twith tabs;\r\n \
    東京は大きい。 😀 emoji 😀😀. THE END'S NEAR. don't WON'T they're we've I'm you'd \
    a  b   c    d\n \n \tx 3.14159 2024-01-01 foo/bar/baz ...!!! ??? é é é ee eé ";

fn lcg(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *state >> 33
}

fn trained(spec: &str, vocab: usize, mode: MergeMode) -> Arc<Encoder> {
    let pt = Pretokenizer::from_spec(spec).unwrap();
    let mut m = Counts::default();
    for _ in 0..3 {
        count_into(&pt, TEXT, &mut m);
    }
    count_into(&pt, "the then there these theme thesis the the the", &mut m);
    let mut chunks: Vec<_> = m.into_iter().collect();
    chunks.sort();
    let cfg = TrainConfig {
        vocab_size: vocab,
        min_frequency: 1,
        special_tokens: vec!["<|endoftext|>".into()],
        ..Default::default()
    };
    let mut model = train(&chunks, pt, &cfg, None, &mut |_, _| true).unwrap();
    if mode == MergeMode::Ranks {
        model.mode = MergeMode::Ranks;
        model.merges.clear();
    }
    Arc::new(Encoder::new(model).unwrap())
}

fn eos(enc: &Encoder) -> u32 {
    enc.model().added[0].id
}

#[test]
fn trie_ranges_and_lookup() {
    let enc = trained("gpt2", 330, MergeMode::Pairs);
    let c = ByteCover::new(enc.clone(), CoverConfig::default()).unwrap();
    let trie = c.trie();
    let model = enc.model();
    for p in 0..trie.len() {
        let id = trie.id_at(p);
        let b = model.vocab[id as usize].as_deref().unwrap();
        let node = trie.find(b).unwrap();
        assert_eq!(trie.token(node), Some(id));
        let (lo, hi) = trie.range(node);
        assert_eq!(lo, p);
        for q in lo..hi {
            let w = model.vocab[trie.id_at(q) as usize].as_deref().unwrap();
            assert!(w.starts_with(b));
        }
        // children partition the subtree minus the node's own token
        let mut next = lo + 1;
        for &(byte, ch) in trie.children(node) {
            let (clo, chi) = trie.range(ch);
            assert_eq!(clo, next);
            let w = model.vocab[trie.id_at(clo) as usize].as_deref().unwrap();
            assert_eq!(w[b.len()], byte);
            next = chi;
        }
        assert_eq!(next, hi);
    }
    assert_eq!(trie.children(TokenTrie::ROOT).len(), 256);
    assert!(
        trie.find(b"<|endoftext|>").is_none()
            || trie.token(trie.find(b"<|endoftext|>").unwrap()).is_none()
    );
}

#[test]
fn pair_validity_equals_reencoding() {
    for mode in [MergeMode::Pairs, MergeMode::Ranks] {
        for spec in ["none", "gpt2"] {
            let enc = trained(spec, 360, mode);
            let mut c = ByteCover::new(enc.clone(), CoverConfig::default()).unwrap();
            let ids: Vec<u32> = c.trie().lex_ids().to_vec();
            let trie = c.trie().clone();
            let val = c.validity();
            assert!(val.monotone, "trained merges are monotone ({mode:?})");
            for &t in &ids {
                assert!(val.proper(t), "trained tokens encode to themselves");
            }
            let mut n_invalid = 0;
            for &a in &ids {
                for &t in &ids {
                    let r = val.pair_valid_reencode(&enc, a, t);
                    assert_eq!(val.pair_ok(&enc, &trie, a, t), r, "{mode:?} {a} {t}");
                    assert_eq!(val.pair_ok_direct(&enc, a, t), r, "{mode:?} {a} {t}");
                    n_invalid += usize::from(!r);
                }
            }
            assert!(n_invalid > 100, "the test vocabulary has invalid pairs");
        }
    }
}

#[test]
fn pair_validity_real_tokenizers() {
    // The shared tiktoken files, when present: a random sample of pairs.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/tokenizers");
    for (file, spec) in [
        ("gpt2.tiktoken", "gpt2"),
        ("cl100k_base.tiktoken", "cl100k"),
    ] {
        let p = dir.join(file);
        let Ok(data) = std::fs::read(&p) else {
            continue;
        };
        let pt = Pretokenizer::from_spec(spec).unwrap();
        let model = crate::formats::tiktoken::parse(&data, pt, &[]).unwrap();
        let enc = Arc::new(Encoder::new(model).unwrap());
        let ids: Vec<u32> = (0..enc.model().vocab_size() as u32)
            .filter(|&i| enc.model().vocab[i as usize].is_some())
            .collect();
        let trie_tokens: Vec<(u32, &[u8])> = ids
            .iter()
            .map(|&i| (i, enc.model().vocab[i as usize].as_deref().unwrap()))
            .collect();
        let trie = TokenTrie::new(&trie_tokens, enc.model().vocab_size());
        let mut val = PairValidity::new(&enc, trie.lex_ids());
        assert!(val.monotone, "{file}: ranks are monotone");
        let mut s = 7u64;
        for _ in 0..20000 {
            let a = ids[lcg(&mut s) as usize % ids.len()];
            // bias towards short right tokens, where merges across happen
            let t = ids[(lcg(&mut s) as usize % ids.len()) >> (lcg(&mut s) % 8)];
            let r = val.pair_valid_reencode(&enc, a, t);
            assert_eq!(val.pair_ok(&enc, &trie, a, t), r, "{file}: {a} {t}");
        }
    }
}

#[test]
fn chunk_starts_are_stable() {
    let alphabet: Vec<&str> = vec![
        "a", "B", "s", "'", "l", "e", "1", "2", " ", " ", "\n", "\r", "\t", ".", "/", "é", "É",
        "あ", "😀", "\u{301}", "٣", "\u{a0}", "r", "v", "t", "L",
    ];
    for spec in [
        "gpt2",
        "cl100k",
        "o200k",
        "llama3",
        "whitespace",
        "digits+gpt2",
        "digits+cl100k",
    ] {
        let pt = Pretokenizer::from_spec(spec).unwrap();
        let mut s = 11u64;
        for _ in 0..3000 {
            let n = 1 + lcg(&mut s) as usize % 10;
            let text: String = (0..n)
                .map(|_| alphabet[lcg(&mut s) as usize % alphabet.len()])
                .collect();
            let full = pt.split_to_vec(&text);
            let mut starts = vec![0usize];
            for c in &full {
                starts.push(starts.last().unwrap() + c.len());
            }
            let mut cuts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
            cuts.push(text.len());
            for &k in &cuts {
                let y = &text[..k];
                let p = stable_start(&pt, y);
                assert!(p < k || k == 0, "{spec}: {y:?}");
                assert!(
                    starts.contains(&p),
                    "{spec}: {p} of {y:?} is not a chunk start of {text:?}"
                );
                let tail = pt.split_to_vec(&text[p..]);
                assert_eq!(
                    &full[full.len() - tail.len()..],
                    &tail[..],
                    "{spec}: {text:?} at {p}"
                );
            }
        }
    }
}

/// Deterministic pseudo-random next-token log-probabilities (depend on the last two tokens).
fn random_row(tokens: &[u32], n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        ^ tokens
            .iter()
            .rev()
            .take(2)
            .fold(0x9E3779B97F4A7C15u64, |h, &t| {
                (h ^ t as u64).wrapping_mul(0x100000001B3)
            });
    (0..n)
        .map(|_| (lcg(&mut s) % 1000) as f32 / 200.0 - 2.5)
        .collect()
}

fn feed(c: &mut ByteCover, text: &[u8], seed: u64) -> f64 {
    let n = c.vocab_size();
    let mut total = 0.0;
    for &b in text {
        for sid in c.pending() {
            let row = random_row(&c.tokens(sid), n, seed);
            c.provide(sid, &row).unwrap();
        }
        let dist = c.next_byte().unwrap();
        let s: f64 = dist.iter().sum();
        assert!((s - 1.0).abs() < 1e-9, "normalised: {s}");
        total += c.push(b).unwrap();
    }
    for sid in c.pending() {
        let row = random_row(&c.tokens(sid), n, seed);
        c.provide(sid, &row).unwrap();
    }
    total
}

/// The fast masks equal the reference validity test on every covering state of some texts.
fn masks_match(spec: &str, mode: MergeMode, texts: &[&str], long_partials: bool) {
    let enc = trained(spec, 340, mode);
    let cfg = CoverConfig {
        eos: Some(eos(&enc)),
        ..Default::default()
    };
    let mut c = ByteCover::new(enc.clone(), cfg).unwrap();
    let model = enc.model().clone();
    let ids: Vec<u32> = c.trie().lex_ids().to_vec();
    let mut checked = 0;
    for text in texts {
        c.reset();
        for k in 0..=text.len() {
            if k > 0 {
                feed(&mut c, &text.as_bytes()[k - 1..k], 3);
            } else {
                feed(&mut c, b"", 3);
            }
            let live: Vec<u32> = c
                .live()
                .iter()
                .copied()
                .filter(|&s| c.state_end(s) == k)
                .collect();
            for sid in live {
                let fast = c.valid_next(sid);
                let (z, u) = c.state_context(sid);
                for &t in &ids {
                    let tb = model.vocab[t as usize].as_deref().unwrap();
                    let mut zt = z.clone();
                    zt.extend_from_slice(tb);
                    let missing = match chunks::utf8_parts(&zt) {
                        Some((_, _, p)) if !p.is_empty() => chunks::utf8_len_pub(p[0]) - p.len(),
                        _ => 0,
                    };
                    if missing >= 2 && !long_partials {
                        continue;
                    }
                    let slow = c.exact_valid(&z, &u, t);
                    assert_eq!(
                        fast.contains(&t),
                        slow,
                        "{spec} {mode:?}: after {:?} (z={:?}, u={u:?}) token {t} {:?}",
                        String::from_utf8_lossy(&text.as_bytes()[..k]),
                        String::from_utf8_lossy(&z),
                        String::from_utf8_lossy(tb)
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 1000);
}

#[test]
fn masks_match_reference_gpt2() {
    masks_match(
        "gpt2",
        MergeMode::Pairs,
        &[
            "it's  a 12 test.\n é€",
            "We'll  \n x'll 'LL",
            "café 東京 😀!",
        ],
        false,
    );
}

#[test]
fn masks_match_reference_cl100k_ranks() {
    masks_match(
        "cl100k",
        MergeMode::Ranks,
        &["it's 12345 a\r\n  test", "THE END'S\t x", "é 東"],
        false,
    );
}

#[test]
fn masks_match_reference_o200k_llama3_digits() {
    masks_match(
        "o200k",
        MergeMode::Pairs,
        &["HelloWorld it'S 1234", "a\n\n b/c"],
        false,
    );
    masks_match(
        "llama3",
        MergeMode::Pairs,
        &["we've  12 \n\n x", "'re"],
        false,
    );
    masks_match("digits+gpt2", MergeMode::Pairs, &["a 123 b", " 9x"], false);
    masks_match("none", MergeMode::Pairs, &["the then é"], false);
    masks_match("whitespace", MergeMode::Ranks, &["a  b \n c"], false);
}

#[test]
fn masks_match_reference_long_partials() {
    masks_match("gpt2", MergeMode::Pairs, &["é "], true);
}

/// `log Q(encode(y) EOS)` by walking the canonical tokens with the reference validity test.
fn canonical_logq(c: &mut ByteCover, y: &str, seed: u64) -> f64 {
    let enc = c.encoder().clone();
    let model = enc.model().clone();
    let e = c.config().eos.unwrap();
    let toks = enc.encode(y, false);
    let ids: Vec<u32> = c.trie().lex_ids().to_vec();
    let n = c.vocab_size();
    let pt = model.pretok.clone();
    let mut lq = 0.0;
    for i in 0..=toks.len() {
        let prefix = &toks[..i];
        let text = enc.decode_bytes(prefix, false).unwrap();
        let (_, mid, _) = chunks::utf8_parts(&text).unwrap();
        let p = {
            let ch = pt.split_to_vec(mid);
            mid.len() - ch.last().map_or(0, |c| c.len())
        };
        // tokens after p
        let mut off = 0;
        let mut u = Vec::new();
        for &t in prefix {
            if off >= p {
                u.push(t);
            }
            off += model.vocab[t as usize].as_ref().unwrap().len();
        }
        let z = text[p..].to_vec();
        let row = random_row(prefix, n, seed);
        let mx = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
        let mut zsum = 0.0;
        for &t in &ids {
            if c.exact_valid(&z, &u, t) {
                zsum += (row[t as usize] as f64 - mx).exp();
            }
        }
        let complete = std::str::from_utf8(&text).is_ok()
            && enc.encode(std::str::from_utf8(&text).unwrap(), false) == prefix;
        if complete {
            zsum += (row[e as usize] as f64 - mx).exp();
        }
        let next = if i < toks.len() { toks[i] } else { e };
        lq += (row[next as usize] as f64 - mx) - zsum.ln();
    }
    lq
}

#[test]
fn byte_chain_telescopes_to_canonical_path() {
    for (spec, mode) in [
        ("gpt2", MergeMode::Pairs),
        ("cl100k", MergeMode::Ranks),
        ("none", MergeMode::Pairs),
    ] {
        let enc = trained(spec, 340, mode);
        let cfg = CoverConfig {
            eos: Some(eos(&enc)),
            ..Default::default()
        };
        let mut c = ByteCover::new(enc.clone(), cfg).unwrap();
        for y in ["it's a test", "é  x\n", "12 ab"] {
            c.reset();
            let lp = feed(&mut c, y.as_bytes(), 5);
            let eot = c.next_byte().unwrap()[256].ln();
            let direct = canonical_logq(&mut c, y, 5);
            assert!(
                (lp + eot - direct).abs() < 1e-9,
                "{spec}: {y:?}: bytes {} vs canonical path {}",
                lp + eot,
                direct
            );
        }
    }
}

#[test]
fn errors() {
    let enc = trained("gpt2", 300, MergeMode::Pairs);
    let mut c = ByteCover::new(
        enc.clone(),
        CoverConfig {
            eos: Some(eos(&enc)),
            ..Default::default()
        },
    )
    .unwrap();
    let short = vec![0.0f32; 10];
    assert!(matches!(
        c.provide(0, &short),
        Err(BytelmError::VocabMismatch { .. })
    ));
    assert!(matches!(c.next_byte(), Err(BytelmError::Pending)));
    feed(&mut c, b"", 1);
    assert!(matches!(c.push(0xFF), Err(BytelmError::Impossible { .. })));
    assert!(matches!(
        ByteCover::new(
            enc.clone(),
            CoverConfig {
                eos: Some(65),
                ..Default::default()
            }
        ),
        Err(BytelmError::BadEos(_))
    ));
}

#[test]
fn beam_mode_normalises() {
    let enc = trained("gpt2", 330, MergeMode::Pairs);
    let mut c = ByteCover::new(
        enc.clone(),
        CoverConfig {
            eos: Some(eos(&enc)),
            canonical: false,
            beam: 4,
            ..Default::default()
        },
    )
    .unwrap();
    let lp = feed(&mut c, "it's a test".as_bytes(), 9);
    assert!(lp < 0.0 && lp.is_finite());
    assert!(c.n_live() <= 4);
}

#[test]
fn probes_are_complete() {
    // Every continuation of up to two characters from a wide alphabet (and three-character ones from a
    // narrow one) makes a token valid only if some probe does.
    let wide: Vec<&str> = vec![
        "a", "b", "B", "s", "l", "e", "r", "v", "d", "t", "m", "L", "E", "S", "'", "1", "2", " ",
        "\n", "\r", "\t", ".", "/", ",", "é", "É", "あ", "😀", "\u{301}", "٣", "\u{a0}", "ǅ", "_",
        "-",
    ];
    let narrow: Vec<&str> = vec!["a", "'", "l", "1", " ", "\n", ".", "E"];
    let mut conts: Vec<String> = vec![String::new()];
    for a in &wide {
        conts.push(a.to_string());
        for b in &wide {
            conts.push(format!("{a}{b}"));
        }
    }
    for a in &narrow {
        for b in &narrow {
            for c in &narrow {
                conts.push(format!("{a}{b}{c}"));
            }
        }
    }
    for (spec, mode) in [
        ("gpt2", MergeMode::Pairs),
        ("cl100k", MergeMode::Ranks),
        ("o200k", MergeMode::Pairs),
        ("llama3", MergeMode::Pairs),
        ("digits+gpt2", MergeMode::Pairs),
    ] {
        let enc = trained(spec, 330, mode);
        let mut c = ByteCover::new(enc.clone(), CoverConfig::default()).unwrap();
        let model = enc.model().clone();
        let ids: Vec<u32> = c.trie().lex_ids().to_vec();
        let pt = model.pretok.clone();
        let mut s = 5u64;
        let mut n = 0;
        for _ in 0..25 {
            // a random text, its stable region z and canonical tokens
            let len = 1 + lcg(&mut s) as usize % 6;
            let text: String = (0..len)
                .map(|_| wide[lcg(&mut s) as usize % wide.len()])
                .collect();
            let p = stable_start(&pt, &text);
            let z = text.as_bytes()[p..].to_vec();
            let u = enc.encode(&text[p..], false);
            for &t in &ids {
                let tb = model.vocab[t as usize].as_deref().unwrap();
                let mut zt = z.clone();
                zt.extend_from_slice(tb);
                if std::str::from_utf8(&zt).is_err() {
                    continue;
                }
                let probe = c.exact_valid(&z, &u, t);
                let all = c.exact_valid_with(&z, &u, t, &conts);
                assert_eq!(
                    probe,
                    all,
                    "{spec}: z={:?} t={:?}",
                    String::from_utf8_lossy(&z),
                    String::from_utf8_lossy(tb)
                );
                n += 1;
            }
        }
        assert!(n > 1000);
    }
}

// ----- SentencePiece-style BPE with byte fallback ----------------------------------------------------------

/// A hand-made Llama-style `tokenizer.json`: `<unk> <s> </s>`, the 256 fallback bytes, the characters
/// `▁ a b é` and a few merges (two of them for `▁ab`, as SentencePiece converters list every split).
fn sp_json(legacy: bool) -> String {
    let mut vocab = serde_json::Map::new();
    for (i, s) in ["<unk>", "<s>", "</s>"].iter().enumerate() {
        vocab.insert(s.to_string(), i.into());
    }
    for b in 0..256u32 {
        vocab.insert(format!("<0x{b:02X}>"), (3 + b).into());
    }
    for (k, s) in ["▁", "a", "b", "é", "▁a", "ab", "▁ab", "ba", "▁b"]
        .iter()
        .enumerate()
    {
        vocab.insert(s.to_string(), (259 + k).into());
    }
    // ("▁", "ab") comes before ("a", "b"), which makes "ab": not monotone, as in real conversions
    let merges = serde_json::json!([
        ["▁", "a"],
        ["▁a", "b"],
        ["▁", "ab"],
        ["a", "b"],
        ["b", "a"],
        ["▁", "b"]
    ]);
    let added: Vec<serde_json::Value> = ["<unk>", "<s>", "</s>"]
        .iter()
        .enumerate()
        .map(|(i, c)| {
            serde_json::json!({"id": i, "content": c, "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let (normalizer, pre) = if legacy {
        (
            serde_json::json!({"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}),
            serde_json::Value::Null,
        )
    } else {
        (
            serde_json::Value::Null,
            serde_json::json!({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false}),
        )
    };
    serde_json::json!({
        "version": "1.0", "added_tokens": added, "normalizer": normalizer, "pre_tokenizer": pre,
        "post_processor": null,
        "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true,
            "ignore_merges": false, "vocab": vocab, "merges": merges}
    })
    .to_string()
}

fn sp_encoder(legacy: bool) -> Arc<Encoder> {
    let m = crate::formats::hf_json::parse(sp_json(legacy).as_bytes(), "sp.json").unwrap();
    Arc::new(Encoder::new(m).unwrap())
}

#[test]
fn sp_parse_encode_decode() {
    let (leg, meta) = (sp_encoder(true), sp_encoder(false));
    let id = |s: &str| leg.token_to_id(s.as_bytes()).unwrap();
    assert_eq!(id(" "), 259); // "▁" is the space byte, not <0x20>
    assert_eq!(id("a"), 260); // not <0x61>
    assert_eq!(leg.token_to_id(b"x"), Some(3 + 0x78)); // a character without a token: its fallback byte
    assert_eq!(leg.encode("ab a", false), vec![id(" ab"), id(" a")]);
    assert_eq!(leg.encode("xa", false), vec![id(" "), 3 + 0x78, id("a")]);
    // "ü" (C3 BC) falls back to bytes, "é" (C3 A9) is a character token; fallback bytes never merge
    assert_eq!(
        leg.encode("üé", false),
        vec![id(" "), 3 + 0xC3, 3 + 0xBC, id("é")]
    );
    assert_eq!(leg.encode("a\u{2581}b", false), leg.encode("a b", false));
    // the dummy prefix: always (legacy normalizer) or unless the text starts with a space (Metaspace)
    assert_eq!(leg.encode(" a", false), vec![id(" "), id(" a")]);
    assert_eq!(meta.encode(" a", false), vec![id(" a")]);
    assert_eq!(meta.encode("", false), Vec::<u32>::new());
    assert_eq!(leg.encode("a</s>b", true), vec![id(" a"), 2, id(" b")]);
    assert_eq!(meta.encode("a</s>b", true), vec![id(" a"), 2, id("b")]);
    let ids = leg.encode("ba ü", false);
    assert_eq!(leg.decode_bytes(&ids, false).unwrap(), "ba ü".as_bytes());
    assert_eq!(leg.stream_prefix(), b" ");
    // a long text takes the heap path
    let long = "ab ba üx é".repeat(40);
    let mut heap = Vec::new();
    leg.encode_stream_into(&format!(" {long}"), &mut Default::default(), &mut heap);
    assert_eq!(heap, leg.encode(&long, false));
    assert_eq!(leg.decode_bytes(&heap, false).unwrap(), long.as_bytes());
}

#[test]
fn sp_refusals() {
    let base: serde_json::Value = serde_json::from_str(&sp_json(false)).unwrap();
    let mut split = base.clone();
    split["pre_tokenizer"]["split"] = true.into();
    let mut missing = base.clone();
    missing["model"]["vocab"]
        .as_object_mut()
        .unwrap()
        .remove("<0x41>");
    let mut decoder = base.clone();
    decoder["decoder"] = serde_json::json!({"type": "ByteLevel"});
    for (what, v) in [
        ("split", split),
        ("missing byte", missing),
        ("decoder", decoder),
    ] {
        let r = crate::formats::hf_json::parse(v.to_string().as_bytes(), "sp.json");
        assert!(
            matches!(r, Err(crate::formats::FormatError::Unsupported(_))),
            "{what}"
        );
    }
    let m = crate::formats::hf_json::parse(sp_json(true).as_bytes(), "sp.json").unwrap();
    assert!(crate::formats::hf_json::to_string(&m).is_err());
}

/// Reference validity for the SentencePiece model: some continuation (after every completion of a trailing
/// partial character) keeps `seq` a prefix of the stream's encoding; the stream starts with the space.
fn sp_valid_ref(enc: &Encoder, seq: &[u32]) -> bool {
    let text = enc.decode_bytes(seq, false).unwrap();
    let text: Vec<u8> = if enc.model().sp.as_ref().unwrap().strip_decoded {
        // decode_bytes strips the dummy space; the stream keeps it
        let raw: Vec<u8> = seq
            .iter()
            .flat_map(|&t| enc.model().vocab[t as usize].clone().unwrap())
            .collect();
        raw
    } else {
        text
    };
    if !text.starts_with(b" ") {
        return false;
    }
    let (_, _, partial) = match chunks::utf8_parts(&text) {
        Some(p) => p,
        None => return false,
    };
    let comps = sp_completions(enc, partial);
    for comp in &comps {
        for cont in ["", "x", "a", " ", "é", "b", "ü"] {
            let mut w = text.clone();
            w.extend_from_slice(comp);
            w.extend_from_slice(cont.as_bytes());
            let Ok(s) = std::str::from_utf8(&w) else {
                continue;
            };
            let mut out = Vec::new();
            enc.encode_stream_into(s, &mut Default::default(), &mut out);
            if out.len() >= seq.len() && out[..seq.len()] == *seq {
                return true;
            }
        }
    }
    false
}

/// Completions of a trailing partial character tried by [`sp_valid_ref`] (memoised).
fn sp_completions(enc: &Encoder, partial: &[u8]) -> Vec<Vec<u8>> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    type Memo = Mutex<HashMap<Vec<u8>, Vec<Vec<u8>>>>;
    static MEMO: OnceLock<Memo> = OnceLock::new();
    let memo = MEMO.get_or_init(Default::default);
    if let Some(v) = memo.lock().unwrap().get(partial) {
        return v.clone();
    }
    let mut comps: Vec<Vec<u8>> = vec![Vec::new()];
    if !partial.is_empty() {
        comps.clear();
        let n = chunks::utf8_len_pub(partial[0]);
        let missing = n - partial.len();
        // every completion when one byte is missing; else those making a character with a token, plus two
        // valid ones without (characters without a token are all spelled by fallback bytes alike)
        let mut others = 0;
        for k in 0..(1usize << (6 * missing)) {
            let comp: Vec<u8> = (0..missing)
                .rev()
                .map(|m| 0x80 | ((k >> (6 * m)) & 0x3F) as u8)
                .collect();
            let mut ch = partial.to_vec();
            ch.extend_from_slice(&comp);
            if missing == 1 {
                comps.push(comp);
            } else if std::str::from_utf8(&ch).is_ok() {
                let known = enc
                    .token_to_id(&ch)
                    .is_some_and(|t| !enc.model().sp.as_ref().unwrap().is_fallback(t));
                if known || others < 2 {
                    others += usize::from(!known);
                    comps.push(comp);
                }
            }
        }
    }
    memo.lock().unwrap().insert(partial.to_vec(), comps.clone());
    comps
}

#[test]
fn sp_masks_match_reference_and_chain_telescopes() {
    for legacy in [true, false] {
        let enc = sp_encoder(legacy);
        let cfg = CoverConfig {
            eos: Some(2),
            ..Default::default()
        };
        let mut c = ByteCover::new(enc.clone(), cfg).unwrap();
        assert!(!c.validity().monotone);
        let ids: Vec<u32> = c.trie().lex_ids().to_vec();
        for y in ["ab ba", "üx é", "a  b\u{3042}a", "ba\u{1F600}b"] {
            c.reset();
            let stream = format!(" {y}");
            let mut lp = 0.0;
            let bytes = stream.as_bytes();
            for i in 0..=bytes.len() {
                for sid in c.pending() {
                    let row = random_row(&c.tokens(sid), c.vocab_size(), 7);
                    c.provide(sid, &row).unwrap();
                }
                for sid in c.live().to_vec() {
                    if c.state_end(sid) != i {
                        continue;
                    }
                    let seq = c.tokens(sid);
                    let fast: std::collections::BTreeSet<u32> =
                        c.valid_next(sid).into_iter().collect();
                    let slow: std::collections::BTreeSet<u32> = ids
                        .iter()
                        .copied()
                        .filter(|&t| {
                            let mut s = seq.clone();
                            s.push(t);
                            sp_valid_ref(&enc, &s)
                        })
                        .collect();
                    assert_eq!(fast, slow, "{y:?} at {i}: {seq:?}");
                }
                if i < bytes.len() {
                    lp += c.push(bytes[i]).unwrap();
                }
            }
            let eot = c.next_byte().unwrap()[256].ln();
            // the canonical path's probability, masks by the reference
            let toks = {
                let mut out = Vec::new();
                enc.encode_stream_into(&stream, &mut Default::default(), &mut out);
                out
            };
            assert_eq!(toks, {
                let mut t = enc.encode(y, false);
                if !legacy && y.starts_with(' ') {
                    t.insert(0, 259);
                }
                t
            });
            let mut lq = 0.0;
            for i in 0..=toks.len() {
                let prefix = &toks[..i];
                let row = random_row(prefix, c.vocab_size(), 7);
                let mx = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
                let mut z = 0.0;
                for &t in &ids {
                    let mut s = prefix.to_vec();
                    s.push(t);
                    if sp_valid_ref(&enc, &s) {
                        z += (row[t as usize] as f64 - mx).exp();
                    }
                }
                let raw: Vec<u8> = prefix
                    .iter()
                    .flat_map(|&t| enc.model().vocab[t as usize].clone().unwrap())
                    .collect();
                let mut again = Vec::new();
                if let Ok(s) = std::str::from_utf8(&raw) {
                    enc.encode_stream_into(s, &mut Default::default(), &mut again);
                }
                if i > 0 && again == prefix {
                    z += (row[2] as f64 - mx).exp(); // a whole encoding: end of text may follow
                }
                let next = if i < toks.len() { toks[i] } else { 2 };
                lq += (row[next as usize] as f64 - mx) - z.ln();
            }
            assert!((lp + eot - lq).abs() < 1e-9, "{y:?}: {} vs {lq}", lp + eot);
        }
    }
}

#[test]
fn sp_pair_validity_non_monotone_equals_reencoding() {
    let enc = sp_encoder(true);
    let mut c = ByteCover::new(enc.clone(), CoverConfig::default()).unwrap();
    let ids: Vec<u32> = c.trie().lex_ids().to_vec();
    let trie_ids = ids.clone();
    let val = c.validity();
    assert!(!val.monotone);
    let mut fresh = PairValidity::new(&enc, &trie_ids);
    // fallback tokens follow their own rules (whole characters that are not tokens), not pair validity
    let sp = enc.model().sp.as_ref().unwrap();
    let ids: Vec<u32> = ids.into_iter().filter(|&t| !sp.is_fallback(t)).collect();
    assert!(ids.len() >= 9);
    for &a in &ids {
        for &t in &ids {
            if !val.proper(a) || !val.proper(t) {
                continue;
            }
            let mut out = Vec::new();
            let mut cat = enc.model().vocab[a as usize].clone().unwrap();
            cat.extend_from_slice(enc.model().vocab[t as usize].as_deref().unwrap());
            enc.bpe(&cat, &mut out);
            let direct = out == [a, t];
            let trie = TokenTrie::new(&[], 0);
            assert_eq!(fresh.pair_ok(&enc, &trie, a, t), direct, "{a} {t}");
            assert_eq!(fresh.pair_valid_events(a, t), direct, "events {a} {t}");
        }
    }
}
