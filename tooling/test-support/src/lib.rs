//! Test support: real local AWS services for tests and the patch week.
//!
//! - [`LocalAws`] starts LocalStack (EC2, SNS, SQS, CloudWatch, EventBridge) and moto's server
//!   (DynamoDB: LocalStack's needs a Java runtime downloaded from outside the package registries) on free
//!   loopback ports, or uses the ones named by `PATCHPILOT_LOCALSTACK_URL` / `PATCHPILOT_DYNAMODB_URL`.
//!   [`LocalAws::shared`] gives one per test process, stopped when the process ends.
//! - [`unique_name`] gives each test its own resource names, so tests share the services safely.
//! - [`template`] reads template.yaml, so tests use the event patterns and names it declares, and
//!   resolves it as strictly as CloudFormation.
//! - [`recorder`] records the calls a function's binary makes; [`iam`] checks them against the role
//!   the translated template gives the function.

pub mod calls;
pub mod cpu_share;
pub mod emf;
pub mod error;
pub mod iam;
pub mod lambda_api;
pub mod lambda_host;
pub mod recorder;
pub mod resources;
pub mod template;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};

pub use calls::CallCounter;
pub use error::SupportError;
pub use ssm_sim;

/// The repository's root folder.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists")
}

/// A tool tooling/setup.sh installs, with a clear error if it has not been run.
pub fn installed_tool(relative: &str) -> Result<PathBuf, SupportError> {
    let path = workspace_root().join(".tools").join(relative);
    if path.exists() {
        Ok(path)
    } else {
        Err(SupportError::NotInstalled(path.display().to_string()))
    }
}

/// A name no other test in this or a concurrent run uses: `prefix-<pid>-<counter>-<random>`.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}-{:04x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        fastrand::u16(..)
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

/// Starts `program` under a watchdog shell that stops it when this process ends, however it ends.
pub(crate) fn spawn_watched(
    program: &Path,
    args: &[&str],
    envs: &[(&str, String)],
    log: &Path,
) -> Result<Child, SupportError> {
    let log_file = std::fs::File::create(log).map_err(SupportError::file(log))?;
    let script = r#"
        "$@" & child=$!
        trap 'kill $child 2>/dev/null; wait $child 2>/dev/null; exit 0' TERM INT
        while kill -0 "$PATCHPILOT_WATCH_PID" 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.5; done
        kill $child 2>/dev/null; wait $child 2>/dev/null
    "#;
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(script)
        .arg("watchdog")
        .arg(program)
        .args(args)
        .env("PATCHPILOT_WATCH_PID", std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().map_err(SupportError::file(log))?)
        .stderr(log_file);
    for (key, value) in envs {
        command.env(key, value);
    }
    command.spawn().map_err(|source| SupportError::Start {
        program: program.display().to_string(),
        source,
    })
}

fn wait_until_ready(
    name: &str,
    url: &str,
    child: &mut Child,
    log: &Path,
    timeout: Duration,
) -> Result<(), SupportError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(2)))
        .build()
        .into();
    let started = Instant::now();
    while started.elapsed() < timeout {
        if let Ok(Some(status)) = child.try_wait() {
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(15).collect();
            return Err(SupportError::NotReady(format!(
                "{name} exited ({status}) before it was ready; its log ends:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )));
        }
        if agent
            .get(url)
            .call()
            .is_ok_and(|response| response.status().is_success())
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(SupportError::NotReady(format!(
        "{name} was not ready at {url} after {timeout:?}; see {}",
        log.display()
    )))
}

/// LocalStack and moto, running.
pub struct LocalAws {
    /// LocalStack's gateway (EC2, SNS, SQS, CloudWatch, EventBridge).
    pub localstack_url: String,
    /// moto's server (DynamoDB).
    pub dynamodb_url: String,
    children: Vec<Child>,
}

impl LocalAws {
    /// Starts both services on free ports; they stop when this value is dropped or the process ends.
    pub fn start() -> Result<Self, SupportError> {
        let logs = std::env::temp_dir().join(format!(
            "patchpilot-local-aws-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&logs).map_err(SupportError::file(&logs))?;
        let python = installed_tool("localstack/bin/python")?;
        let moto_python = installed_tool("moto/bin/python")?;
        let localstack_port = free_port();
        let dynamodb_port = free_port();
        let localstack_log = logs.join("localstack.log");
        let moto_log = logs.join("moto.log");
        let volume = logs.join("localstack-volume");
        std::fs::create_dir_all(logs.join("tmp")).map_err(SupportError::file(&logs))?;
        let mut localstack = spawn_watched(
            &python,
            &["-m", "localstack.runtime.main"],
            &[
                ("GATEWAY_LISTEN", format!("127.0.0.1:{localstack_port}")),
                (
                    "SERVICES",
                    "ec2,sns,sqs,cloudwatch,events,sts,cloudformation,s3".to_owned(),
                ),
                ("LOCALSTACK_VOLUME_DIR", volume.display().to_string()),
                // LocalStack keeps its state (CloudWatch's metrics database among it) under
                // $TMPDIR/localstack and clears it on shutdown: each instance gets its own, so two
                // runs on one machine never pull the database from under each other.
                ("TMPDIR", logs.join("tmp").display().to_string()),
                ("SKIP_SSL_CERT_DOWNLOAD", "1".to_owned()),
                ("DISABLE_EVENTS", "1".to_owned()),
                ("DNS_ADDRESS", "0".to_owned()),
            ],
            &localstack_log,
        )?;
        // moto behind a launcher that serves one request at a time: DynamoDB's conditional writes
        // are atomic, moto's threaded server's are not (tooling/moto_server.py).
        let launcher = workspace_root().join("tooling/moto_server.py");
        let mut moto = spawn_watched(
            &moto_python,
            &[
                launcher.to_str().unwrap_or_default(),
                "127.0.0.1",
                &dynamodb_port.to_string(),
            ],
            &[],
            &moto_log,
        )?;
        let localstack_url = format!("http://127.0.0.1:{localstack_port}");
        let dynamodb_url = format!("http://127.0.0.1:{dynamodb_port}");
        let ready = wait_until_ready(
            "LocalStack",
            &format!("{localstack_url}/_localstack/health"),
            &mut localstack,
            &localstack_log,
            Duration::from_secs(90),
        )
        .and_then(|()| {
            wait_until_ready(
                "moto",
                &format!("{dynamodb_url}/moto-api/"),
                &mut moto,
                &moto_log,
                Duration::from_secs(60),
            )
        });
        let this = Self {
            localstack_url,
            dynamodb_url,
            children: vec![localstack, moto],
        };
        ready.map(|()| this)
    }

    /// One per test process: the services named by `PATCHPILOT_LOCALSTACK_URL` and
    /// `PATCHPILOT_DYNAMODB_URL` if set, else started on first use.
    pub fn shared() -> &'static LocalAws {
        static SHARED: OnceLock<LocalAws> = OnceLock::new();
        SHARED.get_or_init(|| {
            match (
                std::env::var("PATCHPILOT_LOCALSTACK_URL"),
                std::env::var("PATCHPILOT_DYNAMODB_URL"),
            ) {
                (Ok(localstack_url), Ok(dynamodb_url)) => LocalAws {
                    localstack_url,
                    dynamodb_url,
                    children: Vec::new(),
                },
                _ => LocalAws::start()
                    .unwrap_or_else(|err| panic!("local AWS services did not start: {err}")),
            }
        })
    }

    /// SDK configuration aimed at LocalStack, with test credentials.
    pub async fn sdk_config(&self) -> SdkConfig {
        sdk_config(&self.localstack_url).await
    }

    /// SDK configuration aimed at LocalStack in an account of its own (LocalStack takes a 12-digit
    /// access key as the account id), so a test sees only the resources it made.
    pub async fn isolated_sdk_config(&self) -> SdkConfig {
        sdk_config_as(&self.localstack_url, &isolated_account()).await
    }

    /// SDK configuration aimed at the DynamoDB server.
    pub async fn dynamodb_config(&self) -> SdkConfig {
        sdk_config(&self.dynamodb_url).await
    }
}

impl Drop for LocalAws {
    fn drop(&mut self) {
        for child in &mut self.children {
            // SIGTERM reaches the watchdog, which stops the service and waits for it.
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
    }
}

/// A fresh LocalStack account id (12 digits), used as the access key id that selects it.
pub fn isolated_account() -> String {
    format!("{:012}", fastrand::u64(100_000_000_000..999_999_999_999))
}

/// The workspace's debug binaries of `packages` (their `[[bin]]` of the same name), built first if
/// any is missing (cargo builds a package's binaries only for that package's own tests).
pub fn debug_binaries(packages: &[&str]) -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let dir = target.join("debug");
    if packages.iter().any(|name| !dir.join(name).exists()) {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(workspace_root())
            .args(["build", "--bins"])
            .args(packages.iter().flat_map(|name| ["-p", name]))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building {packages:?} failed");
    }
    dir
}

/// The region every local test uses.
pub const REGION: &str = "eu-west-1";

/// The account LocalStack serves with the default credentials (`test`), and the one a local
/// deployment's ARNs name.
pub const ACCOUNT: &str = "000000000000";

/// SDK configuration for a local endpoint with throwaway credentials.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    sdk_config_as(endpoint, "test").await
}

/// The same, with `access_key` as the access key id (LocalStack reads a 12-digit one as the account).
pub async fn sdk_config_as(endpoint: &str, access_key: &str) -> SdkConfig {
    let credentials =
        aws_sdk_ssm::config::Credentials::new(access_key, "test", None, None, "patchpilot-tests");
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(credentials)
        .load()
        .await
}

/// Whether `event` (JSON text) matches `pattern` (JSON text), asked of EventBridge's TestEventPattern.
pub async fn event_pattern_matches(
    events: &aws_sdk_eventbridge::Client,
    pattern: &str,
    event: &str,
) -> bool {
    events
        .test_event_pattern()
        .event_pattern(pattern)
        .event(event)
        .send()
        .await
        .unwrap_or_else(|err| panic!("TestEventPattern failed: {err:?}"))
        .result()
}

/// Asserts that `pattern` matches `event(status)` (JSON text) for every finished maintenance-window
/// status and for no unfinished one, the statuses taken from the functions' own model.
pub async fn assert_matches_finished_windows(
    events: &aws_sdk_eventbridge::Client,
    pattern: &str,
    event: impl Fn(&str) -> String,
) {
    use patchpilot_shared::events::WindowExecutionStatus;
    for status in WindowExecutionStatus::KNOWN {
        let matched = event_pattern_matches(events, pattern, &event(status.as_str())).await;
        assert_eq!(
            matched,
            status.is_terminal(),
            "window status {status}: matched {matched}"
        );
    }
}

/// A running SSM simulator with an SDK client aimed at it.
pub struct Simulator {
    pub sim: ssm_sim::Background,
}

impl Simulator {
    pub fn start(state: ssm_sim::state::State) -> Self {
        Self {
            sim: ssm_sim::Background::start(state, Default::default())
                .expect("the SSM simulator starts"),
        }
    }

    pub async fn client(&self) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::new(&sdk_config(&self.sim.url).await)
    }
}
