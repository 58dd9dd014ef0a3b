//! vecgate-edge: the HTTP API of vecgate, independent of its host.
//!
//! A request flows one way: a host adapter (native [`native`] or the Spin component) turns its
//! request into an [`http::Request`], the [`api::Handler`] routes, authenticates and validates it,
//! and a [`store::Store`] (Postgres through [`sql`], or the embedded index) answers it.
//! `vecgate-core` does the math on both sides.

pub mod api;
pub mod config;
pub mod embed;
pub mod http;
pub mod metrics;
pub mod sql;
pub mod store;

#[cfg(not(target_arch = "wasm32"))]
pub mod native;

pub use vecgate_core as core;
