//! Error classes and the exit codes they map to, in one place.

use std::process::ExitCode;

/// 0 ok, 1 check failed / drift found, 2 usage or spec error, 3 runtime failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    CheckFailed = 1,
    Usage = 2,
    Runtime = 3,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// A command failure with its class.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad flags or input files: exit 2.
    #[error(transparent)]
    Usage(anyhow::Error),
    /// The spec had errors, already printed as diagnostics: exit 2.
    #[error("the spec has errors")]
    SpecReported,
    /// A server, file system or subprocess failed: exit 3.
    #[error(transparent)]
    Runtime(anyhow::Error),
}

impl CliError {
    pub fn exit(&self) -> Exit {
        match self {
            CliError::Usage(_) | CliError::SpecReported => Exit::Usage,
            CliError::Runtime(_) => Exit::Runtime,
        }
    }

    pub fn usage(message: impl Into<anyhow::Error>) -> CliError {
        CliError::Usage(message.into())
    }
}

impl From<anyhow::Error> for CliError {
    fn from(error: anyhow::Error) -> CliError {
        CliError::Runtime(error)
    }
}

/// Removes the password from a URL (`scheme://user:secret@host` → `scheme://user:***@host`).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => format!("{scheme}://***@{host}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://iot:s3cret@db:5432/x"),
            "postgres://iot:***@db:5432/x"
        );
        assert_eq!(redact_url("nats://token@host:4222"), "nats://***@host:4222");
        assert_eq!(redact_url("nats://host:4222"), "nats://host:4222");
    }
}
