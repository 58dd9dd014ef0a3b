use std::fmt;

/// Every fallible operation in `vecgate-core` returns this error. Messages are meant for end users.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// Two vectors (or a vector and a configured dimension) disagree in length.
    DimensionMismatch { expected: usize, actual: usize },
    /// A NaN or infinite component; `index` is its position.
    NonFinite { index: usize },
    /// A row-major matrix whose length is not a multiple of its row width.
    RaggedMatrix { len: usize, dims: usize },
    /// A filter that does not parse; `path` locates the problem (e.g. `$and[1].rating.$gte`).
    Filter { path: String, message: String },
    /// An argument outside its allowed range.
    InvalidArgument(String),
    /// Bytes that are not a valid serialized object (truncated, corrupted, wrong version).
    Format(String),
    /// An id that the index or set does not hold.
    NotFound(String),
    /// The caller's `stop` check asked a search to end (it ran out of time); nothing returned.
    Stopped,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::DimensionMismatch { expected, actual } => {
                write!(f, "dimension mismatch: expected {expected}, got {actual}")
            }
            Error::NonFinite { index } => {
                write!(f, "vector component {index} is NaN or infinite")
            }
            Error::RaggedMatrix { len, dims } => write!(
                f,
                "matrix of {len} values is not a whole number of rows of {dims} dimensions"
            ),
            Error::Filter { path, message } if path.is_empty() => {
                write!(f, "invalid filter: {message}")
            }
            Error::Filter { path, message } => write!(f, "invalid filter at {path}: {message}"),
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::Format(m) => write!(f, "invalid bytes: {m}"),
            Error::NotFound(id) => write!(f, "not found: {id}"),
            Error::Stopped => f.write_str("the search was stopped before it finished"),
        }
    }
}

impl std::error::Error for Error {}

/// A user's string (an id, a key) in an error message, quoted and escaped as a JSON string so
/// that odd characters stay visible. JSON's escaping rather than `{:?}`'s: serde_json's writer is
/// linked in everywhere already, while `{:?}` on a string adds ~4 KB of Unicode tables and
/// escaping code to the npm package's .wasm.
pub struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&serde_json::to_string(self.0).map_err(|_| fmt::Error)?)
    }
}

pub type Result<T> = std::result::Result<T, Error>;
