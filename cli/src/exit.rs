//! Exit codes by kind of failure, so scripts can tell "start the daemon" from "the daemon said
//! no" from "fix your file" without reading the message.
//!
//! | code | kind | when |
//! |---|---|---|
//! | 0 | | it worked |
//! | 1 | `failed` | anything else (a bug, a write to stdout that failed) |
//! | 2 | `usage` | the command line is wrong (clap's own code) |
//! | 3 | `not-running` | no daemon for this data directory, a stale address, or an API that cannot prove it is this node's (the token is not sent) |
//! | 4 | `refused` | the daemon answered with a problem: bad request, token refused, not found, wrong role, conflict, limit reached |
//! | 5 | `network` | the daemon could not reach a peer, was busy, or the call timed out |
//! | 6 | `data` | a file or document could not be read or used, or a ledger does not verify |

use serde_json::json;
use std::fmt;

/// A kind of failure, with its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// Anything not covered below.
    Failed,
    /// The command line is wrong.
    Usage,
    /// No daemon runs for this data directory.
    NotRunning,
    /// The daemon refused the request.
    Refused,
    /// The network, or the daemon, could not be reached in time.
    Network,
    /// A file or document is unusable, or records do not verify.
    Data,
}

impl ExitKind {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitKind::Failed => 1,
            ExitKind::Usage => 2,
            ExitKind::NotRunning => 3,
            ExitKind::Refused => 4,
            ExitKind::Network => 5,
            ExitKind::Data => 6,
        }
    }

    /// The kind's name in `--json` errors.
    pub fn name(self) -> &'static str {
        match self {
            ExitKind::Failed => "failed",
            ExitKind::Usage => "usage",
            ExitKind::NotRunning => "not-running",
            ExitKind::Refused => "refused",
            ExitKind::Network => "network",
            ExitKind::Data => "data",
        }
    }
}

/// A failure of a known kind; the message says what happened and what to do.
#[derive(Debug)]
pub struct Failure {
    /// What kind.
    pub kind: ExitKind,
    /// The daemon's problem `type`, when the daemon refused.
    pub problem: Option<String>,
    message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// An error of `kind`.
pub fn fail(kind: ExitKind, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Failure { kind, problem: None, message: message.into() })
}

/// The daemon's refusal with problem `type`.
pub fn refused(kind: ExitKind, problem: String, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Failure { kind, problem: Some(problem), message: message.into() })
}

/// The kind of `error`: the first [`Failure`] in its chain, else [`ExitKind::Failed`].
pub fn kind_of(error: &anyhow::Error) -> ExitKind {
    error.chain().find_map(|cause| cause.downcast_ref::<Failure>()).map(|f| f.kind).unwrap_or(ExitKind::Failed)
}

/// Reports `error` on stderr (as one JSON object with `--json`) and returns its exit code.
pub fn report(error: &anyhow::Error, json: bool) -> u8 {
    let kind = kind_of(error);
    if json {
        let problem = error.chain().find_map(|cause| cause.downcast_ref::<Failure>()).and_then(|f| f.problem.clone());
        let body = json!({"error": {"kind": kind.name(), "exit_code": kind.code(), "message": format!("{error:#}"),
                                    "problem": problem}});
        eprintln!("{body}");
    } else {
        eprintln!("error: {error:#}");
    }
    kind.code()
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;

    #[test]
    fn the_kind_survives_added_context() {
        let error = Err::<(), _>(fail(ExitKind::Data, "bad file")).context("importing").unwrap_err();
        assert_eq!(kind_of(&error), ExitKind::Data);
        assert_eq!(kind_of(&anyhow::anyhow!("plain")), ExitKind::Failed);
        let codes: std::collections::BTreeSet<u8> = [
            ExitKind::Failed,
            ExitKind::Usage,
            ExitKind::NotRunning,
            ExitKind::Refused,
            ExitKind::Network,
            ExitKind::Data,
        ]
        .into_iter()
        .map(ExitKind::code)
        .collect();
        assert_eq!(codes.len(), 6, "each kind has its own code");
    }
}
