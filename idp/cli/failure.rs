//! [`Failure`], what every command returns when it fails: the exit status and what to print.

use crate::config::Problems;

/// A failed command: what to print, and the exit status.
#[derive(Debug)]
pub enum Failure {
    /// The configuration is broken: every problem, exit status 2.
    Config(Problems),
    /// Anything else: one line, exit status 1.
    Other(String),
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure::Other(error.to_string())
    }
}
