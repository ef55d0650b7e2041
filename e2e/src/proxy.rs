//! Faults between a daemon and its node, for the e2e tests.
//!
//! [`FlakyProxy`] is a TCP proxy that can go dark (refusing and cutting connections, what a
//! daemon sees when its node restarts) or stall (accepting connections and never answering, a
//! hung node or load balancer). [`CappedLogsProxy`] is a JSON-RPC proxy that refuses
//! `eth_getLogs` over more blocks than a hosted provider allows, as such providers do.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use alloy::transports::http::reqwest;
use anyhow::Result;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

const UP: u8 = 0;
const DOWN: u8 = 1;
const STALLED: u8 = 2;

/// A running TCP proxy.
#[derive(Debug)]
pub struct FlakyProxy {
    addr: SocketAddr,
    mode: Arc<AtomicU8>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl FlakyProxy {
    /// Forwards a fresh local port to `upstream` (e.g. anvil's `127.0.0.1:PORT`).
    pub async fn start(upstream: SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mode = Arc::new(AtomicU8::new(UP));
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let (mode, connections) = (mode.clone(), connections.clone());
            tokio::spawn(async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    let task = match mode.load(Ordering::SeqCst) {
                        DOWN => {
                            drop(client);
                            continue;
                        }
                        // Reads the request and never answers.
                        STALLED => tokio::spawn(async move {
                            let mut sink = [0u8; 4096];
                            while matches!(client.read(&mut sink).await, Ok(n) if n > 0) {}
                        }),
                        _ => tokio::spawn(async move {
                            if let Ok(mut server) = TcpStream::connect(upstream).await {
                                let _ =
                                    tokio::io::copy_bidirectional(&mut client, &mut server).await;
                            }
                        }),
                    };
                    let mut open = connections.lock().await;
                    open.retain(|t| !t.is_finished());
                    open.push(task);
                }
            })
        };
        Ok(Self {
            addr,
            mode,
            connections,
            accept,
        })
    }

    /// The URL daemons connect to.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Goes dark: cuts every open connection and refuses new ones.
    pub async fn go_down(&self) {
        self.switch(DOWN).await;
    }

    /// Stalls: cuts every open connection, then accepts new ones and never answers on them.
    pub async fn stall(&self) {
        self.switch(STALLED).await;
    }

    /// Comes back.
    pub fn come_up(&self) {
        self.mode.store(UP, Ordering::SeqCst);
    }

    async fn switch(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
        for task in self.connections.lock().await.drain(..) {
            task.abort();
        }
    }
}

impl Drop for FlakyProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// A running JSON-RPC proxy that refuses wide `eth_getLogs` ranges.
#[derive(Debug)]
pub struct CappedLogsProxy {
    addr: SocketAddr,
    counts: Arc<LogCounts>,
    accept: JoinHandle<()>,
}

/// What a [`CappedLogsProxy`] did with the `eth_getLogs` calls it saw.
#[derive(Debug, Default)]
struct LogCounts {
    served: AtomicU64,
    refused: AtomicU64,
}

#[derive(Debug)]
struct Capper {
    upstream: String,
    max_blocks: u64,
    client: reqwest::Client,
    counts: Arc<LogCounts>,
}

impl CappedLogsProxy {
    /// Forwards a fresh local port to the node at `upstream` (an http URL), refusing every
    /// `eth_getLogs` over more than `max_blocks` blocks with the answer a hosted provider
    /// gives (JSON-RPC error -32005, which is also its "try again later").
    pub async fn start(upstream: &str, max_blocks: u64) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let counts = Arc::new(LogCounts::default());
        let capper = Arc::new(Capper {
            upstream: upstream.to_string(),
            max_blocks,
            client: reqwest::Client::new(),
            counts: counts.clone(),
        });
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let capper = capper.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let capper = capper.clone();
                        async move { Ok::<_, Infallible>(capper.handle(request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            counts,
            accept,
        })
    }

    /// The URL daemons connect to.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `eth_getLogs` calls refused so far.
    pub fn refused(&self) -> u64 {
        self.counts.refused.load(Ordering::SeqCst)
    }

    /// `eth_getLogs` calls forwarded so far.
    pub fn served(&self) -> u64 {
        self.counts.served.load(Ordering::SeqCst)
    }
}

impl Drop for CappedLogsProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl Capper {
    async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let body = match request.into_body().collect().await {
            Ok(body) => body.to_bytes(),
            Err(_) => return reply(400, Bytes::new()),
        };
        if let Ok(call) = serde_json::from_slice::<Value>(&body)
            && call["method"] == "eth_getLogs"
        {
            match self.span(&call["params"][0]).await {
                Some(span) if span > self.max_blocks => {
                    self.counts.refused.fetch_add(1, Ordering::SeqCst);
                    let refusal = json!({
                        "jsonrpc": "2.0",
                        "id": call["id"],
                        "error": {
                            "code": -32005,
                            "message": format!("query exceeds max block range {}", self.max_blocks),
                        },
                    });
                    return reply(200, Bytes::from(refusal.to_string()));
                }
                _ => {
                    self.counts.served.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        match self.forward(body).await {
            Ok(answer) => reply(200, answer),
            Err(_) => reply(502, Bytes::new()),
        }
    }

    /// The number of blocks a log filter covers (`None`: a block-hash filter).
    async fn span(&self, filter: &Value) -> Option<u64> {
        if !filter["blockHash"].is_null() {
            return None;
        }
        let from = self.block(&filter["fromBlock"]).await?;
        let to = self.block(&filter["toBlock"]).await?;
        Some(to.saturating_sub(from) + 1)
    }

    /// A block number or tag of a filter, as a number (absent: latest).
    async fn block(&self, value: &Value) -> Option<u64> {
        match value.as_str() {
            Some("earliest") => Some(0),
            Some(hex) if hex.starts_with("0x") => u64::from_str_radix(&hex[2..], 16).ok(),
            _ => {
                let head =
                    json!({"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber", "params": []});
                let answer = self.forward(Bytes::from(head.to_string())).await.ok()?;
                let answer: Value = serde_json::from_slice(&answer).ok()?;
                u64::from_str_radix(answer["result"].as_str()?.trim_start_matches("0x"), 16).ok()
            }
        }
    }

    async fn forward(&self, body: Bytes) -> Result<Bytes> {
        let answer = self
            .client
            .post(&self.upstream)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        Ok(answer.bytes().await?)
    }
}

fn reply(status: u16, body: Bytes) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(body))
        .expect("a valid response")
}
