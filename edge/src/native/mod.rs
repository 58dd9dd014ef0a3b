//! The native host: the `vecgate` binary's adapters.

pub mod cli;
pub mod http_client;
pub mod pg;
pub mod server;
pub mod static_files;
pub mod store;
