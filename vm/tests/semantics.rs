//! The no_std semantics against straightforward independent references.

use veritrace_vm::semantics::ffn::{sigmoid_q30, silu_q12};
use veritrace_vm::semantics::fixed::{EXP2_NEG_TABLE, exp_neg_q16, isqrt_u128, round_div_i64};
use veritrace_vm::semantics::layout::{KIND_Q4, KIND_Q8, MAX_CANDIDATES};
use veritrace_vm::semantics::matmul::{Mat, Out, matmul};
use veritrace_vm::semantics::norm::rmsnorm;
use veritrace_vm::semantics::quant::{dequant, quantize_block};
use veritrace_vm::semantics::sampler::{Params, argmax, sample, top_candidates};

/// splitmix64, for test data.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo) as u64) as i64
    }
}

fn le_i32(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn isqrt_matches_core() {
    let mut r = Rng(1);
    for i in 0..20000u32 {
        let n = match i % 3 {
            0 => r.next() as u128,
            1 => ((r.next() as u128) << 64) | r.next() as u128,
            _ => (r.next() % 1000) as u128,
        };
        assert_eq!(isqrt_u128(n), n.isqrt(), "isqrt({n})");
    }
    assert_eq!(isqrt_u128(u128::MAX), u128::MAX.isqrt());
}

#[test]
fn exp_table_and_exp_match_f64() {
    for (i, v) in EXP2_NEG_TABLE.iter().enumerate() {
        let want = (2f64.powf(-(i as f64) / 256.0) * 2f64.powi(30)).round();
        assert_eq!(*v as f64, want, "table entry {i}");
    }
    let mut r = Rng(2);
    for _ in 0..20000 {
        let x = -(r.range(0, 40 << 16));
        let got = exp_neg_q16(x) as f64 / 2f64.powi(30);
        let want = (x as f64 / 65536.0).exp();
        // The input is rounded to Q.16 of log2 (relative 2^-17 ln 2 = 5.3e-6), the table
        // interpolation adds ~1e-6.
        assert!(
            (got - want).abs() <= 7e-6 * want + 3e-9,
            "exp({x}) = {got}, want {want}"
        );
    }
    assert_eq!(exp_neg_q16(0), 1 << 30);
    assert_eq!(exp_neg_q16(-(1 << 40)), 0);
}

#[test]
fn sigmoid_and_silu_match_f64() {
    let mut r = Rng(3);
    for _ in 0..20000 {
        let g = r.range(-(30 << 12), 30 << 12) as i32;
        let x = g as f64 / 4096.0;
        let s = sigmoid_q30(g) as f64 / 2f64.powi(30);
        assert!((s - 1.0 / (1.0 + (-x).exp())).abs() < 1e-5, "sigmoid({x})");
        let si = silu_q12(g) as f64 / 4096.0;
        assert!(
            (si - x / (1.0 + (-x).exp())).abs() < 1e-3 + 1e-5 * x.abs(),
            "silu({x})"
        );
    }
}

#[test]
fn quantize_block_matches_reference() {
    let mut r = Rng(4);
    for case in 0..5000 {
        let mag = 1i64 << r.range(0, 31);
        let x: Vec<i32> = (0..32).map(|_| r.range(-mag, mag) as i32).collect();
        let mut q = [0u8; 32];
        let s = quantize_block(&x, &mut q);
        let amax = x.iter().map(|v| v.unsigned_abs() as i128).max().unwrap();
        if amax == 0 {
            assert_eq!(s, 0);
            continue;
        }
        // Reference: 16-bit mantissa, then round half away from zero in i128.
        let ea = (128 - amax.leading_zeros()).saturating_sub(16);
        let den = (amax >> ea) << ea;
        assert_eq!(s, ((amax >> ea) as u32) | (ea << 16), "case {case}");
        for i in 0..32 {
            let n = 2 * 127 * x[i] as i128;
            let want = if n >= 0 {
                (n + den) / (2 * den)
            } else {
                -((-n + den) / (2 * den))
            };
            assert_eq!(
                q[i] as i8 as i128,
                want.clamp(-127, 127),
                "case {case} elem {i}"
            );
            // Dequantized error is at most half a step plus the mantissa truncation.
            let err = (dequant(q[i] as i8, s) - x[i] as i64).abs() as f64;
            assert!(
                err <= amax as f64 / 127.0 * 0.51 + 1.0,
                "case {case} err {err}"
            );
        }
    }
}

#[test]
fn rmsnorm_matches_f64() {
    let mut r = Rng(5);
    for n in [32usize, 64, 576] {
        for _ in 0..50 {
            let mag = 1i64 << r.range(6, 27);
            let x: Vec<i32> = (0..n).map(|_| r.range(-mag, mag) as i32).collect();
            let w: Vec<i32> = (0..n)
                .map(|_| r.range(-(4 << 16), 4 << 16) as i32)
                .collect();
            let mut y = vec![0u8; 4 * n];
            rmsnorm(&le_i32(&x), &le_i32(&w), n, 168, &mut y);
            let ms = x.iter().map(|v| (*v as f64 / 4096.0).powi(2)).sum::<f64>() / n as f64;
            let inv = 1.0 / (ms + 1e-5).sqrt();
            for i in 0..n {
                let want = x[i] as f64 / 4096.0 * inv * w[i] as f64 / 65536.0;
                let got =
                    i32::from_le_bytes(y[4 * i..4 * i + 4].try_into().unwrap()) as f64 / 4096.0;
                assert!(
                    (got - want).abs() < 2e-3 + 1e-4 * want.abs(),
                    "n {n} i {i}: {got} vs {want}"
                );
            }
        }
    }
}

#[test]
fn matmul_matches_dequantized_f64() {
    let mut r = Rng(6);
    for case in 0..40 {
        let kind = if case % 2 == 0 { KIND_Q4 } else { KIND_Q8 };
        let (rows, cols, n_tok) = (
            r.range(1, 9) as usize,
            32 * r.range(1, 6) as usize,
            r.range(1, 5) as usize,
        );
        let shift = 30u32;
        let bb = if kind == KIND_Q4 { 24 } else { 36 };
        let nb = cols / 32;
        let mut w = vec![0u8; rows * nb * bb];
        let mut wf = vec![0f64; rows * cols];
        for r_ in 0..rows {
            for b in 0..nb {
                let o = (r_ * nb + b) * bb;
                let d = r.range(1, 1 << 22);
                let m = if kind == KIND_Q4 {
                    -r.range(0, 8 << 22)
                } else {
                    0
                };
                for j in 0..32 {
                    let q = if kind == KIND_Q4 {
                        let q = r.range(0, 16);
                        let byte = &mut w[o + j % 16];
                        *byte |= if j < 16 { q as u8 } else { (q as u8) << 4 };
                        q
                    } else {
                        let q = r.range(-128, 128);
                        w[o + j] = q as i8 as u8;
                        q
                    };
                    wf[r_ * cols + b * 32 + j] = (d * q + m) as f64 / 2f64.powi(shift as i32);
                }
                let (doff, moff) = if kind == KIND_Q4 { (16, 20) } else { (32, 36) };
                w[o + doff..o + doff + 4].copy_from_slice(&(d as i32).to_le_bytes());
                if kind == KIND_Q4 {
                    w[o + moff..o + moff + 4].copy_from_slice(&(m as i32).to_le_bytes());
                }
            }
        }
        let mut xq = vec![0u8; n_tok * cols];
        let mut xs = vec![0u8; n_tok * nb * 4];
        let mut xf = vec![0f64; n_tok * cols];
        for t in 0..n_tok {
            for b in 0..nb {
                let x: Vec<i32> = (0..32)
                    .map(|_| r.range(-(1 << 16), 1 << 16) as i32)
                    .collect();
                let s = quantize_block(&x, &mut xq[t * cols + b * 32..t * cols + b * 32 + 32]);
                xs[4 * (t * nb + b)..4 * (t * nb + b) + 4].copy_from_slice(&s.to_le_bytes());
                for j in 0..32 {
                    let (am, ea) = ((s & 0xFFFF) as f64, s >> 16);
                    xf[t * cols + b * 32 + j] =
                        xq[t * cols + b * 32 + j] as i8 as f64 * am * 2f64.powi(ea as i32) / 127.0;
                }
            }
        }
        let mut y = vec![0u8; n_tok * rows * 4];
        let m = Mat {
            data: &w,
            kind,
            shift,
            rows,
            cols,
        };
        matmul(
            &m,
            &xq,
            cols,
            &xs,
            nb * 4,
            n_tok,
            &mut y,
            rows * 4,
            Out::Store,
        );
        for t in 0..n_tok {
            for r_ in 0..rows {
                let want: f64 = (0..cols)
                    .map(|c| wf[r_ * cols + c] * xf[t * cols + c])
                    .sum();
                let got =
                    i32::from_le_bytes(y[4 * (t * rows + r_)..][..4].try_into().unwrap()) as f64;
                assert!(
                    (got - want).abs() <= 1.0 + 1e-4 * want.abs(),
                    "case {case}: {got} vs {want}"
                );
            }
        }
    }
}

#[test]
fn sampler_orders_and_ties() {
    let mut r = Rng(7);
    let vocab = 3000;
    let logits: Vec<i32> = (0..vocab).map(|_| r.range(-200, 200) as i32).collect();
    let lb = le_i32(&logits);
    // Greedy: largest logit, lowest id on ties.
    let best = *logits.iter().max().unwrap();
    let first = logits.iter().position(|v| *v == best).unwrap() as u32;
    assert_eq!(argmax(&lb, vocab), first);
    // Candidates: a full sort by (logit desc, id asc).
    let mut want: Vec<(i32, u32)> = logits
        .iter()
        .enumerate()
        .map(|(i, v)| (*v, i as u32))
        .collect();
    want.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let k = 700;
    let mut cand = vec![0u8; 8 * MAX_CANDIDATES];
    top_candidates(&lb, vocab, k, &mut cand);
    for (i, w) in want.iter().take(k).enumerate() {
        let got = (
            i32::from_le_bytes(cand[8 * i..8 * i + 4].try_into().unwrap()),
            u32::from_le_bytes(cand[8 * i + 4..8 * i + 8].try_into().unwrap()),
        );
        assert_eq!(got, *w, "candidate {i}");
    }
    // top_k = 1 with a temperature is greedy; the same seed gives the same draw.
    let mut p = vec![0u8; 8 * MAX_CANDIDATES];
    let mut rng = [1, 2, 3, 4];
    let k1 = Params {
        temperature_q16: 1 << 16,
        top_k: 1,
        top_p_q16: 1 << 16,
    };
    assert_eq!(sample(&lb, vocab, &k1, &mut rng, &mut cand, &mut p), first);
    let hot = Params {
        temperature_q16: 40 << 16,
        top_k: 0,
        top_p_q16: 60000,
    };
    let draws = |seed: u64| -> Vec<u32> {
        let mut rng = [seed, 2, 3, 4];
        let (mut c, mut q) = (vec![0u8; 8 * MAX_CANDIDATES], vec![0u8; 8 * MAX_CANDIDATES]);
        (0..50)
            .map(|_| sample(&lb, vocab, &hot, &mut rng, &mut c, &mut q))
            .collect()
    };
    assert_eq!(draws(9), draws(9));
    assert_ne!(draws(9), draws(10));
    assert!(
        draws(9).iter().any(|t| *t != first),
        "a hot temperature must not be greedy"
    );
}

#[test]
fn round_div_rounds_half_away_from_zero() {
    assert_eq!(round_div_i64(5, 2), 3);
    assert_eq!(round_div_i64(-5, 2), -3);
    assert_eq!(round_div_i64(4, 3), 1);
    assert_eq!(round_div_i64(-4, 3), -1);
    assert_eq!(round_div_i64(7, 0), 0);
}
