//! wasm-bindgen bindings over `vecgate-core`. Filled in by the wasm-package issue.
pub use vecgate_core as core;
