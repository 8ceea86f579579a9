//! A bounded, deterministic fuzz run over every route of the server (issue 14): malformed query
//! strings, form bodies, headers and cookies (control characters, NUL, bytes that are not UTF-8,
//! huge and duplicate values, mixed with valid ones so that requests get past the first checks).
//! Any 5xx fails the test, on SQLite and on PostgreSQL.
//!
//! The routes are read from the server's router (`crates/server/src/http/mod.rs`, its
//! `.route(PATH, web::METHOD()...)` calls, path constants from `discovery.rs`), so a route added
//! there is fuzzed without touching this file. The generator is seeded: a failure names the seed
//! and the request, and the same run plays again.

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use yagona_tests::{browser, hidden_input, reqwest, sign_in, Backend, TestServer};

use crate::rp::RelyingParty;

const ROUTER: &str = include_str!("../../crates/server/src/http/mod.rs");
const DISCOVERY: &str = include_str!("../../crates/server/src/discovery.rs");

/// Requests per backend.
const REQUESTS: usize = 4000;
/// Requests in flight at once.
const PARALLEL: usize = 12;
const SEED: u64 = 0x5941_474f_4e41_0014;

/// `(method, path)` of every route the router registers.
fn routes() -> Vec<(String, String)> {
    let constant = |name: &str| -> Option<String> {
        let marker = format!("pub const {name}: &str = \"");
        let start = DISCOVERY.find(&marker)? + marker.len();
        Some(DISCOVERY[start..].split('"').next()?.to_owned())
    };
    let mut routes = Vec::new();
    for part in ROUTER.split(".route(").skip(1) {
        let Some((path, rest)) = part.split_once(',') else { continue };
        let path = path.trim();
        let path = match path.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
            Some(literal) => literal.to_owned(),
            None => match constant(path) {
                Some(value) => value,
                None => continue,
            },
        };
        let method = rest.trim_start().strip_prefix("web::").and_then(|r| r.split("()").next()).unwrap_or("");
        if matches!(method, "get" | "post") {
            routes.push((method.to_uppercase(), path));
        }
    }
    routes
}

/// Parameter names the handlers read (and a few they do not).
const NAMES: &[&str] = &[
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "response_mode",
    "prompt",
    "max_age",
    "id_token_hint",
    "login_hint",
    "ui_locales",
    "acr_values",
    "claims",
    "request",
    "request_uri",
    "interaction",
    "set",
    "back",
    "token",
    "token_type_hint",
    "grant_type",
    "code",
    "code_verifier",
    "refresh_token",
    "client_secret",
    "csrf_token",
    "login",
    "password",
    "surname",
    "first_name",
    "middle_name",
    "birth_date",
    "pinfl",
    "passport",
    "phone",
    "email",
    "decision",
    "accept_offer",
    "current_password",
    "new_password",
    "new_password_confirm",
    "sid",
    "client",
    "pkcs7",
    "choice",
    "acting_as",
    "tin",
    "role",
    "until",
    "member",
    "account",
    "replace",
    "pending",
    "post_logout_redirect_uri",
    "done",
    "x",
    "",
];

/// The names page forms use: a body's names come from here most of the time, so that a
/// hostile value lands in a field a handler reads.
const FORM_NAMES: &[&str] = &[
    "login",
    "password",
    "interaction",
    "decision",
    "surname",
    "first_name",
    "middle_name",
    "birth_date",
    "pinfl",
    "passport",
    "phone",
    "email",
    "accept_offer",
    "current_password",
    "new_password",
    "new_password_confirm",
    "sid",
    "client",
    "pkcs7",
    "choice",
    "tin",
    "role",
    "until",
    "member",
    "replace",
    "pending",
];

/// A form every page would accept as far as its fields go (a valid value for each field any page
/// form has; handlers ignore the fields that are not theirs), with one field made hostile: so the
/// hostile value reaches the handler's logic and the database, past the checks a form with many
/// bad fields would stop at.
fn one_bad_field(rng: &mut StdRng, known: &Known) -> Vec<u8> {
    let valid: Vec<(&str, String)> = vec![
        ("csrf_token", known.csrf.clone()),
        ("login", known.login.clone()),
        ("password", known.password.clone()),
        ("decision", "allow".into()),
        ("surname", "Karimov".into()),
        ("first_name", "Alisher".into()),
        ("middle_name", "".into()),
        ("birth_date", "1990-05-12".into()),
        ("pinfl", "31205900260011".into()),
        ("passport", "AA1234567".into()),
        ("phone", "+998901234567".into()),
        ("email", "fuzz@example.uz".into()),
        ("accept_offer", "yes".into()),
        ("current_password", known.password.clone()),
        ("new_password", "Buxoro-Ark-Minorasi-2026".into()),
        ("new_password_confirm", "Buxoro-Ark-Minorasi-2026".into()),
        ("client", "rp".into()),
        ("choice", "individual".into()),
        ("tin", "301234567".into()),
        ("role", "Accountant".into()),
        ("until", "2030-01-01".into()),
        ("replace", "no".into()),
        ("pending", "not-a-kept-signature".into()),
    ];
    let bad = rng.gen_range(0..valid.len());
    let mut out = Vec::new();
    for (i, (name, v)) in valid.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(name.as_bytes());
        out.push(b'=');
        let v = if i == bad { value(rng, known) } else { v.clone().into_bytes() };
        out.extend_from_slice(encode(&v).as_bytes());
    }
    out
}

/// Context that makes requests look real: the registered client, its redirect URI, the
/// browser's CSRF token, a person's login.
struct Known {
    csrf: String,
    session_cookie: String,
    csrf_cookie: String,
    redirect_uri: String,
    login: String,
    password: String,
}

/// A value: mostly hostile, sometimes valid, always as raw bytes (percent-encoded later).
fn value(rng: &mut StdRng, known: &Known) -> Vec<u8> {
    let pick = |rng: &mut StdRng, options: &[&str]| options[rng.gen_range(0..options.len())].as_bytes().to_vec();
    match rng.gen_range(0..18) {
        0 | 16 => vec![0],
        1 | 17 => b"a\0b".to_vec(),
        2 => (0..rng.gen_range(1..8)).map(|_| rng.gen_range(0u8..0x20)).collect(),
        3 => vec![0xff, 0xfe, b'x', 0xc3, 0x28, 0x80],
        4 => vec![b'/', b'\t', b'/', b'e', b'v', b'i', b'l'],
        5 => "x".repeat(rng.gen_range(3000..70_000)).into_bytes(),
        6 => "\u{202e}\u{7f}\u{85}\u{2028}\u{feff}".as_bytes().to_vec(),
        7 => pick(rng, &["rp", "openid", "code", "S256", "form_post", "query", "allow", "yes", "none", "login"]),
        8 => known.csrf.clone().into_bytes(),
        9 => known.redirect_uri.clone().into_bytes(),
        10 => known.login.clone().into_bytes(),
        11 => known.password.clone().into_bytes(),
        12 => pick(rng, &["-1", "0", "99999999999999999999", "1e9", "2026-02-30", "31205900260011", "AA1234567"]),
        13 => pick(rng, &["%", "%%", "%zz", "+", "&", "=", "==", "a=b", "{\"acr\":1}", "[]", "null", "'\"<>"]),
        14 => pick(rng, &["authorization_code", "refresh_token", "client_credentials", "urn:x", "openid legal"]),
        _ => (0..rng.gen_range(0..40)).map(|_| rng.gen_range(0u8..=255)).collect(),
    }
}

fn encode(bytes: &[u8]) -> String {
    url::form_urlencoded::byte_serialize(bytes).collect()
}

/// `name=value&...` with duplicates now and then; sometimes raw bytes that are not form encoding.
fn pairs(rng: &mut StdRng, known: &Known, form: bool) -> Vec<u8> {
    if rng.gen_ratio(1, 12) {
        return (0..rng.gen_range(1..64)).map(|_| rng.gen_range(0u8..=255)).collect();
    }
    let mut out = Vec::new();
    // A form body has each field a page form sends with odds of one in three, and a few other
    // names; a query string has a few names of any kind.
    let mut names: Vec<&str> =
        if form { FORM_NAMES.iter().copied().filter(|_| rng.gen_ratio(1, 3)).collect() } else { Vec::new() };
    for _ in 0..rng.gen_range(0..if form { 4 } else { 10 }) {
        names.push(NAMES[rng.gen_range(0..NAMES.len())]);
    }
    for (i, name) in names.into_iter().enumerate() {
        let repeats = if rng.gen_ratio(1, 6) { 2 } else { 1 };
        for _ in 0..repeats {
            if i > 0 || !out.is_empty() {
                out.push(b'&');
            }
            let name = if rng.gen_ratio(1, 20) { encode(&value(rng, known)) } else { name.to_owned() };
            out.extend_from_slice(name.as_bytes());
            out.push(b'=');
            let v = value(rng, known);
            if rng.gen_ratio(1, 10) {
                // Percent-escapes of raw bytes, invalid UTF-8 included.
                for b in v {
                    out.extend_from_slice(format!("%{b:02X}").as_bytes());
                }
            } else {
                out.extend_from_slice(encode(&v).as_bytes());
            }
        }
    }
    out
}

/// A header value: printable or tab or bytes above 0x7f (what HTTP lets through).
fn header_value(rng: &mut StdRng, known: &Known) -> reqwest::header::HeaderValue {
    let raw: Vec<u8> = value(rng, known)
        .into_iter()
        .map(|b| if (b < 0x20 && b != b'\t') || b == 0x7f { b'?' } else { b })
        .take(8000)
        .collect();
    reqwest::header::HeaderValue::from_bytes(&raw).unwrap_or_else(|_| reqwest::header::HeaderValue::from_static("x"))
}

struct Planned {
    method: String,
    path: String,
    query: Vec<u8>,
    body: Option<Vec<u8>>,
    headers: Vec<(&'static str, reqwest::header::HeaderValue)>,
}

impl std::fmt::Debug for Planned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let short = |b: &[u8]| String::from_utf8_lossy(&b[..b.len().min(300)]).into_owned();
        write!(
            f,
            "{} {}?{} body={:?} headers={:?}",
            self.method,
            self.path,
            short(&self.query),
            self.body.as_deref().map(short),
            self.headers
        )
    }
}

fn plan(rng: &mut StdRng, routes: &[(String, String)], known: &Known) -> Planned {
    let (method, path) = routes[rng.gen_range(0..routes.len())].clone();
    let query = if rng.gen_ratio(2, 3) { pairs(rng, known, false) } else { Vec::new() };
    // Page forms check the CSRF token first: most bodies carry the browser's, as a page would.
    let body = (method == "POST").then(|| {
        if rng.gen_ratio(1, 2) {
            return one_bad_field(rng, known);
        }
        let mut body = pairs(rng, known, true);
        if rng.gen_ratio(3, 4) {
            let token = format!("csrf_token={}&", known.csrf);
            body.splice(0..0, token.into_bytes());
        }
        body
    });
    let mut headers = Vec::new();
    if rng.gen_ratio(3, 4) {
        // The browser's own cookies (so CSRF and session checks pass), sometimes with garbage.
        let mut cookie = format!("{}; {}", known.csrf_cookie, known.session_cookie);
        if rng.gen_ratio(1, 3) {
            let garbage = header_value(rng, known);
            cookie.push_str("; yagona_lang=");
            cookie.push_str(&String::from_utf8_lossy(garbage.as_bytes()).replace(['\u{fffd}', ';'], "x"));
        }
        if let Ok(v) = reqwest::header::HeaderValue::from_str(&cookie) {
            headers.push(("cookie", v));
        }
    } else if rng.gen_ratio(1, 3) {
        headers.push(("cookie", header_value(rng, known)));
    }
    for name in ["authorization", "accept-language", "x-forwarded-for", "forwarded", "x-request-id", "content-type"] {
        if rng.gen_ratio(1, 5) {
            let v = match (name, rng.gen_range(0..3)) {
                ("authorization", 0) => {
                    use base64::Engine as _;
                    let raw = value(rng, known);
                    let basic = base64::engine::general_purpose::STANDARD.encode([b"rp:".as_slice(), &raw].concat());
                    reqwest::header::HeaderValue::from_str(&format!("Basic {basic}")).unwrap()
                }
                ("authorization", 1) => reqwest::header::HeaderValue::from_static("Bearer a.b.c"),
                ("content-type", 0) => reqwest::header::HeaderValue::from_static("application/json"),
                _ => header_value(rng, known),
            };
            headers.push((name, v));
        }
    }
    Planned { method, path, query, body, headers }
}

async fn send(http: &reqwest::Client, base: &str, p: &Planned) -> Result<u16, String> {
    let mut url = format!("{base}{}", p.path);
    if !p.query.is_empty() {
        // Bytes outside the query's allowed set go percent-encoded, as a browser sends them.
        let q: String = p
            .query
            .iter()
            .map(|b| if b.is_ascii_graphic() && *b != b'#' { (*b as char).to_string() } else { format!("%{b:02X}") })
            .collect();
        // An http::Uri holds at most 64 KiB; longer queries are cut there (the server's own limit
        // on the request line is lower and answers 4xx).
        let q: String = q.chars().take(60_000).collect();
        url = format!("{url}?{q}");
    }
    let mut request = match p.method.as_str() {
        "POST" => http.post(&url),
        _ => http.get(&url),
    };
    let mut has_type = false;
    for (name, v) in &p.headers {
        has_type |= *name == "content-type";
        request = request.header(*name, v.clone());
    }
    if let Some(body) = &p.body {
        if !has_type {
            request = request.header("content-type", "application/x-www-form-urlencoded");
        }
        request = request.body(body.clone());
    }
    match request.send().await {
        Ok(r) => Ok(r.status().as_u16()),
        Err(e) => Err(format!("no answer: {e}")),
    }
}

async fn fuzz(backend: Backend) {
    let server = TestServer::start(backend).await;
    let secret = server.add_client("rp", &["--grant-type", "authorization_code", "--grant-type", "refresh_token"]);
    let (login, password) = server.add_person("fuzzed");
    // A consent so that authorization requests of the client can go all the way to a code.
    let rp = RelyingParty::discover(&server, "rp", Some(&secret)).await;
    let start = rp.start(&["profile"], &[]);
    sign_in(&browser(), &server.base_url, &start.url, &login, &password).await;
    let (csrf, session_cookie) = signed_in_cookies(&server, &login, &password).await;
    let known = Known {
        csrf_cookie: format!("yagona_csrf={csrf}"),
        session_cookie,
        csrf,
        redirect_uri: TestServer::redirect_uri("rp"),
        login,
        password,
    };
    let routes = routes();
    assert!(routes.len() >= 50, "the router's routes were not all found: {routes:?}");
    let mut rng = StdRng::seed_from_u64(SEED);
    let planned: Vec<Planned> = (0..REQUESTS).map(|_| plan(&mut rng, &routes, &known)).collect();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut failures = Vec::new();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for chunk in planned.chunks(PARALLEL) {
        let answers = futures_util::future::join_all(chunk.iter().map(|p| send(&http, &server.base_url, p))).await;
        for (p, answer) in chunk.iter().zip(answers) {
            match answer {
                Ok(status) => {
                    *statuses.entry(status).or_default() += 1;
                    if status >= 500 {
                        failures.push(format!("{status}: {p:?}"));
                    }
                }
                Err(e) => failures.push(format!("{e}: {p:?}")),
            }
        }
    }
    let log = server.log();
    assert!(
        failures.is_empty(),
        "{backend:?}, seed {SEED:#x}: {} of {REQUESTS} requests failed:\n{}\n\nstatuses {statuses:?}\n\nserver errors in the log:\n{}",
        failures.len(),
        failures.iter().take(20).cloned().collect::<Vec<_>>().join("\n"),
        log.lines().filter(|l| l.contains("ERROR")).take(20).collect::<Vec<_>>().join("\n"),
    );
    assert!(!log.contains("panicked"), "{backend:?}: a handler panicked");
    eprintln!("{backend:?}: {REQUESTS} fuzzed requests, statuses {statuses:?}");
}

/// A browser's CSRF token and the session cookie of the person signed in there (a password
/// login, cookies read from the responses).
async fn signed_in_cookies(server: &TestServer, login: &str, password: &str) -> (String, String) {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let html = http.get(server.url("/login")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_input(&html, "csrf_token").unwrap();
    let r = http
        .post(server.url("/login"))
        .header("cookie", format!("yagona_csrf={csrf}"))
        .form(&[("login", login), ("password", password), ("csrf_token", &csrf)])
        .send()
        .await
        .unwrap();
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("yagona_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no session cookie after a login: {}", r.status()));
    (csrf, session)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_survives_malformed_input_sqlite() {
    fuzz(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_survives_malformed_input_postgres() {
    fuzz(Backend::Postgres).await;
}
