use super::*;
use crate::bpe::{self as plain, TrainConfig};
use crate::pretok::Pretokenizer;
use proptest::prelude::*;

fn chunks(list: &[(&str, u64)]) -> Vec<(Box<str>, u64)> {
    list.iter().map(|(w, c)| (Box::from(*w), *c)).collect()
}

fn cfg(vocab_size: usize, penalty: f64) -> MorphBpeConfig {
    MorphBpeConfig {
        vocab_size,
        min_frequency: 1,
        penalty,
        ..Default::default()
    }
}

fn merges_as_bytes(st: &MorphState) -> Vec<(Vec<u8>, Vec<u8>)> {
    st.merges
        .iter()
        .map(|&(a, b)| (st.tokens[a as usize].clone(), st.tokens[b as usize].clone()))
        .collect()
}

#[test]
fn penalty_decides_the_first_merge() {
    // "abc" ×3 cut ab|c, "bc" ×1. Hard: ab 3, bc 1. Plain: ab 3, bc 4. Half: bc 1 + 3/2 = 2.5 < 3.
    let ch = chunks(&[("abc", 3), ("bc", 1)]);
    let bounds = vec![vec![2], vec![]];
    let first = |p: f64| {
        let st = train_state(&ch, &bounds, &cfg(257, p)).unwrap();
        merges_as_bytes(&st)[0].clone()
    };
    assert_eq!(first(0.0), (b"a".to_vec(), b"b".to_vec()));
    assert_eq!(first(1.0), (b"b".to_vec(), b"c".to_vec()));
    assert_eq!(first(0.5), (b"a".to_vec(), b"b".to_vec()));
    assert_eq!(first(0.7), (b"b".to_vec(), b"c".to_vec())); // 1 + 2.1 = 3.1 > 3
                                                            // Hard: after ab, (ab, c) sits on the boundary and never merges; bc merges in "bc" only.
    let st = train_state(&ch, &bounds, &cfg(300, 0.0)).unwrap();
    assert_eq!(merges_as_bytes(&st).len(), 2);
    assert_eq!(st.words[0].len(), 2);
}

#[test]
fn penalty_one_is_plain_bpe() {
    let text =
        "the cat sat on the mat, the cats sat; that hat is the cat's hat. a rat, a bat, the bats";
    let pretok = Pretokenizer::from_spec("cl100k").unwrap();
    let mut m = Default::default();
    crate::count::count_into(&pretok, text, &mut m);
    let mut ch: Vec<(Box<str>, u64)> = m
        .into_iter()
        .map(|(k, v)| (Box::from(k.as_ref()), v))
        .collect();
    ch.sort();
    let bounds: Vec<Vec<usize>> = ch
        .iter()
        .map(|(c, _)| {
            if c.len() > 2 {
                vec![c.len() - 1]
            } else {
                vec![]
            }
        })
        .collect();
    let tc = TrainConfig {
        vocab_size: 300,
        min_frequency: 1,
        ..Default::default()
    };
    let reference = plain::train(&ch, pretok.clone(), &tc, None, &mut |_, _| true).unwrap();
    let (ours, rep) = train_with_boundaries(
        &ch,
        &bounds,
        pretok.clone(),
        "x".into(),
        &cfg(300, 1.0),
        &mut |_, _| true,
    )
    .unwrap();
    assert_eq!(reference.merges, ours.merges);
    assert_eq!(reference.vocab, ours.vocab);
    assert!(rep.crossing_merges > 0);
    // Hard boundaries change the merges and cross nothing.
    let (hard, rep) = train_with_boundaries(
        &ch,
        &bounds,
        pretok,
        "x".into(),
        &cfg(300, 0.0),
        &mut |_, _| true,
    )
    .unwrap();
    assert_ne!(hard.merges, ours.merges);
    assert_eq!(rep.crossing_merges, 0);
}

#[test]
fn same_result_for_any_thread_count() {
    let mut list = Vec::new();
    let mut x = 7u64;
    for i in 0..3000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let len = 2 + (x >> 60) as usize;
        let w: String = (0..len)
            .map(|k| (b'a' + ((x >> ((k * 5) % 60)) % 6) as u8) as char)
            .collect();
        list.push((format!("{w}{}", i % 3), 1 + (x >> 58) % 5));
    }
    list.sort();
    list.dedup_by(|a, b| a.0 == b.0);
    let ch: Vec<(Box<str>, u64)> = list
        .iter()
        .map(|(w, c)| (Box::from(w.as_str()), *c))
        .collect();
    let bounds: Vec<Vec<usize>> = ch.iter().map(|(c, _)| vec![c.len() / 2]).collect();
    let run = |threads: usize| {
        crate::on_threads(threads, || {
            train_state(&ch, &bounds, &cfg(400, 0.3)).unwrap().merges
        })
    };
    assert_eq!(run(1), run(4));
}

/// Byte offsets where the symbols of a word end.
fn symbol_cuts(st: &MorphState, w: usize) -> Vec<usize> {
    let mut at = 0;
    st.words[w]
        .iter()
        .map(|&t| {
            at += st.tokens[t as usize].len();
            at
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn hard_boundaries_are_never_crossed(
        words in prop::collection::vec(("[abc]{1,8}", 1u64..5, prop::collection::vec(1usize..8, 0..3)), 1..40),
        vocab in 257usize..330,
    ) {
        let mut seen = std::collections::BTreeMap::new();
        for (w, c, b) in words {
            let mut b: Vec<usize> = b.into_iter().filter(|&x| x < w.len()).collect();
            b.sort();
            b.dedup();
            seen.entry(w).or_insert((c, b));
        }
        let ch: Vec<(Box<str>, u64)> = seen.iter().map(|(w, (c, _))| (Box::from(w.as_str()), *c)).collect();
        let bounds: Vec<Vec<usize>> = seen.values().map(|(_, b)| b.clone()).collect();
        let st = train_state(&ch, &bounds, &cfg(vocab, 0.0)).unwrap();
        for (w, b) in bounds.iter().enumerate() {
            let cuts = symbol_cuts(&st, w);
            for x in b {
                prop_assert!(cuts.contains(x), "word {:?}: boundary {} crossed ({:?})", ch[w].0, x, cuts);
            }
        }
    }
}
