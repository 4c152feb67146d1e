//! Why the shared test support could not set something up, by kind.

use std::path::Path;

/// A local service, tool, file or check that could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SupportError {
    /// A tool tooling/setup.sh installs is missing.
    #[error("{0} is not installed: run tooling/setup.sh first")]
    NotInstalled(String),
    /// A file or directory could not be created or read.
    #[error("{path}: {source}")]
    File {
        /// Which.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// A program could not be started.
    #[error("cannot start {program}: {source}")]
    Start {
        /// Which.
        program: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// A listener (Lambda API, runtime API, recording proxy) could not be opened.
    #[error("{what}: {source}")]
    Listen {
        /// Which listener.
        what: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// A service or function started but did not become ready.
    #[error("{0}")]
    NotReady(String),
    /// A role or policy in the translated template could not be read or evaluated.
    #[error("{0}")]
    Policy(String),
    /// The template could not be resolved.
    #[error(transparent)]
    Template(#[from] crate::template::TemplateError),
}

impl SupportError {
    /// An I/O error on `path`.
    pub fn file(path: &Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::File {
            path: path.display().to_string(),
            source,
        }
    }

    /// A listener `what` that could not be opened.
    pub fn listen(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Listen { what, source }
    }
}

/// Callers that report in text.
impl From<SupportError> for String {
    fn from(err: SupportError) -> Self {
        err.to_string()
    }
}
