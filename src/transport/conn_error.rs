//! The error of reading one host's connection and become settings (`ConnSpec`, `SshArgs`):
//! it names the host, the variable and the value. A leaf: it uses no other transport module.

/// A bad connection or become variable. Carries the host, variable and value.
#[derive(Debug, thiserror::Error)]
pub enum ConnSpecError {
    #[error("host {host}: {variable}={value:?} is invalid: {reason}")]
    BadValue {
        host: String,
        variable: String,
        value: String,
        reason: String,
    },
    #[error("host {host}: {variable} uses `{option}`, which sesame cannot honour: {reason}")]
    Unsupported {
        host: String,
        variable: String,
        option: String,
        reason: String,
    },
}
