//! A real S3-compatible server per test: `moto` in server mode (pinned, from PyPI, into the
//! test cache) on a free loopback port, with one bucket made, stopped on drop.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::PythonVenv;

/// moto's S3 and its standalone server (flask), without the other services' dependencies.
const PACKAGES: &[&str] = &["moto[s3]==5.1.4", "flask==3.1.0", "flask-cors==5.0.1"];

/// The credentials the server accepts (any); clients get them from the `AWS_*` variables.
pub const ACCESS_KEY_ID: &str = "gust-test";
pub const SECRET_ACCESS_KEY: &str = "gust-test-secret";
pub const REGION: &str = "us-east-1";

#[derive(Debug)]
pub struct S3Server {
    child: Child,
    port: u16,
    bucket: String,
}

impl S3Server {
    /// Start a server and make `bucket` in it. Panics if either fails.
    pub fn start(bucket: &str) -> Self {
        let venv = PythonVenv::with(PACKAGES);
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("binding a loopback port");
        let child = venv
            .command("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting moto_server");
        // Stopped on Ctrl-C too, not left serving.
        crate::scratch::watch_process(child.id());
        let mut server = Self {
            child,
            port,
            bucket: bucket.to_string(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("moto_server exited before it listened: {status}");
            }
            assert!(Instant::now() < deadline, "moto_server did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        let status = server.request("PUT", &format!("/{bucket}"));
        assert_eq!(status, 200, "creating bucket {bucket}");
        server
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// `s3://BUCKET/PREFIX?endpoint=…` for `--blob-url`.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{prefix}?endpoint={}", self.bucket, self.endpoint())
    }

    /// The variables a client reads its credentials and region from.
    pub fn env(&self) -> [(&'static str, &'static str); 3] {
        [
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
            ("AWS_REGION", REGION),
        ]
    }

    /// The status of a plain unsigned request (moto does not check signatures).
    fn request(&self, method: &str, path: &str) -> u16 {
        use std::io::{Read, Write};
        let mut stream =
            TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).expect("connecting to moto");
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n",
            self.port
        )
        .expect("writing to moto");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        crate::scratch::unwatch_process(self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
