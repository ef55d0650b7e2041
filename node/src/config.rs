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
    /// Longest wait for one RPC call, in milliseconds: a node that accepts the connection and
    /// never answers costs a retry, never the daemon.
    #[serde(default = "default_rpc_timeout_ms")]
    pub rpc_timeout_ms: u64,
    /// Runs kept in memory for open games and answers still in their window (each holds an
    /// engine: ~0.3 GiB for SmolLM2-135M, more during level 2); a run let go is recomputed
    /// when a game needs it.
    #[serde(default = "default_held_runs")]
    pub held_runs: usize,
    /// Blocks an event must be deep before it is acted on (0: at once, as on anvil; a reorg
    /// of the blocks acted on is undone either way, so this only spares the work of deciding
    /// again).
    #[serde(default)]
    pub confirmations: u64,
    /// Blocks behind the newest one seen that a reorg can be undone (the database keeps its
    /// earlier states that far back; a deeper reorg stops the daemon with a clear error).
    #[serde(default = "default_reorg_depth")]
    pub reorg_depth: u64,
    /// The models this party runs.
    #[serde(default)]
    pub models: Vec<ModelConfig>,
}

fn default_poll_ms() -> u64 {
    500
}

fn default_rpc_timeout_ms() -> u64 {
    30_000
}

fn default_held_runs() -> usize {
    8
}

fn default_reorg_depth() -> u64 {
    crate::store::DEFAULT_REORG_DEPTH
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

    /// The longest wait for one RPC call.
    pub fn rpc_timeout(&self) -> Duration {
        Duration::from_millis(self.rpc_timeout_ms.max(1))
    }

    /// Reads the signing key: from `key_file` if set, else from `VERITRACE_KEY`. A key file
    /// that others may read is named in a warning; a key given where its file's path belongs is
    /// refused without being echoed.
    pub fn signer(&self) -> Result<PrivateKeySigner> {
        let (text, origin) = match &self.key_file {
            Some(path) if looks_like_a_key(path) => anyhow::bail!(
                "key_file must be the path of a file holding the key, not the key itself \
                 (the key is not shown here; put it in a file readable by you alone, or in {KEY_ENV})"
            ),
            Some(path) => {
                if let Some(mode) = exposed_mode(path) {
                    tracing::warn!(
                        "the key file {} can be read by other users (mode {mode:o}): chmod 600 it",
                        path.display()
                    );
                }
                (
                    std::fs::read_to_string(path)
                        .with_context(|| format!("reading the key file {}", path.display()))?,
                    format!("key file {}", path.display()),
                )
            }
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

/// Whether `path` is a private key in hex rather than a path (64 hex digits, `0x` or not).
fn looks_like_a_key(path: &Path) -> bool {
    let text = path.to_string_lossy();
    let hex = text.trim().trim_start_matches("0x");
    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The permission bits of the file at `path` if its group or other users may read it.
fn exposed_mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o044 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
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
    /// Longest wait for one RPC call, in milliseconds (default 30000).
    #[arg(long)]
    pub rpc_timeout_ms: Option<u64>,
    /// Runs kept in memory for games and answers (default 8).
    #[arg(long)]
    pub held_runs: Option<usize>,
    /// Blocks an event must be deep before it is acted on (default 0).
    #[arg(long)]
    pub confirmations: Option<u64>,
    /// Blocks deep a reorg can be undone (default 64).
    #[arg(long)]
    pub reorg_depth: Option<u64>,
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
        assert_eq!(config.rpc_timeout(), Duration::from_secs(30));
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

    /// A hex key passed where its file's path belongs (`--key-file 0x...`) must not be echoed
    /// in the "no such file" error; a key file others can read is reported.
    #[test]
    fn a_key_given_as_a_path_is_refused_without_echo_and_open_key_files_are_noticed() {
        let secret = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
        for given in [secret.to_string(), format!("0x{secret}")] {
            let config = CommonConfig {
                rpc_url: "http://127.0.0.1:8545".into(),
                oracle: Address::ZERO,
                state: "s.redb".into(),
                metrics_addr: None,
                key_file: Some(PathBuf::from(&given)),
                poll_ms: 500,
                start_block: 0,
                rpc_timeout_ms: 30_000,
                held_runs: 8,
                confirmations: 0,
                reorg_depth: 64,
                models: Vec::new(),
            };
            let err = format!("{:#}", config.signer().unwrap_err());
            assert!(!err.contains(&secret[8..40]), "the key was echoed: {err}");
            assert!(err.contains("not the key itself"), "{err}");
        }
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k.key");
        std::fs::write(&key, secret).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert_eq!(exposed_mode(&key), Some(0o644));
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
            assert_eq!(exposed_mode(&key), None);
        }
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
                rpc_timeout_ms: 30_000,
                held_runs: 8,
                confirmations: 0,
                reorg_depth: 64,
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
