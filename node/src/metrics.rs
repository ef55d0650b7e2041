//! Prometheus metrics of a daemon (requests, disputes, gas, inference time) and the small HTTP
//! endpoint that serves them at `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// The counters both daemons keep (each uses the ones that apply to its role).
#[derive(Debug, Clone)]
pub struct Metrics {
    /// Requests (executor) or answers (challenger) seen on chain.
    pub seen: Counter,
    /// Answers submitted (executor) or verified (challenger).
    pub processed: Counter,
    /// Answers found wrong (challenger) or refused because the run failed (executor).
    pub mismatches: Counter,
    /// Answers whose challenge window closed before they could be verified.
    pub missed: Counter,
    /// Games currently open.
    pub disputes_open: Gauge,
    /// Games won.
    pub disputes_won: Counter,
    /// Games lost.
    pub disputes_lost: Counter,
    /// Dispute transactions sent (moves, proofs, timeouts).
    pub moves: Counter,
    /// Gas used by this daemon's transactions.
    pub gas_spent: Counter,
    /// Transient RPC faults met (each retried).
    pub rpc_faults: Counter,
    /// Wall time of one inference with its trace, in seconds.
    pub inference_seconds: Histogram,
    /// Wall time of a confirmation run on the canonical wasm program, in seconds.
    pub confirm_seconds: Histogram,
    /// Work waiting in the queue.
    pub queue_depth: Gauge,
    /// Runs held in memory for games and answers that may need them.
    pub runs_held: Gauge,
    /// Reorgs undone (records put back to a state still on the chain).
    pub reorgs: Counter,
    registry: Arc<Registry>,
}

impl Metrics {
    /// Fresh metrics whose names start with `prefix` (e.g. `veritrace_executor`).
    pub fn new(prefix: &str) -> Self {
        let mut registry = Registry::with_prefix(prefix);
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let seen = counter(&mut registry, "seen", "Requests or answers seen on chain");
        let processed = counter(
            &mut registry,
            "processed",
            "Answers submitted (executor) or verified (challenger)",
        );
        let mismatches = counter(
            &mut registry,
            "mismatches",
            "Answers found wrong, or runs that failed",
        );
        let missed = counter(
            &mut registry,
            "missed",
            "Answers whose window closed before verification",
        );
        let disputes_won = counter(&mut registry, "disputes_won", "Games won");
        let disputes_lost = counter(&mut registry, "disputes_lost", "Games lost");
        let moves = counter(&mut registry, "moves", "Dispute transactions sent");
        let gas_spent = counter(&mut registry, "gas_spent", "Gas used by our transactions");
        let rpc_faults = counter(&mut registry, "rpc_faults", "Transient RPC faults");
        let reorgs = counter(&mut registry, "reorgs", "Reorgs undone");
        let disputes_open = Gauge::default();
        registry.register("disputes_open", "Games open", disputes_open.clone());
        let queue_depth = Gauge::default();
        registry.register("queue_depth", "Work waiting", queue_depth.clone());
        let runs_held = Gauge::default();
        registry.register("runs_held", "Runs held in memory", runs_held.clone());
        let inference_seconds = Histogram::new(exponential_buckets(0.25, 2.0, 12));
        registry.register(
            "inference_seconds",
            "Wall time of one traced inference",
            inference_seconds.clone(),
        );
        let confirm_seconds = Histogram::new(exponential_buckets(0.25, 2.0, 14));
        registry.register(
            "confirm_seconds",
            "Wall time of a wasm confirmation run",
            confirm_seconds.clone(),
        );
        Self {
            confirm_seconds,
            seen,
            processed,
            mismatches,
            missed,
            disputes_open,
            disputes_won,
            disputes_lost,
            moves,
            gas_spent,
            rpc_faults,
            inference_seconds,
            queue_depth,
            runs_held,
            reorgs,
            registry: Arc::new(registry),
        }
    }

    /// The metrics in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }

    /// Serves `GET /metrics` on `addr` until the task is dropped; returns the bound address
    /// (pass port 0 to let the OS pick one). A connection that sends no request within 5 s is
    /// closed, at most 64 are served at once (more wait in the listen backlog), and a failed
    /// `accept` (out of file descriptors) pauses instead of spinning: an idle or hostile scraper
    /// cannot take the daemon's descriptors or a core.
    pub async fn serve(
        &self,
        addr: SocketAddr,
    ) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        self.serve_with(addr, ServeLimits::default()).await
    }

    async fn serve_with(
        &self,
        addr: SocketAddr,
        limits: ServeLimits,
    ) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the metrics endpoint {addr}"))?;
        let bound = listener.local_addr()?;
        let metrics = self.clone();
        let slots = Arc::new(Semaphore::new(limits.max_connections));
        let task = tokio::spawn(async move {
            loop {
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let mut conn = match listener.accept().await {
                    Ok((conn, _)) => conn,
                    Err(error) => {
                        tracing::warn!("metrics endpoint: accept failed: {error}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    let mut head = vec![0u8; 2048];
                    let n = match tokio::time::timeout(limits.read_timeout, conn.read(&mut head))
                        .await
                    {
                        Ok(Ok(n)) => n,
                        _ => return,
                    };
                    let line = String::from_utf8_lossy(&head[..n]);
                    let response = if line.starts_with("GET /metrics") {
                        let body = metrics.render();
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    } else {
                        "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                            .to_string()
                    };
                    let _ = tokio::time::timeout(
                        limits.read_timeout,
                        conn.write_all(response.as_bytes()),
                    )
                    .await;
                });
            }
        });
        Ok((bound, task))
    }
}

/// How long the metrics endpoint waits for a request and how many it serves at once.
#[derive(Debug, Clone, Copy)]
struct ServeLimits {
    read_timeout: Duration,
    max_connections: usize,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            read_timeout: Duration::from_secs(5),
            max_connections: 64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_endpoint_serves_current_values() {
        let m = Metrics::new("veritrace_test");
        m.seen.inc_by(3);
        m.disputes_open.set(2);
        m.inference_seconds.observe(1.5);
        let (addr, task) = m.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let body = scrape(addr).await;
        task.abort();
        assert!(body.starts_with("HTTP/1.1 200"), "{body}");
        assert!(body.contains("veritrace_test_seen_total 3"), "{body}");
        assert!(body.contains("veritrace_test_disputes_open 2"), "{body}");
        assert!(
            body.contains("veritrace_test_inference_seconds_count 1"),
            "{body}"
        );
    }

    async fn scrape(addr: SocketAddr) -> String {
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        conn.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut body = String::new();
        conn.read_to_string(&mut body).await.unwrap();
        body
    }

    /// Idle connections (a scraper that connects and never asks) are closed after the read
    /// timeout, more of them than the endpoint serves at once never lock out a real scrape for
    /// longer than that, and each is served or closed: none is left open for good.
    #[tokio::test]
    async fn idle_connections_are_closed_and_cannot_lock_the_endpoint_out() {
        let m = Metrics::new("veritrace_test");
        let limits = ServeLimits {
            read_timeout: Duration::from_millis(300),
            max_connections: 4,
        };
        let (addr, task) = m
            .serve_with("127.0.0.1:0".parse().unwrap(), limits)
            .await
            .unwrap();
        let mut idle = Vec::new();
        for _ in 0..12 {
            idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
        }
        let body = tokio::time::timeout(Duration::from_secs(5), scrape(addr))
            .await
            .expect("a scrape behind idle connections is served within a few read timeouts");
        assert!(body.starts_with("HTTP/1.1 200"), "{body}");
        for conn in &mut idle {
            let mut byte = [0u8; 1];
            let read = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut byte))
                .await
                .expect("the server closes an idle connection");
            assert_eq!(read.unwrap(), 0, "closed without a response");
        }
        task.abort();
    }
}
