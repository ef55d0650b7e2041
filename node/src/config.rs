//! The daemons' configuration: the TOML file both read, the flags that override it, and the
//! signing key (from a file or the environment, never echoed).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Environment variable holding the hex private key when no key file is given.
pub const KEY_ENV: &str = "VERITRACE_KEY";

/// Settings both daemons read from their TOML file (flags override them).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CommonConfig {
    /// JSON-RPC endpoint of the node.
    pub rpc_url: String,
    /// Address of the `InferenceOracle`.
    pub oracle: Address,
    /// Path of the state database.
    pub state: PathBuf,
    /// Where to serve Prometheus metrics (none: not served).
    #[serde(default)]
    pub metrics_addr: Option<SocketAddr>,
    /// File holding the hex private key (else the `VERITRACE_KEY` environment variable).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// How often to poll the chain, in milliseconds.
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
    /// First block to read events from on a fresh database (the deployment block).
    #[serde(default)]
    pub start_block: u64,
    /// The models this party runs.
    #[serde(default)]
    pub models: Vec<ModelConfig>,
}

fn default_poll_ms() -> u64 {
    500
}

/// One served model: its GGUF file and the name it was registered under.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Path of the GGUF file.
    pub gguf: PathBuf,
    /// The name it was registered under (a label: the model id is content-addressed, so the
    /// registry entry is found from the model itself).
    pub name: String,
}

impl CommonConfig {
    /// The poll interval.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_ms.max(10))
    }

    /// Reads the signing key: from `key_file` if set, else from `VERITRACE_KEY`.
    pub fn signer(&self) -> Result<PrivateKeySigner> {
        let (text, origin) = match &self.key_file {
            Some(path) => (
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading the key file {}", path.display()))?,
                format!("key file {}", path.display()),
            ),
            None => (
                std::env::var(KEY_ENV).with_context(|| {
                    format!("no key: set key_file in the config, --key-file, or {KEY_ENV}")
                })?,
                KEY_ENV.to_string(),
            ),
        };
        // Never echo the text: it is the key.
        text.trim()
            .parse::<PrivateKeySigner>()
            .map_err(|_| anyhow::anyhow!("the {origin} does not hold a hex private key"))
    }
}

/// Reads a TOML config file of type `T`.
pub fn read_config<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing the config file {}", path.display()))
}

/// Command-line flags both daemons take; each overrides the config file's value.
/// Serialized, a set flag is a config key and an unset one is absent (toml leaves `None` out).
#[derive(Debug, Clone, Default, clap::Args, Serialize)]
pub struct CommonArgs {
    /// TOML config file (flags override its values).
    #[arg(long)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// JSON-RPC endpoint of the node.
    #[arg(long)]
    pub rpc_url: Option<String>,
    /// Address of the InferenceOracle.
    #[arg(long)]
    pub oracle: Option<Address>,
    /// Path of the state database.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Serve Prometheus metrics here (e.g. 127.0.0.1:9100).
    #[arg(long)]
    pub metrics_addr: Option<SocketAddr>,
    /// File holding the hex private key (default: the VERITRACE_KEY environment variable).
    #[arg(long)]
    pub key_file: Option<PathBuf>,
    /// Poll interval in milliseconds.
    #[arg(long)]
    pub poll_ms: Option<u64>,
    /// First block to read events from on a fresh database.
    #[arg(long)]
    pub start_block: Option<u64>,
    /// A served model as `NAME=PATH.gguf` (repeatable; replaces the config's list).
    #[arg(long = "model", value_parser = parse_model)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ModelConfig>,
}

fn parse_model(text: &str) -> Result<ModelConfig, String> {
    let (name, path) = text
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=PATH.gguf, got {text:?}"))?;
    Ok(ModelConfig {
        gguf: PathBuf::from(path),
        name: name.to_string(),
    })
}

impl CommonArgs {
    /// The config file's table (empty without a file) with the flags applied on top, as TOML.
    pub fn merged_table(&self) -> Result<toml::Table> {
        let mut table: toml::Table = match &self.config {
            Some(path) => read_config(path)?,
            None => toml::Table::new(),
        };
        let flags = toml::Table::try_from(self).context("the command-line flags as TOML")?;
        table.extend(flags);
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_file_parses_and_the_key_never_shows_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("executor.toml");
        std::fs::write(
            &path,
            r#"
rpc_url = "http://127.0.0.1:8545"
oracle = "0x00000000000000000000000000000000000000aa"
state = "state/executor.redb"
key_file = "missing.key"
[[models]]
gguf = "models/m.gguf"
name = "m"
"#,
        )
        .unwrap();
        let config: CommonConfig = read_config(&path).unwrap();
        assert_eq!(config.poll_ms, 500);
        assert_eq!(config.models.len(), 1);
        assert!(config.signer().is_err());

        let secret = "not-a-key-but-secret-0123456789";
        let key = dir.path().join("bad.key");
        std::fs::write(&key, secret).unwrap();
        let config = CommonConfig {
            key_file: Some(key),
            ..config
        };
        let err = format!("{:#}", config.signer().unwrap_err());
        assert!(!err.contains(secret), "{err}");

        std::fs::write(&path, "rpc_url = 1").unwrap();
        assert!(read_config::<CommonConfig>(&path).is_err());
    }

    #[test]
    fn flags_override_the_config_file_and_unset_flags_keep_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.toml");
        std::fs::write(
            &path,
            r#"
rpc_url = "http://127.0.0.1:8545"
oracle = "0x00000000000000000000000000000000000000aa"
state = "state/a.redb"
poll_ms = 700
[[models]]
gguf = "models/m.gguf"
name = "m"
"#,
        )
        .unwrap();
        let file = || CommonArgs {
            config: Some(path.clone()),
            ..CommonArgs::default()
        };
        let merged =
            |args: CommonArgs| -> CommonConfig { args.merged_table().unwrap().try_into().unwrap() };
        assert_eq!(merged(file()), read_config::<CommonConfig>(&path).unwrap());

        let other = ModelConfig {
            gguf: "models/other.gguf".into(),
            name: "other".into(),
        };
        let config = merged(CommonArgs {
            rpc_url: Some("http://node:9545".into()),
            oracle: Some(Address::repeat_byte(0xbb)),
            state: Some("state/b.redb".into()),
            metrics_addr: Some("127.0.0.1:9100".parse().unwrap()),
            key_file: Some("k.key".into()),
            start_block: Some(9),
            models: vec![other.clone()],
            ..file()
        });
        assert_eq!(
            config,
            CommonConfig {
                rpc_url: "http://node:9545".into(),
                oracle: Address::repeat_byte(0xbb),
                state: "state/b.redb".into(),
                metrics_addr: Some("127.0.0.1:9100".parse().unwrap()),
                key_file: Some("k.key".into()),
                poll_ms: 700,
                start_block: 9,
                models: vec![other],
            }
        );
        // Without a file, only the flags that are set become keys.
        let flags_only = CommonArgs {
            poll_ms: Some(50),
            ..CommonArgs::default()
        }
        .merged_table()
        .unwrap();
        assert_eq!(
            flags_only,
            toml::Table::from_iter([("poll_ms".into(), 50.into())])
        );
    }
}
