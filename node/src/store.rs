//! A daemon's durable state in an embedded database (redb): the block up to which chain events
//! were processed, and one record per request and per game. Event effects and the cursor move
//! in one transaction, so a crash at any point replays at most the events of an unfinished
//! batch, and applying an event twice is harmless (records are overwritten, not appended).

use std::path::Path;

use alloy::primitives::{Address, B256};
use anyhow::{Context, Result};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Serialize, de::DeserializeOwned};

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const REQUESTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("requests");
const GAMES: TableDefinition<u64, &[u8]> = TableDefinition::new("games");
const DEPLOYMENT: TableDefinition<&str, &[u8]> = TableDefinition::new("deployment");
const CURSOR: &str = "cursor";
const CHAIN_ID: &str = "chain_id";
const ORACLE: &str = "oracle";

/// The database of one daemon.
#[derive(Debug)]
pub struct Store {
    db: Database,
    path: std::path::PathBuf,
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
        txn.commit()?;
        Ok(Self {
            db,
            path: path.to_path_buf(),
        })
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

    #[test]
    fn a_database_serves_one_deployment_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let oracle = Address::repeat_byte(0xaa);
        {
            let store = Store::open(&path).unwrap();
            store.write(|b| b.set_cursor(500)).unwrap();
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
}
