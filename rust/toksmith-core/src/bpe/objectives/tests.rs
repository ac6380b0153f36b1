use super::lz::{Codec, Stream};
use super::mdl::code_length;
use super::*;
use crate::bpe::{pack, unpack, TrainConfig};
use crate::count::{count_into, Counts};
use crate::pretok::Preset;

const TEXT: &str = "It was the best of times, it was the worst of times, it was the age of wisdom, it was the \
age of foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season of Light, \
it was the season of Darkness, it was the spring of hope, it was the winter of despair, we had everything \
before us, we had nothing before us, we were all going direct to Heaven, we were all going direct the other way.";

fn counts(pt: &Pretokenizer, text: &str) -> Vec<(Box<str>, u64)> {
    let mut m = Counts::default();
    count_into(pt, text, &mut m);
    let mut v: Vec<_> = m.into_iter().collect();
    v.sort();
    v
}

fn gpt2() -> Pretokenizer {
    Pretokenizer::preset(Preset::Gpt2)
}

fn cfg(n: usize) -> TrainConfig {
    TrainConfig {
        vocab_size: 256 + n,
        ..Default::default()
    }
}

type Words = Vec<(Vec<u32>, i64)>;

/// Words as byte ids in the trainer's id order, with counts.
fn byte_words(chunks: &[(Box<str>, u64)]) -> (Words, Vec<Vec<u8>>) {
    let st = BpeState::new(chunks, &[]).unwrap();
    let w = st
        .words
        .iter()
        .zip(&st.word_counts)
        .map(|(w, &c)| (w.clone(), c as i64))
        .collect();
    (w, st.tokens)
}

fn apply(words: &mut [(Vec<u32>, i64)], a: u32, b: u32, c: u32) {
    for (w, _) in words.iter_mut() {
        let mut out = Vec::with_capacity(w.len());
        let mut i = 0;
        while i < w.len() {
            if i + 1 < w.len() && w[i] == a && w[i + 1] == b {
                out.push(c);
                i += 2;
            } else {
                out.push(w[i]);
                i += 1;
            }
        }
        *w = out;
    }
}

fn pair_counts(words: &[(Vec<u32>, i64)]) -> std::collections::BTreeMap<(u32, u32), i64> {
    let mut m = std::collections::BTreeMap::new();
    for (w, c) in words {
        for p in w.windows(2) {
            *m.entry((p[0], p[1])).or_insert(0) += c;
        }
    }
    m
}

fn unigrams(words: &[(Vec<u32>, i64)], n_tokens: usize) -> Vec<i64> {
    let mut n = vec![0i64; n_tokens + 1];
    for (w, c) in words {
        for &t in w {
            n[t as usize] += c;
        }
    }
    n
}

#[test]
fn frequency_objective_is_plain_bpe() {
    let chunks = counts(&gpt2(), &TEXT.repeat(3));
    let obj = ObjectiveConfig::default();
    let (a, _) = train(&chunks, gpt2(), &cfg(60), &obj, &mut |_, _| true).unwrap();
    let b = crate::bpe::train(&chunks, gpt2(), &cfg(60), None, &mut |_, _| true).unwrap();
    assert_eq!(a.merges, b.merges);
}

/// MDL, by brute force: at each step every pair is merged in a copy of the corpus and the exact order-0 code
/// length plus dictionary cost is computed; the trainer's merge must be (one of) the best.
#[test]
fn mdl_takes_the_best_merge_by_brute_force() {
    let text = TEXT.repeat(2);
    let chunks = counts(&gpt2(), &text);
    let n = 40;
    for stop in [false, true] {
        let obj = ObjectiveConfig {
            name: "mdl".into(),
            stop_when_no_gain: stop,
            ..Default::default()
        };
        let (m, rep) = train(&chunks, gpt2(), &cfg(n), &obj, &mut |_, _| true).unwrap();
        let (mut words, mut tokens) = byte_words(&chunks);
        for (k, &(a, b)) in m.merges.iter().enumerate() {
            let vocab = tokens.len();
            let dict = 2.0 * ((vocab + 1) as f64).log2();
            let before = code_length(&unigrams(&words, vocab));
            let mut best = f64::MIN;
            let mut ours = f64::NAN;
            for (&(x, y), &f) in pair_counts(&words).iter() {
                if f < 2 {
                    continue;
                }
                let mut w2 = words.clone();
                apply(&mut w2, x, y, vocab as u32);
                let g = before - code_length(&unigrams(&w2, vocab)) - dict;
                best = best.max(g);
                if (x, y) == (a, b) {
                    ours = g;
                }
            }
            assert!(
                (ours - best).abs() < 1e-6 * best.abs().max(1.0),
                "merge {k}: {ours} vs {best}"
            );
            if stop {
                assert!(ours > 0.0);
            }
            let mut cat = tokens[a as usize].clone();
            cat.extend_from_slice(&tokens[b as usize]);
            let c = tokens.iter().position(|t| *t == cat).unwrap_or_else(|| {
                tokens.push(cat.clone());
                tokens.len() - 1
            }) as u32;
            apply(&mut words, a, b, c);
        }
        if stop && rep.stopped_early {
            // Nothing left pays for itself.
            let vocab = tokens.len();
            let dict = 2.0 * ((vocab + 1) as f64).log2();
            let before = code_length(&unigrams(&words, vocab));
            for (&(x, y), &f) in pair_counts(&words).iter() {
                if f >= 2 {
                    let mut w2 = words.clone();
                    apply(&mut w2, x, y, vocab as u32);
                    assert!(before - code_length(&unigrams(&w2, vocab)) - dict <= 1e-9);
                }
            }
        }
    }
}

#[test]
fn mdl_stops_on_its_own() {
    let chunks = counts(&gpt2(), TEXT);
    let obj = ObjectiveConfig {
        name: "mdl".into(),
        stop_when_no_gain: true,
        ..Default::default()
    };
    let (m, rep) = train(&chunks, gpt2(), &cfg(5000), &obj, &mut |_, _| true).unwrap();
    assert!(rep.stopped_early && m.vocab.len() < 256 + 5000);
}

/// LZ, by brute force: at each step the sample is re-tokenized from scratch with the merges so far plus each of
/// the most frequent pairs, written as u16 ids and compressed; the trainer's merge must give the smallest size.
#[test]
fn lz_takes_the_best_candidate_by_brute_force() {
    let text = TEXT.repeat(3);
    let sample = TEXT.replace("it was", "It was").repeat(2);
    let chunks = counts(&gpt2(), &text);
    let k = 6;
    let codec = Codec::Zstd(3);
    let obj = ObjectiveConfig {
        name: "lz".into(),
        lz_candidates: k,
        lz_codec: codec,
        lz_sample: Some(sample.clone()),
        ..Default::default()
    };
    let n = 30;
    let (m, _) = train(&chunks, gpt2(), &cfg(n), &obj, &mut |_, _| true).unwrap();
    let (mut words, mut tokens) = byte_words(&chunks);
    let (mut sample_words, _) = byte_words(
        &gpt2()
            .split_to_vec(&sample)
            .into_iter()
            .map(|c| (Box::<str>::from(c), 1u64))
            .collect::<Vec<_>>(),
    );
    // byte_words of a list keeps its order (one entry per chunk, repeats included).
    for (step, &(a, b)) in m.merges.iter().enumerate() {
        let pc = pair_counts(&words);
        let mut cands: Vec<((u32, u32), i64)> = pc.into_iter().filter(|&(_, f)| f >= 2).collect();
        cands.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        cands.truncate(k);
        let size_of = |x: u32, y: u32| {
            let mut sw = sample_words.clone();
            apply(&mut sw, x, y, tokens.len() as u32);
            let ws: Vec<Vec<u32>> = sw.into_iter().map(|(w, _)| w).collect();
            codec.size(&Stream::new(&ws).bytes(false))
        };
        let sizes: Vec<usize> = cands.iter().map(|&((x, y), _)| size_of(x, y)).collect();
        let best = (0..cands.len()).min_by_key(|&i| (sizes[i], i)).unwrap();
        assert_eq!(cands[best].0, (a, b), "step {step}: sizes {sizes:?}");
        let mut cat = tokens[a as usize].clone();
        cat.extend_from_slice(&tokens[b as usize]);
        tokens.push(cat);
        let c = tokens.len() as u32 - 1;
        apply(&mut words, a, b, c);
        apply(&mut sample_words, a, b, c);
    }
    let _ = (pack(1, 2), unpack(3));
}

#[test]
fn objectives_are_deterministic_across_threads_and_named() {
    let chunks = counts(&gpt2(), &TEXT.repeat(4));
    for name in NAMES {
        let obj = ObjectiveConfig {
            name: name.into(),
            lz_sample: Some(TEXT.into()),
            ..Default::default()
        };
        let go = |n| {
            crate::on_threads(n, || {
                train(&chunks, gpt2(), &cfg(50), &obj, &mut |_, _| true)
                    .unwrap()
                    .0
                    .merges
            })
        };
        assert_eq!(go(1), go(3), "{name}");
    }
    let bad = ObjectiveConfig {
        name: "nope".into(),
        ..Default::default()
    };
    assert!(train(&chunks, gpt2(), &cfg(50), &bad, &mut |_, _| true).is_err());
    let no_sample = ObjectiveConfig {
        name: "lz".into(),
        ..Default::default()
    };
    assert!(train(&chunks, gpt2(), &cfg(50), &no_sample, &mut |_, _| true).is_err());
    assert_eq!(Codec::parse("deflate:9"), Some(Codec::Deflate(9)));
    assert_eq!(Codec::parse("zstd"), Some(Codec::Zstd(3)));
    assert_eq!(Codec::parse("lzma"), None);
}
