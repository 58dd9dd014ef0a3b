//! The native host: the `vecgate` binary's adapters.

pub mod cli;
pub mod embed_host;
pub mod import;
pub mod jwks;
pub mod local_index;
pub mod pg;
pub mod rebuild;
pub mod server;
pub mod static_files;
pub mod store;
pub mod tls;
