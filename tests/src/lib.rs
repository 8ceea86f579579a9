//! The harness of Yagona's black-box tests: it runs the real `yagona` binary, on its own SQLite
//! file or its own PostgreSQL database, on a free loopback port, and drives it over HTTP.
//!
//! The binary is `target/debug/yagona`; `make test` builds it before the tests run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use rand::RngCore as _;

pub use openidconnect::reqwest;

pub mod chrome;
pub mod proxy;
pub mod rp_node;
pub mod smtp;
pub mod tls;

/// The database a test server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub const ALL: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];
}

/// The PostgreSQL server of this machine and CI (trust auth).
const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/test";

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn psql(sql: &str) {
    let out = Command::new("psql")
        .args([PG_ADMIN, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .expect("psql must be installed to run the PostgreSQL tests");
    assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The `yagona` binary next to the test binary's target folder.
pub fn yagona_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/debug/deps/integration-xxxx -> target/debug/yagona
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = dir.join(format!("yagona{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.exists(), "{} is missing: run `make test` (it builds the binary first)", bin.display());
    bin
}

/// A port for a server this test starts. Taken below Linux's ephemeral range (32768-60999):
/// a port the kernel hands out (`bind(0)`) can be given again, before the server binds it, as
/// the local port of some outgoing connection (the many PostgreSQL and HTTP clients of a
/// parallel test run), which failed a start with "Address already in use". Ports here are only
/// ever taken by binding them explicitly; each is checked free and handed out once per run.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    // Start somewhere this process's id picks, so two test processes rarely walk the same ports.
    let _ = NEXT.compare_exchange(u32::MAX, std::process::id() % COUNT, Ordering::SeqCst, Ordering::SeqCst);
    for _ in 0..COUNT {
        let port = (FIRST + NEXT.fetch_add(1, Ordering::SeqCst) % COUNT) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {FIRST}..{}", FIRST + COUNT);
}

/// One Yagona instance with its own data. Dropping it stops the process and deletes the data.
pub struct TestServer {
    pub base_url: String,
    /// Where this server serves `/metrics` (`metrics.listen`).
    pub metrics_url: String,
    pub dir: PathBuf,
    env: Vec<(String, String)>,
    child: Option<Child>,
    pg_database: Option<String>,
    pub backend: Backend,
}

impl TestServer {
    /// Prepares a server (database, configuration) without starting it.
    pub fn new(backend: Backend, extra_env: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!("yagona-test-{}", random_hex(8)));
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let metrics_port = free_port();
        let metrics_url = format!("http://127.0.0.1:{metrics_port}/metrics");
        let base_url = format!("http://127.0.0.1:{port}");
        let (database_url, pg_database) = match backend {
            Backend::Sqlite => (format!("sqlite://{}/yagona.db", dir.display()), None),
            Backend::Postgres => {
                let name = format!("yagona_test_{}", random_hex(6));
                psql(&format!("CREATE DATABASE {name}"));
                (format!("postgres://postgres@127.0.0.1:5432/{name}"), Some(name))
            }
        };
        let kek = base64::engine::general_purpose::STANDARD.encode(random_hex(16).as_bytes());
        let mut env: Vec<(String, String)> = vec![
            ("YAGONA_ISSUER".into(), base_url.clone()),
            ("YAGONA_HTTP__LISTEN".into(), format!("127.0.0.1:{port}")),
            ("YAGONA_METRICS__LISTEN".into(), format!("127.0.0.1:{metrics_port}")),
            ("YAGONA_HTTP__WORKERS".into(), "2".into()),
            ("YAGONA_DATABASE__URL".into(), database_url),
            ("YAGONA_DATABASE__POOL_SIZE".into(), "4".into()),
            ("YAGONA_KEYS__ENCRYPTION_KEY".into(), kek),
            // Cheap hashing keeps the suite fast; the cost is configuration, not code.
            ("YAGONA_PASSWORD__MEMORY_KIB".into(), "1024".into()),
            ("YAGONA_PASSWORD__ITERATIONS".into(), "1".into()),
            ("YAGONA_LOG__LEVEL".into(), "info".into()),
            // Pages in English unless a test asks for another language.
            ("YAGONA_UI__DEFAULT_LOCALE".into(), "en".into()),
            // The tests' relying parties (JWKS, sector documents, back-channel receivers) listen
            // on loopback, which requests to client URLs may not reach by default.
            ("YAGONA_OUTBOUND__ALLOW".into(), r#"["127.0.0.0/8", "::1/128"]"#.into()),
        ];
        for (k, v) in extra_env {
            env.retain(|(key, _)| key != k);
            env.push(((*k).to_owned(), (*v).to_owned()));
        }
        Self { base_url, metrics_url, dir, env, child: None, pg_database, backend }
    }

    /// Sets a configuration variable for the next start and CLI runs.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.to_owned()));
    }

    /// Leaves a configuration variable out of the next start and CLI runs.
    pub fn remove_env(&mut self, key: &str) {
        self.env.retain(|(k, _)| k != key);
    }

    /// Prepares and starts a server.
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, &[]).await
    }

    pub async fn start_with(backend: Backend, extra_env: &[(&str, &str)]) -> Self {
        let mut server = Self::new(backend, extra_env);
        server.spawn().await;
        server
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(yagona_binary());
        cmd.current_dir(&self.dir);
        // Only the test's own configuration: nothing from the developer's environment.
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("YAGONA_")) {
            cmd.env_remove(k);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd
    }

    /// Runs a CLI command against this server's database and configuration.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = self.command();
        cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        {
            use std::io::Write as _;
            let mut pipe = child.stdin.take().unwrap();
            if let Some(input) = stdin {
                // A command that refuses its arguments exits before reading its input: the
                // pipe is closed then, and its exit status tells the test what happened.
                if let Err(e) = pipe.write_all(input.as_bytes()) {
                    assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "writing to yagona {args:?}: {e}");
                }
            }
        }
        child.wait_with_output().unwrap()
    }

    /// Runs a CLI command that must succeed; returns its standard output.
    pub fn cli_ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.cli(args, stdin);
        assert!(
            out.status.success(),
            "yagona {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Starts `yagona serve` and waits until it answers.
    pub async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("server.log")).unwrap();
        let mut cmd = self.command();
        cmd.arg("serve").stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log);
        self.child = Some(cmd.spawn().unwrap());
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http.get(format!("{}/health", self.base_url)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("yagona serve exited with {status}: {}", self.log());
            }
            assert!(Instant::now() < deadline, "yagona did not start: {}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The value this server's configuration variable `key` has (e.g. `YAGONA_DATABASE__URL`).
    pub fn env_value(&self, key: &str) -> Option<String> {
        self.env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    /// A second node of the same cluster (not started): the same database, key-encryption key
    /// and issuer, its own port and folder. Dropping it leaves the database to this server.
    pub fn replica(&self) -> TestServer {
        let dir = std::env::temp_dir().join(format!("yagona-test-{}", random_hex(8)));
        std::fs::create_dir_all(&dir).unwrap();
        let (port, metrics_port) = (free_port(), free_port());
        let mut env = self.env.clone();
        for (key, value) in env.iter_mut() {
            if key == "YAGONA_HTTP__LISTEN" {
                *value = format!("127.0.0.1:{port}");
            } else if key == "YAGONA_METRICS__LISTEN" {
                *value = format!("127.0.0.1:{metrics_port}");
            }
        }
        TestServer {
            base_url: format!("http://127.0.0.1:{port}"),
            metrics_url: format!("http://127.0.0.1:{metrics_port}/metrics"),
            dir,
            env,
            child: None,
            pg_database: None,
            backend: self.backend,
        }
    }

    /// Sends a signal (`TERM`, `INT`, ...) to the server process.
    pub fn signal(&self, name: &str) {
        let pid = self.child.as_ref().expect("the server runs").id().to_string();
        let status = Command::new("kill").args([&format!("-{name}"), &pid]).status().unwrap();
        assert!(status.success(), "kill -{name} {pid}");
    }

    /// Waits up to `timeout` for the server process to exit by itself; its status, if it did.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.as_mut()?.try_wait().unwrap() {
                self.child = None;
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// Stops the server process, keeping its data.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Runs one SQL statement on the server's database (`psql`, or the `sqlite3` shell): for what
    /// only time would otherwise do, such as a role's expiry passing.
    pub fn sql(&self, statement: &str) {
        let out = match &self.pg_database {
            Some(db) => Command::new("psql")
                .args([
                    &format!("postgres://postgres@127.0.0.1:5432/{db}"),
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-q",
                    "-c",
                    statement,
                ])
                .output(),
            None => Command::new("sqlite3").arg(self.dir.join("yagona.db")).arg(statement).output(),
        }
        .expect("psql and sqlite3 must be installed to run these tests");
        assert!(out.status.success(), "{statement}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Registers a confidential client with a known secret; returns the secret.
    pub fn add_client(&self, id: &str, extra: &[&str]) -> String {
        let secret = format!("secret-{}", random_hex(16));
        let redirect = format!("http://127.0.0.1:9/{id}/callback");
        let post_logout = format!("http://127.0.0.1:9/{id}/bye");
        let mut args = vec![
            "client",
            "add",
            "--id",
            id,
            "--redirect-uri",
            &redirect,
            "--post-logout-redirect-uri",
            &post_logout,
            "--secret",
            &secret,
        ];
        if !extra.contains(&"--name") {
            args.extend_from_slice(&["--name", id]);
        }
        args.extend_from_slice(extra);
        self.cli_ok(&args, None);
        secret
    }

    /// Registers a public client (PKCE, no secret).
    pub fn add_public_client(&self, id: &str, extra: &[&str]) {
        let redirect = format!("http://127.0.0.1:9/{id}/callback");
        let mut args = vec!["client", "add", "--id", id, "--redirect-uri", &redirect, "--public", "--name", id];
        args.extend_from_slice(extra);
        self.cli_ok(&args, None);
    }

    /// Creates the test person; returns the login and password.
    pub fn add_person(&self, login: &str) -> (String, String) {
        let password = "Samarqand-Registon-1".to_owned();
        let pinfl = person_pinfl(login);
        // Passport numbers are unique like PINFLs: derived from the PINFL's last seven digits.
        let passport = format!("AA{}", &pinfl[7..]);
        self.cli_ok(
            &[
                "account",
                "add",
                "--login",
                login,
                "--password-stdin",
                "--pinfl",
                &pinfl,
                "--surname",
                "Karimov",
                "--first-name",
                "Alisher",
                "--middle-name",
                "Anvarovich",
                "--birth-date",
                "1990-05-12",
                "--email",
                "alisher@example.uz",
                "--phone",
                "+998901112233",
                "--passport",
                &passport,
            ],
            Some(&format!("{password}\n")),
        );
        (login.to_owned(), password)
    }

    /// The discovery document.
    pub async fn discovery(&self) -> serde_json::Value {
        http_client().get(self.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap()
    }

    pub fn redirect_uri(client_id: &str) -> String {
        format!("http://127.0.0.1:9/{client_id}/callback")
    }

    pub fn post_logout_uri(client_id: &str) -> String {
        format!("http://127.0.0.1:9/{client_id}/bye")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("--- server log ({}) ---\n{}", self.dir.display(), self.log());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(db) = &self.pg_database {
            psql(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
        }
    }
}

/// The PINFL [`TestServer::add_person`] gives the person with `login` (born 12 May 1990; the
/// serial varies with the login so PINFLs are unique; the check digit is computed).
pub fn person_pinfl(login: &str) -> String {
    let serial: u32 = login.bytes().map(u32::from).sum::<u32>() % 1000;
    let body = format!("3120590026{serial:03}");
    let weights = [7u32, 3, 1];
    let sum: u32 = body.bytes().enumerate().map(|(i, b)| u32::from(b - b'0') * weights[i % 3]).sum();
    format!("{body}{}", sum % 10)
}

/// A browser: a cookie jar, and redirects left to the test to follow.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// An HTTP client for relying-party requests (no cookies, no redirects).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// A form posted by `b` to `path` on `server`, as a page's form would be.
pub async fn post_form<F: serde::Serialize + ?Sized>(
    b: &reqwest::Client,
    server: &TestServer,
    path: &str,
    form: &F,
) -> reqwest::Response {
    b.post(server.url(path)).form(form).send().await.expect("the server answers")
}

/// A request whose JSON answer the test reads (the status is the test's to check elsewhere).
pub trait JsonAnswer {
    fn json_answer<T: serde::de::DeserializeOwned>(self) -> impl std::future::Future<Output = T>;
}

impl JsonAnswer for reqwest::RequestBuilder {
    async fn json_answer<T: serde::de::DeserializeOwned>(self) -> T {
        self.send().await.expect("the server answers").json().await.expect("a JSON body")
    }
}

/// The value of a hidden input in a page.
pub fn hidden_input(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(reqwest::header::LOCATION)
        .unwrap_or_else(|| panic!("no Location header; status {}", response.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// A query parameter of a URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url).ok()?.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// What a person does in the browser after the relying party sends them to `authorize_url`:
/// log in if asked, allow if asked. Returns the URL the browser is finally sent to (the client's
/// redirect URI with the response).
pub async fn sign_in(
    browser: &reqwest::Client,
    base_url: &str,
    authorize_url: &str,
    login: &str,
    password: &str,
) -> String {
    let absolute = |l: String| {
        if l.starts_with('/') {
            format!("{base_url}{l}")
        } else {
            l
        }
    };
    let mut response = browser.get(authorize_url).send().await.unwrap();
    for _ in 0..10 {
        if !response.status().is_redirection() {
            panic!("expected a redirect, got {}: {}", response.status(), response.text().await.unwrap());
        }
        let next = absolute(location(&response));
        if !next.starts_with(base_url) {
            return next;
        }
        let page = browser.get(&next).send().await.unwrap();
        if page.status().is_redirection() {
            response = page;
            continue;
        }
        let path = url::Url::parse(&next).unwrap().path().to_owned();
        let html = page.text().await.unwrap();
        let csrf = hidden_input(&html, "csrf_token").expect("the page has a CSRF token");
        let interaction = hidden_input(&html, "interaction").unwrap_or_default();
        response = match path.as_str() {
            "/login" => browser
                .post(format!("{base_url}/login"))
                .form(&[("login", login), ("password", password), ("csrf_token", &csrf), ("interaction", &interaction)])
                .send()
                .await
                .unwrap(),
            "/consent" => browser
                .post(format!("{base_url}/consent"))
                .form(&[("decision", "allow"), ("csrf_token", &csrf), ("interaction", &interaction)])
                .send()
                .await
                .unwrap(),
            other => panic!("unexpected page {other}: {html}"),
        };
    }
    panic!("too many redirects")
}
