//! Gust's WebAssembly runtime. A `wasm` function is a `wasi:http/proxy` component, the same
//! file `wasmtime serve` accepts.
//!
//! Layout:
//! - `engine`: one [`WasmRuntime`] per server — the wasmtime engine (pooling allocator, epoch
//!   ticker), the linker with WASI and wasi:http, and precompilation with an on-disk artifact cache.
//! - `guest`: per-request store state — WASI context, memory limiter, bounded log pipes.
//! - `invoke`: one request through a fresh instance, with its timeout and memory limit, run on
//!   the caller's task: the response comes back as soon as the guest sets it, and the guest
//!   ([`Running`]) is driven by whoever streams the body until it yields its [`Outcome`].
//!
//! What it leaves to others: which function to run, recording executions, HTTP routing.
//!
//! Errors: [`WasmError`] for building and loading; an invocation's failures are values in
//! [`Outcome`] and [`InvokeError`], never panics.

mod engine;
mod error;
mod guest;
mod invoke;

pub use engine::{WasmConfig, WasmFunction, WasmRuntime};
pub use error::{WasmError, WasmResult};
pub use guest::{CapturedLogs, LogWatch};
pub use invoke::{InvokeError, InvokeLimits, Outcome, OutcomeKind, ResponseBody, Running};
pub use wasmtime_wasi_http::Error as BodyError;
