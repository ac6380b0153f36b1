//! GPT-2's byte-level alphabet: each byte maps to a printable Unicode char so that byte strings can be written
//! as JSON strings in `tokenizer.json` (`Ġ` is the space byte).

use once_cell::sync::Lazy;

struct Maps {
    to_char: [char; 256],
    /// byte order of GPT-2's `bytes_to_unicode` list (printable bytes first): the conventional id order.
    order: [u8; 256],
    from_char: rustc_hash::FxHashMap<char, u8>,
}

static MAPS: Lazy<Maps> = Lazy::new(|| {
    let mut bs: Vec<u32> = (b'!' as u32..=b'~' as u32)
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF)
        .collect();
    let mut cs = bs.clone();
    let mut n = 0;
    for b in 0..256u32 {
        if !bs.contains(&b) {
            bs.push(b);
            cs.push(256 + n);
            n += 1;
        }
    }
    let mut to_char = ['\0'; 256];
    let mut order = [0u8; 256];
    let mut from_char = rustc_hash::FxHashMap::default();
    for (i, (&b, &c)) in bs.iter().zip(cs.iter()).enumerate() {
        let ch = char::from_u32(c).expect("valid char");
        to_char[b as usize] = ch;
        order[i] = b as u8;
        from_char.insert(ch, b as u8);
    }
    Maps {
        to_char,
        order,
        from_char,
    }
});

/// The printable char standing for byte `b`.
#[inline]
pub fn byte_to_char(b: u8) -> char {
    MAPS.to_char[b as usize]
}

/// Bytes in GPT-2's alphabet order (`!`..`~`, `¡`..`¬`, `®`..`ÿ`, then the rest): the order HF and tiktoken
/// give single-byte tokens.
pub fn byte_order() -> &'static [u8; 256] {
    &MAPS.order
}

/// Encode bytes as a byte-level string.
pub fn encode(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| byte_to_char(b)).collect()
}

/// Decode a byte-level string; `None` if it holds a char outside the alphabet.
pub fn decode(s: &str) -> Option<Vec<u8>> {
    s.chars().map(|c| MAPS.from_char.get(&c).copied()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_known_chars() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decode(&encode(&all)).unwrap(), all);
        assert_eq!(byte_to_char(b' '), 'Ġ');
        assert_eq!(byte_to_char(b'\n'), 'Ċ');
        assert_eq!(byte_to_char(b'a'), 'a');
        assert_eq!(byte_order()[0], b'!');
        assert!(decode("a\u{4e2d}").is_none());
    }
}
