//! Level 1 against random liars: whatever trace a liar commits to (within what the oracle
//! accepts: leaf 0 pinned, leaves past its N zero, the depth of its N), the honest challenger's
//! picks, refereed by the contract's rules, end on a leaf `j` whose start leaf `j-1` is the
//! honest one and whose end leaf is not (or lies past the honest run's end). From there the
//! machine's fixed-point step end leaves the liar no valid link (machine/tests/proofs.rs,
//! adversary/tests/run_source.rs). And the mirror: random challenger picks against an honest
//! executor always end on a leaf that is honest at both ends.

use proptest::prelude::*;
use veritrace_protocol::Hash;
use veritrace_protocol::dissection::reveal_levels;
use veritrace_protocol::game::{
    GameView, Move, Phase, SourceError, TraceSource, challenger_move, executor_move,
};
use veritrace_protocol::trace::LayerTrace;

/// A party that only knows its layer trace (level 1 needs nothing else).
struct Leaves(LayerTrace);

impl TraceSource for Leaves {
    fn layer_trace(&self) -> &LayerTrace {
        &self.0
    }
    fn instruction_count(&self, step: u64) -> Result<u64, SourceError> {
        Err(SourceError::Execution {
            step,
            reason: "level 1 only".into(),
        })
    }
    fn machine_hash(&self, step: u64, _: u64) -> Result<Hash, SourceError> {
        self.instruction_count(step)
            .map(|_| unreachable!("level 1 only"))
    }
    fn one_step_proof(&self, step: u64, _: u64) -> Result<Vec<u8>, SourceError> {
        self.instruction_count(step)
            .map(|_| unreachable!("level 1 only"))
    }
}

fn honest_leaf(i: u64) -> Hash {
    let mut h = [0u8; 32];
    h[..8].copy_from_slice(&i.to_be_bytes());
    h[31] = 0xaa;
    h
}

/// The ways a liar builds its leaves from the honest ones.
#[derive(Debug, Clone)]
enum Lie {
    /// Leaf `at` replaced by a made-up value.
    Edit { at: u64, salt: u8 },
    /// Leaf `at` removed: two honest steps merged into one link.
    Merge { at: u64 },
    /// A made-up leaf inserted before `at`: one step split in two.
    Split { at: u64, salt: u8 },
    /// Leaf `at` repeated: a step that changes nothing.
    Duplicate { at: u64 },
    /// All leaves from `at` shifted by one (the first of them dropped), the last forged.
    Shift { at: u64, salt: u8 },
    /// `extra` made-up leaves appended past the honest end (a claim of a longer run).
    Longer { extra: u64, salt: u8 },
    /// A zero leaf right past the honest end, then `extra` made-up leaves: the zero equals the
    /// honest tree's padding, so only a challenger that treats every leaf past its own end as
    /// disputed finds the lie (a zero start leaf has no memory behind it).
    LongerPastZero { extra: u64, salt: u8 },
    /// The run cut after `keep` steps, the last leaf forged as a finished state.
    Shorter { keep: u64, salt: u8 },
    /// A zero leaf inside the claim (a "padding" leaf before N).
    ZeroInside { at: u64 },
}

fn made_up(salt: u8, i: u64) -> Hash {
    let mut h = honest_leaf(i);
    h[30] = salt | 1;
    h
}

fn lie_strategy(n: u64) -> impl Strategy<Value = Lie> {
    prop_oneof![
        (1..=n, any::<u8>()).prop_map(|(at, salt)| Lie::Edit { at, salt }),
        (1..=n).prop_map(|at| Lie::Merge { at }),
        (1..=n, any::<u8>()).prop_map(|(at, salt)| Lie::Split { at, salt }),
        (1..=n).prop_map(|at| Lie::Duplicate { at }),
        (1..=n, any::<u8>()).prop_map(|(at, salt)| Lie::Shift { at, salt }),
        (1u64..40, any::<u8>()).prop_map(|(extra, salt)| Lie::Longer { extra, salt }),
        (1u64..40, any::<u8>()).prop_map(|(extra, salt)| Lie::LongerPastZero { extra, salt }),
        (1..=n, any::<u8>()).prop_map(|(keep, salt)| Lie::Shorter { keep, salt }),
        (1..=n).prop_map(|at| Lie::ZeroInside { at }),
    ]
}

/// The liar's leaves; `None` when the lie leaves fewer than two leaves, changes nothing, or is
/// a strict prefix of the honest run (the oracle refuses it: only the honest leaf N holds a
/// finished output).
fn tell(honest: &[Hash], lie: &Lie) -> Option<Vec<Hash>> {
    let mut v = honest.to_vec();
    match *lie {
        Lie::Edit { at, salt } => v[at as usize] = made_up(salt, at),
        Lie::Merge { at } => {
            v.remove(at as usize);
        }
        Lie::Split { at, salt } => v.insert(at as usize, made_up(salt, at)),
        Lie::Duplicate { at } => v.insert(at as usize, v[at as usize]),
        Lie::Shift { at, salt } => {
            v.remove(at as usize);
            let last = v.len() - 1;
            v[last] = made_up(salt, last as u64);
        }
        Lie::Longer { extra, salt } => {
            let n = v.len() as u64;
            v.extend((0..extra).map(|i| made_up(salt, n + i)));
        }
        Lie::LongerPastZero { extra, salt } => {
            let n = v.len() as u64;
            v.push([0; 32]);
            v.extend((1..=extra).map(|i| made_up(salt, n + i)));
        }
        Lie::Shorter { keep, salt } => {
            v.truncate(keep as usize + 1);
            v[keep as usize] = made_up(salt, keep);
        }
        Lie::ZeroInside { at } => v[at as usize] = [0; 32],
    }
    let prefix = v.len() < honest.len() && honest.starts_with(&v);
    (v.len() >= 2 && v != honest && !prefix).then_some(v)
}

/// Plays level 1 by the contract's rules; returns the disputed leaf `j`. `pick` chooses the
/// challenger's child (the honest strategy, or a random liar's).
fn descend(executor: &Leaves, mut pick: impl FnMut(&GameView, &[Hash]) -> usize) -> (u64, Hash) {
    let trace = executor.layer_trace();
    let mut view = GameView {
        phase: Phase::TraceReveal,
        step_count: trace.step_count(),
        node_index: 0,
        node_height: trace.depth(),
        lo: 0,
        hi: 0,
        lo_hash: [0; 32],
        hi_hash: [0; 32],
        program_root: [0; 32],
        memory_log2: 0,
    };
    let mut node = trace.root();
    loop {
        let Some(Move::RevealTrace(nodes)) = executor_move(&view, executor).unwrap() else {
            panic!("the executor reveals at level 1");
        };
        let levels = reveal_levels(view.node_height);
        let mut level = nodes.clone();
        while level.len() > 1 {
            level = level
                .chunks_exact(2)
                .map(|p| veritrace_machine::hash::node(&p[0], &p[1]))
                .collect();
        }
        assert_eq!(level[0], node, "BadReveal");
        view.phase = Phase::TracePick;
        let index = pick(&view, &nodes);
        let child = (view.node_index << levels) + index as u64;
        let child_height = view.node_height - levels;
        let first_leaf = child << child_height;
        assert!(
            index < nodes.len()
                && first_leaf <= view.step_count
                && !(child_height == 0 && first_leaf == 0),
            "BadPick {index} at {view:?}"
        );
        node = nodes[index];
        view.node_index = child;
        view.node_height = child_height;
        if child_height == 0 {
            return (child, node);
        }
        view.phase = Phase::TraceReveal;
    }
}

fn honest_pick(challenger: &Leaves) -> impl FnMut(&GameView, &[Hash]) -> usize + '_ {
    move |view, nodes| match challenger_move(view, nodes, challenger).unwrap() {
        Some(Move::PickTrace(_, index)) => index,
        other => panic!("the honest challenger must pick, got {other:?}"),
    }
}

/// Cases per property: 3000 in `make test`; `make fuzz-game` sets `PROPTEST_CASES=100000`.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn every_lie_is_disputed_at_a_step_from_an_agreed_leaf(
        (n, lie) in (1u64..300).prop_flat_map(|n| (Just(n), lie_strategy(n)))
    ) {
        let honest: Vec<Hash> = (0..=n).map(honest_leaf).collect();
        let Some(forged) = tell(&honest, &lie) else { return Ok(()) };
        let executor = Leaves(LayerTrace::new(forged.clone()).unwrap());
        let challenger = Leaves(LayerTrace::new(honest.clone()).unwrap());
        let (j, leaf) = descend(&executor, honest_pick(&challenger));
        prop_assert_eq!(leaf, forged[j as usize]);
        prop_assert!(j - 1 <= n, "the disputed step {} starts past the honest end {}", j, n);
        prop_assert_eq!(forged[j as usize - 1], honest[j as usize - 1], "start leaf agreed");
        prop_assert!(
            j > n || forged[j as usize] != honest[j as usize],
            "the disputed leaf {} must be wrong (or past the honest end {})", j, n
        );
    }

    #[test]
    fn random_challenger_picks_only_reach_honest_links(
        n in 1u64..300,
        picks in proptest::collection::vec(any::<u16>(), 8),
    ) {
        let honest: Vec<Hash> = (0..=n).map(honest_leaf).collect();
        let executor = Leaves(LayerTrace::new(honest.clone()).unwrap());
        let mut round = 0;
        let (j, leaf) = descend(&executor, |view, nodes| {
            // A random pick among the children the contract accepts.
            let levels = reveal_levels(view.node_height);
            let child_height = view.node_height - levels;
            let valid: Vec<usize> = (0..nodes.len())
                .filter(|&i| {
                    let first = ((view.node_index << levels) + i as u64) << child_height;
                    first <= view.step_count && !(child_height == 0 && first == 0)
                })
                .collect();
            round += 1;
            valid[picks[round % picks.len()] as usize % valid.len()]
        });
        prop_assert!(j >= 1 && j <= n);
        prop_assert_eq!(leaf, honest[j as usize]);
    }
}
