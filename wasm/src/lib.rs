//! wasm-bindgen bindings over `vecgate-core`: the npm package `vecgate`.
//!
//! A thin layer: each export converts its JS arguments (checking every one, so that bad input
//! becomes a JS `Error` carrying the core error's message and never a wasm trap), calls core, and
//! converts the result back. One module per area; a new class (the HNSW `Index`) is one more
//! module using the helpers in `convert`.

mod candidates;
mod convert;
mod index;
mod kernels;
mod matrix;
mod preference;
mod rerank;

pub use matrix::UnitRows;

// talc instead of std's dlmalloc: smaller (wasm/README.md, "Size"). Single-threaded wasm only.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
