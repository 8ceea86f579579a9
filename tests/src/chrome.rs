//! Headless Chromium driven over WebDriver (chromedriver), for the pages a person clicks
//! through, and a tiny relying-party callback server the browser can land on.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

pub use fantoccini;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// One headless Chromium with its own profile, speaking `language`.
pub struct Chrome {
    pub client: Client,
    driver: Child,
    profile: PathBuf,
}

impl Chrome {
    pub async fn start(language: &str) -> Chrome {
        Self::start_sized(language, (480, 1000)).await
    }

    /// A phone-size browser: a 390 x 844 CSS-pixel viewport, as an iPhone 12 to 15. (Headless
    /// Chromium's window is at least 500 px wide, so the viewport is emulated.)
    pub async fn phone(language: &str) -> Chrome {
        let chrome = Self::start(language).await;
        chrome.emulate_phone(true).await;
        chrome
    }

    /// Emulates a 390 x 844 phone viewport (Chrome DevTools `Emulation.setDeviceMetricsOverride`
    /// through chromedriver), or ends the emulation.
    pub async fn emulate_phone(&self, on: bool) {
        let command = if on {
            DevTools {
                cmd: "Emulation.setDeviceMetricsOverride",
                params: serde_json::json!({ "width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": true }),
            }
        } else {
            DevTools { cmd: "Emulation.clearDeviceMetricsOverride", params: serde_json::json!({}) }
        };
        self.client.issue_cmd(command).await.unwrap();
    }

    async fn start_sized(language: &str, (width, height): (u32, u32)) -> Chrome {
        for binary in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                std::path::Path::new(binary).exists(),
                "{binary} is missing: install Debian's chromium and chromium-driver (.ci/run does)"
            );
        }
        let port = crate::free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = std::env::temp_dir().join(format!("yagona-chrome-{port}"));
        let capabilities = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
                    "--disable-dev-shm-usage", format!("--window-size={width},{height}"),
                    format!("--lang={language}"), format!("--user-data-dir={}", profile.display()),
                ],
                "prefs": { "intl.accept_languages": language },
            }
        });
        let capabilities = match capabilities {
            serde_json::Value::Object(map) => map,
            _ => unreachable!(),
        };
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector).capabilities(capabilities.clone()).connect(&url).await {
                Ok(client) => break client,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot start Chromium through chromedriver: {e}"),
            }
        };
        Chrome { client, driver, profile }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        element.clear().await.unwrap();
        element.send_keys(text).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.unwrap();
    }

    /// Clicks something that loads a new page (a submit button, a link) and waits until the new
    /// page has replaced the old one.
    pub async fn submit(&self, css: &str) {
        let old = self.client.find(Locator::Css("html")).await.unwrap();
        self.click(css).await;
        let deadline = Instant::now() + Duration::from_secs(15);
        while old.tag_name().await.is_ok() {
            assert!(Instant::now() < deadline, "clicking {css} did not load a page");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        // The new document is there; wait until it has loaded.
        while self
            .client
            .execute("return document.readyState", vec![])
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .as_deref()
            != Some("complete")
        {
            assert!(Instant::now() < deadline, "the page after {css} did not finish loading");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn text(&self, css: &str) -> String {
        self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).text().await.unwrap()
    }

    pub async fn attribute(&self, css: &str, name: &str) -> Option<String> {
        self.client.find(Locator::Css(css)).await.unwrap().attr(name).await.unwrap()
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    pub async fn url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    /// Saves a screenshot as `name.png` in `$YAGONA_SCREENSHOTS` (`make screenshots` sets it to
    /// docs/images), or in target/screenshots.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = std::env::var("YAGONA_SCREENSHOTS")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Fails when the page scrolls sideways: its content is wider than the viewport.
    pub async fn assert_fits(&self, what: &str) {
        let sizes = self
            .client
            .execute(
                "return [document.documentElement.scrollWidth, document.documentElement.clientWidth, window.innerWidth]",
                vec![],
            )
            .await
            .unwrap();
        let (scroll, client) = (sizes[0].as_i64().unwrap(), sizes[1].as_i64().unwrap());
        assert!(
            scroll <= client,
            "{what} at {}: scrolls sideways ({scroll} px of content in {client} px)",
            self.path().await
        );
        // (A mobile viewport grows to the content: then innerWidth says so.)
        assert!(sizes[2].as_i64().unwrap() <= 390, "{what}: the viewport is not a phone's: {sizes:?}");
    }

    /// Narrows the window to a phone's 390 x 844, checks the page fits (keeping a `phone-` screenshot
    /// named `name`), and widens it again.
    pub async fn assert_fits_phone(&self, name: &str) {
        self.emulate_phone(true).await;
        self.assert_fits(name).await;
        self.screenshot(&format!("phone-{name}")).await;
        self.emulate_phone(false).await;
    }

    pub async fn close(self) {
        let Chrome { client, mut driver, profile } = self;
        let _ = client.close().await;
        let _ = driver.kill();
        let _ = driver.wait();
        let _ = std::fs::remove_dir_all(profile);
    }
}

/// A Chrome DevTools command through chromedriver's `goog/cdp/execute`.
#[derive(Debug)]
struct DevTools {
    cmd: &'static str,
    params: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for DevTools {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/goog/cdp/execute", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(serde_json::json!({ "cmd": self.cmd, "params": self.params }).to_string()))
    }
}

/// A relying party's redirect endpoint: answers every request with a small page and keeps the
/// URLs it was called with.
pub struct Callback {
    pub base_url: String,
    pub hits: Arc<Mutex<Vec<String>>>,
}

impl Callback {
    pub async fn start() -> Callback {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let hits = Arc::new(Mutex::new(Vec::new()));
        let recorded = hits.clone();
        let origin = base_url.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let recorded = recorded.clone();
                let origin = origin.clone();
                tokio::spawn(async move {
                    let mut buffer = vec![0u8; 16 * 1024];
                    let n = socket.read(&mut buffer).await.unwrap_or(0);
                    let request = String::from_utf8_lossy(&buffer[..n]).to_string();
                    if let Some(target) = request.split_whitespace().nth(1) {
                        recorded.lock().unwrap().push(format!("{origin}{target}"));
                    }
                    let body = "<!DOCTYPE html><html><body><h1 id=\"rp\">Relying party</h1></body></html>";
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        Callback { base_url, hits }
    }

    pub fn last(&self) -> Option<String> {
        self.hits.lock().unwrap().iter().rev().find(|h| !h.ends_with("/favicon.ico")).cloned()
    }
}

/// Serves the current contents of `path` over HTTP at the returned URL (a CRL distribution point).
pub async fn serve_file(path: std::path::PathBuf) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://127.0.0.1:{}/crl", listener.local_addr().unwrap().port());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let path = path.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 4096];
                let _ = socket.read(&mut buffer).await;
                let body = std::fs::read(&path).unwrap_or_default();
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/pkix-crl\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            });
        }
    });
    url
}
