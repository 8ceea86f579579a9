//! `yagona-loadgen`: drives one scenario against one OpenID provider at a fixed concurrency over
//! keep-alive connections, discards a warm-up, then counts a timed window. Prints one JSON line:
//! `{scenario, requests, errors, rps, p50_ms, p99_ms}`.
//!
//! Scenarios that spend state (a code, a refresh token) prepare it before the window: codes by
//! full logins beforehand, refresh tokens chained per worker. The `seeded_*` scenarios and
//! `registration` (module `seeded`) are the scale bench's: random people of a database made by
//! `yagona bench seed`, and the registration wizard.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::Digest as _;

mod seeded;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// A worker whose prepared work is spent stops; the window ends when all have.
const OUT_OF_WORK: &str = "out of prepared work";

struct Options {
    base: String,
    scenario: String,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
    client_id: String,
    client_secret: String,
    redirect_uri: String,
    login: String,
    password: String,
    /// The scope of the logins that make codes and refresh tokens.
    scope: String,
    /// `prompt` of those logins: oidc-provider issues refresh tokens only with `offline_access`
    /// granted at a `prompt=consent`.
    prompt: Option<String>,
    /// `resource` of those logins (RFC 8707): oidc-provider issues JWT access tokens only for a
    /// resource server, so its logins ask for one where Yagona's client issues JWTs anyway.
    resource: Option<String>,
    /// code_exchange: codes redeemed in all, and per round (made just before their round).
    codes: usize,
    batch: usize,
    /// Extra form parameters for client_credentials (oidc-provider wants `resource`).
    extra: Vec<(String, String)>,
    /// The seeded database (`yagona bench seed` with the same values).
    seed: seeded::SeedOptions,
    /// The window also ends when this file exists (the purge bench ends it after its phases).
    stop_file: Option<std::path::PathBuf>,
    /// Every request of the window written here, one line each: when it ended (unix
    /// milliseconds) and its latency in milliseconds, `-1` for an error.
    samples: Option<std::path::PathBuf>,
    /// The server's process: the CPU time it used during the window is reported beside the
    /// rate. On a shared virtual machine the rate moves with the time the host takes from the
    /// guest (steal); the CPU time charged to the process leaves that time out.
    server_pid: Option<u32>,
}

fn options() -> Result<Options, Error> {
    let mut o = Options {
        base: String::new(),
        scenario: String::new(),
        concurrency: 16,
        warmup: Duration::from_secs(2),
        duration: Duration::from_secs(10),
        client_id: "bench".into(),
        client_secret: "bench-secret-0123456789".into(),
        redirect_uri: "http://127.0.0.1:9/bench/callback".into(),
        login: "bench".into(),
        password: "Samarqand-Yulduz-2026".into(),
        scope: "openid profile offline_access".into(),
        prompt: None,
        resource: None,
        codes: 400,
        batch: 400,
        extra: Vec::new(),
        seed: seeded::SeedOptions::default(),
        stop_file: None,
        samples: None,
        server_pid: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i + 1 < args.len() {
        let value = args[i + 1].clone();
        match args[i].as_str() {
            "--base" => o.base = value,
            "--scenario" => o.scenario = value,
            "--concurrency" => o.concurrency = value.parse()?,
            "--warmup" => o.warmup = Duration::from_secs_f64(value.parse()?),
            "--duration" => o.duration = Duration::from_secs_f64(value.parse()?),
            "--client-id" => o.client_id = value,
            "--client-secret" => o.client_secret = value,
            "--redirect-uri" => o.redirect_uri = value,
            "--login" => o.login = value,
            "--password" => o.password = value,
            "--scope" => o.scope = value,
            "--prompt" => o.prompt = Some(value),
            "--resource" => o.resource = Some(value),
            "--codes" => o.codes = value.parse()?,
            "--batch" => o.batch = value.parse::<usize>()?.max(1),
            "--stop-file" => o.stop_file = Some(value.into()),
            "--samples" => o.samples = Some(value.into()),
            "--server-pid" => o.server_pid = Some(value.parse()?),
            "--extra" => {
                let (k, v) = value.split_once('=').ok_or("--extra takes key=value")?;
                o.extra.push((k.into(), v.into()));
            }
            other if o.seed.set(other, &value)? => {}
            other => return Err(format!("unknown option {other}").into()),
        }
        i += 2;
    }
    if o.base.is_empty() || o.scenario.is_empty() {
        return Err(
            "usage: yagona-loadgen --base URL --scenario NAME [--concurrency N --warmup S --duration S ...]".into()
        );
    }
    Ok(o)
}

/// The percentile `p` (0..=100) of sorted latencies, in milliseconds.
pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

struct Endpoints {
    token: String,
    introspection: String,
    userinfo: String,
    jwks: String,
    authorization: String,
}

async fn discover(http: &reqwest::Client, base: &str) -> Result<Endpoints, Error> {
    let doc: serde_json::Value =
        http.get(format!("{base}/.well-known/openid-configuration")).send().await?.json().await?;
    let get = |k: &str| doc[k].as_str().unwrap_or_default().to_owned();
    Ok(Endpoints {
        token: get("token_endpoint"),
        introspection: get("introspection_endpoint"),
        userinfo: get("userinfo_endpoint"),
        jwks: get("jwks_uri"),
        authorization: get("authorization_endpoint"),
    })
}

fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

fn query(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url).ok()?.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// The action of the page's first `<form method="post">`, if it names one.
fn form_action(html: &str) -> Option<String> {
    let form = html.find("<form")?;
    let marker = "action=\"";
    let start = html[form..].find(marker)? + form + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// How a login proves the person.
enum Credential<'a> {
    Password {
        login: &'a str,
        password: &'a str,
    },
    /// A signed challenge (Yagona's `/login/eds`), with a certificate and key of the dev CA.
    Eds(&'a yagona_pki::dev_ca::Issued),
}

impl Options {
    /// The bench account's password.
    fn credential(&self) -> Credential<'_> {
        Credential::Password { login: &self.login, password: &self.password }
    }
}

/// A full browser login through the provider's own pages: Yagona's login and consent forms, or
/// oidc-provider's development interactions (`prompt=login|consent` forms). Returns a code and
/// its PKCE verifier.
async fn login_for_code(o: &Options, e: &Endpoints, who: &Credential<'_>) -> Result<(String, String), Error> {
    let browser = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build()?;
    let verifier = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    let mut url = url::Url::parse(&e.authorization)?;
    url.query_pairs_mut()
        .append_pair("client_id", &o.client_id)
        .append_pair("response_type", "code")
        .append_pair("scope", &o.scope)
        .append_pair("redirect_uri", &o.redirect_uri)
        .append_pair("state", "s")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    if let Some(prompt) = &o.prompt {
        url.query_pairs_mut().append_pair("prompt", prompt);
    }
    if let Some(resource) = &o.resource {
        url.query_pairs_mut().append_pair("resource", resource);
    }
    let absolute = |next: &str| if next.starts_with('/') { format!("{}{next}", o.base) } else { next.to_owned() };
    let mut location = url.to_string();
    for _ in 0..12 {
        let r = browser.get(&location).send().await?;
        if r.status().is_redirection() {
            let next = r.headers().get("location").ok_or("no location")?.to_str()?.to_owned();
            if next.starts_with(&o.redirect_uri) {
                return Ok((query(&next, "code").ok_or("no code")?, verifier));
            }
            location = absolute(&next);
            continue;
        }
        let html = r.text().await?;
        let r = if let Some(prompt) = hidden(&html, "prompt") {
            // oidc-provider's development interaction pages.
            let action = absolute(&form_action(&html).ok_or("no form on the interaction page")?);
            let mut form = vec![("prompt", prompt.as_str())];
            if prompt == "login" {
                form.extend([("login", o.login.as_str()), ("password", o.password.as_str())]);
            }
            browser.post(action).form(&form).send().await?
        } else {
            let csrf = hidden(&html, "csrf_token").ok_or("no CSRF token on the page")?;
            let interaction = hidden(&html, "interaction").unwrap_or_default();
            let login_page = html.contains("name=\"password\"");
            match who {
                Credential::Password { login, password } if login_page => {
                    browser
                        .post(format!("{}/login", o.base))
                        .form(&[
                            ("login", *login),
                            ("password", *password),
                            ("csrf_token", &csrf),
                            ("interaction", &interaction),
                        ])
                        .send()
                        .await?
                }
                Credential::Eds(issued) if login_page => {
                    let pkcs7 = seeded::sign_challenge(&browser, o, issued).await?;
                    browser
                        .post(format!("{}/login/eds", o.base))
                        .form(&[("pkcs7", pkcs7.as_str()), ("csrf_token", &csrf), ("interaction", &interaction)])
                        .send()
                        .await?
                }
                _ => {
                    browser
                        .post(format!("{}/consent", o.base))
                        .form(&[
                            ("decision", "allow"),
                            ("csrf_token", csrf.as_str()),
                            ("interaction", interaction.as_str()),
                        ])
                        .send()
                        .await?
                }
            }
        };
        if !r.status().is_redirection() {
            return Err(format!("the login form answered {}", r.status()).into());
        }
        let next = r.headers().get("location").ok_or("no location after the form")?.to_str()?.to_owned();
        location = absolute(&next);
    }
    Err("the login did not end at the redirect URI".into())
}

async fn token_request(
    http: &reqwest::Client,
    o: &Options,
    e: &Endpoints,
    form: &[(&str, &str)],
) -> Result<serde_json::Value, Error> {
    let r = http.post(&e.token).basic_auth(&o.client_id, Some(&o.client_secret)).form(form).send().await?;
    if !r.status().is_success() {
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        return Err(format!("token endpoint: {status}: {}", body.chars().take(200).collect::<String>()).into());
    }
    Ok(r.json().await?)
}

/// What one request of the scenario needs, prepared outside the window.
enum Work {
    Nothing,
    Token(String),
    Codes(tokio::sync::Mutex<Vec<(String, String)>>),
    /// Seeded people with a certificate bound by a first EDS login.
    Eds(Vec<yagona_pki::dev_ca::Issued>),
    /// New people for the registration wizard.
    Registrations(seeded::Registrar),
}

async fn one(
    o: &Options,
    e: &Endpoints,
    http: &reqwest::Client,
    work: &Work,
    state: &mut Option<String>,
) -> Result<(), Error> {
    let ok = |r: reqwest::Response| -> Result<(), Error> {
        if r.status().is_success() {
            Ok(())
        } else {
            Err(format!("status {}", r.status()).into())
        }
    };
    match o.scenario.as_str() {
        "discovery" => ok(http.get(format!("{}/.well-known/openid-configuration", o.base)).send().await?),
        "jwks" => ok(http.get(&e.jwks).send().await?),
        "client_credentials" => {
            let mut form: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
            form.extend(o.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            token_request(http, o, e, &form).await.map(|_| ())
        }
        "introspection" => {
            let Work::Token(token) = work else { return Err("no token".into()) };
            introspect_active(http, e, &o.client_id, &o.client_secret, token).await
        }
        "userinfo" => {
            let Work::Token(token) = work else { return Err("no token".into()) };
            ok(http.get(&e.userinfo).bearer_auth(token).send().await?)
        }
        "refresh_token" => {
            let refresh = match state.take() {
                Some(r) => r,
                None => {
                    let t = exchange_token(http, o, e, &o.credential()).await?;
                    t["refresh_token"].as_str().ok_or("no refresh token")?.to_owned()
                }
            };
            let t = token_request(http, o, e, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await?;
            *state = t["refresh_token"].as_str().map(str::to_owned);
            Ok(())
        }
        "code_exchange" => {
            let Work::Codes(codes) = work else { return Err("no codes".into()) };
            let Some((code, verifier)) = codes.lock().await.pop() else { return Err(OUT_OF_WORK.into()) };
            redeem_code(http, o, e, &code, &verifier).await.map(|_| ())
        }
        "login_flow" => exchange_token(http, o, e, &o.credential()).await.map(|_| ()),
        other => seeded::one(o, e, http, work, other).await,
    }
}

/// Introspects `token` as the client; an error unless it is active.
async fn introspect_active(
    http: &reqwest::Client,
    e: &Endpoints,
    client_id: &str,
    client_secret: &str,
    token: &str,
) -> Result<(), Error> {
    let r =
        http.post(&e.introspection).basic_auth(client_id, Some(client_secret)).form(&[("token", token)]).send().await?;
    let body: serde_json::Value = r.json().await?;
    if body["active"] == true {
        Ok(())
    } else {
        Err(format!("inactive: {body}").into())
    }
}

/// Codes made by real logins beforehand (concurrently, well within the codes' lifetime).
async fn prepare_codes(o: &Arc<Options>, e: &Arc<Endpoints>, wanted: usize) -> Result<Vec<(String, String)>, Error> {
    let per_maker = wanted.div_ceil(o.concurrency);
    let mut makers = Vec::new();
    for _ in 0..o.concurrency {
        let (o, e) = (o.clone(), e.clone());
        makers.push(tokio::spawn(async move {
            let mut codes = Vec::with_capacity(per_maker);
            for _ in 0..per_maker {
                codes.push(login_for_code(&o, &e, &o.credential()).await?);
            }
            Ok::<_, Error>(codes)
        }));
    }
    let mut codes = Vec::with_capacity(wanted);
    for maker in makers {
        codes.extend(maker.await??);
    }
    Ok(codes)
}

/// What one timed window measured.
struct Window {
    latencies: Vec<Duration>,
    errors: u64,
    elapsed: Duration,
    /// With `--samples`: each request's end (since `started`) and latency, `None` for an error.
    samples: Vec<(Duration, Option<Duration>)>,
    started: Option<std::time::SystemTime>,
    /// With `--server-pid`: the CPU time the server used during the window.
    server_cpu: Option<Duration>,
}

/// Clock ticks per second of `/proc/<pid>/stat`'s times: `USER_HZ`, 100 on Linux's x86 and
/// Arm ABIs whatever the kernel's own tick rate.
const USER_HZ: u64 = 100;

/// The CPU time (user and system, all threads) process `pid` has used, from `/proc/<pid>/stat`;
/// `None` when it cannot be read. The kernel does not charge a task for the time the host
/// took from the guest (steal, `CONFIG_PARAVIRT_TIME_ACCOUNTING`).
fn process_cpu(pid: u32) -> Option<Duration> {
    stat_cpu(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// `utime` + `stime` (fields 14 and 15) of a `/proc/<pid>/stat` line.
fn stat_cpu(stat: &str) -> Option<Duration> {
    // The command name (field 2, in parentheses) may hold spaces and parentheses; the fields
    // after its last `)` start at the state (3).
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 1000 / USER_HZ))
}

/// Runs `o.concurrency` workers over keep-alive connections; counts a window of `o.duration`
/// after `warmup`, or, with prepared codes, until they are spent.
async fn measure(
    o: &Arc<Options>,
    e: &Arc<Endpoints>,
    http: &reqwest::Client,
    work: Work,
    warmup: Duration,
) -> Result<Window, Error> {
    let work = Arc::new(work);
    let keep_samples = o.samples.is_some();
    let origin = Instant::now();
    let wall = std::time::SystemTime::now();
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..o.concurrency {
        let (o, e, http, work, measuring, stop) =
            (o.clone(), e.clone(), http.clone(), work.clone(), measuring.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let (mut latencies, mut errors, mut state) = (Vec::new(), 0u64, None);
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let result = one(&o, &e, &http, &work, &mut state).await;
                if matches!(&result, Err(err) if err.to_string() == OUT_OF_WORK) {
                    break;
                }
                if measuring.load(Ordering::Relaxed) {
                    if keep_samples {
                        let latency = result.is_ok().then(|| started.elapsed());
                        samples.push((origin.elapsed(), latency));
                    }
                    match result {
                        Ok(()) => latencies.push(started.elapsed()),
                        Err(err) => {
                            // The first error of each worker is told, so a failing run says why.
                            if errors == 0 {
                                eprintln!("{}: {err}", o.scenario);
                            }
                            errors += 1;
                        }
                    }
                }
            }
            (latencies, errors, samples)
        }));
    }
    let prepared = matches!(*work, Work::Codes(_));
    tokio::time::sleep(warmup).await;
    measuring.store(true, Ordering::Relaxed);
    let window = Instant::now();
    let cpu_before = o.server_pid.and_then(process_cpu);
    if prepared {
        while window.elapsed() < o.duration && workers.iter().any(|w| !w.is_finished()) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    } else {
        while window.elapsed() < o.duration && !o.stop_file.as_ref().is_some_and(|f| f.exists()) {
            tokio::time::sleep(Duration::from_millis(20).min(o.duration)).await;
        }
    }
    measuring.store(false, Ordering::Relaxed);
    let elapsed = window.elapsed();
    let server_cpu =
        o.server_pid.and_then(process_cpu).zip(cpu_before).map(|(after, before)| after.saturating_sub(before));
    stop.store(true, Ordering::Relaxed);
    let mut measured =
        Window { latencies: Vec::new(), errors: 0, elapsed, samples: Vec::new(), started: Some(wall), server_cpu };
    for w in workers {
        let (l, e, s) = w.await?;
        measured.latencies.extend(l);
        measured.errors += e;
        measured.samples.extend(s);
    }
    Ok(measured)
}

/// A full login, then its code redeemed.
async fn exchange_token(
    http: &reqwest::Client,
    o: &Options,
    e: &Endpoints,
    who: &Credential<'_>,
) -> Result<serde_json::Value, Error> {
    let (code, verifier) = login_for_code(o, e, who).await?;
    redeem_code(http, o, e, &code, &verifier).await
}

async fn redeem_code(
    http: &reqwest::Client,
    o: &Options,
    e: &Endpoints,
    code: &str,
    verifier: &str,
) -> Result<serde_json::Value, Error> {
    token_request(
        http,
        o,
        e,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &o.redirect_uri),
            ("code_verifier", verifier),
        ],
    )
    .await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let o = Arc::new(options()?);
    let http = reqwest::Client::builder().pool_max_idle_per_host(o.concurrency).build()?;
    let e = Arc::new(discover(&http, &o.base).await?);
    let token = |t: serde_json::Value| -> Result<Work, Error> {
        Ok(Work::Token(t["access_token"].as_str().ok_or("no access token")?.to_owned()))
    };
    let total = match o.scenario.as_str() {
        "code_exchange" => {
            // Rounds of `batch` codes, each made beforehand and then redeemed in a window that
            // lasts until they are spent; the rounds' windows add up. A provider whose store
            // holds few entries (oidc-provider's in-memory LRU keeps 1000) gets smaller rounds.
            let mut total = Window {
                latencies: Vec::new(),
                errors: 0,
                elapsed: Duration::ZERO,
                samples: Vec::new(),
                started: None,
                server_cpu: o.server_pid.map(|_| Duration::ZERO),
            };
            let mut left = o.codes;
            while left > 0 {
                let batch = left.min(o.batch);
                let codes = prepare_codes(&o, &e, batch).await?;
                left -= batch;
                let round = measure(&o, &e, &http, Work::Codes(tokio::sync::Mutex::new(codes)), Duration::ZERO).await?;
                total.latencies.extend(round.latencies);
                total.errors += round.errors;
                total.elapsed += round.elapsed;
                total.server_cpu = total.server_cpu.zip(round.server_cpu).map(|(a, b)| a + b);
            }
            total
        }
        scenario => {
            let work = match scenario {
                "introspection" => {
                    let mut form: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
                    form.extend(o.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                    token(token_request(&http, &o, &e, &form).await?)?
                }
                "userinfo" => token(exchange_token(&http, &o, &e, &o.credential()).await?)?,
                "seeded_eds_login" => seeded::prepare_eds(&o, &e, &http).await?,
                "seeded_introspection" => seeded::verify_clients_once(&o, &e, &http).await?,
                "registration" => Work::Registrations(seeded::Registrar::new()),
                _ => Work::Nothing,
            };
            measure(&o, &e, &http, work, o.warmup).await?
        }
    };
    if let (Some(path), Some(started)) = (&o.samples, total.started) {
        write_samples(path, started, &total.samples)?;
    }
    let Window { mut latencies, errors, elapsed, server_cpu, .. } = total;
    latencies.sort();
    let rps = latencies.len() as f64 / elapsed.as_secs_f64().max(f64::EPSILON);
    let mut report = serde_json::json!({
        "scenario": o.scenario, "requests": latencies.len(), "errors": errors,
        "rps": rps, "p50_ms": percentile(&latencies, 50.0), "p99_ms": percentile(&latencies, 99.0),
    });
    if let Some(cpu) = server_cpu {
        report["server_cpu_ms"] = (cpu.as_secs_f64() * 1e3).into();
        // Per answered request: a window with errors counts their CPU against the answers.
        if !latencies.is_empty() {
            report["server_cpu_us_per_request"] = (cpu.as_secs_f64() * 1e6 / latencies.len() as f64).into();
        }
    }
    println!("{report}");
    Ok(())
}

/// `--samples`: one line per request, its end in unix milliseconds and its latency (`-1`: error).
fn write_samples(
    path: &std::path::Path,
    started: std::time::SystemTime,
    samples: &[(Duration, Option<Duration>)],
) -> Result<(), Error> {
    use std::io::Write as _;
    let origin = started.duration_since(std::time::UNIX_EPOCH)?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for (end, latency) in samples {
        let latency = latency.map_or(-1.0, |l| l.as_secs_f64() * 1000.0);
        writeln!(out, "{:.1} {latency:.3}", (origin + *end).as_secs_f64() * 1000.0)?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fields 14 and 15 of a line whose command name holds a space and a `)`; each field
    /// around them holds another value, so a neighbour read instead gives another sum.
    #[test]
    fn stat_cpu_adds_utime_and_stime() {
        let line = "4242 (yagona (a) b) S 1 4242 4242 0 -1 4194560 900 0 7 0 1234 567 11 13 20 0 9 0 \
                    100 2000000 500 18446744073709551615";
        assert_eq!(stat_cpu(line), Some(Duration::from_millis((1234 + 567) * 10)));
        assert_eq!(stat_cpu("4242 (yagona) S 1 2 3"), None, "a line cut short");
        assert_eq!(stat_cpu("no parenthesis here"), None);
    }

    /// The live reading: this process's CPU time grows while the test burns CPU, and no faster
    /// than the wall clock allows its threads.
    #[test]
    fn process_cpu_reads_the_time_a_process_used() {
        let pid = std::process::id();
        let before = process_cpu(pid).expect("this process's /proc stat");
        let started = Instant::now();
        let mut spin = 0u64;
        let grown = loop {
            spin = std::hint::black_box(spin.wrapping_mul(6364136223846793005).wrapping_add(1));
            let now = process_cpu(pid).unwrap();
            if now >= before + Duration::from_millis(50) {
                break now - before;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "no CPU time counted while burning it");
        };
        // Other test threads may run beside this one: allow them their share.
        assert!(grown <= started.elapsed() * 4 + Duration::from_millis(20), "{grown:?} in {:?}", started.elapsed());
        assert_eq!(process_cpu(u32::MAX), None, "no such process");
    }

    #[test]
    fn percentiles() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 50.0), 51.0);
        assert_eq!(percentile(&sorted, 99.0), 99.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
