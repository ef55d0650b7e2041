//! A daemon's durable state in an embedded database (redb): the block up to which chain events
//! were processed, and one record per request and per game. Event effects and the cursor move
//! in one transaction, so a crash at any point replays at most the events of an unfinished
//! batch, and applying an event twice is harmless (records are overwritten, not appended).

use std::path::Path;

use alloy::primitives::B256;
use anyhow::{Context, Result};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Serialize, de::DeserializeOwned};

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const REQUESTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("requests");
const GAMES: TableDefinition<u64, &[u8]> = TableDefinition::new("games");
const CURSOR: &str = "cursor";

/// The database of one daemon.
#[derive(Debug)]
pub struct Store {
    db: Database,
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
        txn.commit()?;
        Ok(Self { db })
    }

    /// The last block whose events were processed, if any.
    pub fn cursor(&self) -> Result<Option<u64>> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(META)?.get(CURSOR)?.map(|v| v.value()))
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

    /// Runs `f` in one write transaction and commits it (all of its writes or none).
    pub fn write<T>(&self, f: impl FnOnce(&mut Batch<'_>) -> Result<T>) -> Result<T> {
        let txn = self.db.begin_write()?;
        let out = f(&mut Batch { txn: &txn })?;
        txn.commit()?;
        Ok(out)
    }
}

impl Batch<'_> {
    /// Records that events up to `block` are processed.
    pub fn set_cursor(&mut self, block: u64) -> Result<()> {
        self.txn.open_table(META)?.insert(CURSOR, block)?;
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

    #[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
    struct Rec {
        n: u32,
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
                    b.set_cursor(100)
                })
                .unwrap();
            let failed = store.write(|b| -> Result<()> {
                b.set_cursor(200)?;
                b.put_game(8, &Rec { n: 3 })?;
                anyhow::bail!("crash in the middle")
            });
            assert!(failed.is_err());
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.cursor().unwrap(), Some(100));
        assert_eq!(store.request::<Rec>(&id).unwrap(), Some(Rec { n: 1 }));
        assert_eq!(store.games::<Rec>().unwrap(), vec![(7, Rec { n: 2 })]);
        assert_eq!(store.game::<Rec>(8).unwrap(), None);
        assert_eq!(store.requests::<Rec>().unwrap().len(), 1);
    }
}
