//! The tokenizer rebuilt from GGUF metadata (byte-level BPE) and the ChatML template.

use crate::error::{Result, VmError};
use crate::image::Gguf;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, PreTokenizerWrapper};

/// The model's tokenizer.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    /// Beginning-of-sequence id.
    pub bos: u32,
    /// End-of-sequence id.
    pub eos: u32,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab", &self.inner.get_vocab_size(true))
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .finish()
    }
}

fn strings(g: &Gguf<'_>, key: &str) -> Result<Vec<String>> {
    g.meta(key)?
        .to_vec()
        .map_err(|_| VmError::Metadata(key.into()))?
        .iter()
        .map(|v| {
            v.to_string()
                .cloned()
                .map_err(|_| VmError::Metadata(key.into()))
        })
        .collect()
}

impl Tokenizer {
    /// Read the tokenizer from a GGUF file (only its header is parsed).
    pub fn from_gguf_file(path: &std::path::Path) -> Result<Tokenizer> {
        let bytes = std::fs::read(path).map_err(|source| VmError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_gguf(&Gguf::parse(&bytes)?)
    }

    /// Build the tokenizer from parsed GGUF metadata: BPE(vocab, merges) with pre-tokenizers
    /// `Digits(individual) + ByteLevel(no prefix space, regex)`, the ByteLevel decoder and the
    /// control tokens (type 3) as special tokens.
    pub fn from_gguf(g: &Gguf<'_>) -> Result<Tokenizer> {
        let model = g.meta_str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(VmError::Tokenizer(format!(
                "tokenizer model `{model}` is not supported (gpt2 byte-level BPE only)"
            )));
        }
        let tokens = strings(g, "tokenizer.ggml.tokens")?;
        let merges: Vec<(String, String)> = strings(g, "tokenizer.ggml.merges")?
            .into_iter()
            .map(|m| match m.split_once(' ') {
                Some((a, b)) => Ok((a.to_string(), b.to_string())),
                None => Err(VmError::Tokenizer(format!("bad merge `{m}`"))),
            })
            .collect::<Result<_>>()?;
        let vocab: tokenizers::models::bpe::Vocab = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| VmError::Tokenizer(e.to_string()))?;
        let mut tk = tokenizers::Tokenizer::new(bpe);
        tk.with_pre_tokenizer(Some(Sequence::new(vec![
            PreTokenizerWrapper::Digits(Digits::new(true)),
            PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true)),
        ])));
        tk.with_decoder(Some(ByteLevelDecoder::default()));
        let types: Vec<i32> = g
            .meta("tokenizer.ggml.token_type")
            .ok()
            .and_then(|v| v.to_vec().ok())
            .map(|v| v.iter().map(|x| x.to_i32().unwrap_or(1)).collect())
            .unwrap_or_default();
        let special: Vec<AddedToken> = tokens
            .iter()
            .enumerate()
            .filter(|(i, _)| types.get(*i) == Some(&3))
            .map(|(_, t)| AddedToken::from(t.clone(), true))
            .collect();
        tk.add_special_tokens(&special);
        Ok(Tokenizer {
            inner: tk,
            bos: g.meta_u32("tokenizer.ggml.bos_token_id")?,
            eos: g.meta_u32("tokenizer.ggml.eos_token_id")?,
        })
    }

    /// Token ids of `text` (special tokens in the text are recognized).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let e = self
            .inner
            .encode(text, false)
            .map_err(|e| VmError::Tokenizer(e.to_string()))?;
        Ok(e.get_ids().to_vec())
    }

    /// The registry's `tokenizerHash`: keccak256 of the tokenizer's JSON serialization (vocabulary,
    /// merges, special tokens, pre-tokenizer and decoder), so a client can check that it encodes
    /// prompts the way the registered model expects.
    pub fn hash(&self) -> Result<[u8; 32]> {
        use sha3::{Digest, Keccak256};
        let json = self
            .inner
            .to_string(false)
            .map_err(|e| VmError::Tokenizer(e.to_string()))?;
        Ok(Keccak256::digest(json.as_bytes()).into())
    }

    /// Text of token ids (special tokens skipped).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner
            .decode(ids, true)
            .map_err(|e| VmError::Tokenizer(e.to_string()))
    }
}

/// The ChatML prompt for a single user message, without a system message:
/// `<|im_start|>user\n{message}<|im_end|>\n<|im_start|>assistant\n`.
pub fn chatml(message: &str) -> String {
    format!("<|im_start|>user\n{message}<|im_end|>\n<|im_start|>assistant\n")
}

/// The ChatML prompt with a system message first.
pub fn chatml_with_system(system: &str, message: &str) -> String {
    format!(
        "<|im_start|>system\n{system}<|im_end|>\n{}",
        chatml(message)
    )
}
