//! Errors of building and loading components.

#[derive(Debug, thiserror::Error)]
pub enum WasmError {
    /// The uploaded bytes are not something we can run; the message is for the user.
    #[error("{0}")]
    Invalid(String),
    #[error("setting up the WebAssembly engine failed: {0}")]
    Engine(String),
    #[error("{context}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

pub type WasmResult<T> = Result<T, WasmError>;

impl WasmError {
    pub(crate) fn engine(e: wasmtime::Error) -> Self {
        Self::Engine(format!("{e:#}"))
    }
}
