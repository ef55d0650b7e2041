//! Little-endian loads and stores on the machine's byte memory, and disjoint borrows.

/// Read a `u32` at byte offset `o`.
#[inline(always)]
pub fn rd_u32(m: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([m[o], m[o + 1], m[o + 2], m[o + 3]])
}

/// Read an `i32` at byte offset `o`.
#[inline(always)]
pub fn rd_i32(m: &[u8], o: usize) -> i32 {
    rd_u32(m, o) as i32
}

/// Read a `u64` at byte offset `o`.
#[inline(always)]
pub fn rd_u64(m: &[u8], o: usize) -> u64 {
    (rd_u32(m, o) as u64) | ((rd_u32(m, o + 4) as u64) << 32)
}

/// Read an `i64` at byte offset `o`.
#[inline(always)]
pub fn rd_i64(m: &[u8], o: usize) -> i64 {
    rd_u64(m, o) as i64
}

/// Write a `u32` at byte offset `o`.
#[inline(always)]
pub fn wr_u32(m: &mut [u8], o: usize, v: u32) {
    m[o..o + 4].copy_from_slice(&v.to_le_bytes());
}

/// Write an `i32` at byte offset `o`.
#[inline(always)]
pub fn wr_i32(m: &mut [u8], o: usize, v: i32) {
    wr_u32(m, o, v as u32)
}

/// Write a `u64` at byte offset `o`.
#[inline(always)]
pub fn wr_u64(m: &mut [u8], o: usize, v: u64) {
    wr_u32(m, o, v as u32);
    wr_u32(m, o + 4, (v >> 32) as u32);
}

/// Write an `i64` at byte offset `o`.
#[inline(always)]
pub fn wr_i64(m: &mut [u8], o: usize, v: i64) {
    wr_u64(m, o, v as u64)
}

/// Zero `len` bytes at offset `o`.
pub fn zero(m: &mut [u8], o: usize, len: usize) {
    m[o..o + len].fill(0);
}

/// Borrow `[a, a + alen)` shared and `[b, b + blen)` mutably; the ranges must not overlap
/// (panics, i.e. traps, otherwise).
pub fn split(m: &mut [u8], a: usize, alen: usize, b: usize, blen: usize) -> (&[u8], &mut [u8]) {
    assert!(a + alen <= b || b + blen <= a, "overlapping borrows");
    if a < b {
        let (lo, hi) = m.split_at_mut(b);
        (&lo[a..a + alen], &mut hi[..blen])
    } else {
        let (lo, hi) = m.split_at_mut(a);
        (&hi[..alen], &mut lo[b..b + blen])
    }
}

/// Borrow three ranges: the first two shared, the third mutable; the third must not overlap
/// the others.
pub fn split3(
    m: &mut [u8],
    a: (usize, usize),
    b: (usize, usize),
    c: (usize, usize),
) -> (&[u8], &[u8], &mut [u8]) {
    let (c0, clen) = c;
    assert!(
        (a.0 + a.1 <= c0 || c0 + clen <= a.0) && (b.0 + b.1 <= c0 || c0 + clen <= b.0),
        "overlapping borrows"
    );
    let (lo, rest) = m.split_at_mut(c0);
    let (cm, hi) = rest.split_at_mut(clen);
    let (lo, hi): (&[u8], &[u8]) = (lo, hi);
    (pick(lo, hi, c0 + clen, a), pick(lo, hi, c0 + clen, b), cm)
}

fn pick<'a>(lo: &'a [u8], hi: &'a [u8], hi_start: usize, r: (usize, usize)) -> &'a [u8] {
    if r.0 < lo.len() {
        &lo[r.0..r.0 + r.1]
    } else {
        let s = r.0 - hi_start;
        &hi[s..s + r.1]
    }
}
