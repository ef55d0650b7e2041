//! The request-input and answer byte formats (see `docs/machine.md`).

use crate::error::{Result, VmError};
use crate::semantics::layout::{Dims, INPUT_SEED, INPUT_TOKENS, OUTPUT_TEXT, OUTPUT_TEXT_LEN};
use crate::semantics::step::INPUT_MAGIC;
use sha3::{Digest, Keccak256};

/// One inference request as the machine reads it from the input region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Prompt token ids.
    pub tokens: Vec<u32>,
    /// Most tokens to generate (at least 1).
    pub max_tokens: u32,
    /// Temperature in Q.16 (65536 = 1.0); 0 = greedy.
    pub temperature_q16: u32,
    /// Top-k; 0 = no limit beyond the machine's candidate cap.
    pub top_k: u32,
    /// Top-p in Q.16; 65536 = disabled.
    pub top_p_q16: u32,
    /// The 32-byte sampling seed (on chain: `keccak256(requestId ‖ userSeed)`).
    pub seed: [u8; 32],
}

impl Request {
    /// A greedy request.
    pub fn greedy(tokens: Vec<u32>, max_tokens: u32) -> Request {
        Request {
            tokens,
            max_tokens,
            temperature_q16: 0,
            top_k: 0,
            top_p_q16: 1 << 16,
            seed: [0; 32],
        }
    }

    /// Check the request against the model; the same checks the machine makes in its first
    /// step, reported as typed errors.
    pub fn validate(&self, d: &Dims) -> Result<()> {
        if self.tokens.is_empty() {
            return Err(VmError::EmptyPrompt);
        }
        if self.tokens.len() >= d.ctx as usize {
            return Err(VmError::PromptTooLong {
                len: self.tokens.len(),
                ctx: d.ctx as usize,
            });
        }
        if self.max_tokens == 0 {
            return Err(VmError::ZeroMaxTokens);
        }
        if self.top_p_q16 > 1 << 16 {
            return Err(VmError::BadTopP(self.top_p_q16));
        }
        if let Some((pos, &id)) = self.tokens.iter().enumerate().find(|(_, t)| **t >= d.vocab) {
            return Err(VmError::InvalidToken {
                id,
                pos,
                vocab: d.vocab,
            });
        }
        Ok(())
    }

    /// The input-region bytes: a 64-byte header then the token ids (all little-endian).
    pub fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; INPUT_TOKENS + 4 * self.tokens.len()];
        let n = self.tokens.len() as u32;
        let head = [
            INPUT_MAGIC,
            n,
            self.max_tokens,
            self.temperature_q16,
            self.top_k,
            self.top_p_q16,
        ];
        for (i, v) in head.iter().enumerate() {
            b[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
        }
        b[INPUT_SEED..INPUT_SEED + 32].copy_from_slice(&self.seed);
        for (i, t) in self.tokens.iter().enumerate() {
            b[INPUT_TOKENS + 4 * i..INPUT_TOKENS + 4 * i + 4].copy_from_slice(&t.to_le_bytes());
        }
        b
    }
}

/// The input region the oracle derives for a request: the body with the derived `seed` in its
/// seed slot (`MachineIO.encodeInput`); `None` for a body shorter than the input header.
pub fn input_region(seed: &[u8; 32], body: &[u8]) -> Option<Vec<u8>> {
    if body.len() < INPUT_TOKENS {
        return None;
    }
    Some([&body[..INPUT_SEED], seed, &body[INPUT_SEED + 32..]].concat())
}

/// The sampling seed the chain derives: `keccak256(requestId ‖ userSeed)`.
pub fn derive_seed(request_id: &[u8; 32], user_seed: &[u8; 32]) -> [u8; 32] {
    let mut h = Keccak256::new();
    h.update(request_id);
    h.update(user_seed);
    h.finalize().into()
}

/// The answer as decoded from the output region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// Final status (`semantics::step::STATUS_*`).
    pub status: u32,
    /// Generated token ids.
    pub tokens: Vec<u32>,
    /// The detokenized UTF-8 bytes written by the machine.
    pub text: Vec<u8>,
}

/// Decode an answer: `out` is the output region, `generated` the Tokens region from the first
/// generated token on (the prompt's `n_prompt` ids skipped).
pub fn decode_output(out: &[u8], generated: &[u8]) -> Answer {
    let u = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"));
    let (status, n, tl) = (
        u(out, 0),
        u(out, 4) as usize,
        u(out, OUTPUT_TEXT_LEN) as usize,
    );
    Answer {
        status,
        tokens: (0..n).map(|i| u(generated, 4 * i)).collect(),
        text: out[OUTPUT_TEXT..OUTPUT_TEXT + tl].to_vec(),
    }
}

/// The bytes the oracle receives for a finished answer: the used prefix of the output region,
/// `header ‖ text` (docs/machine.md, "Answer").
pub fn output_prefix(out: &[u8]) -> &[u8] {
    let tl = u32::from_le_bytes(
        out[OUTPUT_TEXT_LEN..OUTPUT_TEXT_LEN + 4]
            .try_into()
            .expect("4 bytes"),
    ) as usize;
    &out[..OUTPUT_TEXT + tl]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_region_puts_the_seed_in_its_slot() {
        let body: Vec<u8> = (0..80u8).collect();
        let seed = [0xee; 32];
        let input = input_region(&seed, &body).unwrap();
        assert_eq!(input.len(), 80);
        assert_eq!(&input[..32], &body[..32]);
        assert_eq!(&input[32..64], &seed);
        assert_eq!(&input[64..], &body[64..]);
        assert!(input_region(&seed, &body[..63]).is_none());
    }
}
