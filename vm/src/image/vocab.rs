//! Token strings of the GGUF vocabulary to the raw bytes the machine writes as text.

use std::collections::HashMap;

/// GPT-2's byte-to-unicode table, inverted: printable stand-in char -> byte.
fn gpt2_unicode_to_byte() -> HashMap<char, u8> {
    let mut bs: Vec<u32> = (b'!' as u32..=b'~' as u32).collect();
    bs.extend(0xA1..=0xAC);
    bs.extend(0xAE..=0xFF);
    let mut cs = bs.clone();
    let mut n = 0;
    for b in 0..256u32 {
        if !bs.contains(&b) {
            bs.push(b);
            cs.push(256 + n);
            n += 1;
        }
    }
    bs.iter()
        .zip(cs.iter())
        .map(|(b, c)| (char::from_u32(*c).expect("valid char"), *b as u8))
        .collect()
}

/// The bytes of every token: byte-level BPE (`gpt2`) maps stand-in chars back to bytes;
/// SentencePiece (`llama`) maps `▁` to a space and `<0xXX>` byte tokens to the byte. Control
/// tokens (type 3) produce no bytes.
pub fn token_bytes(model: &str, tokens: &[String], types: Option<&[i32]>) -> Vec<Vec<u8>> {
    let map = gpt2_unicode_to_byte();
    tokens
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let ty = types.and_then(|v| v.get(i).copied()).unwrap_or(1);
            if ty == 3 {
                return Vec::new();
            }
            if model == "gpt2" {
                let mut out = Vec::new();
                for ch in t.chars() {
                    match map.get(&ch) {
                        Some(b) => out.push(*b),
                        None => out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes()),
                    }
                }
                out
            } else {
                if ty == 6
                    && t.len() == 6
                    && t.starts_with("<0x")
                    && t.ends_with('>')
                    && let Ok(b) = u8::from_str_radix(&t[3..5], 16)
                {
                    return vec![b];
                }
                t.replace('\u{2581}', " ").into_bytes()
            }
        })
        .collect()
}
