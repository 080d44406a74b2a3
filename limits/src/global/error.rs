//! The one error type of the global limiter.

/// Why a global limit request failed. None of the texts carries the URL's
/// password: it is redacted before the error is built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobalError {
    /// No answer within the configured timeout (the request may still have
    /// been applied by Redis).
    #[error("global limit request timed out")]
    Timeout,
    /// Redis could not be reached: connect, I/O or authentication failure,
    /// or the limiter has stopped.
    #[error("global limit store is down: {0}")]
    Down(String),
    /// The lane already has as many requests outstanding as its queue
    /// holds; nothing was sent.
    #[error("global limit queue is full")]
    QueueFull,
    /// Redis answered with an error, or with a value of the wrong type.
    #[error("global limit store replied with an error: {0}")]
    Reply(String),
    /// The configuration is unusable (URL scheme, CA file, lane count).
    #[error("global limit config: {0}")]
    Config(String),
}
