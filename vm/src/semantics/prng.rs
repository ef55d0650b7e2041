//! The sampler's PRNG: xoshiro256** seeded with the request's 32-byte seed read as four
//! little-endian u64 words (an all-zero seed is replaced by a fixed non-zero state).

/// The state used in place of an all-zero seed.
pub const ZERO_SEED_STATE: [u64; 4] = [
    0x9E37_79B9_7F4A_7C15,
    0xBF58_476D_1CE4_E5B9,
    0x94D0_49BB_1331_11EB,
    1,
];

/// The initial state for a 32-byte seed.
pub fn seed_state(seed: &[u8]) -> [u64; 4] {
    let mut s = [0u64; 4];
    for (i, w) in s.iter_mut().enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(&seed[8 * i..8 * i + 8]);
        *w = u64::from_le_bytes(b);
    }
    if s == [0; 4] { ZERO_SEED_STATE } else { s }
}

/// Next output of xoshiro256**; advances the state.
pub fn next_u64(s: &mut [u64; 4]) -> u64 {
    let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
    let t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = s[3].rotate_left(45);
    result
}
