//! A function's release binary (its `bootstrap`) run the way Lambda runs it: a child process talking
//! to the Lambda Runtime API, served here on a loopback port. Invocations are queued and handed out on
//! `GET /invocation/next`; results come back on `/response` or `/error`. Asynchronous delivery follows
//! Lambda's async semantics: two retries, then the failure destination.
//!
//! The host also measures what the benchmarks report: time from process start to the first
//! `/invocation/next` (init), each invocation's latency, and the process's peak RSS.

use crate::SupportError;
use crate::cpu_share::CpuShare;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Notify, oneshot};

/// What a failed invocation returned (Lambda's error body: errorType, errorMessage).
#[derive(Debug, Clone, PartialEq)]
pub struct InvokeError {
    pub error_type: String,
    pub error_message: String,
}

impl std::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error_type, self.error_message)
    }
}

type Outcome = Result<Value, InvokeError>;

struct Pending {
    id: String,
    payload: Value,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<VecDeque<Pending>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    ready: Notify,
    first_next: Mutex<Option<Instant>>,
    init_error: Mutex<Option<InvokeError>>,
    function_arn: String,
    timeout: Duration,
}

/// One function, running.
pub struct FunctionHost {
    pub name: String,
    shared: Arc<Shared>,
    child: Child,
    spawned: Instant,
    pub log: PathBuf,
    server: tokio::task::JoinHandle<()>,
    memory_mb: u32,
    /// Set by [`FunctionHost::confine_to_lambda_cpu`]; released after the process (see Drop).
    cpu_share: Option<CpuShare>,
}

fn error_from(body: &[u8]) -> InvokeError {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    InvokeError {
        error_type: value["errorType"].as_str().unwrap_or("Unknown").to_owned(),
        error_message: value["errorMessage"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned()),
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    shared
        .first_next
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(Instant::now);
    loop {
        let notified = shared.ready.notified();
        if let Some(pending) = shared
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
        {
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                + shared.timeout;
            let mut headers = HeaderMap::new();
            let mut set = |name: &'static str, value: String| {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(name, value);
                }
            };
            set("lambda-runtime-aws-request-id", pending.id.clone());
            set(
                "lambda-runtime-deadline-ms",
                deadline.as_millis().to_string(),
            );
            set(
                "lambda-runtime-invoked-function-arn",
                shared.function_arn.clone(),
            );
            set("lambda-runtime-trace-id", format!("Root=1-{}", pending.id));
            return (StatusCode::OK, headers, pending.payload.to_string()).into_response();
        }
        notified.await;
    }
}

async fn respond(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(waiter) = shared
        .waiting
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id)
    {
        let _ = waiter.send(Ok(value));
    }
    StatusCode::ACCEPTED
}

async fn fail(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    if let Some(waiter) = shared
        .waiting
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id)
    {
        let _ = waiter.send(Err(error_from(&body)));
    }
    StatusCode::ACCEPTED
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    *shared.init_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error_from(&body));
    let waiting: Vec<_> = shared
        .waiting
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .drain()
        .collect();
    for (_, waiter) in waiting {
        let _ = waiter.send(Err(error_from(&body)));
    }
    StatusCode::ACCEPTED
}

impl FunctionHost {
    /// Starts the runtime API and the function's binary with `env` (plus Lambda's own variables).
    pub async fn start(
        name: &str,
        binary: &Path,
        env: &[(String, String)],
        memory_mb: u32,
        timeout: Duration,
        log_dir: &Path,
    ) -> Result<Self, SupportError> {
        let shared = Arc::new(Shared {
            function_arn: format!(
                "arn:aws:lambda:{}:000000000000:function:{name}",
                crate::REGION
            ),
            timeout,
            ..Default::default()
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(SupportError::listen(format!("runtime API for {name}")))?;
        let address = listener
            .local_addr()
            .map_err(SupportError::listen(format!("runtime API for {name}")))?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        std::fs::create_dir_all(log_dir).map_err(SupportError::file(log_dir))?;
        let log = log_dir.join(format!("{name}.log"));
        let mut envs: Vec<(&str, String)> = vec![
            ("AWS_LAMBDA_RUNTIME_API", address.to_string()),
            ("AWS_LAMBDA_FUNCTION_NAME", name.to_owned()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "local".to_owned()),
        ];
        envs.extend(env.iter().map(|(k, v)| (k.as_str(), v.clone())));
        let spawned = Instant::now();
        let child = crate::spawn_watched(binary, &[], &envs, &log)?;
        Ok(Self {
            name: name.to_owned(),
            shared,
            child,
            spawned,
            log,
            server,
            memory_mb,
            cpu_share: None,
        })
    }

    /// Time from process start to its first request for an event: the function's init.
    pub async fn wait_ready(&self, limit: Duration) -> Result<Duration, SupportError> {
        let started = Instant::now();
        loop {
            if let Some(at) = *self
                .shared
                .first_next
                .lock()
                .unwrap_or_else(|p| p.into_inner())
            {
                return Ok(at - self.spawned);
            }
            if let Some(err) = self
                .shared
                .init_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
            {
                return Err(SupportError::NotReady(format!(
                    "{} failed to initialise: {err}",
                    self.name
                )));
            }
            if started.elapsed() > limit {
                return Err(SupportError::NotReady(format!(
                    "{} did not ask for an event within {limit:?}; see {}",
                    self.name,
                    self.log.display()
                )));
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }

    /// One synchronous invocation (RequestResponse).
    pub async fn invoke(&self, payload: Value) -> Outcome {
        let id = format!("{:032x}", fastrand::u128(..));
        let (sender, receiver) = oneshot::channel();
        self.shared
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), sender);
        self.shared
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(Pending {
                id: id.clone(),
                payload,
            });
        self.shared.ready.notify_one();
        match tokio::time::timeout(self.shared.timeout, receiver).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(InvokeError {
                error_type: "Runtime.ExitError".into(),
                error_message: format!("{} stopped without answering", self.name),
            }),
            Err(_) => {
                self.shared
                    .waiting
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
                Err(InvokeError {
                    error_type: "Sandbox.Timedout".into(),
                    error_message: format!(
                        "{} timed out after {:?}",
                        self.name, self.shared.timeout
                    ),
                })
            }
        }
    }

    /// An asynchronous invocation as Lambda makes it: the first attempt and up to two retries; the
    /// attempts' outcomes are returned (the last one decides whether the event goes to the failure
    /// destination).
    pub async fn invoke_async(&self, payload: Value) -> Vec<Outcome> {
        let mut attempts = Vec::new();
        for attempt in 0..3 {
            if attempt > 0 {
                // Lambda waits a minute, then two; locally a short pause keeps the week brisk.
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            let outcome = self.invoke(payload.clone()).await;
            let done = outcome.is_ok();
            attempts.push(outcome);
            if done {
                break;
            }
        }
        attempts
    }

    /// Confines the running function to the CPU Lambda gives its configured memory (see
    /// [`crate::cpu_share`]); returns the share of one core. Call after [`Self::wait_ready`].
    pub fn confine_to_lambda_cpu(&mut self) -> Result<f64, SupportError> {
        let pid = function_pid(self.child.id()).ok_or_else(|| {
            SupportError::NotReady(format!("{} has no process to confine", self.name))
        })?;
        let share = CpuShare::confine(pid, self.memory_mb)?;
        let cores = share.cores;
        self.cpu_share = Some(share);
        Ok(cores)
    }

    /// The function process's peak resident memory (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let pid = function_pid(self.child.id())?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find(|line| line.starts_with("VmHWM:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }
}

/// The function's pid: the watchdog shell's child.
fn function_pid(shell: u32) -> Option<u32> {
    let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).ok()?;
    children.split_whitespace().next()?.parse().ok()
}

impl Drop for FunctionHost {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        self.server.abort();
        // The function has exited, so its cgroup (if any) can go.
        self.cpu_share.take();
    }
}
