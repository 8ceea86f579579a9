//! `yagona-loadgen`: drives one scenario against one OpenID provider at a fixed concurrency over
//! keep-alive connections, discards a warm-up, then counts a timed window. Prints one JSON line:
//! `{scenario, requests, errors, rps, p50_ms, p99_ms}`.
//!
//! Scenarios that spend state (a code, a refresh token) prepare it before the window: codes by
//! full logins beforehand, refresh tokens chained per worker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::Digest as _;

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
    /// Extra form parameters for client_credentials (oidc-provider wants `resource`).
    extra: Vec<(String, String)>,
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
        extra: Vec::new(),
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
            "--extra" => {
                let (k, v) = value.split_once('=').ok_or("--extra takes key=value")?;
                o.extra.push((k.into(), v.into()));
            }
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

/// A full browser login (Yagona's pages): returns a code and its PKCE verifier.
async fn login_for_code(o: &Options, e: &Endpoints) -> Result<(String, String), Error> {
    let browser = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build()?;
    let verifier = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    let mut url = url::Url::parse(&e.authorization)?;
    url.query_pairs_mut()
        .append_pair("client_id", &o.client_id)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid profile")
        .append_pair("redirect_uri", &o.redirect_uri)
        .append_pair("state", "s")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let mut location = url.to_string();
    for _ in 0..8 {
        let r = browser.get(&location).send().await?;
        if r.status().is_redirection() {
            let next = r.headers().get("location").ok_or("no location")?.to_str()?.to_owned();
            if next.starts_with(&o.redirect_uri) {
                return Ok((query(&next, "code").ok_or("no code")?, verifier));
            }
            location = if next.starts_with('/') { format!("{}{next}", o.base) } else { next };
            continue;
        }
        let html = r.text().await?;
        let csrf = hidden(&html, "csrf_token").ok_or("no CSRF token on the page")?;
        let interaction = hidden(&html, "interaction").unwrap_or_default();
        let r = if html.contains("name=\"password\"") {
            browser
                .post(format!("{}/login", o.base))
                .form(&[
                    ("login", o.login.as_str()),
                    ("password", o.password.as_str()),
                    ("csrf_token", &csrf),
                    ("interaction", &interaction),
                ])
                .send()
                .await?
        } else {
            browser
                .post(format!("{}/consent", o.base))
                .form(&[("decision", "allow"), ("csrf_token", csrf.as_str()), ("interaction", interaction.as_str())])
                .send()
                .await?
        };
        let next = r.headers().get("location").ok_or("no location after the form")?.to_str()?.to_owned();
        location = if next.starts_with('/') { format!("{}{next}", o.base) } else { next };
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
        return Err(format!("token endpoint: {}", r.status()).into());
    }
    Ok(r.json().await?)
}

/// What one request of the scenario needs, prepared outside the window.
enum Work {
    Nothing,
    Token(String),
    Codes(tokio::sync::Mutex<Vec<(String, String)>>),
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
            let r = http
                .post(&e.introspection)
                .basic_auth(&o.client_id, Some(&o.client_secret))
                .form(&[("token", token)])
                .send()
                .await?;
            let body: serde_json::Value = r.json().await?;
            if body["active"] == true {
                Ok(())
            } else {
                Err("inactive".into())
            }
        }
        "userinfo" => {
            let Work::Token(token) = work else { return Err("no token".into()) };
            ok(http.get(&e.userinfo).bearer_auth(token).send().await?)
        }
        "refresh_token" => {
            let refresh = match state.take() {
                Some(r) => r,
                None => {
                    let (code, verifier) = login_for_code(o, e).await?;
                    let t = token_request(
                        http,
                        o,
                        e,
                        &[
                            ("grant_type", "authorization_code"),
                            ("code", &code),
                            ("redirect_uri", &o.redirect_uri),
                            ("code_verifier", &verifier),
                        ],
                    )
                    .await?;
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
            token_request(
                http,
                o,
                e,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", &o.redirect_uri),
                    ("code_verifier", &verifier),
                ],
            )
            .await
            .map(|_| ())
        }
        "login_flow" => {
            let (code, verifier) = login_for_code(o, e).await?;
            token_request(
                http,
                o,
                e,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", &o.redirect_uri),
                    ("code_verifier", &verifier),
                ],
            )
            .await
            .map(|_| ())
        }
        other => Err(format!("unknown scenario {other}").into()),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let o = Arc::new(options()?);
    let http = reqwest::Client::builder().pool_max_idle_per_host(o.concurrency).build()?;
    let e = Arc::new(discover(&http, &o.base).await?);
    let work = Arc::new(match o.scenario.as_str() {
        "introspection" => {
            let mut form: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
            form.extend(o.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let t = token_request(&http, &o, &e, &form).await?;
            Work::Token(t["access_token"].as_str().ok_or("no access token")?.to_owned())
        }
        "userinfo" => {
            let (code, verifier) = login_for_code(&o, &e).await?;
            let t = token_request(
                &http,
                &o,
                &e,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", &o.redirect_uri),
                    ("code_verifier", &verifier),
                ],
            )
            .await?;
            Work::Token(t["access_token"].as_str().ok_or("no access token")?.to_owned())
        }
        "code_exchange" => {
            // Codes made by real logins beforehand (concurrently, within the codes' lifetime);
            // the window then lasts until they are spent.
            let wanted = o.concurrency * 25;
            let mut makers = Vec::new();
            for _ in 0..o.concurrency {
                let (o, e) = (o.clone(), e.clone());
                makers.push(tokio::spawn(async move {
                    let mut codes = Vec::new();
                    for _ in 0..25 {
                        codes.push(login_for_code(&o, &e).await?);
                    }
                    Ok::<_, Error>(codes)
                }));
            }
            let mut codes = Vec::with_capacity(wanted);
            for maker in makers {
                codes.extend(maker.await??);
            }
            Work::Codes(tokio::sync::Mutex::new(codes))
        }
        _ => Work::Nothing,
    });
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..o.concurrency {
        let (o, e, http, work, measuring, stop) =
            (o.clone(), e.clone(), http.clone(), work.clone(), measuring.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let (mut latencies, mut errors, mut state) = (Vec::new(), 0u64, None);
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let result = one(&o, &e, &http, &work, &mut state).await;
                if matches!(&result, Err(err) if err.to_string() == OUT_OF_WORK) {
                    break;
                }
                if measuring.load(Ordering::Relaxed) {
                    match result {
                        Ok(()) => latencies.push(started.elapsed()),
                        Err(_) => errors += 1,
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let prepared = matches!(*work, Work::Codes(_));
    if !prepared {
        tokio::time::sleep(o.warmup).await;
    }
    measuring.store(true, Ordering::Relaxed);
    let window = Instant::now();
    if prepared {
        // Measured until the prepared codes are spent (or the duration passes).
        while window.elapsed() < o.duration && workers.iter().any(|w| !w.is_finished()) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    } else {
        tokio::time::sleep(o.duration).await;
    }
    measuring.store(false, Ordering::Relaxed);
    let elapsed = window.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let (mut all, mut errors) = (Vec::new(), 0);
    for w in workers {
        let (l, e) = w.await?;
        all.extend(l);
        errors += e;
    }
    all.sort();
    println!(
        "{}",
        serde_json::json!({
            "scenario": o.scenario, "requests": all.len(), "errors": errors,
            "rps": all.len() as f64 / elapsed, "p50_ms": percentile(&all, 50.0), "p99_ms": percentile(&all, 99.0),
        })
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 50.0), 51.0);
        assert_eq!(percentile(&sorted, 99.0), 99.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
