use super::*;
use crate::count::{count_into, Counts};
use crate::encode::Encoder;
use crate::pretok::{Preset, Pretokenizer};

fn sorted_counts(pt: &Pretokenizer, text: &str) -> Vec<(Box<str>, u64)> {
    let mut m = Counts::default();
    count_into(pt, text, &mut m);
    let mut v: Vec<_> = m.into_iter().collect();
    v.sort();
    v
}

/// Textbook BPE: recount every pair from scratch at each step; most frequent pair, ties to smallest ids.
fn brute_force(chunks: &[(Box<str>, u64)], n_merges: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let order = crate::bytelevel::byte_order();
    let mut tokens: Vec<Vec<u8>> = order.iter().map(|&b| vec![b]).collect();
    let mut words: Vec<(Vec<usize>, u64)> = chunks
        .iter()
        .map(|(w, c)| {
            (
                w.bytes()
                    .map(|b| order.iter().position(|&x| x == b).unwrap())
                    .collect(),
                *c,
            )
        })
        .collect();
    let mut out = Vec::new();
    for _ in 0..n_merges {
        let mut counts: std::collections::BTreeMap<(usize, usize), u64> = Default::default();
        for (w, c) in &words {
            for p in w.windows(2) {
                *counts.entry((p[0], p[1])).or_default() += c;
            }
        }
        let Some((&best, &bc)) = counts.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        else {
            break;
        };
        if bc < 2 {
            break;
        }
        let mut cat = tokens[best.0].clone();
        cat.extend_from_slice(&tokens[best.1]);
        let id = match tokens.iter().position(|t| *t == cat) {
            Some(i) => i,
            None => {
                tokens.push(cat);
                tokens.len() - 1
            }
        };
        out.push((tokens[best.0].clone(), tokens[best.1].clone()));
        for (w, _) in words.iter_mut() {
            let mut i = 0;
            let mut nw = Vec::new();
            while i < w.len() {
                if i + 1 < w.len() && w[i] == best.0 && w[i + 1] == best.1 {
                    nw.push(id);
                    i += 2;
                } else {
                    nw.push(w[i]);
                    i += 1;
                }
            }
            *w = nw;
        }
    }
    out
}

fn model_merges(m: &BpeModel) -> Vec<(Vec<u8>, Vec<u8>)> {
    m.merges
        .iter()
        .map(|&(a, b)| {
            (
                m.vocab[a as usize].clone().unwrap(),
                m.vocab[b as usize].clone().unwrap(),
            )
        })
        .collect()
}

const TEXTS: &[&str] = &[
    "aaaa aaa aa a abab ababab abba baab",
    "the cat sat on the mat; the hat is that hat. these theses!",
    "xxxxxxxxxxxxxxxxxxxx yyy xyxyxy xxy yxx",
    "low lower lowest newer newest wider widest low low low",
];

#[test]
fn incremental_equals_brute_force() {
    let pt = Pretokenizer::preset(Preset::Gpt2);
    for t in TEXTS {
        let chunks = sorted_counts(&pt, t);
        let cfg = TrainConfig {
            vocab_size: 256 + 40,
            min_frequency: 2,
            ..Default::default()
        };
        let m = train(&chunks, pt.clone(), &cfg, None, &mut |_, _| true).unwrap();
        assert_eq!(model_merges(&m), brute_force(&chunks, 40), "text {t:?}");
    }
}

#[test]
fn encoder_reproduces_training_segmentation() {
    // Encoding the training words with the learned merges gives the words' final segmentation.
    let pt = Pretokenizer::preset(Preset::Gpt2);
    let text = TEXTS.join(" ");
    let chunks = sorted_counts(&pt, &text);
    let cfg = TrainConfig {
        vocab_size: 300,
        ..Default::default()
    };
    let st_words = {
        let mut st = BpeState::new(&chunks, &[]).unwrap();
        let m = train(&chunks, pt.clone(), &cfg, None, &mut |_, _| true).unwrap();
        for &(a, b) in &m.merges {
            let (a, b) = (
                st.token_ids[m.vocab[a as usize].as_ref().unwrap()],
                st.token_ids[m.vocab[b as usize].as_ref().unwrap()],
            );
            st.apply_merge(pack(a, b));
        }
        (st.words, m)
    };
    let (words, m) = st_words;
    let enc = Encoder::new(m).unwrap();
    for (i, (w, _)) in chunks.iter().enumerate() {
        assert_eq!(enc.encode(w, false), words[i], "word {w:?}");
    }
}

#[test]
fn specials_first_and_errors() {
    let pt = Pretokenizer::preset(Preset::Gpt2);
    let chunks = sorted_counts(&pt, "hello hello world");
    let cfg = TrainConfig {
        vocab_size: 260,
        special_tokens: vec!["<|endoftext|>".into()],
        ..Default::default()
    };
    let m = train(&chunks, pt.clone(), &cfg, None, &mut |_, _| true).unwrap();
    assert_eq!(m.vocab[0].as_deref(), Some(b"<|endoftext|>".as_slice()));
    assert_eq!(m.vocab[1].as_deref(), Some(b"!".as_slice()));
    assert_eq!(m.vocab_size(), 260);
    let small = TrainConfig {
        vocab_size: 256,
        special_tokens: vec!["<s>".into()],
        ..Default::default()
    };
    assert!(matches!(
        train(&chunks, pt.clone(), &small, None, &mut |_, _| true),
        Err(TrainError::VocabTooSmall { .. })
    ));
    assert!(matches!(
        train(&[], pt, &cfg, None, &mut |_, _| true),
        Err(TrainError::EmptyCorpus)
    ));
}

#[test]
fn max_token_length_is_respected() {
    let pt = Pretokenizer::preset(Preset::Gpt2);
    let chunks = sorted_counts(&pt, &"abcdefgh ".repeat(50));
    let cfg = TrainConfig {
        vocab_size: 300,
        max_token_length: Some(3),
        ..Default::default()
    };
    let m = train(&chunks, pt, &cfg, None, &mut |_, _| true).unwrap();
    assert!(m.vocab.iter().flatten().all(|t| t.len() <= 3));
    assert!(!m.merges.is_empty());
}

#[test]
fn inherited_merges_continue_training() {
    let pt = Pretokenizer::preset(Preset::Gpt2);
    let text = TEXTS.join(" ");
    let chunks = sorted_counts(&pt, &text);
    let full = train(
        &chunks,
        pt.clone(),
        &TrainConfig {
            vocab_size: 290,
            ..Default::default()
        },
        None,
        &mut |_, _| true,
    )
    .unwrap();
    let first: Vec<(Vec<u8>, Vec<u8>)> = model_merges(&full).into_iter().take(10).collect();
    let resumed = train(
        &chunks,
        pt,
        &TrainConfig {
            vocab_size: 290,
            initial_merges: first,
            ..Default::default()
        },
        None,
        &mut |_, _| true,
    )
    .unwrap();
    assert_eq!(model_merges(&full), model_merges(&resumed));
}

#[test]
fn thread_count_does_not_change_result() {
    let pt = Pretokenizer::preset(Preset::Cl100k);
    let text = TEXTS.join("\n").repeat(20);
    let chunks = sorted_counts(&pt, &text);
    let cfg = TrainConfig {
        vocab_size: 320,
        ..Default::default()
    };
    let run = |n| {
        crate::on_threads(n, || {
            train(&chunks, pt.clone(), &cfg, None, &mut |_, _| true).unwrap()
        })
    };
    assert_eq!(run(1).merges, run(3).merges);
}

#[test]
fn chunk_order_does_not_change_result() {
    let pt = Pretokenizer::preset(Preset::Gpt2);
    let chunks = sorted_counts(&pt, &TEXTS.join(" "));
    let mut rev = chunks.clone();
    rev.reverse();
    let cfg = TrainConfig {
        vocab_size: 300,
        ..Default::default()
    };
    let a = train(&chunks, pt.clone(), &cfg, None, &mut |_, _| true).unwrap();
    let b = train(&rev, pt, &cfg, None, &mut |_, _| true).unwrap();
    assert_eq!(a.merges, b.merges);
    assert_eq!(a.vocab, b.vocab);
}

#[test]
fn parallel_merge_matches_serial() {
    // Enough distinct words holding the merged pairs that `apply_merge` takes its parallel path.
    let mut chunks: Vec<(Box<str>, u64)> = Vec::new();
    for i in 0..3 * PAR_MIN_WORDS {
        let w = format!("ab{}ab{}aab", i % 97, i);
        chunks.push((w.into_boxed_str(), 1 + (i % 7) as u64));
    }
    let run = |n| {
        crate::on_threads(n, || {
            let mut st = BpeState::new(&chunks, &[]).unwrap();
            let mut sel = Frequency::new(1);
            sel.init(&st.view());
            for _ in 0..12 {
                let p = sel.next(&st.view()).unwrap();
                let grew = st.apply_merge(p);
                sel.grew(&grew, &st.view());
            }
            let mut counts: Vec<(u64, i64)> = st.pair_counts.into_iter().collect();
            counts.sort_unstable();
            // Each pair's word list is a set (a merge sorts and dedups it): compare them as sets.
            let mut lists: Vec<(u64, Vec<u32>)> = st
                .pair_words
                .into_iter()
                .map(|(p, mut ws)| {
                    ws.sort_unstable();
                    ws.dedup();
                    (p, ws)
                })
                .collect();
            lists.sort_unstable();
            (st.words, st.merges, counts, lists)
        })
    };
    assert_eq!(run(1), run(3));
}
