//! The arithmetic and the honest choices of the dispute game, mirroring
//! `solidity/src/DisputeGame.sol` (which is the authority; e2e tests compare the two).

use crate::Hash;

/// Children revealed per level-1 round: `2^L1_FANOUT_LOG2` (`DisputeGame.L1_FANOUT_LOG2`).
pub const L1_FANOUT_LOG2: u8 = 5;
/// Sub-intervals per level-2 round (`DisputeGame.L2_FANOUT`).
pub const L2_FANOUT: u64 = 32;

/// Levels revealed below a node at `height`.
pub fn reveal_levels(height: u8) -> u8 {
    height.min(L1_FANOUT_LOG2)
}

/// Number of sub-intervals `[lo, hi]` is cut into.
pub fn parts(lo: u64, hi: u64) -> u64 {
    (hi - lo).min(L2_FANOUT)
}

/// The instruction positions at which the executor posts hashes for `[lo, hi]`.
pub fn dissection_points(lo: u64, hi: u64) -> Vec<u64> {
    let parts = parts(lo, hi);
    (1..parts).map(|i| point(lo, hi, parts, i)).collect()
}

/// Point `i` of `parts + 1` from `lo` (i = 0) to `hi` (i = parts).
pub fn point(lo: u64, hi: u64, parts: u64, i: u64) -> u64 {
    lo + ((hi - lo) as u128 * i as u128 / parts as u128) as u64
}

/// The honest challenger's level-1 pick: the first revealed child that differs from what its
/// own run expects (`expected`, from [`crate::trace::Expectation`]: `None` where no honest
/// value exists, past its own N) and may be disputed (it starts at or before the claimed N and
/// is not leaf 0). Every child before the pick agrees, so the disputed step starts from an
/// agreed leaf. `None` when every child agrees (then there is nothing to dispute here).
pub fn pick_trace_child(
    theirs: &[Hash],
    expected: &[Option<Hash>],
    node_index: u64,
    height: u8,
    step_count: u64,
) -> Option<usize> {
    let levels = reveal_levels(height);
    let child_height = height - levels;
    (0..theirs.len()).find(|&i| {
        let first_leaf = ((node_index << levels) + i as u64) << child_height;
        let disputable = first_leaf <= step_count && !(child_height == 0 && first_leaf == 0);
        disputable && expected[i] != Some(theirs[i])
    })
}

/// The honest challenger's level-2 pick: the first sub-interval whose end it disagrees with,
/// given the executor's interior hashes and its own at the same points; the last interval when
/// all interior points agree (the disagreement is then at `hi`).
pub fn pick_interval(theirs: &[Hash], mine: &[Hash]) -> usize {
    theirs
        .iter()
        .zip(mine)
        .position(|(a, b)| a != b)
        .unwrap_or(theirs.len())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn short_intervals_are_cut_per_instruction() {
        assert_eq!(dissection_points(0, 1), Vec::<u64>::new());
        assert_eq!(dissection_points(10, 14), vec![11, 12, 13]);
        assert_eq!(dissection_points(0, 64).len(), 31);
        assert_eq!(dissection_points(0, 64)[0], 2);
    }

    #[test]
    fn picks_follow_the_first_difference() {
        let a = [[1u8; 32], [2; 32], [3; 32]];
        let b = [[1u8; 32], [9; 32], [3; 32]];
        assert_eq!(pick_interval(&a, &b), 1);
        assert_eq!(pick_interval(&a, &a), 3);
        // Node (0, height 5) of a trace with N = 20: child 0 is leaf 0 (never disputable),
        // children past leaf 20 are padding.
        let theirs: Vec<Hash> = (0..32).map(|i| [i as u8; 32]).collect();
        let mut mine: Vec<Option<Hash>> = theirs.iter().copied().map(Some).collect();
        mine[0] = Some([99; 32]);
        assert_eq!(pick_trace_child(&theirs, &mine, 0, 5, 20), None);
        mine[25] = Some([99; 32]);
        assert_eq!(pick_trace_child(&theirs, &mine, 0, 5, 20), None);
        mine[12] = None; // past the challenger's own N: no honest value
        assert_eq!(pick_trace_child(&theirs, &mine, 0, 5, 20), Some(12));
        mine[7] = Some([99; 32]);
        assert_eq!(pick_trace_child(&theirs, &mine, 0, 5, 20), Some(7));
    }

    proptest! {
        #[test]
        fn points_are_strictly_inside_and_increasing(lo in 0u64..1 << 40, width in 1u64..1 << 40) {
            let hi = lo + width;
            let points = dissection_points(lo, hi);
            prop_assert_eq!(points.len() as u64, parts(lo, hi) - 1);
            let mut previous = lo;
            for p in points {
                prop_assert!(p > previous && p < hi);
                previous = p;
            }
        }
    }
}
