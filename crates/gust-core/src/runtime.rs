//! Runtimes: the kinds of code Gust can run. Which are available is detected by the server.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The runtimes Gust knows. A function names one at creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum RuntimeId {
    /// A `wasi:http/proxy` WebAssembly component.
    #[serde(rename = "wasm")]
    Wasm,
    #[serde(rename = "python3.11")]
    Python311,
    #[serde(rename = "node20")]
    Node20,
    /// A folder with an executable `bootstrap` speaking the worker protocol.
    #[serde(rename = "custom")]
    Custom,
}

impl RuntimeId {
    pub const ALL: [RuntimeId; 4] = [
        RuntimeId::Wasm,
        RuntimeId::Python311,
        RuntimeId::Node20,
        RuntimeId::Custom,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeId::Wasm => "wasm",
            RuntimeId::Python311 => "python3.11",
            RuntimeId::Node20 => "node20",
            RuntimeId::Custom => "custom",
        }
    }

    /// Runtimes whose code runs in long-lived worker processes.
    pub fn is_process(self) -> bool {
        !matches!(self, RuntimeId::Wasm)
    }
}

impl std::fmt::Display for RuntimeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RuntimeId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        RuntimeId::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<_> = RuntimeId::ALL.iter().map(|r| r.as_str()).collect();
                format!(
                    "unknown runtime `{s}`; known runtimes: {}",
                    known.join(", ")
                )
            })
    }
}

/// A runtime as listed by `GET /api/v1/runtimes`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RuntimeInfo {
    pub id: RuntimeId,
    pub name: String,
    /// Whether this server can run it now.
    pub available: bool,
    pub version: String,
    /// Why it is not available, when it is not.
    pub reason: Option<String>,
}
