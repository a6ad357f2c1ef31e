//! HTTPS for the run: a self-signed certificate for 127.0.0.1, the `gust serve` arguments that
//! serve it (plain HTTP beside), and a client that trusts it alone.

use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;

pub fn for_run(tmp: &Path) -> anyhow::Result<(Vec<OsString>, TlsConnector)> {
    let key = rcgen::KeyPair::generate()?;
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])?.self_signed(&key)?;
    let cert_path = tmp.join("bench-cert.pem");
    let key_path = tmp.join("bench-key.pem");
    std::fs::write(&cert_path, cert.pem()).context("writing the certificate")?;
    std::fs::write(&key_path, key.serialize_pem()).context("writing the key")?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone())?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let args = vec![
        "--tls-cert".into(),
        cert_path.into_os_string(),
        "--tls-key".into(),
        key_path.into_os_string(),
        "--plain-listen".into(),
        "127.0.0.1:0".into(),
    ];
    Ok((args, TlsConnector::from(Arc::new(config))))
}
