//! The scale bench's scenarios (`bench/scale.py`, docs/performance.md "Cost as data grows"):
//! every request a different, random person of a database filled by `yagona bench seed`, so that
//! no scenario measures one hot row; and the registration wizard, a new person each time.
//!
//! What the seeder wrote is found with its own formulas (`yagona_store::seed`): person `i` logs
//! in as `seed{i}` with the one seeded password, holds the live opaque access token
//! [`seed_access_token`], was issued it by `seed-client-{i % clients}` (whose common secret the
//! seeder was given), and one in five (`i % 5 == 0`) is EDS-confirmed.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use base64::Engine as _;
use yagona_pki::dev_ca::{self, DevCa, Issued, KeyAlg, Subject};
use yagona_store::seed::{pinfl_of, seed_access_token, SeedClock};

use super::{exchange_token, hidden, introspect_active, Credential, Endpoints, Error, Options, Work};

/// One in this many seeded people is EDS-confirmed (as `yagona_store::seed` makes them).
const CONFIRMED_EVERY: u64 = 5;
/// People per PINFL block of [`pinfl_of`] (one birth date each); registrations take blocks no
/// seeded person reaches.
const PINFL_BLOCK: u64 = 33_600;
const REGISTRATION_PASSWORD: &str = "Buxoro-Ark-2026";

/// What the seeded database holds (the values `yagona bench seed` was given).
pub struct SeedOptions {
    /// How many people were seeded; the scenarios draw from `0..people`.
    people: u64,
    token_seed: String,
    /// The seeding clock (`yagona bench seed --seeded-at`): the live tokens' issue times, part
    /// of each token, count from it.
    seeded_at: Option<i64>,
    password: String,
    client_secret: String,
    clients: u64,
    /// The development CA the server trusts (`yagona pki dev-ca init --out DIR`).
    eds_ca: Option<PathBuf>,
    /// Confirmed people given a certificate before the window (each bound by a first EDS login).
    eds_people: usize,
}

impl Default for SeedOptions {
    fn default() -> Self {
        SeedOptions {
            people: 0,
            token_seed: "yagona-bench".into(),
            seeded_at: None,
            password: "seed-password-1".into(),
            client_secret: "seed-client-secret-1".into(),
            clients: 100,
            eds_ca: None,
            eds_people: 1000,
        }
    }
}

impl SeedOptions {
    /// Takes `option` if it is one of these; whether it was.
    pub fn set(&mut self, option: &str, value: &str) -> Result<bool, Error> {
        match option {
            "--people" => self.people = value.parse()?,
            "--token-seed" => self.token_seed = value.into(),
            "--seeded-at" => self.seeded_at = Some(value.parse()?),
            "--seed-password" => self.password = value.into(),
            "--seed-client-secret" => self.client_secret = value.into(),
            "--seed-clients" => self.clients = value.parse::<u64>()?.max(1),
            "--eds-ca" => self.eds_ca = Some(value.into()),
            "--eds-people" => self.eds_people = value.parse::<usize>()?.max(1),
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn random_person(&self) -> Result<u64, Error> {
        if self.people == 0 {
            return Err("no seeded people: pass --people N (as seeded)".into());
        }
        Ok(rand::random::<u64>() % self.people)
    }

    /// Person `i`'s live access token, as the seeder made it.
    fn access_token(&self, i: u64) -> Result<String, Error> {
        let seeded_at =
            self.seeded_at.ok_or("no seeding clock: pass --seeded-at (as `yagona bench seed` printed it)")?;
        Ok(seed_access_token(&self.token_seed, SeedClock { now: seeded_at, people: self.people }, i))
    }
}

/// One request of a seeded scenario (or of the registration wizard).
pub(super) async fn one(
    o: &Options,
    e: &Endpoints,
    http: &reqwest::Client,
    work: &Work,
    scenario: &str,
) -> Result<(), Error> {
    match scenario {
        "seeded_userinfo" => {
            let token = o.seed.access_token(o.seed.random_person()?)?;
            let r = http.get(&e.userinfo).bearer_auth(token).send().await?;
            if !r.status().is_success() {
                return Err(format!("userinfo: status {}", r.status()).into());
            }
            Ok(())
        }
        "seeded_introspection" => {
            let i = o.seed.random_person()?;
            let client = format!("seed-client-{}", i % o.seed.clients);
            let token = o.seed.access_token(i)?;
            introspect_active(http, e, &client, &o.seed.client_secret, &token).await
        }
        "seeded_login" => {
            let login = format!("seed{}", o.seed.random_person()?);
            let who = Credential::Password { login: &login, password: &o.seed.password };
            exchange_token(http, o, e, &who).await.map(|_| ())
        }
        "seeded_eds_login" => {
            let Work::Eds(people) = work else { return Err("no certificates prepared".into()) };
            let issued = &people[rand::random::<usize>() % people.len()];
            exchange_token(http, o, e, &Credential::Eds(issued)).await.map(|_| ())
        }
        "registration" => {
            let Work::Registrations(registrar) = work else { return Err("no registrar".into()) };
            registrar.register(o).await
        }
        other => Err(format!("unknown scenario {other}").into()),
    }
}

/// One introspection per seeded client, one at a time, before the window: a server verifies a
/// client's secret with argon2 once and then knows it, so the window measures that steady state
/// (not 100 first verifications) and the server's peak memory is not 16 concurrent argon2 runs.
pub(super) async fn verify_clients_once(o: &Options, e: &Endpoints, http: &reqwest::Client) -> Result<Work, Error> {
    // Person k (below the number of clients) is seed-client-k's.
    for k in 0..o.seed.clients.min(o.seed.people) {
        let token = o.seed.access_token(k)?;
        introspect_active(http, e, &format!("seed-client-{k}"), &o.seed.client_secret, &token).await?;
    }
    Ok(Work::Nothing)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Signs a fresh challenge of this browser with the person's key, as E-IMZO would: base64 of an
/// attached CMS.
pub(super) async fn sign_challenge(browser: &reqwest::Client, o: &Options, issued: &Issued) -> Result<String, Error> {
    let r = browser.post(format!("{}/eds/challenge", o.base)).send().await?;
    if !r.status().is_success() {
        return Err(format!("EDS challenge: status {}", r.status()).into());
    }
    let body: serde_json::Value = r.json().await?;
    let challenge = body["challenge"].as_str().ok_or("no challenge")?;
    let cms = dev_ca::sign_attached(issued, challenge.as_bytes(), unix_now())?;
    Ok(base64::engine::general_purpose::STANDARD.encode(cms))
}

/// Certificates of the dev CA for `--eds-people` random EDS-confirmed seeded people, each bound
/// by one EDS login before the window (the seeder's certificates come from no real CA, so the
/// first login binds the new one as a renewal; the window's logins find it by certificate).
pub(super) async fn prepare_eds(o: &Arc<Options>, e: &Arc<Endpoints>, http: &reqwest::Client) -> Result<Work, Error> {
    let dir = o.seed.eds_ca.as_ref().ok_or("seeded_eds_login needs --eds-ca DIR (the dev CA the server trusts)")?;
    let read =
        |name: &str| std::fs::read_to_string(dir.join(name)).map_err(|err| format!("{}/{name}: {err}", dir.display()));
    let ca = DevCa::load(&read("ca.pem")?, &read("ca.key")?)?;
    let confirmed = o.seed.people.div_ceil(CONFIRMED_EVERY);
    if confirmed == 0 {
        return Err("no seeded people: pass --people N (as seeded)".into());
    }
    let wanted = o.seed.eds_people.min(confirmed as usize);
    let mut chosen = std::collections::HashSet::new();
    while chosen.len() < wanted {
        chosen.insert(rand::random::<u64>() % confirmed * CONFIRMED_EVERY);
    }
    let now = unix_now();
    let mut people = Vec::with_capacity(wanted);
    for i in chosen {
        let subject = Subject {
            pinfl: pinfl_of(i).0,
            name: "SEEDOV SEED SEEDOVICH".into(),
            tin: None,
            legal_tin: None,
            org: None,
            title: None,
            alg: KeyAlg::Ecdsa,
            not_before: now - 3_600,
            not_after: now + 365 * 86_400,
            key_usage_signing: true,
        };
        people.push(dev_ca::issue(&ca, &subject)?);
    }
    let per_worker = people.len().div_ceil(o.concurrency).max(1);
    let mut binders = Vec::new();
    for chunk in people.chunks(per_worker) {
        let (o, e, http, chunk) = (o.clone(), e.clone(), http.clone(), chunk.to_vec());
        binders.push(tokio::spawn(async move {
            for issued in &chunk {
                exchange_token(&http, &o, &e, &Credential::Eds(issued)).await?;
            }
            Ok::<_, Error>(())
        }));
    }
    for binder in binders {
        binder.await??;
    }
    Ok(Work::Eds(people))
}

/// One form of the wizard: its path, its fields, and the page it leads to.
type WizardStep<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);

/// New people for the registration wizard: PINFLs of [`pinfl_of`] in a block no seeding reaches
/// (six region-and-serial digits from 900000), a random one per run, so runs against one
/// database rarely meet.
pub struct Registrar {
    first: u64,
    next: AtomicU64,
}

impl Registrar {
    pub fn new() -> Registrar {
        Registrar { first: (900_000 + rand::random::<u64>() % 99_000) * PINFL_BLOCK, next: AtomicU64::new(0) }
    }

    /// The whole wizard in a new browser: the offer, the person, the confirmation, the login and
    /// password (argon2 at the server), and the last page.
    async fn register(&self, o: &Options) -> Result<(), Error> {
        let i = self.first + self.next.fetch_add(1, Ordering::Relaxed);
        let (pinfl, birth_date) = pinfl_of(i);
        let letter = (b'A' + (i / 10_000_000 % 26) as u8) as char;
        let passport = format!("Z{letter}{:07}", i % 10_000_000);
        let browser =
            reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build()?;
        let html = browser.get(format!("{}/register", o.base)).send().await?.text().await?;
        let csrf = hidden(&html, "csrf_token").ok_or("no CSRF token on the offer page")?;
        let login = format!("reg{i}");
        let steps: [WizardStep; 4] = [
            ("/register", vec![("accept_offer", "yes")], "/register/person"),
            (
                "/register/person",
                vec![
                    ("surname", "Rashidova"),
                    ("first_name", "Nilufar"),
                    ("middle_name", ""),
                    ("birth_date", &birth_date),
                    ("pinfl", &pinfl),
                    ("passport", &passport),
                ],
                "/register/confirm",
            ),
            ("/register/confirm", vec![], "/register/account"),
            (
                "/register/account",
                vec![
                    ("login", &login),
                    ("password", REGISTRATION_PASSWORD),
                    ("password_confirm", REGISTRATION_PASSWORD),
                    ("phone", "+998 90 765 43 21"),
                    ("email", ""),
                ],
                "/register/done",
            ),
        ];
        for (path, mut form, next) in steps {
            form.push(("csrf_token", &csrf));
            let r = browser.post(format!("{}{path}", o.base)).form(&form).send().await?;
            let location = r.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default();
            if location != next {
                return Err(format!("registration {path}: status {}, to {location:?}", r.status()).into());
            }
        }
        let r = browser.get(format!("{}/register/done", o.base)).send().await?;
        if !r.status().is_success() {
            return Err(format!("registration done page: status {}", r.status()).into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wizard's new people never meet a seeded one: their PINFLs' six region-and-serial
    /// digits start at 900000, a seeded person's stay below 300 up to 10 M people.
    #[test]
    fn registration_pinfls_are_outside_the_seeded_range() {
        let serial = |pinfl: &str| pinfl[7..13].parse::<u64>().unwrap();
        let registrar = Registrar::new();
        for k in [0, 1, PINFL_BLOCK - 1] {
            assert!(serial(&pinfl_of(registrar.first + k).0) >= 900_000);
        }
        assert!(serial(&pinfl_of(10_000_000 - 1).0) < 300);
    }
}
