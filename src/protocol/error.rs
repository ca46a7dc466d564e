//! Why a connection's input could not be decoded.

/// A decoding failure. Every variant ends the connection.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// Reading from the socket failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The full text after `-ERR `, e.g. `Protocol error: invalid bulk
    /// length`. The connection replies `-ERR <text>` and closes, as Redis
    /// does.
    #[error("{0}")]
    Protocol(String),
    /// The bytes buffered for one incomplete command grew past
    /// [`super::Limits::query_buffer_limit`]. Redis closes such a client
    /// silently (and logs it); so should the connection.
    #[error("query buffer limit reached")]
    QueryBufferLimit,
}

impl ProtocolError {
    /// A protocol error from a static text.
    pub(crate) fn protocol(text: &str) -> Self {
        ProtocolError::Protocol(text.to_owned())
    }
}
