//! The independent relying party: panva's `openid-client` 6 and `jose` 6 (Node), whose scripts
//! live in `tests/rp-node/` (`make test` installs their packages). Each script prints one JSON
//! object that the Rust test asserts.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn scripts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rp-node")
}

/// Runs `tests/rp-node/<script>` with `args` and `env` (plus `ISSUER`); its JSON output.
pub fn node(issuer: &str, script: &str, args: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    let dir = scripts_dir();
    assert!(
        dir.join("node_modules/openid-client").exists(),
        "run `npm ci` in tests/rp-node (make test does) to install the independent relying party"
    );
    let out = Command::new("node")
        .arg(dir.join(script))
        .args(args)
        .env("ISSUER", issuer)
        .envs(env.iter().copied())
        .current_dir(&dir)
        .output()
        .expect("node is installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "node {script} failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("node {script} printed no JSON ({e}): {stdout}"))
}

/// A key pair made by jose: (private JWK, public JWK), both with `kid` and `alg`.
pub fn key_pair(alg: &str, kid: &str) -> (serde_json::Value, serde_json::Value) {
    let keys = node("", "keys.mjs", &[alg, kid], &[]);
    (keys["private"].clone(), keys["public"].clone())
}

/// A JWK Set holding `keys`.
pub fn jwks(keys: &[&serde_json::Value]) -> String {
    serde_json::json!({ "keys": keys }).to_string()
}

/// A loopback HTTP server answering every GET with the current JWK Set (a client's
/// `jwks_uri`); the test may change what it serves and count the requests.
pub struct JwksServer {
    pub url: String,
    pub served: Arc<Mutex<String>>,
    pub requests: Arc<Mutex<usize>>,
}

impl JwksServer {
    pub async fn start(initial: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://127.0.0.1:{}/jwks", listener.local_addr().unwrap().port());
        let served = Arc::new(Mutex::new(initial));
        let requests = Arc::new(Mutex::new(0));
        let (body, count) = (served.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                *count.lock().unwrap() += 1;
                let body = body.lock().unwrap().clone();
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            }
        });
        Self { url, served, requests }
    }

    pub fn serve(&self, jwks: String) {
        *self.served.lock().unwrap() = jwks;
    }

    pub fn requests(&self) -> usize {
        *self.requests.lock().unwrap()
    }
}
