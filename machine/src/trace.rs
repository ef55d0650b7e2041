//! Checkpoints along one layer step, so that the machine hash after instruction `n` (level 2 of
//! the dispute game) and the proof of instruction `n` are produced without re-running the step
//! from its start each time.
//!
//! Snapshots are full machine clones (memory and its tree included). For a large memory keep
//! few: record with a coarse interval, then, as the dissection narrows, [`StepTrace::keep`] a
//! snapshot at the start of the chosen sub-interval and [`StepTrace::forget_outside`] the
//! others, so that each round costs one pass over the current interval.

use crate::hash::Hash;
use crate::state::Machine;

/// One layer step with machine snapshots at chosen instruction counts.
#[derive(Debug)]
pub struct StepTrace {
    /// `(n, machine after n instructions)`, ascending in `n`; always holds `n = 0`.
    snapshots: Vec<(u64, Machine)>,
    length: u64,
}

impl StepTrace {
    /// Runs one layer step from `start` (a boundary state), keeping a snapshot every `interval`
    /// instructions.
    pub fn record(start: Machine, interval: u64) -> Self {
        assert!(interval > 0, "interval");
        let mut machine = start;
        // Snapshots hold an up-to-date memory tree, so that every clone of them hashes
        // incrementally instead of rebuilding the whole tree.
        machine.hash();
        let mut snapshots = vec![(0, machine.clone())];
        let mut length = 0;
        loop {
            let n = machine.run_layer_step_limited(interval);
            length += n;
            if n < interval || machine.is_halted() {
                break;
            }
            machine.hash();
            snapshots.push((length, machine.clone()));
        }
        Self { snapshots, length }
    }

    /// Instructions in the layer step (the last one is `StepEnd`, or the trapping one).
    pub fn len(&self) -> u64 {
        self.length
    }

    /// Whether the step is empty (never: a step executes at least `Call step`).
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Number of snapshots held.
    pub fn snapshots(&self) -> usize {
        self.snapshots.len()
    }

    /// The machine after `n <= len()` instructions.
    pub fn machine_at(&self, n: u64) -> Machine {
        assert!(
            n <= self.length,
            "instruction {n} is past the step's end {}",
            self.length
        );
        let i = self.snapshots.partition_point(|(at, _)| *at <= n) - 1;
        let (mut at, mut m) = (self.snapshots[i].0, self.snapshots[i].1.clone());
        while at < n {
            m.step();
            at += 1;
        }
        m
    }

    /// Keeps a snapshot of the machine after `n` instructions.
    pub fn keep(&mut self, n: u64) {
        let i = self.snapshots.partition_point(|(at, _)| *at < n);
        if self.snapshots.get(i).is_none_or(|(at, _)| *at != n) {
            let mut m = self.machine_at(n);
            m.hash();
            self.snapshots.insert(i, (n, m));
        }
    }

    /// Drops the snapshots outside `[lo, hi]`, keeping the last one at or before `lo` and the
    /// start of the step.
    pub fn forget_outside(&mut self, lo: u64, hi: u64) {
        let base = self.snapshots.partition_point(|(at, _)| *at <= lo) - 1;
        self.snapshots.drain(1..base.max(1));
        self.snapshots.retain(|(at, _)| *at <= hi);
    }

    /// The machine hash after `n` instructions.
    pub fn hash_at(&self, n: u64) -> Hash {
        self.machine_at(n).hash()
    }

    /// The hashes after each of `points` (ascending), in one pass from the nearest snapshot.
    pub fn hashes_at(&self, points: &[u64]) -> Vec<Hash> {
        let Some(&first) = points.first() else {
            return Vec::new();
        };
        let mut m = self.machine_at(first);
        let mut at = first;
        points
            .iter()
            .map(|&n| {
                assert!(n >= at && n <= self.length, "points ascend within the step");
                while at < n {
                    m.step();
                    at += 1;
                }
                m.hash()
            })
            .collect()
    }

    /// The one-step proof of instruction `n + 1`, from the state after `n` instructions.
    pub fn prove_at(&self, n: u64) -> Vec<u8> {
        self.machine_at(n).prove_step()
    }
}
