//! tiktoken rank files: one `base64(token bytes) SPACE rank` line per token; no special tokens.

use super::FormatError;
use crate::model::{AddedToken, BpeModel, MergeMode};
use crate::pretok::Pretokenizer;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Parse a rank file. `specials` are (content, id) pairs added as special tokens.
pub fn parse(
    data: &[u8],
    pretok: Pretokenizer,
    specials: &[(String, u32)],
) -> Result<BpeModel, FormatError> {
    let text = std::str::from_utf8(data)
        .map_err(|_| FormatError::Invalid("tiktoken file is not UTF-8 text".into()))?;
    let mut vocab: Vec<Option<Vec<u8>>> = Vec::new();
    for (ln, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (b64, rank) = line.rsplit_once(' ').ok_or_else(|| {
            FormatError::Invalid(format!("line {}: expected 'base64 rank'", ln + 1))
        })?;
        let rank: usize = rank
            .trim()
            .parse()
            .map_err(|_| FormatError::Invalid(format!("line {}: bad rank {rank:?}", ln + 1)))?;
        // Whisper's file ends with "= 50256", the base64 of an empty token; accept it as tiktoken does.
        let bytes = if b64.trim_matches('=').is_empty() {
            Vec::new()
        } else {
            STANDARD
                .decode(b64)
                .map_err(|e| FormatError::Invalid(format!("line {}: bad base64: {e}", ln + 1)))?
        };
        if vocab.len() <= rank {
            vocab.resize(rank + 1, None);
        }
        if vocab[rank].is_some() {
            return Err(FormatError::Invalid(format!(
                "line {}: rank {rank} appears twice",
                ln + 1
            )));
        }
        vocab[rank] = Some(bytes);
    }
    if vocab.is_empty() {
        return Err(FormatError::Invalid("tiktoken file holds no tokens".into()));
    }
    let mut added = Vec::new();
    for (content, id) in specials {
        if content.is_empty() {
            return Err(FormatError::Invalid(
                "a special token cannot be empty".into(),
            ));
        }
        let id = *id as usize;
        if vocab.len() <= id {
            vocab.resize(id + 1, None);
        }
        if vocab[id].is_some() {
            return Err(FormatError::Invalid(format!(
                "special token {content:?} has id {id}, which a regular token already uses"
            )));
        }
        vocab[id] = Some(content.as_bytes().to_vec());
        added.push(AddedToken {
            content: content.clone(),
            id: id as u32,
            special: true,
        });
    }
    let m = BpeModel {
        vocab,
        merges: Vec::new(),
        added,
        pretok,
        mode: MergeMode::Ranks,
        ignore_merges: false,
        sp: None,
    };
    m.validate()?;
    Ok(m)
}

/// Write the non-added tokens of a model as a rank file (rank = id).
///
/// tiktoken merges by rank of the concatenation; for a trained model this matches our encoder (pairs mode)
/// except where a token can be formed by a split that is not its own merge.
pub fn write(model: &BpeModel) -> String {
    let added: std::collections::HashSet<u32> = model.added.iter().map(|a| a.id).collect();
    let mut out = String::new();
    for (id, t) in model.vocab.iter().enumerate() {
        if let Some(b) = t {
            if !added.contains(&(id as u32)) {
                out.push_str(&STANDARD.encode(b));
                out.push(' ');
                out.push_str(&id.to_string());
                out.push('\n');
            }
        }
    }
    out
}
