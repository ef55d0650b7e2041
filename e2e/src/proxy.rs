//! A TCP proxy in front of the node that can go dark: the RPC outage of the e2e tests. While
//! it is down it refuses new connections and has cut the open ones, exactly what a daemon sees
//! when its node restarts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

/// A running proxy.
#[derive(Debug)]
pub struct FlakyProxy {
    addr: SocketAddr,
    down: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl FlakyProxy {
    /// Forwards a fresh local port to `upstream` (e.g. anvil's `127.0.0.1:PORT`).
    pub async fn start(upstream: SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let down = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let (down, connections) = (down.clone(), connections.clone());
            tokio::spawn(async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if down.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let task = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    let mut open = connections.lock().await;
                    open.retain(|t| !t.is_finished());
                    open.push(task);
                }
            })
        };
        Ok(Self {
            addr,
            down,
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
        self.down.store(true, Ordering::SeqCst);
        for task in self.connections.lock().await.drain(..) {
            task.abort();
        }
    }

    /// Comes back.
    pub fn come_up(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

impl Drop for FlakyProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
