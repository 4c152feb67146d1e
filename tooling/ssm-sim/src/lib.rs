//! ssm-sim: AWS Systems Manager's Patch Manager, maintenance-window, Run Command and Parameter Store
//! APIs, simulated locally over the real awsJson1_1 wire protocol, so unchanged AWS SDK clients and the
//! AWS CLI can be pointed at it with `AWS_ENDPOINT_URL_SSM` / `--endpoint-url`.

pub mod api;
pub mod approval;
pub mod ec2;
pub mod error;
pub mod eventbridge;
pub mod faults;
pub mod generate;
pub mod model;
mod ops;
pub mod override_list;
pub mod pagination;
pub mod run;
pub mod scenario;
pub mod schedule;
pub mod server;
pub mod sources;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;

/// Serves `app` on `listener` until the future is dropped.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<server::App>,
) -> std::io::Result<()> {
    axum::serve(listener, server::router(app)).await
}

/// Binds `addr` (port 0 picks a free one) and returns the listener and the address it got.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// A simulator serving on a thread of its own, for tests and tools that embed it. Stops when dropped.
pub struct Background {
    pub url: String,
    pub app: Arc<server::App>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    /// Starts serving `state` on a free loopback port.
    pub fn start(state: state::State, faults: faults::FaultSettings) -> std::io::Result<Self> {
        let app = server::App::new(state, faults);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let served = app.clone();
        let thread = std::thread::Builder::new()
            .name("ssm-sim".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(err) => {
                        let _ = ready_tx.send(Err(err));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match bind(SocketAddr::from(([127, 0, 0, 1], 0))).await {
                        Ok((listener, local)) => {
                            let _ = ready_tx.send(Ok(local));
                            let server = axum::serve(listener, server::router(served));
                            let _ = server
                                .with_graceful_shutdown(async {
                                    let _ = stop.await;
                                })
                                .await;
                        }
                        Err(err) => {
                            let _ = ready_tx.send(Err(err));
                        }
                    }
                });
            })?;
        let local = ready_rx.recv().map_err(std::io::Error::other)??;
        Ok(Self {
            url: format!("http://{local}"),
            app,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
