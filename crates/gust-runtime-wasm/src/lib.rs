//! Gust's WebAssembly runtime. A `wasm` function is a `wasi:http/proxy` component, the same
//! file `wasmtime serve` accepts.
//!
//! Layout:
//! - `engine`: one [`WasmRuntime`] per server — the wasmtime engine (pooling allocator, epoch
//!   ticker), the linker with WASI and wasi:http, and precompilation with an on-disk artifact cache.
//! - `cache`: loaded components by sha256, shared by the functions deployed with the same
//!   bytes, unloaded when idle and loaded again by the next request.
//! - `guest`: per-request store state — WASI context, memory limiter, the output pipes as WASI
//!   streams.
//! - `invoke`: [`LimitedComponent`], the [`gust_runtime::Runtime`] of a loaded component: one
//!   request through a fresh instance, with its timeout and memory limit, run on the caller's
//!   task. The response head comes back as soon as the guest sets it, and the guest is driven
//!   by whoever reads the body until it returns.
//!
//! What it leaves to others: which function to run, recording executions, HTTP routing.
//!
//! Errors: [`WasmError`] for building and loading; how a run ended is its
//! [`gust_runtime::Ending`], never a panic.

mod cache;
mod engine;
mod error;
mod guest;
mod invoke;

pub use engine::{ComponentRef, WasmConfig, WasmFunction, WasmRuntime};
pub use error::{WasmError, WasmResult};
pub use invoke::{InvokeLimits, LimitedComponent};
