//! A loopback HTTPS server with its own certificate authority, for outbound requests over TLS
//! (a client's `jwks_uri`, its `backchannel_logout_uri`). The CA and the leaf certificate (for
//! `localhost` and 127.0.0.1) are made by the `openssl` command; the server is plain rustls on
//! a thread, answering every request with the current body and recording what it was sent.

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A test certificate authority and a leaf it issued (by default for `localhost` and 127.0.0.1).
pub struct TestCa {
    /// The CA certificate (PEM): what `outbound.ca_file` names to trust the server.
    pub ca_file: PathBuf,
    dir: PathBuf,
    leaf_cert: PathBuf,
    leaf_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl is installed");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

impl TestCa {
    /// Makes the CA and a leaf for `localhost` and 127.0.0.1 in `dir`.
    pub fn new(dir: &Path) -> Self {
        let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=Yagona test CA", "-keyout", "ca.key"];
        ca.extend_from_slice(&EC_KEY);
        ca.extend_from_slice(&["-out", "ca.pem", "-addext", "basicConstraints=critical,CA:TRUE"]);
        openssl(dir, &ca);
        let mut made = Self {
            ca_file: dir.join("ca.pem"),
            dir: dir.to_owned(),
            leaf_cert: PathBuf::new(),
            leaf_key: PathBuf::new(),
        };
        made.issue_leaf("localhost", "DNS:localhost,IP:127.0.0.1");
        made
    }

    /// Replaces the leaf the server presents by one for `alt_names` (e.g. `DNS:other.example`).
    pub fn issue_leaf(&mut self, name: &str, alt_names: &str) {
        let (key, csr, cert, ext) =
            (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"), format!("{name}.ext"));
        std::fs::write(self.dir.join(&ext), format!("subjectAltName={alt_names}\nbasicConstraints=CA:FALSE\n"))
            .unwrap();
        let subject = format!("/CN={name}");
        let mut request = vec!["req", "-new", "-subj", &subject, "-keyout", &key, "-out", &csr];
        request.extend_from_slice(&EC_KEY);
        openssl(&self.dir, &request);
        let sign = ["x509", "-req", "-in", &csr, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"];
        openssl(&self.dir, &[&sign[..], &["-days", "2", "-extfile", &ext, "-out", &cert]].concat());
        (self.leaf_cert, self.leaf_key) = (self.dir.join(cert), self.dir.join(key));
    }
}

const EC_KEY: [&str; 5] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

/// An HTTPS server on 127.0.0.1 (reached as `https://localhost:PORT/...`).
pub struct HttpsServer {
    pub port: u16,
    served: Arc<Mutex<String>>,
    received: Arc<Mutex<Vec<String>>>,
    arrivals: tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<String>>,
}

impl HttpsServer {
    /// Serves `body` (JSON) to every request, with the leaf certificate of `ca`.
    pub fn start(ca: &TestCa, body: String) -> Self {
        let chain = vec![CertificateDer::from_pem_file(&ca.leaf_cert).unwrap()];
        let key = PrivateKeyDer::from_pem_file(&ca.leaf_key).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = Arc::new(Mutex::new(body));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (body, log) = (served.clone(), received.clone());
        let (arrived, arrivals) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (config, body, log, arrived) = (config.clone(), body.clone(), log.clone(), arrived.clone());
                std::thread::spawn(move || {
                    let conn = rustls::ServerConnection::new(config).unwrap();
                    let mut tls = rustls::StreamOwned::new(conn, stream);
                    // A refused handshake (the client does not trust us) ends here.
                    let Some(request) = read_request(&mut tls) else { return };
                    log.lock().unwrap().push(request.clone());
                    let _ = arrived.send(request);
                    let body = body.lock().unwrap().clone();
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(response.as_bytes());
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                });
            }
        });
        Self { port, served, received, arrivals: tokio::sync::Mutex::new(arrivals) }
    }

    /// The next request that arrives (waiting for the server's workers and their retries).
    pub async fn next_request(&self) -> String {
        let mut arrivals = self.arrivals.lock().await;
        tokio::time::timeout(std::time::Duration::from_secs(60), arrivals.recv())
            .await
            .expect("a request arrives")
            .expect("the server runs")
    }

    /// `https://localhost:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    pub fn serve(&self, body: String) {
        *self.served.lock().unwrap() = body;
    }

    /// The requests that completed a TLS handshake (head and body, as text).
    pub fn received(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }
}

/// Reads one HTTP/1.1 request (head, then `content-length` bytes of body).
fn read_request(stream: &mut impl std::io::Read) -> Option<String> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                return Some(String::from_utf8_lossy(&data).into_owned());
            }
        }
    }
}
