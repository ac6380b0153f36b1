//! Hugging Face `tokenizer.json` for byte-level BPE: write ours, read ours and other byte-level BPE files
//! (GPT-2, SmolLM2, Llama 3 layouts). Also reads SentencePiece-style BPE with byte fallback (Llama 2,
//! Mistral, TinyLlama layouts; see [`crate::model::SentencePiece`]), which is not written back.

use super::FormatError;
use crate::bytelevel;
use crate::model::{AddedToken, BpeModel, MergeMode, Prepend, SentencePiece};
use crate::pretok::{Preset, Pretokenizer};
use serde_json::{json, Map, Value};

/// The regex written into `tokenizer.json` for a preset. HF runs it with Oniguruma, whose syntax differs
/// from tiktoken's `fancy-regex` in two places that matter here: `{1,3}+` is not possessive and `$` is an
/// end-of-line anchor; these spellings have the same meaning under Oniguruma (checked by the test suite).
pub fn hf_pattern(p: Preset) -> Option<&'static str> {
    match p {
        Preset::Gpt2 => Some(crate::pretok::GPT2_HF_PATTERN),
        Preset::Cl100k => Some(CL100K_HF_PATTERN),
        Preset::Llama3 => Some(crate::pretok::LLAMA3_PATTERN),
        Preset::O200k => Some(crate::pretok::O200K_PATTERN),
        Preset::Whitespace => Some(crate::pretok::WHITESPACE_PATTERN),
        Preset::Superword => Some(crate::pretok::superword::SUPERWORD_HF_PATTERN),
        Preset::None => None,
    }
}

pub const CL100K_HF_PATTERN: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s+\z|\s*[\r\n]|\s+(?!\S)|\s";

fn preset_from_hf_pattern(p: &str) -> Option<Preset> {
    if p == CL100K_HF_PATTERN {
        return Some(Preset::Cl100k);
    }
    Preset::from_pattern(p)
}

/// Rewrite the Oniguruma spellings whose meaning differs in `fancy-regex`: `X{n,m}+` is a repeated bounded
/// repetition in Oniguruma (Ruby syntax), not a possessive one. (`$` is an end-of-line anchor in Oniguruma;
/// patterns put it after a possessive `\s++`, where both readings agree, so it is left alone.)
pub fn onig_to_fancy(p: &str) -> String {
    rewrite_bounded_plus(p, |atom, rep| format!("(?:{atom}{rep})+"))
}

/// The other way, for writing our `regex:` patterns (run with `fancy-regex`, where `X{n,m}+` is possessive) into
/// tokenizer.json: `X{n,m}+` becomes the atomic group `(?>X{n,m})`, which both engines read as possessive.
pub fn fancy_to_onig(p: &str) -> String {
    rewrite_bounded_plus(p, |atom, rep| format!("(?>{atom}{rep})"))
}

/// Replace every `X{n,m}+` (X the atom before the bounded repetition) by `wrap(X, "{n,m}")`.
fn rewrite_bounded_plus(p: &str, wrap: impl Fn(&str, &str) -> String) -> String {
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len() + 8);
    let mut i = 0;
    // Byte offset in `out` of the last atom, so that `{n,m}+` can wrap it in a group.
    let mut atom_start = 0usize;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            atom_start = out.len();
            out.push(c);
            out.push(chars[i + 1]);
            i += 2;
            if matches!(chars[i - 1], 'p' | 'P') && i < chars.len() && chars[i] == '{' {
                while i < chars.len() {
                    out.push(chars[i]);
                    i += 1;
                    if chars[i - 1] == '}' {
                        break;
                    }
                }
            }
            continue;
        }
        if c == '[' {
            atom_start = out.len();
            let mut depth = 0;
            while i < chars.len() {
                let d = chars[i];
                out.push(d);
                i += 1;
                if d == '\\' && i < chars.len() {
                    out.push(chars[i]);
                    i += 1;
                    continue;
                }
                if d == '[' {
                    depth += 1;
                } else if d == ']' {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
            }
            continue;
        }
        if c == '{' {
            let mut j = i;
            while j < chars.len() && chars[j] != '}' {
                j += 1;
            }
            if j < chars.len() {
                let body: String = chars[i..=j].iter().collect();
                let inner = &body[1..body.len() - 1];
                let is_rep =
                    !inner.is_empty() && inner.chars().all(|x| x.is_ascii_digit() || x == ',');
                if is_rep && j + 1 < chars.len() && chars[j + 1] == '+' {
                    let atom = out[atom_start..].to_string();
                    out.truncate(atom_start);
                    out.push_str(&wrap(&atom, &body));
                    i = j + 2;
                    continue;
                }
                out.push_str(&body);
                i = j + 1;
                continue;
            }
        }
        if c != '+' && c != '*' && c != '?' {
            atom_start = out.len();
        }
        out.push(c);
        i += 1;
    }
    out
}

fn byte_level(use_regex: bool) -> Value {
    json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex})
}

fn pre_tokenizer(pt: &Pretokenizer) -> Result<Value, FormatError> {
    let mut steps: Vec<Value> = Vec::new();
    if pt.individual_digits() {
        steps.push(json!({"type": "Digits", "individual_digits": true}));
    }
    match pt.as_preset() {
        Some(Preset::Gpt2) => steps.push(byte_level(true)),
        Some(Preset::None) => steps.push(byte_level(false)),
        Some(p) => {
            steps.push(json!({"type": "Split", "pattern": {"Regex": hf_pattern(p)}, "behavior": "Isolated", "invert": false}));
            steps.push(byte_level(false));
        }
        None => {
            let pat = fancy_to_onig(pt.pattern().unwrap_or_default());
            steps.push(json!({"type": "Split", "pattern": {"Regex": pat}, "behavior": "Isolated", "invert": false}));
            steps.push(byte_level(false));
        }
    }
    Ok(if steps.len() == 1 {
        steps.pop().expect("one step")
    } else {
        json!({"type": "Sequence", "pretokenizers": steps})
    })
}

fn token_str(model: &BpeModel, id: u32, added: &rustc_hash::FxHashMap<u32, &AddedToken>) -> String {
    match added.get(&id) {
        Some(a) => a.content.clone(),
        None => bytelevel::encode(model.vocab[id as usize].as_deref().unwrap_or_default()),
    }
}

/// Serialise a model as `tokenizer.json` text.
pub fn to_string(model: &BpeModel) -> Result<String, FormatError> {
    if model.sp.is_some() {
        return Err(FormatError::Unsupported(
            "writing a SentencePiece-style (byte fallback) model".into(),
        ));
    }
    if model.mode == MergeMode::Ranks && model.merges.is_empty() {
        return Err(FormatError::Unsupported(
            "a tiktoken (rank) model has no merges list; derive merges first".into(),
        ));
    }
    let added: rustc_hash::FxHashMap<u32, &AddedToken> =
        model.added.iter().map(|a| (a.id, a)).collect();
    let mut vocab = Map::new();
    for (id, t) in model.vocab.iter().enumerate() {
        if t.is_some() {
            vocab.insert(token_str(model, id as u32, &added), Value::from(id));
        }
    }
    let merges: Vec<Value> = model
        .merges
        .iter()
        .map(|&(a, b)| json!([token_str(model, a, &added), token_str(model, b, &added)]))
        .collect();
    let mut sorted_added: Vec<&AddedToken> = model.added.iter().collect();
    sorted_added.sort_by_key(|a| a.id);
    let added_json: Vec<Value> = sorted_added
        .iter()
        .map(|a| {
            json!({"id": a.id, "content": a.content, "single_word": false, "lstrip": false, "rstrip": false,
                   "normalized": false, "special": a.special})
        })
        .collect();
    let doc = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added_json,
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer(&model.pretok)?,
        "post_processor": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {
            "type": "BPE",
            "dropout": null,
            "unk_token": null,
            "continuing_subword_prefix": null,
            "end_of_word_suffix": null,
            "fuse_unk": false,
            "byte_fallback": false,
            "ignore_merges": model.ignore_merges,
            "vocab": vocab,
            "merges": merges,
        }
    });
    Ok(serde_json::to_string_pretty(&doc).expect("serialisable"))
}

fn unsupported(what: impl Into<String>) -> FormatError {
    FormatError::Unsupported(what.into())
}

fn parse_pretok(v: &Value) -> Result<Pretokenizer, FormatError> {
    let steps: Vec<&Value> = match v.get("type").and_then(Value::as_str) {
        Some("Sequence") => v
            .get("pretokenizers")
            .and_then(Value::as_array)
            .ok_or_else(|| FormatError::Invalid("Sequence pre-tokenizer without a list".into()))?
            .iter()
            .collect(),
        Some(_) => vec![v],
        None => return Err(unsupported("no pre_tokenizer: not a byte-level BPE")),
    };
    let mut digits = false;
    let mut split: Option<Pretokenizer> = None;
    let mut saw_byte_level = false;
    for s in steps {
        match s.get("type").and_then(Value::as_str).unwrap_or("") {
            "Digits" => {
                if s.get("individual_digits").and_then(Value::as_bool) != Some(true) {
                    return Err(unsupported("Digits(individual_digits=false)"));
                }
                if split.is_some() || saw_byte_level {
                    return Err(unsupported("Digits after another split step"));
                }
                digits = true;
            }
            "Split" => {
                let pat = s
                    .pointer("/pattern/Regex")
                    .and_then(Value::as_str)
                    .ok_or_else(|| unsupported("Split with a plain string pattern"))?;
                if s.get("behavior").and_then(Value::as_str) != Some("Isolated")
                    || s.get("invert").and_then(Value::as_bool) == Some(true)
                {
                    return Err(unsupported("Split other than Isolated/invert=false"));
                }
                if split.is_some() {
                    return Err(unsupported("two Split steps"));
                }
                split = Some(match preset_from_hf_pattern(pat) {
                    Some(p) => Pretokenizer::preset(p),
                    None => Pretokenizer::regex(&onig_to_fancy(pat))?,
                });
            }
            "ByteLevel" => {
                if s.get("add_prefix_space").and_then(Value::as_bool) == Some(true) {
                    return Err(unsupported("ByteLevel(add_prefix_space=true)"));
                }
                if s.get("use_regex").and_then(Value::as_bool).unwrap_or(true) {
                    if split.is_some() {
                        return Err(unsupported("Split followed by ByteLevel(use_regex=true)"));
                    }
                    split = Some(Pretokenizer::preset(Preset::Gpt2));
                }
                saw_byte_level = true;
            }
            other => return Err(unsupported(format!("pre-tokenizer step {other:?}"))),
        }
    }
    if !saw_byte_level {
        return Err(unsupported(
            "no ByteLevel pre-tokenizer: not a byte-level BPE",
        ));
    }
    Ok(split
        .unwrap_or_else(|| Pretokenizer::preset(Preset::None))
        .with_individual_digits(digits))
}

/// `<0xNN>` (two upper-case hex digits, as HF's byte fallback writes them) → the byte.
fn sp_fallback_byte(s: &str) -> Option<u8> {
    let h = s.strip_prefix("<0x")?.strip_suffix('>')?;
    if h.len() != 2
        || !h
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c))
    {
        return None;
    }
    u8::from_str_radix(h, 16).ok()
}

/// The normalizer / pre-tokenizer / decoder of a SentencePiece-style BPE with byte fallback: the legacy
/// `Sequence[Prepend("▁"), Replace(" ", "▁")]` normalizer without pre-tokenizer, or no normalizer and
/// `Metaspace("▁", prepend_scheme, split=false)`. Returns (where the dummy prefix goes, whether the decoder
/// strips one leading space).
fn parse_sp_pipeline(v: &Value) -> Result<(Prepend, bool), FormatError> {
    const META: &str = "\u{2581}";
    let norm = v.get("normalizer").unwrap_or(&Value::Null);
    let pre = v.get("pre_tokenizer").unwrap_or(&Value::Null);
    let steps = |x: &Value, key: &str| -> Vec<Value> {
        match x.get("type").and_then(Value::as_str) {
            Some("Sequence") => x
                .get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            Some(_) => vec![x.clone()],
            None => Vec::new(),
        }
    };
    let ty = |x: &Value| {
        x.get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let prepend = match (norm.is_null(), pre.is_null()) {
        (false, true) => {
            let st = steps(norm, "normalizers");
            let mut prepend = Prepend::Never;
            let mut replaced = false;
            for (i, s) in st.iter().enumerate() {
                match ty(s).as_str() {
                    "Prepend" if i == 0 && s.get("prepend").and_then(Value::as_str) == Some(META) => {
                        prepend = Prepend::Always
                    }
                    "Replace"
                        if s.pointer("/pattern/String").and_then(Value::as_str) == Some(" ")
                            && s.get("content").and_then(Value::as_str) == Some(META) =>
                    {
                        replaced = true
                    }
                    other => {
                        return Err(unsupported(format!(
                            "byte-fallback BPE with normalizer step {other:?}"
                        )))
                    }
                }
            }
            if !replaced {
                return Err(unsupported(
                    "byte-fallback BPE whose normalizer does not replace spaces by \"▁\"",
                ));
            }
            prepend
        }
        (true, false) => {
            let st = steps(pre, "pretokenizers");
            let [m] = st.as_slice() else {
                return Err(unsupported("byte-fallback BPE with several pre-tokenizer steps"));
            };
            if ty(m) != "Metaspace"
                || m.get("replacement").and_then(Value::as_str) != Some(META)
                || m.get("split").and_then(Value::as_bool) != Some(false)
            {
                return Err(unsupported(format!(
                    "byte-fallback BPE with pre-tokenizer {} (only Metaspace(\"▁\", split=false))",
                    ty(m)
                )));
            }
            match m.get("prepend_scheme").and_then(Value::as_str) {
                Some("first") => Prepend::MetaspaceFirst,
                Some("always") => Prepend::MetaspaceAlways,
                Some("never") => Prepend::Never,
                other => {
                    return Err(unsupported(format!(
                        "Metaspace prepend_scheme {other:?}"
                    )))
                }
            }
        }
        _ => {
            return Err(unsupported(
                "byte-fallback BPE needs either a Prepend/Replace normalizer or a Metaspace pre-tokenizer",
            ))
        }
    };
    let dec = v.get("decoder").unwrap_or(&Value::Null);
    let mut strip = false;
    for (i, s) in steps(dec, "decoders").iter().enumerate() {
        match ty(s).as_str() {
            "Replace"
                if i == 0
                    && s.pointer("/pattern/String").and_then(Value::as_str) == Some(META)
                    && s.get("content").and_then(Value::as_str) == Some(" ") => {}
            "ByteFallback" | "Fuse" => {}
            "Strip"
                if s.get("content").and_then(Value::as_str) == Some(" ")
                    && s.get("start").and_then(Value::as_u64) == Some(1)
                    && s.get("stop").and_then(Value::as_u64) == Some(0) =>
            {
                strip = true
            }
            other => {
                return Err(unsupported(format!(
                    "byte-fallback BPE with decoder step {other:?}"
                )))
            }
        }
    }
    Ok((prepend, strip))
}

/// Parse `tokenizer.json` text (byte-level BPE, or SentencePiece-style BPE with byte fallback).
pub fn parse(data: &[u8], path: &str) -> Result<BpeModel, FormatError> {
    let v: Value = serde_json::from_slice(data).map_err(|source| FormatError::Json {
        path: path.into(),
        source,
    })?;
    let model = v
        .get("model")
        .ok_or_else(|| FormatError::Invalid(format!("{path}: no \"model\" section")))?;
    match model.get("type").and_then(Value::as_str) {
        Some("BPE") | None if model.get("merges").is_some() => {}
        Some("BPE") => {
            return Err(FormatError::Invalid(format!(
                "{path}: BPE model without merges"
            )))
        }
        Some(t) => {
            return Err(unsupported(format!(
                "model type {t} (only BPE is supported)"
            )))
        }
        None => return Err(unsupported("model without type or merges")),
    }
    // Options that change ids and that our encoder does not implement: refuse rather than differ from HF.
    for key in ["end_of_word_suffix", "continuing_subword_prefix"] {
        if let Some(val) = model.get(key).and_then(Value::as_str) {
            if !val.is_empty() {
                return Err(unsupported(format!("model.{key} = {val:?}")));
            }
        }
    }
    if let Some(d) = model.get("dropout").and_then(Value::as_f64) {
        if d > 0.0 {
            return Err(unsupported(format!("BPE dropout {d}")));
        }
    }
    let byte_fallback = model.get("byte_fallback").and_then(Value::as_bool) == Some(true);
    let sp_prepend = if byte_fallback {
        Some(parse_sp_pipeline(&v)?)
    } else {
        None
    };
    if sp_prepend.is_none() && !matches!(v.get("normalizer"), None | Some(Value::Null)) {
        return Err(unsupported("a normalizer is set"));
    }
    let pretok = match sp_prepend {
        Some(_) => Pretokenizer::preset(Preset::None),
        None => parse_pretok(v.get("pre_tokenizer").unwrap_or(&Value::Null))?,
    };
    let mut fallback: [u32; 256] = [u32::MAX; 256];
    let vocab_map = model
        .get("vocab")
        .and_then(Value::as_object)
        .ok_or_else(|| FormatError::Invalid(format!("{path}: model.vocab is not an object")))?;

    let mut added = Vec::new();
    let mut added_by_content = rustc_hash::FxHashMap::default();
    if let Some(list) = v.get("added_tokens").and_then(Value::as_array) {
        for a in list {
            let id = a.get("id").and_then(Value::as_u64);
            let content = a.get("content").and_then(Value::as_str);
            let (Some(id), Some(content)) = (id, content) else {
                return Err(FormatError::Invalid(format!(
                    "{path}: added token without id/content"
                )));
            };
            if content.is_empty() {
                return Err(FormatError::Invalid(format!(
                    "{path}: empty added token (id {id})"
                )));
            }
            for flag in ["lstrip", "rstrip", "single_word"] {
                if a.get(flag).and_then(Value::as_bool) == Some(true) {
                    return Err(unsupported(format!(
                        "added token {content:?} with {flag}=true"
                    )));
                }
            }
            added_by_content.insert(content.to_string(), id as u32);
            added.push(AddedToken {
                content: content.into(),
                id: id as u32,
                special: a.get("special").and_then(Value::as_bool).unwrap_or(false),
            });
        }
    }
    let mut vocab: Vec<Option<Vec<u8>>> = Vec::new();
    let mut str_to_id: rustc_hash::FxHashMap<&str, u32> = rustc_hash::FxHashMap::default();
    let set = |vocab: &mut Vec<Option<Vec<u8>>>, id: usize, b: Vec<u8>| {
        if vocab.len() <= id {
            vocab.resize(id + 1, None);
        }
        vocab[id] = Some(b);
    };
    for (s, id) in vocab_map {
        let id = id.as_u64().ok_or_else(|| {
            FormatError::Invalid(format!("{path}: vocab id of {s:?} is not an integer"))
        })? as usize;
        str_to_id.insert(s.as_str(), id as u32);
        if added_by_content.get(s.as_str()) == Some(&(id as u32)) {
            set(&mut vocab, id, s.as_bytes().to_vec());
            continue;
        }
        let b = if sp_prepend.is_some() {
            match sp_fallback_byte(s) {
                Some(byte) => {
                    fallback[byte as usize] = id as u32;
                    vec![byte]
                }
                // pieces spell spaces as "▁"; a piece with a real space could never be produced and would
                // collide with the "▁" spelling in the byte view
                None if s.contains(' ') => {
                    return Err(unsupported(format!(
                        "byte-fallback BPE piece {s:?} holds a space"
                    )))
                }
                None => s.replace('\u{2581}', " ").into_bytes(),
            }
        } else {
            bytelevel::decode(s)
                .ok_or_else(|| unsupported(format!("token {s:?} is not byte-level")))?
        };
        set(&mut vocab, id, b);
    }
    for a in &added {
        if vocab
            .get(a.id as usize)
            .map(|t| t.is_none())
            .unwrap_or(true)
        {
            set(&mut vocab, a.id as usize, a.content.as_bytes().to_vec());
        }
    }
    let merges_v = model
        .get("merges")
        .and_then(Value::as_array)
        .ok_or_else(|| FormatError::Invalid(format!("{path}: model.merges is not a list")))?;
    let mut merges = Vec::with_capacity(merges_v.len());
    for (k, m) in merges_v.iter().enumerate() {
        let (l, r) = match m {
            Value::String(s) => s.split_once(' ').ok_or_else(|| {
                FormatError::Invalid(format!("{path}: merge #{k} {s:?} has no space"))
            })?,
            Value::Array(a) if a.len() == 2 => (
                a[0].as_str().unwrap_or_default(),
                a[1].as_str().unwrap_or_default(),
            ),
            _ => {
                return Err(FormatError::Invalid(format!(
                    "{path}: merge #{k} is malformed"
                )))
            }
        };
        let get = |t: &str| {
            str_to_id.get(t).copied().ok_or_else(|| {
                FormatError::Invalid(format!("{path}: merge #{k} uses unknown token {t:?}"))
            })
        };
        merges.push((get(l)?, get(r)?));
    }
    let sp = match sp_prepend {
        Some((prepend, strip_decoded)) => {
            if let Some(b) = fallback.iter().position(|&i| i == u32::MAX) {
                return Err(unsupported(format!(
                    "byte_fallback without a <0x{b:02X}> token"
                )));
            }
            Some(Box::new(SentencePiece {
                prepend,
                strip_decoded,
                fallback,
            }))
        }
        None => None,
    };
    let m = BpeModel {
        vocab,
        merges,
        added,
        pretok,
        mode: MergeMode::Pairs,
        ignore_merges: model
            .get("ignore_merges")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        sp,
    };
    m.validate()?;
    Ok(m)
}

/// Derive a merges list for a rank (tiktoken) model, as HF's tiktoken converter does: for each token in
/// rank order, every split into two tokens, ordered by the ids of the halves.
pub fn derive_merges(model: &mut BpeModel) {
    let ids = model.token_ids();
    let mut merges: Vec<(u32, u32, u32)> = Vec::new();
    for (id, t) in model.vocab.iter().enumerate() {
        let Some(t) = t else { continue };
        if t.len() < 2 || !ids.contains_key(t.as_slice()) {
            continue;
        }
        let mut local: Vec<(u32, u32, u32)> = Vec::new();
        for k in 1..t.len() {
            if let (Some(&l), Some(&r)) = (ids.get(&t[..k]), ids.get(&t[k..])) {
                if (l as usize) < id && (r as usize) < id {
                    local.push((id as u32, l, r));
                }
            }
        }
        local.sort_by_key(|&(_, l, r)| (l, r));
        merges.extend(local);
    }
    merges.sort_by_key(|&(id, _, _)| id);
    model.merges = merges.into_iter().map(|(_, l, r)| (l, r)).collect();
}

#[cfg(test)]
mod onig_tests {
    use super::{fancy_to_onig, onig_to_fancy};

    #[test]
    fn bounded_plus_becomes_a_repeated_group() {
        assert_eq!(onig_to_fancy(r"\p{N}{1,3}+|\s+"), r"(?:\p{N}{1,3})+|\s+");
        assert_eq!(onig_to_fancy(r"[a-z]{2}+x"), r"(?:[a-z]{2})+x");
        assert_eq!(onig_to_fancy(r"\p{L}++|a{1,3}"), r"\p{L}++|a{1,3}");
    }

    #[test]
    fn possessive_bounded_becomes_an_atomic_group() {
        assert_eq!(fancy_to_onig(r"\p{N}{1,3}+|\s+"), r"(?>\p{N}{1,3})|\s+");
        assert_eq!(fancy_to_onig(r"[0-9]{2,}+x"), r"(?>[0-9]{2,})x");
        assert_eq!(fancy_to_onig(r"\p{L}++|a{1,3}"), r"\p{L}++|a{1,3}");
        // Read back, the atomic group stays as it is and means the same in fancy-regex.
        let w = fancy_to_onig(r"\p{N}{1,3}+");
        assert_eq!(onig_to_fancy(&w), w);
        let (a, b) = (
            fancy_regex::Regex::new(r"\p{N}{1,3}+").unwrap(),
            fancy_regex::Regex::new(&w).unwrap(),
        );
        let split = |re: &fancy_regex::Regex| -> Vec<String> {
            re.find_iter("1234567 89")
                .map(|m| m.unwrap().as_str().to_string())
                .collect()
        };
        assert_eq!(split(&a), vec!["123", "456", "7", "89"]);
        assert_eq!(split(&a), split(&b));
    }
}
