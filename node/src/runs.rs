//! The runs a daemon keeps in memory to answer its games without re-running the request: each
//! holds an engine (hundreds of MiB for a real model, more once a game reaches level 2), so
//! they are kept only while a game or an answer may still need them, and at most `capacity` of
//! them (least recently used first out). A run that was let go is recomputed on demand: the
//! engine is deterministic, so nothing is lost, only time.

use std::sync::Arc;

use alloy::primitives::B256;
use prometheus_client::metrics::gauge::Gauge;
use veritrace_protocol::game::TraceSource;

/// A party's view of one run, shared with the game driver's blocking thread.
pub type SharedSource = Arc<dyn TraceSource + Send + Sync>;

/// The runs held, by request id, in order of use (the last one used last).
pub struct HeldRuns {
    capacity: usize,
    runs: Vec<(B256, SharedSource)>,
    gauge: Gauge,
}

impl std::fmt::Debug for HeldRuns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldRuns")
            .field("capacity", &self.capacity)
            .field(
                "requests",
                &self.runs.iter().map(|(id, _)| id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl HeldRuns {
    /// At most `capacity` runs (at least one), their count shown on `gauge`.
    pub fn new(capacity: usize, gauge: Gauge) -> Self {
        gauge.set(0);
        Self {
            capacity: capacity.max(1),
            runs: Vec::new(),
            gauge,
        }
    }

    /// The run of request `id`, if held (it becomes the most recently used).
    pub fn get(&mut self, id: &B256) -> Option<SharedSource> {
        let at = self.runs.iter().position(|(held, _)| held == id)?;
        let entry = self.runs.remove(at);
        let source = entry.1.clone();
        self.runs.push(entry);
        Some(source)
    }

    /// Holds `source` as the run of request `id`, letting the least recently used run go when
    /// more than `capacity` would be held.
    pub fn insert(&mut self, id: B256, source: SharedSource) {
        self.runs.retain(|(held, _)| *held != id);
        self.runs.push((id, source));
        if self.runs.len() > self.capacity {
            let (evicted, _) = self.runs.remove(0);
            tracing::info!(request = %evicted, capacity = self.capacity,
                "letting a held run go (it is recomputed if a game needs it)");
        }
        self.gauge.set(self.runs.len() as i64);
    }

    /// Lets go of every run whose request `needed` says no game or answer needs any more.
    pub fn retain(&mut self, mut needed: impl FnMut(&B256) -> bool) {
        self.runs.retain(|(id, _)| needed(id));
        self.gauge.set(self.runs.len() as i64);
    }

    /// Lets go of the run of request `id`.
    pub fn remove(&mut self, id: &B256) {
        self.retain(|held| held != id);
    }

    /// How many runs are held.
    pub fn len(&self) -> usize {
        self.runs.len()
    }

    /// Whether no run is held.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use veritrace_protocol::game::SourceError;
    use veritrace_protocol::trace::LayerTrace;

    use super::*;

    struct Fake(LayerTrace);

    impl TraceSource for Fake {
        fn layer_trace(&self) -> &LayerTrace {
            &self.0
        }
        fn instruction_count(&self, _: u64) -> Result<u64, SourceError> {
            Ok(1)
        }
        fn machine_hash(&self, _: u64, _: u64) -> Result<veritrace_protocol::Hash, SourceError> {
            Ok([0; 32])
        }
        fn one_step_proof(&self, _: u64, _: u64) -> Result<Vec<u8>, SourceError> {
            Ok(Vec::new())
        }
    }

    fn source() -> SharedSource {
        Arc::new(Fake(LayerTrace::new(vec![[1; 32], [2; 32]]).unwrap()))
    }

    fn id(n: u8) -> B256 {
        B256::repeat_byte(n)
    }

    #[test]
    fn the_least_recently_used_run_goes_first_and_the_gauge_follows() {
        let gauge = Gauge::default();
        let mut runs = HeldRuns::new(2, gauge.clone());
        runs.insert(id(1), source());
        runs.insert(id(2), source());
        assert!(runs.get(&id(1)).is_some(), "1 is now the most recent");
        runs.insert(id(3), source());
        assert_eq!(runs.len(), 2);
        assert!(runs.get(&id(2)).is_none(), "2 was the least recently used");
        assert!(runs.get(&id(1)).is_some() && runs.get(&id(3)).is_some());
        assert_eq!(gauge.get(), 2);
        runs.insert(id(3), source());
        assert_eq!(runs.len(), 2, "holding a run again replaces it");
    }

    #[test]
    fn runs_no_longer_needed_are_let_go() {
        let gauge = Gauge::default();
        let mut runs = HeldRuns::new(8, gauge.clone());
        for n in 1..=5 {
            runs.insert(id(n), source());
        }
        runs.retain(|held| held.0[0] % 2 == 1);
        assert_eq!(runs.len(), 3);
        assert_eq!(gauge.get(), 3);
        runs.remove(&id(3));
        assert!(runs.get(&id(3)).is_none());
        runs.retain(|_| false);
        assert!(runs.is_empty());
        assert_eq!(gauge.get(), 0);
    }
}
