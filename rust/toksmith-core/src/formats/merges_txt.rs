//! GPT-2 style `vocab.json` (byte-level strings → ids) and `merges.txt` (`#version: 0.2` then `left right`).

use crate::bytelevel;
use crate::model::BpeModel;
use serde_json::{Map, Value};

fn token_string(model: &BpeModel, id: u32) -> String {
    let b = model.vocab[id as usize].as_deref().unwrap_or_default();
    if let Some(a) = model.added.iter().find(|a| a.id == id) {
        return a.content.clone();
    }
    bytelevel::encode(b)
}

pub fn vocab_json(model: &BpeModel) -> String {
    let mut m = Map::new();
    for (id, t) in model.vocab.iter().enumerate() {
        if t.is_some() {
            m.insert(token_string(model, id as u32), Value::from(id));
        }
    }
    serde_json::to_string_pretty(&Value::Object(m)).expect("serialisable")
}

pub fn merges_txt(model: &BpeModel) -> String {
    let mut s = String::from("#version: 0.2\n");
    for &(a, b) in &model.merges {
        s.push_str(&token_string(model, a));
        s.push(' ');
        s.push_str(&token_string(model, b));
        s.push('\n');
    }
    s
}
