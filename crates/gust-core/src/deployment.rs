//! Deployments: one upload of a function's code and the build that makes it runnable.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Progress: `uploading → waiting → building → ready | failed`. An upload sent in one request
/// starts at `waiting`; one sent in chunks is `uploading` until its last byte arrives; one sent
/// to a signed upload URL is `uploaded` until a deploy of the function queues its build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeploymentStatus {
    /// Chunks are still arriving (`received` of `size` bytes); nothing can build it yet.
    Uploading,
    /// Received whole through a signed upload URL; it builds and becomes active only when the
    /// function is deployed (`POST …/functions/{fn}/deploy`).
    Uploaded,
    Waiting,
    Building,
    Ready,
    Failed,
}

impl DeploymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Uploading => "uploading",
            Self::Uploaded => "uploaded",
            Self::Waiting => "waiting",
            Self::Building => "building",
            Self::Ready => "ready",
            Self::Failed => "failed",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Ready | Self::Failed)
    }
}

/// A URL that lets whoever holds it make one request without a token: send the upload of a
/// function's code, or fetch a deployment's code, until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SignedUrl {
    pub url: String,
    /// The method to use: `PUT` for an upload, `GET` for a download.
    pub method: String,
    /// Headers the request must carry (an upload's `Content-Type` and exact `Content-Length`).
    pub headers: std::collections::BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
}

/// How the uploaded bytes are packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PackageFormat {
    /// A bare WebAssembly binary.
    Wasm,
    /// A gzip-compressed tar archive.
    TarGz,
    Zip,
}

impl PackageFormat {
    /// Recognise a package by its content type, then by its leading bytes.
    pub fn detect(content_type: Option<&str>, head: &[u8]) -> Option<Self> {
        let by_type = content_type.map(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
        match by_type.as_deref() {
            Some("application/wasm") => return Some(Self::Wasm),
            Some(
                "application/gzip"
                | "application/x-gzip"
                | "application/x-tar+gzip"
                | "application/x-gtar",
            ) => {
                return Some(Self::TarGz);
            }
            Some("application/zip" | "application/x-zip-compressed") => return Some(Self::Zip),
            _ => {}
        }
        if head.starts_with(b"\0asm") {
            Some(Self::Wasm)
        } else if head.starts_with(&[0x1f, 0x8b]) {
            Some(Self::TarGz)
        } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
            Some(Self::Zip)
        } else {
            None
        }
    }
}

/// A deployment as stored and returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Deployment {
    pub id: String,
    pub function_id: String,
    /// sha256 of the uploaded bytes, hex; the blob's address.
    /// Empty while the upload is in progress.
    pub sha256: String,
    /// md5 of the uploaded bytes, hex, for clients that check packages by it. Absent while
    /// the upload is in progress (and in deployments stored before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    /// Bytes of the whole upload (announced by the first chunk of a chunked one).
    pub size: u64,
    /// Bytes received so far: `size` once the upload is complete. A chunked upload resumes
    /// from here. (0 in deployments stored before chunked uploads existed.)
    #[serde(default)]
    pub received: u64,
    pub format: PackageFormat,
    /// The file inside the package to run: the `.wasm` for Wasm functions, the module file
    /// for the `appwrite` contract (`main.py`, `index.js` by default); for other process
    /// functions, the handler the build loaded.
    pub entrypoint: Option<String>,
    /// sha256 of the runnable component (the upload itself, or the `.wasm` found in an archive).
    pub wasm_sha256: Option<String>,
    /// sha256 of a process function's code as its build left it (dependencies installed),
    /// packed as `.tar.gz`: what another node unpacks to run it. Kept only with a shared
    /// blob store (`--blob-url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub built_sha256: Option<String>,
    pub status: DeploymentStatus,
    /// Everything the build printed.
    pub build_log: String,
    pub build_duration_ms: Option<u64>,
    /// Why the build failed, in one line.
    pub error_message: Option<String>,
    /// Whether this deployment serves the function's invocations.
    pub active: bool,
    /// Make it active as soon as its build succeeds (the first deployment always is).
    #[serde(default)]
    pub activate_when_ready: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Deployment {
    pub fn format_name(&self) -> &'static str {
        match self.format {
            PackageFormat::Wasm => "a .wasm",
            PackageFormat::TarGz => "a .tar.gz",
            PackageFormat::Zip => "a .zip",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_detected_by_type_then_magic() {
        assert_eq!(
            PackageFormat::detect(Some("application/wasm"), b""),
            Some(PackageFormat::Wasm)
        );
        assert_eq!(
            PackageFormat::detect(Some("application/octet-stream"), b"\0asm\x0d\0\x01\0"),
            Some(PackageFormat::Wasm)
        );
        assert_eq!(
            PackageFormat::detect(None, &[0x1f, 0x8b, 8]),
            Some(PackageFormat::TarGz)
        );
        assert_eq!(
            PackageFormat::detect(None, b"PK\x03\x04"),
            Some(PackageFormat::Zip)
        );
        assert_eq!(PackageFormat::detect(None, b"hello"), None);
    }

    #[test]
    fn deployments_stored_before_chunked_uploads_still_read() {
        let old = r#"{"id":"d1","function_id":"f1","sha256":"ab","size":5,"format":"wasm",
            "entrypoint":null,"wasm_sha256":null,"status":"ready","build_log":"",
            "build_duration_ms":null,"error_message":null,"active":true,
            "created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-01T00:00:00Z"}"#;
        let d: Deployment = serde_json::from_str(old).unwrap();
        assert_eq!((d.size, d.received), (5, 0));
        assert_eq!(
            serde_json::from_str::<DeploymentStatus>("\"uploading\"").unwrap(),
            DeploymentStatus::Uploading
        );
        assert!(!DeploymentStatus::Uploading.is_final());
    }
}
