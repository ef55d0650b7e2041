//! A daemon's durable state in an embedded database (redb): the block up to which chain events
//! were processed, and one record per request and per game. Event effects and the cursor move
//! in one transaction, so a crash at any point replays at most the events of an unfinished
//! batch, and applying an event twice is harmless (records are overwritten, not appended).
//!
//! Every write derived from the chain names the block it was derived from
//! ([`Store::write_seen`]) and keeps a persistent redb savepoint of the state before it,
//! labelled with the newest block that state was derived from (its tip). A reorg that
//! replaced a block the state relies on is undone by restoring the newest savepoint whose
//! label is still canonical ([`Store::rewind`]); savepoints older than `reorg_depth` blocks
//! behind the tip are deleted (all but the newest of them).

use std::path::Path;

use alloy::primitives::{Address, B256};
use anyhow::{Context, Result};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Serialize, de::DeserializeOwned};

use crate::chain::BlockRef;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const REQUESTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("requests");
const GAMES: TableDefinition<u64, &[u8]> = TableDefinition::new("games");
const DEPLOYMENT: TableDefinition<&str, &[u8]> = TableDefinition::new("deployment");
/// The blocks the state was derived from: the tip (newest) and the cursor's block.
const BLOCKS: TableDefinition<&str, &[u8]> = TableDefinition::new("blocks");
/// Savepoint id -> the tip of the state it holds (JSON `null`: a state derived from no block).
const SAVEPOINTS: TableDefinition<u64, &[u8]> = TableDefinition::new("savepoints");
const CURSOR: &str = "cursor";
const CHAIN_ID: &str = "chain_id";
const ORACLE: &str = "oracle";
const TIP: &str = "tip";
const CURSOR_BLOCK: &str = "cursor_block";

/// Blocks behind the tip a reorg can be undone by default: two Ethereum epochs, after which
/// a block is final.
pub const DEFAULT_REORG_DEPTH: u64 = 64;

/// The database of one daemon.
#[derive(Debug)]
pub struct Store {
    db: Database,
    path: std::path::PathBuf,
    reorg_depth: u64,
}

/// A state this database can go back to: savepoint `id`, derived from blocks up to `tip`
/// (`None`: from none, the empty state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RewindPoint {
    /// The savepoint.
    pub id: u64,
    /// The newest block that state was derived from.
    pub tip: Option<BlockRef>,
}

/// The writes of one atomic transaction.
pub struct Batch<'a> {
    txn: &'a WriteTransaction,
}

impl std::fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Batch")
    }
}

impl Store {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the state directory {}", dir.display()))?;
        }
        let db = Database::create(path)
            .with_context(|| format!("opening the state database {}", path.display()))?;
        let txn = db.begin_write()?;
        txn.open_table(META)?;
        txn.open_table(REQUESTS)?;
        txn.open_table(GAMES)?;
        txn.open_table(DEPLOYMENT)?;
        txn.open_table(BLOCKS)?;
        txn.open_table(SAVEPOINTS)?;
        txn.commit()?;
        Ok(Self {
            db,
            path: path.to_path_buf(),
            reorg_depth: DEFAULT_REORG_DEPTH,
        })
    }

    /// Keeps savepoints for reorgs up to `blocks` deep (behind the tip).
    pub fn with_reorg_depth(self, blocks: u64) -> Self {
        Self {
            reorg_depth: blocks,
            ..self
        }
    }

    /// Ties the database to the deployment whose events it records (chain id and oracle) on
    /// first use, and refuses one that records another: its cursor and records would be
    /// wrong for this one (events missed, games that do not exist).
    pub fn bind(&self, chain_id: u64, oracle: Address) -> Result<()> {
        let txn = self.db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            let mut deployment = txn.open_table(DEPLOYMENT)?;
            let known_chain = meta.get(CHAIN_ID)?.map(|v| v.value());
            let known_oracle = deployment
                .get(ORACLE)?
                .map(|v| Address::from_slice(v.value()));
            match (known_chain, known_oracle) {
                (Some(c), Some(o)) if (c, o) == (chain_id, oracle) => {}
                (Some(c), Some(o)) => anyhow::bail!(
                    "the state database {} records chain {c}, oracle {o}, not chain {chain_id}, \
                     oracle {oracle}: give this deployment a state path of its own",
                    self.path.display()
                ),
                _ => {
                    meta.insert(CHAIN_ID, chain_id)?;
                    deployment.insert(ORACLE, oracle.as_slice())?;
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// The last block whose events were processed, if any.
    pub fn cursor(&self) -> Result<Option<u64>> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(META)?.get(CURSOR)?.map(|v| v.value()))
    }

    /// The block of the cursor, if recorded (databases written before blocks were recorded
    /// have only its number).
    pub fn cursor_block(&self) -> Result<Option<BlockRef>> {
        let txn = self.db.begin_read()?;
        read_block(&txn.open_table(BLOCKS)?, CURSOR_BLOCK)
    }

    /// The newest block the state was derived from.
    pub fn tip(&self) -> Result<Option<BlockRef>> {
        let txn = self.db.begin_read()?;
        read_block(&txn.open_table(BLOCKS)?, TIP)
    }

    /// The states this database can go back to, newest first.
    pub fn rewind_points(&self) -> Result<Vec<RewindPoint>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(SAVEPOINTS)?;
        let mut points = table
            .iter()?
            .map(|row| {
                let (id, tip) = row?;
                Ok(RewindPoint {
                    id: id.value(),
                    tip: serde_json::from_slice(tip.value())?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        points.reverse();
        Ok(points)
    }

    /// Puts the whole database back to the state of `point` (every write since is undone,
    /// those not derived from the chain included: a daemon decides them again).
    pub fn rewind(&self, point: RewindPoint) -> Result<()> {
        let mut txn = self.db.begin_write()?;
        let savepoint = txn
            .get_persistent_savepoint(point.id)
            .with_context(|| format!("no savepoint {} in the state database", point.id))?;
        txn.restore_savepoint(&savepoint)?;
        drop(savepoint);
        // The restored state's table of savepoints predates this one; the next write keeps a
        // new one of the same state.
        txn.delete_persistent_savepoint(point.id)?;
        txn.commit()?;
        Ok(())
    }

    /// The record of request `id`.
    pub fn request<R: DeserializeOwned>(&self, id: &B256) -> Result<Option<R>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(REQUESTS)?;
        let value = table.get(id.as_slice())?;
        value.map(|v| decode(v.value())).transpose()
    }

    /// Every request record.
    pub fn requests<R: DeserializeOwned>(&self) -> Result<Vec<(B256, R)>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(REQUESTS)?;
        table
            .iter()?
            .map(|row| {
                let (k, v) = row?;
                Ok((B256::from_slice(k.value()), decode(v.value())?))
            })
            .collect()
    }

    /// The record of game `id`.
    pub fn game<G: DeserializeOwned>(&self, id: u64) -> Result<Option<G>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(GAMES)?;
        let value = table.get(id)?;
        value.map(|v| decode(v.value())).transpose()
    }

    /// Every game record.
    pub fn games<G: DeserializeOwned>(&self) -> Result<Vec<(u64, G)>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(GAMES)?;
        table
            .iter()?
            .map(|row| {
                let (k, v) = row?;
                Ok((k.value(), decode(v.value())?))
            })
            .collect()
    }

    /// Runs `f` in one write transaction and commits it (all of its writes or none). For
    /// writes that depend on no block (tests, local bookkeeping); the chain's go through
    /// [`Store::write_seen`].
    pub fn write<T>(&self, f: impl FnOnce(&mut Batch<'_>) -> Result<T>) -> Result<T> {
        let txn = self.db.begin_write()?;
        let out = f(&mut Batch { txn: &txn })?;
        txn.commit()?;
        Ok(out)
    }

    /// [`Store::write`] for writes derived from the chain as of block `seen`: the state before
    /// them is kept (a savepoint labelled with its tip), and the tip becomes `seen` unless it
    /// is higher already.
    pub fn write_seen<T>(
        &self,
        seen: BlockRef,
        f: impl FnOnce(&mut Batch<'_>) -> Result<T>,
    ) -> Result<T> {
        let txn = self.db.begin_write()?;
        let savepoint = txn.persistent_savepoint()?;
        let tip_before = read_block(&txn.open_table(BLOCKS)?, TIP)?;
        let out = f(&mut Batch { txn: &txn })?;
        let tip = match tip_before {
            Some(tip) if tip.number > seen.number => tip,
            _ => seen,
        };
        txn.open_table(BLOCKS)?
            .insert(TIP, serde_json::to_vec(&tip)?.as_slice())?;
        {
            let mut savepoints = txn.open_table(SAVEPOINTS)?;
            savepoints.insert(savepoint, serde_json::to_vec(&tip_before)?.as_slice())?;
            // Past the depth, only the newest savepoint is kept: the furthest a rewind goes.
            let mut too_old = Vec::new();
            for row in savepoints.iter()? {
                let (id, label) = row?;
                let label: Option<BlockRef> = serde_json::from_slice(label.value())?;
                if label.map_or(0, |b| b.number) + self.reorg_depth < tip.number {
                    too_old.push(id.value());
                }
            }
            too_old.pop();
            for id in too_old {
                savepoints.remove(id)?;
                txn.delete_persistent_savepoint(id)?;
            }
        }
        txn.commit()?;
        Ok(out)
    }
}

fn read_block(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<Option<BlockRef>> {
    table
        .get(key)?
        .map(|v| serde_json::from_slice(v.value()).context("a recorded block does not decode"))
        .transpose()
}

impl Batch<'_> {
    /// Records that events up to `block` are processed.
    pub fn set_cursor(&mut self, block: BlockRef) -> Result<()> {
        self.txn.open_table(META)?.insert(CURSOR, block.number)?;
        self.txn
            .open_table(BLOCKS)?
            .insert(CURSOR_BLOCK, serde_json::to_vec(&block)?.as_slice())?;
        Ok(())
    }

    /// Writes the record of request `id`.
    pub fn put_request<R: Serialize>(&mut self, id: &B256, record: &R) -> Result<()> {
        let bytes = serde_json::to_vec(record)?;
        self.txn
            .open_table(REQUESTS)?
            .insert(id.as_slice(), bytes.as_slice())?;
        Ok(())
    }

    /// The record of request `id`, as this transaction sees it.
    pub fn request<R: DeserializeOwned>(&mut self, id: &B256) -> Result<Option<R>> {
        let table = self.txn.open_table(REQUESTS)?;
        let value = table.get(id.as_slice())?;
        value.map(|v| decode(v.value())).transpose()
    }

    /// Writes the record of game `id`.
    pub fn put_game<G: Serialize>(&mut self, id: u64, record: &G) -> Result<()> {
        let bytes = serde_json::to_vec(record)?;
        self.txn.open_table(GAMES)?.insert(id, bytes.as_slice())?;
        Ok(())
    }

    /// The record of game `id`, as this transaction sees it.
    pub fn game<G: DeserializeOwned>(&mut self, id: u64) -> Result<Option<G>> {
        let table = self.txn.open_table(GAMES)?;
        let value = table.get(id)?;
        value.map(|v| decode(v.value())).transpose()
    }
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).context("a state record does not decode (wrong version?)")
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
    struct Rec {
        n: u32,
    }

    fn block(number: u64, fork: u8) -> BlockRef {
        BlockRef {
            number,
            hash: B256::repeat_byte(fork.wrapping_mul(31).wrapping_add(number as u8)),
        }
    }

    #[test]
    fn records_and_cursor_survive_reopening_and_failed_batches_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/db.redb");
        let id = B256::repeat_byte(9);
        {
            let store = Store::open(&path).unwrap();
            assert_eq!(store.cursor().unwrap(), None);
            store
                .write(|b| {
                    b.put_request(&id, &Rec { n: 1 })?;
                    b.put_game(7, &Rec { n: 2 })?;
                    b.set_cursor(block(100, 0))
                })
                .unwrap();
            let failed = store.write_seen(block(200, 0), |b| -> Result<()> {
                b.set_cursor(block(200, 0))?;
                b.put_game(8, &Rec { n: 3 })?;
                anyhow::bail!("crash in the middle")
            });
            assert!(failed.is_err());
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.cursor().unwrap(), Some(100));
        assert_eq!(store.cursor_block().unwrap(), Some(block(100, 0)));
        assert_eq!(store.tip().unwrap(), None, "the failed batch set no tip");
        assert!(
            store.rewind_points().unwrap().is_empty(),
            "nor kept a savepoint"
        );
        assert_eq!(store.request::<Rec>(&id).unwrap(), Some(Rec { n: 1 }));
        assert_eq!(store.games::<Rec>().unwrap(), vec![(7, Rec { n: 2 })]);
        assert_eq!(store.game::<Rec>(8).unwrap(), None);
        assert_eq!(store.requests::<Rec>().unwrap().len(), 1);
    }

    #[test]
    fn a_database_serves_one_deployment_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let oracle = Address::repeat_byte(0xaa);
        {
            let store = Store::open(&path).unwrap();
            store.write(|b| b.set_cursor(block(500, 0))).unwrap();
            store.bind(31337, oracle).unwrap();
            store.bind(31337, oracle).unwrap();
        }
        let store = Store::open(&path).unwrap();
        store.bind(31337, oracle).unwrap();
        let other_chain = format!("{:#}", store.bind(1, oracle).unwrap_err());
        assert!(other_chain.contains("chain 31337"), "{other_chain}");
        assert!(store.bind(31337, Address::repeat_byte(0xbb)).is_err());
        assert_eq!(
            store.cursor().unwrap(),
            Some(500),
            "a refused bind changes nothing"
        );
    }

    /// The writes of blocks 1..=40 on one fork, then a reorg from block 31: rewinding to the
    /// newest state whose tip is at or below the fork point gives exactly the state the writes
    /// of blocks up to there gave (records, cursor, tip), across a reopening; the kept states
    /// reach `reorg_depth` blocks behind the tip and no further (but one).
    #[test]
    fn a_rewind_restores_exactly_the_state_of_the_fork_point() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let depth = 10;
        let write_block = |store: &Store, n: u64| {
            store
                .write_seen(block(n, 0), |b| {
                    b.put_game(n, &Rec { n: n as u32 })?;
                    b.put_request(&B256::ZERO, &Rec { n: n as u32 })?;
                    b.set_cursor(block(n, 0))
                })
                .unwrap();
        };
        let snapshot = |store: &Store| {
            (
                store.games::<Rec>().unwrap(),
                store.requests::<Rec>().unwrap(),
                store.cursor_block().unwrap(),
                store.tip().unwrap(),
            )
        };
        let at_30 = {
            let store = Store::open(&dir.path().join("twin.redb")).unwrap();
            for n in 1..=30 {
                write_block(&store, n);
            }
            snapshot(&store)
        };
        {
            let store = Store::open(&path).unwrap().with_reorg_depth(depth);
            for n in 1..=40 {
                write_block(&store, n);
                // A decision between blocks, derived from the head (one block further).
                store
                    .write_seen(block(n + 1, 0), |b| b.put_game(1000 + n, &Rec { n: 0 }))
                    .unwrap();
            }
            let points = store.rewind_points().unwrap();
            let oldest = points.last().unwrap().tip.unwrap().number;
            assert!(
                oldest + depth < 41 && oldest + depth + 2 >= 41,
                "kept states reach {oldest}, tip 41, depth {depth}"
            );
            assert!(points.windows(2).all(|w| w[0].id > w[1].id), "newest first");
        }
        let store = Store::open(&path).unwrap().with_reorg_depth(depth);
        // Blocks 31.. were replaced: the newest state derived from blocks up to 30 only.
        let point = *store
            .rewind_points()
            .unwrap()
            .iter()
            .find(|p| p.tip.is_some_and(|t| t.number <= 30))
            .unwrap();
        store.rewind(point).unwrap();
        let (games, requests, cursor, tip) = snapshot(&store);
        assert_eq!(cursor, at_30.2);
        assert_eq!(requests, at_30.1);
        // The decision taken after block 30 was derived from block 31's head: undone too.
        let events: Vec<_> = games.iter().filter(|(id, _)| *id < 1000).cloned().collect();
        assert_eq!(events, at_30.0);
        assert!(games.iter().all(|(id, _)| *id < 1030), "{games:?}");
        assert_eq!((tip, at_30.3), (Some(block(30, 0)), Some(block(30, 0))));
        // The chain goes on from there on the new fork.
        store
            .write_seen(block(31, 1), |b| b.set_cursor(block(31, 1)))
            .unwrap();
        assert_eq!(store.tip().unwrap(), Some(block(31, 1)));
        assert!(
            store
                .rewind_points()
                .unwrap()
                .iter()
                .all(|p| p.tip.is_none_or(|t| t.number <= 30)),
            "no state of the lost blocks is kept"
        );
    }
}
