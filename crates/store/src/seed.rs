//! Bulk seeding for the scale benchmark (issue 16, item 1; docs/performance.md, "Seeding a
//! large database"): N people with everything a national deployment accumulates around them.
//!
//! Reached only through `yagona bench seed`, which exists only in a build with the server's
//! `bench-seed` feature: a production build cannot fill its database with made-up people.
//!
//! The rows are made in Rust, a block of people at a time, and written by each backend's bulk
//! path: `COPY ... FROM STDIN (FORMAT binary)` on PostgreSQL (diesel's `copy_from`), multi-row
//! `INSERT`s in one transaction on SQLite. The ids are derived from the person's number, so a
//! run is repeatable; seed into a fresh database (a second run collides with the first).

use std::time::Instant;

use diesel::prelude::*;
use yagona_account::legal::HEAD_ROLE;
use yagona_oidc::secrets::{hash_token, with_issue_time};
use yagona_oidc::tokens::AccessTokenClaims;

use crate::rows::{AccountRow, CertificateRow, ClientRow, ConsentRow, GrantRow, LoginEventRow, RefreshRow, SessionRow};
use crate::schema::*;
use crate::{DbConnection, Store, StoreError};

/// What to seed.
#[derive(Debug, Clone)]
pub struct SeedPlan {
    pub accounts: u64,
    /// Relying parties the grants and consents are spread over.
    pub clients: u64,
    /// One stored argon2 hash used for every account (made once by the caller).
    pub password_hash: String,
    /// The clock of the seeded data (unix seconds).
    pub now: i64,
    /// One stored argon2 hash of the seeded relying parties' common secret (`client_secret_basic`),
    /// so the scale bench can introspect their tokens; `None`: public clients.
    pub client_secret_hash: Option<String>,
    /// The issuer written into the seeded access tokens' claims.
    pub issuer: String,
    /// What the live access tokens' plaintexts derive from ([`seed_access_token`]).
    pub token_seed: String,
}

impl SeedPlan {
    /// The issue times of the seeded tokens.
    pub fn clock(&self) -> SeedClock {
        SeedClock { now: self.now, people: self.accounts }
    }
}

/// How long a seeded live access token lives: a day, so that a bench run that starts after a
/// long seeding (31 minutes for 10 M people) still finds them live.
const SEED_ACCESS_TTL: i64 = 86_400;

/// When the seeded tokens were issued, person by person. A server appends its token rows in
/// the order it issues them, so its live tokens sit together at the end of each table (and of its
/// key index), after the expired ones. The seeder writes them the same way: every expired row
/// first, then the live tokens in a second pass, their issue times rising with the person. (The
/// first seeders wrote person by person, live and expired rows interleaved on every page: a purge
/// at 1 M people on SQLite then dirtied every page and stalled requests far more than on a
/// server's layout; docs/performance.md, "Seventh session".)
#[derive(Debug, Clone, Copy)]
pub struct SeedClock {
    /// The seeding clock (unix seconds).
    pub now: i64,
    /// How many people were seeded: the issue times are spread over them.
    pub people: u64,
}

impl SeedClock {
    /// `from` to `from + span` seconds spread over the people in order (unix milliseconds):
    /// distinct and rising at up to 3 M people per hour, a few people a millisecond beyond.
    fn spread_ms(&self, from: i64, span: i64, i: u64) -> u64 {
        let offset = u128::from(i) * span as u128 * 1000 / u128::from(self.people.max(1));
        (from.max(0) as u64) * 1000 + offset as u64
    }

    /// When person `i`'s live access and refresh tokens were issued (unix milliseconds): over
    /// the hour before the last ten minutes before the seeding clock, rising with `i`.
    pub fn live_issued_ms(&self, i: u64) -> u64 {
        self.spread_ms(self.now - 3_600, 3_000, i)
    }

    /// [`Self::live_issued_ms`] in unix seconds, as the rows' time columns hold it.
    fn live_issued_at(&self, i: u64) -> i64 {
        (self.live_issued_ms(i) / 1000) as i64
    }

    /// When person `i`'s expired rows expired (unix seconds): over the day before the last
    /// minute, rising with `i` (a purge bench can take the older half by time).
    fn expired_at(&self, i: u64) -> i64 {
        (self.spread_ms(self.now - 60 - EXPIRED_SPREAD, EXPIRED_SPREAD, i) / 1000) as i64
    }
}

/// Milliseconds of a seeded key's issue-time prefix for rows all issued in the second
/// `issued_at`: spread over its milliseconds by person, as scattered within it as real ones.
fn issued_ms(issued_at: i64, i: u64) -> u64 {
    (issued_at.max(0) as u64) * 1000 + i % 1000
}

/// A token's plaintext of the server's form (`yagona_oidc::secrets::random_token`), issued at
/// `issued_ms` (unix milliseconds): the issue-time prefix, then base64url(SHA-256(`text`)) for
/// its random part.
fn token_of(text: &str, issued_ms: u64) -> String {
    with_issue_time(issued_ms, &hash_token(text))
}

/// The plaintext of person `i`'s live opaque access token, issued at
/// [`SeedClock::live_issued_ms`], its random part from `T:i` for the token seed T. Tokens are
/// stored hashed, so the scale bench's load generator (crates/loadgen, which calls this) derives
/// the plaintext from the same seed, seeding clock and number of people.
pub fn seed_access_token(token_seed: &str, clock: SeedClock, i: u64) -> String {
    token_of(&format!("{token_seed}:{i}"), clock.live_issued_ms(i))
}

/// What a seeding run wrote.
#[derive(Debug, Clone, Default)]
pub struct SeedReport {
    pub rows: u64,
    pub seconds: f64,
}

impl SeedReport {
    pub fn rows_per_second(&self) -> f64 {
        self.rows as f64 / self.seconds.max(1e-9)
    }
}

/// The browser every seeded session was opened in.
const SEED_USER_AGENT: &str =
    "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36";
/// People per block: the rows of one block are made, then written, then dropped.
const BLOCK: u64 = 20_000;
/// One in this many people is EDS-confirmed (a certificate bound).
const CONFIRMED_EVERY: u64 = 5;
/// One legal entity per this many people, its head the first of them and an accountant the next.
const ENTITY_EVERY: u64 = 100;
/// One in this many people revoked an access token (a JWT: only its jti is stored), so the
/// revocation check of every token lookup probes a table of realistic size, not an empty one.
const REVOKED_EVERY: u64 = 10;
/// Expired rows ended within this many seconds before the seeding clock, spread evenly, so that
/// a purge bench can purge the older half with one method and the rest with another.
const EXPIRED_SPREAD: i64 = 86_400;

#[derive(Insertable)]
#[diesel(table_name = opaque_access_tokens, treat_none_as_default_value = false)]
struct OpaqueRow {
    hash: String,
    jti: String,
    claims: String,
    expires_at: i64,
    grant_id: Option<String>,
}

/// A revoked access token's jti, kept until the token would have expired.
#[derive(Insertable)]
#[diesel(table_name = revoked_access_tokens, treat_none_as_default_value = false)]
struct RevokedRow {
    jti: String,
    expires_at: i64,
}

#[derive(Insertable)]
#[diesel(table_name = audit_events, treat_none_as_default_value = false)]
struct AuditRow {
    id: String,
    at: i64,
    kind: String,
    actor: Option<String>,
    subject: Option<String>,
    detail: String,
}

#[derive(Insertable)]
#[diesel(table_name = legal_entities, treat_none_as_default_value = false)]
struct EntityRow {
    tin: String,
    name: String,
    short_name: String,
    linked_at: i64,
}

#[derive(Insertable)]
#[diesel(table_name = memberships, treat_none_as_default_value = false)]
struct MembershipRow {
    tin: String,
    account_id: String,
    role: String,
    title: Option<String>,
    granted_by: Option<String>,
    granted_at: i64,
    expires_at: Option<i64>,
    ended_at: Option<i64>,
    certificate_valid_from: Option<i64>,
}

/// The rows of one block of people.
#[derive(Default)]
struct Block {
    accounts: Vec<AccountRow>,
    certificates: Vec<CertificateRow>,
    sessions: Vec<SessionRow>,
    entities: Vec<EntityRow>,
    memberships: Vec<MembershipRow>,
    grants: Vec<GrantRow>,
    refresh: Vec<RefreshRow>,
    opaque: Vec<OpaqueRow>,
    consents: Vec<ConsentRow>,
    logins: Vec<LoginEventRow>,
    audit: Vec<AuditRow>,
    revoked: Vec<RevokedRow>,
}

/// A valid PINFL for person `i`, unique for `i` below 3.36e10: century-and-sex digit 3 or 4
/// (1900s), a birth date `DDMMYY` from `i % 33600`, six digits of `i / 33600` (region and
/// serial), and the check digit (digits weighted 7, 3, 1, ...). Also the birth date, ISO.
pub fn pinfl_of(i: u64) -> (String, String) {
    let date = i % 33_600;
    let (day, month, year) = (1 + date % 28, 1 + (date / 28) % 12, date / 336);
    let body = format!("{}{day:02}{month:02}{year:02}{:06}", 3 + i % 2, (i / 33_600) % 1_000_000);
    const WEIGHTS: [u64; 3] = [7, 3, 1];
    let sum: u64 = body.bytes().enumerate().map(|(k, b)| u64::from(b - b'0') * WEIGHTS[k % 3]).sum();
    (format!("{body}{}", sum % 10), format!("19{year:02}-{month:02}-{day:02}"))
}

/// The stored key of a token issued at `issued_at` (unix seconds), distinct per `(kind, i)`, of
/// the server's own form (`yagona_oidc::secrets::hash_token`): the issue-time prefix, then a
/// base64url SHA-256 (55 characters). Keys are therefore as long as real ones and lie in their
/// index as real ones do: in issue order, scattered within a millisecond.
/// (Hex of `kind` and `i`, the first seeder's, was 64 characters in order of person; the
/// second's, pure hashes, was scattered through the whole index as the server's were then.)
fn key_of(kind: u64, i: u64, issued_ms: u64) -> String {
    hash_token(&token_of(&format!("seed:{kind}:{i}"), issued_ms))
}

/// A token id (`jti`) issued at `issued_at`, distinct per `(kind, i)`, of the server's form
/// (`random_id`: the issue-time prefix and 22 characters).
fn jti_of(kind: u64, i: u64, issued_ms: u64) -> String {
    let mut random = hash_token(&format!("seed:{kind}:{i}"));
    random.truncate(22);
    with_issue_time(issued_ms, &random)
}

/// The `jti` of person `i`'s revoked access token (a JWT: only its jti is stored), issued a
/// quarter of an hour before the seeding clock.
fn revoked_jti(now: i64, i: u64) -> String {
    jti_of(32, i, issued_ms(now - 900, i))
}

const SURNAMES: [&str; 8] =
    ["Karimov", "Rashidova", "Tursunov", "Yusupova", "Abdullayev", "Saidova", "Ergashev", "Nazarova"];
const NAMES: [&str; 8] = ["Aziz", "Dilnoza", "Jasur", "Malika", "Sardor", "Nodira", "Bekzod", "Gulnora"];

/// Person `i`'s relying party.
fn client_of(plan: &SeedPlan, i: u64) -> String {
    format!("seed-client-{}", i % plan.clients.max(1))
}

/// Whether person `i`'s session is live (even people) or expired, not yet purged (odd).
fn has_live_session(i: u64) -> bool {
    i.is_multiple_of(2)
}

/// When person `i` logged in (unix seconds), the session's start and the grant's `auth_time`:
/// even people's sessions are live, begun when their live tokens were issued; odd people's
/// lasted an hour and expired (not yet purged).
fn login_at(clock: SeedClock, i: u64) -> i64 {
    if has_live_session(i) {
        clock.live_issued_at(i)
    } else {
        clock.expired_at(i) - 3_600
    }
}

/// Person `i`'s opaque access token issued at `issued_ms` under the key `hash`, stored as the
/// server stores a person's token: its grant and what it adds to it.
fn opaque_row(
    plan: &SeedPlan,
    i: u64,
    kind: u64,
    hash: String,
    issued_ms: u64,
    exp: i64,
) -> Result<OpaqueRow, StoreError> {
    let client = client_of(plan, i);
    let jti = jti_of(kind, i, issued_ms);
    let claims = AccessTokenClaims {
        iss: plan.issuer.clone(),
        sub: format!("seed-a{i}"),
        aud: client.clone(),
        client_id: client,
        exp,
        iat: (issued_ms / 1000) as i64,
        jti: jti.clone(),
        scope: "openid profile".into(),
        auth_time: Some(login_at(plan.clock(), i)),
        acr: None,
        amr: Some(vec![if i.is_multiple_of(CONFIRMED_EVERY) { "eds" } else { "pwd" }.into()]),
        sid: Some(format!("seed-sid{i}")),
        gid: Some(format!("seed-g{i}")),
        cnf: None,
        acting: Default::default(),
    };
    let (grant_id, part) = claims.grant_part().ok_or_else(|| StoreError::Corrupt("no grant".into()))?;
    Ok(OpaqueRow {
        hash,
        jti,
        claims: serde_json::to_string(&part).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        expires_at: exp,
        grant_id: Some(grant_id.to_owned()),
    })
}

/// Everything of people `from..to` but their live tokens ([`live_tokens`], the second pass).
fn block(plan: &SeedPlan, from: u64, to: u64) -> Result<Block, StoreError> {
    let (now, clock) = (plan.now, plan.clock());
    let mut b = Block::default();
    for i in from..to {
        let id = format!("seed-a{i}");
        let (pinfl, birth_date) = pinfl_of(i);
        let confirmed = i % CONFIRMED_EVERY == 0;
        let created_at = now - 86_400 * 365 + (i % 86_400) as i64;
        let letters = [b'A' + ((i / 10_000_000) / 26 % 26) as u8, b'A' + ((i / 10_000_000) % 26) as u8];
        b.accounts.push(AccountRow {
            id: id.clone(),
            login: format!("seed{i}"),
            pinfl: pinfl.clone(),
            password_hash: plan.password_hash.clone(),
            surname: SURNAMES[(i % 8) as usize].into(),
            first_name: NAMES[(i / 8 % 8) as usize].into(),
            middle_name: Some(format!("{}ovich", NAMES[(i / 64 % 8) as usize])),
            birth_date,
            passport_number: Some(format!("{}{:07}", String::from_utf8_lossy(&letters), i % 10_000_000)),
            email: (i % 3 == 0).then(|| format!("seed{i}@example.uz")),
            phone: (i % 2 == 0).then(|| format!("+99890{:07}", i % 10_000_000)),
            status: if confirmed { "confirmed" } else { "unconfirmed" }.into(),
            created_at,
        });
        if confirmed {
            b.certificates.push(CertificateRow {
                serial: format!("{i:016x}"),
                issuer: "CN=Seed CA,O=Yagona bench,C=UZ".into(),
                account_id: id.clone(),
                pinfl: pinfl.clone(),
                common_name: format!("{} {}", SURNAMES[(i % 8) as usize], NAMES[(i / 8 % 8) as usize]),
                valid_to: now + 86_400 * 365,
                bound_at: created_at,
            });
        }
        let login = login_at(clock, i);
        let expired = clock.expired_at(i);
        let sid = format!("seed-sid{i}");
        b.sessions.push(SessionRow {
            id_hash: key_of(1, i, issued_ms(login, i)),
            sid: sid.clone(),
            account_id: id.clone(),
            auth_time: login,
            acr: if confirmed { "eds" } else { "password" }.into(),
            amr: if confirmed { "[\"eds\"]" } else { "[\"pwd\"]" }.into(),
            address: format!("10.{}.{}.{}", i % 256, i / 256 % 256, i / 65_536 % 256),
            acting_as: None,
            created_at: login,
            expires_at: if has_live_session(i) { now + 3_600 } else { expired },
            user_agent: Some(SEED_USER_AGENT.into()),
        });
        let head = i % ENTITY_EVERY == 0;
        let tin = format!("3{:08}", i / ENTITY_EVERY);
        if head {
            b.entities.push(EntityRow {
                tin: tin.clone(),
                name: format!("Seed enterprise {} MChJ", i / ENTITY_EVERY),
                short_name: format!("Seed {}", i / ENTITY_EVERY),
                linked_at: created_at,
            });
        }
        if head || (i % ENTITY_EVERY == 1 && i + 1 < plan.accounts.max(2) + 1) {
            b.memberships.push(MembershipRow {
                tin: tin.clone(),
                account_id: id.clone(),
                role: if head { HEAD_ROLE.to_owned() } else { "Accountant".to_owned() },
                title: None,
                granted_by: (!head).then(|| format!("seed-a{}", i - 1)),
                granted_at: created_at,
                expires_at: None,
                ended_at: None,
                certificate_valid_from: None,
            });
        }
        let client = client_of(plan, i);
        let offline = i % 4 == 0;
        let grant = format!("seed-g{i}");
        b.grants.push(GrantRow {
            id: grant.clone(),
            client_id: client.clone(),
            account_id: id.clone(),
            sid,
            scopes: if offline { "openid profile offline_access" } else { "openid profile" }.into(),
            auth_time: login,
            acr: if confirmed { "eds" } else { "password" }.into(),
            amr: if confirmed { "[\"eds\"]" } else { "[\"pwd\"]" }.into(),
            acting_as: None,
            created_at: login,
            expires_at: now + 86_400,
            revoked_at: None,
            acting_tin: head.then(|| tin.clone()),
            acting_role: head.then(|| HEAD_ROLE.to_owned()),
            resources: "[]".into(),
        });
        // Per grant: an expired refresh token, and a spent one, rotated five minutes ago into
        // the live one (written by `live_tokens`); a refresh token lives a day.
        let spent_ms = clock.live_issued_ms(i) - 300_000;
        for (kind, at_ms, expires_at, used_at) in [
            (11, issued_ms(expired - 86_400, i), expired, None),
            (10, spent_ms, (spent_ms / 1000) as i64 + 86_400, Some(clock.live_issued_at(i))),
        ] {
            b.refresh.push(RefreshRow {
                hash: key_of(kind, i, at_ms),
                grant_id: grant.clone(),
                client_id: client.clone(),
                created_at: (at_ms / 1000) as i64,
                expires_at,
                used_at,
            });
        }
        // An opaque access token that lived an hour and expired.
        let lived_ms = issued_ms(expired - 3_600, i);
        b.opaque.push(opaque_row(plan, i, 30, key_of(20, i, lived_ms), lived_ms, expired)?);
        if i % REVOKED_EVERY == 0 {
            // Half of the revocations outlive the bench; the others' tokens have expired, and
            // the purge takes them.
            let live = i % (2 * REVOKED_EVERY) == 0;
            b.revoked.push(RevokedRow {
                jti: revoked_jti(now, i),
                expires_at: if live { now + SEED_ACCESS_TTL } else { expired },
            });
        }
        b.consents.push(ConsentRow {
            account_id: id.clone(),
            client_id: client.clone(),
            scopes: "openid profile".into(),
            granted_at: login,
        });
        for k in 0..2 {
            b.logins.push(LoginEventRow {
                id: format!("seed-le{i}-{k}"),
                account_id: id.clone(),
                at: login - 86_400 * k,
                method: if confirmed { "eds" } else { "password" }.into(),
                client_id: Some(client.clone()),
                address: "10.0.0.1".into(),
            });
        }
        b.audit.push(AuditRow {
            id: format!("seed-ae{i}"),
            at: created_at,
            kind: "account_created".into(),
            actor: None,
            subject: Some(id),
            detail: "{\"via\":\"seed\"}".into(),
        });
    }
    Ok(b)
}

/// The live tokens of people `from..to`, written after every block's expired ones so that
/// they lie in issue order at the end of their tables ([`SeedClock`]): the refresh token, and
/// the opaque access token whose plaintext the bench derives ([`seed_access_token`]) and
/// presents at userinfo and introspection.
fn live_tokens(plan: &SeedPlan, from: u64, to: u64) -> Result<Block, StoreError> {
    let clock = plan.clock();
    let mut b = Block::default();
    for i in from..to {
        let (issued_ms, issued_at) = (clock.live_issued_ms(i), clock.live_issued_at(i));
        b.refresh.push(RefreshRow {
            hash: key_of(12, i, issued_ms),
            grant_id: format!("seed-g{i}"),
            client_id: client_of(plan, i),
            created_at: issued_at,
            expires_at: issued_at + 86_400,
            used_at: None,
        });
        let hash = hash_token(&seed_access_token(&plan.token_seed, clock, i));
        b.opaque.push(opaque_row(plan, i, 31, hash, issued_ms, plan.now + SEED_ACCESS_TTL)?);
    }
    Ok(b)
}

/// Writes `$rows` (a `Vec` of one table's insertable rows) with the backend's bulk path; the
/// number of rows.
macro_rules! write_rows {
    ($conn:expr, $table:expr, $rows:expr) => {{
        let rows = std::mem::take(&mut $rows);
        let n = rows.len() as u64;
        match $conn {
            DbConnection::Postgres(pg) => {
                if !rows.is_empty() {
                    diesel::copy_from($table).from_insertable(rows).execute(pg)?;
                }
            }
            // Multi-row INSERTs within SQLite's 32766 bound variables.
            DbConnection::Sqlite(sqlite) => {
                for chunk in rows.chunks(1_000) {
                    diesel::insert_into($table).values(chunk).execute(sqlite)?;
                }
            }
        }
        n
    }};
}

fn write_block(conn: &mut DbConnection, mut b: Block) -> Result<u64, StoreError> {
    Ok(write_rows!(conn, accounts::table, b.accounts)
        + write_rows!(conn, certificates::table, b.certificates)
        + write_rows!(conn, sessions::table, b.sessions)
        + write_rows!(conn, legal_entities::table, b.entities)
        + write_rows!(conn, memberships::table, b.memberships)
        + write_rows!(conn, grants::table, b.grants)
        + write_rows!(conn, refresh_tokens::table, b.refresh)
        + write_rows!(conn, opaque_access_tokens::table, b.opaque)
        + write_rows!(conn, consents::table, b.consents)
        + write_rows!(conn, login_events::table, b.logins)
        + write_rows!(conn, audit_events::table, b.audit)
        + write_rows!(conn, revoked_access_tokens::table, b.revoked))
}

fn clients(plan: &SeedPlan) -> Vec<ClientRow> {
    (0..plan.clients.max(1))
        .map(|k| ClientRow {
            id: format!("seed-client-{k}"),
            name: format!("Seed service {k}"),
            secret_hash: plan.client_secret_hash.clone(),
            redirect_uris: format!("[\"https://rp{k}.example.uz/cb\"]"),
            post_logout_redirect_uris: "[]".into(),
            grant_types: "[\"authorization_code\",\"refresh_token\"]".into(),
            first_party: false,
            id_token_signing_alg: "RS256".into(),
            created_at: plan.now,
            access_token_format: "jwt".into(),
            scopes: "openid profile offline_access".into(),
            legacy: false,
            token_endpoint_auth_method: if plan.client_secret_hash.is_some() { "client_secret_basic" } else { "none" }
                .into(),
            sealed_secret: None,
            registration_access_token_hash: None,
            metadata: "{}".into(),
        })
        .collect()
}

impl Store {
    /// Seeds `plan` (the database migrated first); `progress` is told the rows written so far
    /// after each block. PostgreSQL commits each block (a `COPY` per table); SQLite writes all in
    /// one transaction. Ends with `ANALYZE`.
    pub fn seed(&self, plan: &SeedPlan, mut progress: impl FnMut(&SeedReport)) -> Result<SeedReport, StoreError> {
        use diesel::connection::SimpleConnection as _;
        let started = Instant::now();
        let mut conn = self.conn()?;
        let conn: &mut DbConnection = &mut conn;
        let sqlite = matches!(conn, DbConnection::Sqlite(_));
        if sqlite {
            conn.batch_execute("BEGIN IMMEDIATE")?;
        }
        let result = (|| {
            let mut report = SeedReport { rows: write_rows!(&mut *conn, clients::table, clients(plan)), seconds: 0.0 };
            // Two passes, as a server would have written the rows ([`SeedClock`]).
            for pass in [block, live_tokens] {
                let mut from = 0;
                while from < plan.accounts {
                    let to = (from + BLOCK).min(plan.accounts);
                    report.rows += write_block(conn, pass(plan, from, to)?)?;
                    report.seconds = started.elapsed().as_secs_f64();
                    progress(&report);
                    from = to;
                }
            }
            Ok::<_, StoreError>(report)
        })();
        match result {
            Ok(mut report) => {
                if sqlite {
                    conn.batch_execute("COMMIT")?;
                }
                conn.batch_execute("ANALYZE")?;
                report.seconds = started.elapsed().as_secs_f64();
                Ok(report)
            }
            Err(e) => {
                if sqlite {
                    let _ = conn.batch_execute("ROLLBACK");
                }
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{random_name, PgDatabase};
    use crate::DatabaseUrl;
    use yagona_account::AccountRepository as _;
    use yagona_oidc::OidcRepository as _;

    /// Seeds 2500 people (one block is 20000: a partial block, the rest exercised by the
    /// command) and reads them back through the repositories: the rows are valid domain data.
    fn seeds_and_reads_back(url: &DatabaseUrl) {
        let store = Store::open(url, 2).unwrap();
        store.migrate().unwrap();
        let now = 1_800_000_000;
        let plan = SeedPlan {
            accounts: 2500,
            clients: 10,
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
                .into(),
            now,
            client_secret_hash: Some(
                "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0".into(),
            ),
            issuer: "https://id.example.uz".into(),
            token_seed: "test-seed".into(),
        };
        let mut reports = 0;
        let report = store.seed(&plan, |_| reports += 1).unwrap();
        assert_eq!(reports, 2, "a block of people, then their live tokens");
        // Per person: account, session, grant, 3 refresh tokens, 2 access tokens, consent,
        // 2 login events, audit event = 12; a fifth have a certificate; one in ten a revoked
        // token; one in a hundred heads an entity (2 rows) and one in a hundred is its
        // accountant; plus the clients.
        assert_eq!(report.rows, 2500 * 12 + 500 + 250 + 25 * 3 + 10);
        let (pinfl, _) = pinfl_of(1234);
        let person = store.find_account_by_pinfl(&yagona_account::Pinfl::try_from(pinfl.as_str()).unwrap()).unwrap();
        assert_eq!(person.expect("seeded").id.as_str(), "seed-a1234");
        let clock = plan.clock();
        let live = store
            .find_live_refresh_token(
                &key_of(12, 1234, clock.live_issued_ms(1234)),
                &yagona_oidc::Lifetimes::default(),
                now,
            )
            .unwrap();
        assert_eq!(live.expect("the live refresh token").1.id, "seed-g1234");
        assert!(
            store
                .find_live_refresh_token(
                    &key_of(11, 1234, issued_ms(clock.expired_at(1234) - 86_400, 1234)),
                    &yagona_oidc::Lifetimes::default(),
                    now,
                )
                .unwrap()
                .is_none(),
            "expired"
        );
        let session_key = |i| key_of(1, i, issued_ms(login_at(clock, i), i));
        assert!(store.find_session(&session_key(1234), now).unwrap().is_some(), "even people have a live session");
        assert!(store.find_session(&session_key(1235), now).unwrap().is_none(), "odd people's expired");
        // The live access token's plaintext derives from the seed; it is stored as the server
        // stores a person's token: with its grant, the person's.
        let stored = store
            .find_opaque_access_token(&hash_token(&seed_access_token("test-seed", clock, 1234)), now)
            .unwrap()
            .expect("the live access token");
        let yagona_oidc::tokens::StoredAccessToken::OfGrant { jti, part, grant, .. } = stored else {
            panic!("a person's token is stored with its grant: {stored:?}")
        };
        assert_eq!((grant.id.as_str(), grant.account_id.as_str()), ("seed-g1234", "seed-a1234"));
        assert_eq!(part.scope, "openid profile");
        assert!(store.find_live_access(&jti, "seed-g1234", now).unwrap().is_some());
        assert!(store
            .find_opaque_access_token(&hash_token(&seed_access_token("other", clock, 1234)), now)
            .unwrap()
            .is_none());
        assert!(
            store
                .find_opaque_access_token(
                    &hash_token(&seed_access_token("test-seed", SeedClock { now: now + 1, ..clock }, 1234)),
                    now
                )
                .unwrap()
                .is_none(),
            "the token's issue time is part of it"
        );
        // Every tenth person revoked a token; its jti is refused, the live token's is not.
        assert!(store.is_access_token_revoked(&revoked_jti(now, 1230)).unwrap());
        assert!(!store.is_access_token_revoked(&revoked_jti(now, 1234)).unwrap());
        assert!(store.find_live_access(&revoked_jti(now, 1240), "seed-g1240", now).unwrap().is_none());
        let client = store.find_client(&yagona_oidc::ClientId::try_from("seed-client-4").unwrap()).unwrap();
        assert!(client.expect("a seeded client").secret_hash.is_some(), "confidential: it may introspect");
        // A head's grant acts for the entity, and the membership is live.
        assert!(store.find_live_access("any-jti", "seed-g1200", now).unwrap().is_some());
        assert_issue_order(&store, now);
    }

    /// The access tokens lie as a server appends them: every expired one before the live ones,
    /// and the live ones in issue order (their keys rising).
    fn assert_issue_order(store: &Store, now: i64) {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            hash: String,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            expires_at: i64,
        }
        let mut conn = store.conn().unwrap();
        let rows: Vec<Row> = match &mut *conn {
            DbConnection::Postgres(c) => {
                diesel::sql_query("SELECT hash, expires_at FROM opaque_access_tokens ORDER BY ctid").load(c)
            }
            DbConnection::Sqlite(c) => {
                diesel::sql_query("SELECT hash, expires_at FROM opaque_access_tokens ORDER BY rowid").load(c)
            }
        }
        .unwrap();
        let first_live = rows.iter().position(|r| r.expires_at > now).expect("live tokens");
        assert_eq!(first_live, 2500, "the expired tokens come first");
        assert!(rows[first_live..].iter().all(|r| r.expires_at > now), "then only live ones");
        assert!(rows[first_live..].windows(2).all(|w| w[0].hash < w[1].hash), "in issue order");
    }

    #[test]
    fn seeded_issue_times_rise_with_the_person() {
        for people in [1, 2500, 1_000_000, 37_000_000] {
            let clock = SeedClock { now: 1_800_000_000, people };
            let ms: Vec<u64> = (0..people.min(100_000)).chain([people - 1]).map(|i| clock.live_issued_ms(i)).collect();
            assert!(ms.windows(2).all(|w| w[0] <= w[1]), "{people}: rising");
            assert!(
                ms[0] >= (clock.now - 3_600) as u64 * 1000 && *ms.last().unwrap() <= (clock.now - 600) as u64 * 1000
            );
            // Every expired access token (it lived an hour) was issued before the first live one.
            assert!(issued_ms(clock.expired_at(people - 1) - 3_600, people - 1) < ms[0]);
            assert!(clock.expired_at(0) < clock.expired_at(people - 1) || people == 1);
        }
    }

    #[test]
    fn seeding_sqlite_writes_valid_people() {
        let dir = std::env::temp_dir().join(format!("yagona-seed-{}", random_name()));
        seeds_and_reads_back(&DatabaseUrl::Sqlite(dir.join("seed.db")));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn seeding_postgres_writes_valid_people() {
        let db = PgDatabase::create();
        seeds_and_reads_back(&db.url());
    }

    #[test]
    fn seeded_pinfls_are_valid_unique_and_match_the_birth_date() {
        let mut seen = std::collections::HashSet::new();
        for i in (0..200_000).chain([9_999_999, 10_000_000, 33_600_000_000 - 1]) {
            let (pinfl, birth) = pinfl_of(i);
            let parsed = yagona_account::Pinfl::try_from(pinfl.as_str()).expect("a valid PINFL");
            parsed.check_birth_date(&yagona_account::BirthDate::try_from(birth.as_str()).unwrap()).unwrap();
            assert!(seen.insert(pinfl), "PINFL of {i} repeats");
        }
    }
}
