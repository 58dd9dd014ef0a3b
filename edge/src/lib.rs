//! The vecgate HTTP API. Filled in by the edge issue.
pub use vecgate_core as core;
