//! Why the week could not go on: typed, so a failed run says which kind of thing broke (an AWS call
//! and which, a lock, a file, the CLI) rather than only a sentence.

use std::fmt::Debug;

/// An error that stops the week (a failed check is not one: it is an evidence row).
#[derive(Debug, thiserror::Error)]
pub enum WeekError {
    /// A call to LocalStack, moto or the simulator failed.
    #[error("{operation}: {detail}")]
    Aws {
        /// `service:Operation`.
        operation: String,
        /// The SDK's error, in full.
        detail: String,
    },
    /// A lock was poisoned: a thread panicked while holding it.
    #[error("{0} is poisoned: a thread panicked while holding it")]
    Poisoned(&'static str),
    /// A file or directory the week reads or writes.
    #[error("{path}: {source}")]
    File {
        /// Which.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// A task the week ran beside it (a blocking run, a spawned command) did not finish.
    #[error("a task beside the week did not finish: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// `patchpilot` itself failed.
    #[error("patchpilot: {0}")]
    Cli(String),
    /// The simulator refused a run or scan.
    #[error("the simulator: {0}")]
    Simulator(#[from] patchpilot_test_support::ssm_sim::error::SimError),
    /// The simulator could not be set up (it reports in text).
    #[error("{0}")]
    Setup(String),
    /// The shared test support could not set up a service, tool or check.
    #[error(transparent)]
    Support(#[from] patchpilot_test_support::SupportError),
    /// template.yaml could not be resolved for the week's deployment.
    #[error("template.yaml: {0}")]
    Template(#[from] patchpilot_test_support::template::TemplateError),
    /// The account is not as the week left it: a record, resource or answer it needs is missing.
    #[error("{0}")]
    Account(String),
}

impl WeekError {
    /// An I/O error on `path`.
    pub fn file(path: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> Self {
        move |source| Self::File {
            path: path.to_string(),
            source,
        }
    }
}

/// The benchmarks report errors as text.
impl From<WeekError> for String {
    fn from(err: WeekError) -> Self {
        err.to_string()
    }
}

/// `.call("ssm:GetPatchBaseline")` on an SDK result: the error typed with the operation it came from.
pub trait Call<T> {
    /// The result, its error named by `operation`.
    fn call(self, operation: &str) -> Result<T, WeekError>;
}

impl<T, E: Debug> Call<T> for Result<T, E> {
    fn call(self, operation: &str) -> Result<T, WeekError> {
        self.map_err(|err| WeekError::Aws {
            operation: operation.to_owned(),
            detail: format!("{err:?}"),
        })
    }
}
