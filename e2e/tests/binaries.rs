//! The daemons as an operator runs them: the real `veritrace-executor` and
//! `veritrace-challenger` binaries as child processes, configured by TOML files and flags,
//! against anvil with the real SmolLM2. An honest answer is verified by the challenger process
//! (read from its metrics endpoint), finalized by the executor process and delivered; both stop
//! cleanly on SIGTERM and never log their keys. Bad configurations are refused with exit code 1
//! and a message that says what is wrong (and never shows the key).
//!
//! The binaries must be built first, with the same profile as this test:
//! `cargo build --release --workspace --bins` (the CLI too, for the lie-code check).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use veritrace_contracts::ProtocolParams;
use veritrace_devnet::paths;
use veritrace_devnet::world::{World, wait_for};
use veritrace_node::config::CommonConfig;

/// Each daemon process loads the real model: one scenario at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const MODEL_NAME: &str = "SmolLM2-135M-Instruct";
const QUESTION: &str = "What is the capital of France?";
const LIMIT: Duration = Duration::from_secs(240);
/// How long a daemon may take to exit after SIGTERM.
const STOP_LIMIT: Duration = Duration::from_secs(10);

/// The daemon binary `name`, next to this test's `deps/` folder (where `cargo build --bins`
/// puts it for the same profile).
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test runs from target/<profile>/deps/");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the daemons with the test's profile first, \
         `cargo build --release -p veritrace-executor -p veritrace-challenger --bins` \
         (or `cargo test --release --workspace --bins`)",
        path.display()
    );
    path
}

/// A daemon child process; killed when dropped (also when the test panics).
struct Daemon {
    name: String,
    child: Mutex<Child>,
    log: PathBuf,
}

impl Daemon {
    /// Starts `binary` with `args` and `env`, its stderr (where it logs) going to `log`.
    fn spawn(
        binary_name: &str,
        args: &[String],
        env: &[(&str, &str)],
        log: PathBuf,
        name: &str,
    ) -> Self {
        let stderr = std::fs::File::create(&log).expect("creating the log file");
        let mut command = Command::new(binary(binary_name));
        command
            .args(args)
            .env_remove("VERITRACE_KEY")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {binary_name}: {e}"));
        Self {
            name: name.to_string(),
            child: Mutex::new(child),
            log,
        }
    }

    fn pid(&self) -> u32 {
        self.child.lock().unwrap().id()
    }

    /// Its exit status if it has exited.
    fn exited(&self) -> Option<ExitStatus> {
        self.child
            .lock()
            .unwrap()
            .try_wait()
            .expect("polling a child")
    }

    /// An error (with its log) if the process has exited.
    fn check_alive(&self) -> anyhow::Result<()> {
        match self.exited() {
            None => Ok(()),
            Some(status) => anyhow::bail!(
                "the {} exited early ({status}); its log:\n{}",
                self.name,
                self.stderr()
            ),
        }
    }

    /// What it wrote to stderr so far.
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM.
    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -TERM {} failed", self.pid());
    }

    /// Waits up to `limit` for the process to exit.
    async fn exit_within(&self, limit: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if started.elapsed() > limit {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Runs `binary_name` to completion (at most `limit`) and returns its exit status and stderr.
async fn run_to_exit(
    binary_name: &str,
    args: &[String],
    env: &[(&str, &str)],
    dir: &Path,
    limit: Duration,
) -> (ExitStatus, String) {
    let log = dir.join(format!("{binary_name}-{}.log", unique()));
    let daemon = Daemon::spawn(binary_name, args, env, log, binary_name);
    let status = daemon.exit_within(limit).await.unwrap_or_else(|| {
        panic!(
            "{binary_name} {args:?} still runs after {limit:?}; its log:\n{}",
            daemon.stderr()
        )
    });
    (status, daemon.stderr())
}

fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A local port nobody listens on right now.
fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding a free port")
}

/// `config` as the TOML table the daemons read.
fn common_table(config: &CommonConfig) -> toml::Table {
    toml::Table::try_from(config).expect("a daemon config is TOML")
}

fn write_toml(path: &Path, table: &toml::Table) -> String {
    let text = toml::to_string(table).expect("serializing a config");
    std::fs::write(path, &text).expect("writing a config file");
    path.display().to_string()
}

/// The real model under its registered name.
fn served_model() -> veritrace_node::config::ModelConfig {
    veritrace_node::config::ModelConfig {
        gguf: paths::smollm2_gguf(),
        name: MODEL_NAME.into(),
    }
}

/// Reads metric `name` from the Prometheus endpoint at `addr` with a plain `GET /metrics`
/// (`None` while the endpoint is not up or does not list it).
async fn scrape(addr: SocketAddr, name: &str) -> Option<f64> {
    let mut conn = tokio::net::TcpStream::connect(addr).await.ok()?;
    conn.write_all(b"GET /metrics HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .ok()?;
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(5), conn.read_to_string(&mut response))
        .await
        .ok()?
        .ok()?;
    if !response.starts_with("HTTP/1.1 200") {
        return None;
    }
    response.lines().find_map(|line| {
        let (metric, value) = line.split_once(' ')?;
        (metric == name)
            .then(|| value.trim().parse().ok())
            .flatten()
    })
}

/// Both daemons' logs, for a failure message.
fn logs(daemons: &[&Daemon]) -> String {
    daemons
        .iter()
        .map(|d| format!("----- {} log -----\n{}", d.name, d.stderr()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Fails the test with `error` and the daemons' logs.
fn failed<T>(error: anyhow::Error, daemons: &[&Daemon]) -> T {
    panic!("{error:#}\n{}", logs(daemons))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_processes_answer_verify_and_finalize() {
    let _serial = SERIAL.lock().await;
    // Fail fast, before the minute of setup, if the binaries are not built.
    binary("veritrace-executor");
    binary("veritrace-challenger");
    let world = World::start(ProtocolParams::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();

    let executor_metrics = free_port();
    let mut executor_config = world.config(1, "executor").unwrap();
    executor_config.metrics_addr = Some(executor_metrics);
    executor_config.poll_ms = 200;
    executor_config.models = vec![served_model()];
    let executor_toml = write_toml(
        &dir.path().join("executor.toml"),
        &common_table(&executor_config),
    );

    let challenger_metrics = free_port();
    let mut challenger_config = world.config(2, "challenger").unwrap();
    challenger_config.metrics_addr = Some(challenger_metrics);
    challenger_config.poll_ms = 200;
    challenger_config.models = vec![served_model()];
    let challenger_toml = write_toml(
        &dir.path().join("challenger.toml"),
        &common_table(&challenger_config),
    );

    let executor = Daemon::spawn(
        "veritrace-executor",
        &["--config".into(), executor_toml],
        &[],
        dir.path().join("executor.log"),
        "executor",
    );
    let challenger = Daemon::spawn(
        "veritrace-challenger",
        &[
            "--config".into(),
            challenger_toml,
            "--backend".into(),
            "native".into(),
            "--device".into(),
            "cpu".into(),
        ],
        &[],
        dir.path().join("challenger.log"),
        "challenger",
    );
    let daemons = [&executor, &challenger];

    let request = world.ask(QUESTION, 8, 1).await.unwrap();
    wait_for("the answer and its verification", LIMIT, || {
        let alive = executor.check_alive().and(challenger.check_alive());
        let world = &world;
        async move {
            alive?;
            let answered = world.status(request).await? == 2;
            let processed = scrape(challenger_metrics, "veritrace_challenger_processed_total")
                .await
                .unwrap_or(0.0);
            Ok((answered && processed >= 1.0).then_some(()))
        }
    })
    .await
    .unwrap_or_else(|e| failed(e, &daemons));
    let challenger_metric = |name: &'static str| async move {
        scrape(challenger_metrics, name)
            .await
            .unwrap_or_else(|| panic!("{name} missing from the challenger's metrics"))
    };
    assert_eq!(
        challenger_metric("veritrace_challenger_processed_total").await,
        1.0
    );
    assert_eq!(
        challenger_metric("veritrace_challenger_mismatches_total").await,
        0.0,
        "an honest answer was found wrong:\n{}",
        logs(&daemons)
    );
    assert_eq!(
        scrape(executor_metrics, "veritrace_executor_processed_total").await,
        Some(1.0),
        "the executor's endpoint counts its one submitted answer"
    );
    assert_eq!(
        world.delivered(request).await.unwrap(),
        None,
        "nothing before finality"
    );

    world
        .advance(world.params.challenge_window + 1)
        .await
        .unwrap();
    let text = wait_for("the executor process to finalize", LIMIT, || {
        let alive = executor.check_alive().and(challenger.check_alive());
        let world = &world;
        async move {
            alive?;
            world.delivered(request).await
        }
    })
    .await
    .unwrap_or_else(|e| failed(e, &daemons));
    assert!(text.contains("Paris"), "{text:?}");
    assert_eq!(world.status(request).await.unwrap(), 3, "final");
    assert!(
        scrape(executor_metrics, "veritrace_executor_gas_spent_total")
            .await
            .is_some_and(|gas| gas > 0.0),
        "the executor's endpoint counts the gas of its answer and finalization"
    );

    for daemon in daemons {
        daemon.terminate();
    }
    for daemon in daemons {
        let status = daemon.exit_within(STOP_LIMIT).await.unwrap_or_else(|| {
            panic!(
                "the {} still runs {STOP_LIMIT:?} after SIGTERM:\n{}",
                daemon.name,
                daemon.stderr()
            )
        });
        assert_eq!(
            status.code(),
            Some(0),
            "the {} stops cleanly on SIGTERM:\n{}",
            daemon.name,
            daemon.stderr()
        );
    }

    for (daemon, account) in [(&executor, 1), (&challenger, 2)] {
        let log = daemon.stderr();
        // The log is real (so the key check below means something): it saw the model and the stop.
        assert!(
            log.contains("model ready") && log.contains("shutting down"),
            "{}'s log:\n{log}",
            daemon.name
        );
        let key = hex::encode(world.chain.signer(account).to_bytes());
        assert!(
            !log.to_lowercase().contains(&key),
            "the {}'s log shows its private key",
            daemon.name
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_configuration_is_refused_clearly() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let limit = Duration::from_secs(60);
    // A complete configuration for a chain that is not there: every case below must be refused
    // before any connection is tried.
    let valid = CommonConfig {
        rpc_url: "http://127.0.0.1:9".into(),
        oracle: "0x00000000000000000000000000000000000000aa"
            .parse()
            .unwrap(),
        state: dir.path().join("state.redb"),
        metrics_addr: None,
        key_file: None,
        poll_ms: 200,
        start_block: 0,
        rpc_timeout_ms: 30_000,
        held_runs: 8,
        confirmations: 0,
        reorg_depth: 64,
        models: vec![served_model()],
    };
    let refused = |status: ExitStatus, stderr: &str, what: &str, expected: &[&str]| {
        assert_eq!(
            status.code(),
            Some(1),
            "{what}: exit code; stderr:\n{stderr}"
        );
        assert!(
            stderr.contains("error: "),
            "{what}: an error line; stderr:\n{stderr}"
        );
        for needle in expected {
            assert!(
                stderr.contains(needle),
                "{what}: the message names {needle:?}; stderr:\n{stderr}"
            );
        }
    };

    for (binary_name, typo) in [
        ("veritrace-executor", "finalise"),
        ("veritrace-challenger", "poll_interval"),
    ] {
        // No rpc_url.
        let mut table = common_table(&valid);
        table.remove("rpc_url");
        let path = write_toml(
            &dir.path().join(format!("{binary_name}-no-rpc.toml")),
            &table,
        );
        let (status, stderr) = run_to_exit(
            binary_name,
            &["--config".into(), path],
            &[],
            dir.path(),
            limit,
        )
        .await;
        refused(
            status,
            &stderr,
            &format!("{binary_name} without rpc_url"),
            &["missing field", "rpc_url"],
        );

        // A misspelt setting.
        let mut table = common_table(&valid);
        table.insert(typo.into(), true.into());
        let path = write_toml(&dir.path().join(format!("{binary_name}-typo.toml")), &table);
        let (status, stderr) = run_to_exit(
            binary_name,
            &["--config".into(), path],
            &[],
            dir.path(),
            limit,
        )
        .await;
        refused(
            status,
            &stderr,
            &format!("{binary_name} with `{typo}`"),
            &["unknown field", typo],
        );

        // VERITRACE_KEY that is not a key (but looks like one): named, never shown.
        let secret = format!("0x{}abcz", "5eC7e7".repeat(10));
        let path = write_toml(
            &dir.path().join(format!("{binary_name}-env-key.toml")),
            &common_table(&valid),
        );
        let (status, stderr) = run_to_exit(
            binary_name,
            &["--config".into(), path],
            &[("VERITRACE_KEY", &secret)],
            dir.path(),
            limit,
        )
        .await;
        refused(
            status,
            &stderr,
            &format!("{binary_name} with a bad VERITRACE_KEY"),
            &["VERITRACE_KEY", "private key"],
        );
        assert!(
            !stderr.contains(&secret) && !stderr.contains(&"5eC7e7".repeat(2)),
            "{binary_name} shows the key text:\n{stderr}"
        );
    }

    // A model file the registry does not hold: SmolLM2 under its registered name, with one weight
    // changed (another image root, so another model id). Needs a chain, and loads the model once.
    let gguf = paths::smollm2_gguf();
    let mut weights = std::fs::read(&gguf).unwrap();
    // The middle of the file is tensor data, far past the header and vocabulary; flipping the
    // low bit changes a 4-bit weight or the last mantissa bit of a scale, never makes a NaN.
    let middle = weights.len() / 2;
    weights[middle] ^= 1;
    let other = dir.path().join("tampered.gguf");
    std::fs::write(&other, weights).unwrap();
    let world = World::start(ProtocolParams::default()).await.unwrap();
    let mut config = world.config(1, "unregistered").unwrap();
    config.models.clear();
    let path = write_toml(
        &dir.path().join("unregistered.toml"),
        &common_table(&config),
    );
    let model = format!("--model={MODEL_NAME}={}", other.display());
    let (status, stderr) = run_to_exit(
        "veritrace-executor",
        &["--config".into(), path, model],
        &[],
        dir.path(),
        LIMIT,
    )
    .await;
    refused(
        status,
        &stderr,
        "an unregistered model",
        &["not registered", "tampered.gguf"],
    );
    assert!(
        !config.state.exists(),
        "no state database is created for a refused model"
    );
}

/// The daemon binaries link no dishonest party: none of the lies' strings is in them, while the
/// CLI (whose demo links `veritrace-adversary`) holds every one, so the search can see them.
#[test]
fn the_daemon_binaries_contain_no_lie_code() {
    let markers = ["LIES on purpose", "bad dissection", "padding bait"];
    let holds = |name: &str| -> Vec<bool> {
        let bytes = std::fs::read(binary(name)).expect("reading a binary");
        markers
            .iter()
            .map(|m| bytes.windows(m.len()).any(|w| w == m.as_bytes()))
            .collect()
    };
    assert_eq!(
        holds("veritrace"),
        [true; 3],
        "the demo's binary tells lies"
    );
    for daemon in ["veritrace-executor", "veritrace-challenger"] {
        assert_eq!(holds(daemon), [false; 3], "{daemon} holds lie code");
    }
}
