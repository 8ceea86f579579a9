//! Password hashing (argon2id, PHC strings) and the password policy.

use std::fmt;

use argon2::password_hash::{PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::rngs::OsRng;
use serde::Deserialize;

use crate::{AccountError, Login};

/// Argon2id cost parameters (RFC 9106). The defaults are OWASP's recommendation
/// (19 MiB, 2 passes, 1 lane).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordParams {
    fn default() -> Self {
        Self { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 }
    }
}

/// A stored password hash in PHC string format (`$argon2id$v=19$...`). Its `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn from_phc(phc: String) -> Self {
        Self(phc)
    }
    pub fn as_phc(&self) -> &str {
        &self.0
    }

    /// The hash of an account without a password (created at a first EDS login, or taken over):
    /// not a PHC string, so nothing verifies against it; verifying costs the decoy's time.
    pub fn unusable() -> Self {
        let bytes: [u8; 16] = rand::random();
        Self(format!("!eds-only!{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()))
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

/// argon2's working memory, one buffer per core, reused: at most that many computations run at
/// once, and the memory is allocated once instead of per login (a burst of logins on many
/// threads otherwise leaves each thread's allocator holding `memory_kib`).
struct MemoryPool {
    /// Buffers not in use, and how many more may still be made (made on first need, so an idle
    /// server does not hold them).
    free: std::sync::Mutex<(Vec<Vec<argon2::Block>>, usize)>,
    returned: std::sync::Condvar,
    blocks: usize,
    /// How many argon2 computations ran: what a failed login costs, whatever failed.
    runs: std::sync::atomic::AtomicU64,
}

impl MemoryPool {
    fn run<T>(&self, f: impl FnOnce(&mut [argon2::Block]) -> T) -> T {
        let mut buffer = {
            let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if let Some(buffer) = free.0.pop() {
                    break buffer;
                }
                if free.1 > 0 {
                    free.1 -= 1;
                    break vec![argon2::Block::default(); self.blocks];
                }
                free = self.returned.wait(free).unwrap_or_else(|p| p.into_inner());
            }
        };
        self.runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let result = f(&mut buffer);
        self.free.lock().unwrap_or_else(|p| p.into_inner()).0.push(buffer);
        self.returned.notify_one();
        result
    }
}

/// Hashes and verifies passwords with argon2id.
#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    params: PasswordParams,
    pool: std::sync::Arc<MemoryPool>,
    /// A hash of a random password, verified when the account does not exist so that a failed
    /// login takes as long whether or not the login is known.
    decoy: PasswordHash,
}

impl PasswordHasher {
    pub fn new(params: PasswordParams) -> Result<Self, AccountError> {
        let configured = params;
        let params = Params::new(params.memory_kib, params.iterations, params.parallelism, None)
            .map_err(|e| AccountError::Hashing(e.to_string()))?;
        let blocks = params.block_count();
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let pool = std::sync::Arc::new(MemoryPool {
            free: std::sync::Mutex::new((Vec::new(), cores)),
            returned: std::sync::Condvar::new(),
            blocks,
            runs: std::sync::atomic::AtomicU64::new(0),
        });
        // The decoy is a well-formed hash with the configured parameters whose output is all
        // zeros: verifying against it costs what a real verification costs, no password matches
        // it (that would need an argon2 preimage), and making it computes nothing, so start-up
        // neither spends an argon2 run nor keeps its 19 MiB of memory in the heap.
        let salt = SaltString::generate(&mut OsRng);
        let decoy = argon2::PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: argon2::password_hash::ParamsString::try_from(&params)
                .map_err(|e| AccountError::Hashing(e.to_string()))?,
            salt: Some(salt.as_salt()),
            hash: Some(
                argon2::password_hash::Output::new(&[0u8; Params::DEFAULT_OUTPUT_LEN])
                    .map_err(|e| AccountError::Hashing(e.to_string()))?,
            ),
        }
        .to_string();
        Ok(Self { argon2, params: configured, pool, decoy: PasswordHash(decoy) })
    }

    pub fn hash(&self, password: &str) -> Result<PasswordHash, AccountError> {
        let failed = |e: &dyn std::fmt::Display| AccountError::Hashing(e.to_string());
        let salt = SaltString::generate(&mut OsRng);
        let mut salt_bytes = [0u8; 64];
        let raw_salt = salt.decode_b64(&mut salt_bytes).map_err(|e| failed(&e))?;
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        // In the pool's memory like a verification: `hash_password` allocated 19 MiB per call
        // and a burst of registrations left those blocks in the heap (80 -> 406 MiB in the
        // scale bench's registration scenario).
        self.pool
            .run(|memory| self.argon2.hash_password_into_with_memory(password.as_bytes(), raw_salt, &mut out, memory))
            .map_err(|e| failed(&e))?;
        let phc = argon2::PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: argon2::password_hash::ParamsString::try_from(self.argon2.params()).map_err(|e| failed(&e))?,
            salt: Some(salt.as_salt()),
            hash: Some(argon2::password_hash::Output::new(&out).map_err(|e| failed(&e))?),
        };
        Ok(PasswordHash(phc.to_string()))
    }

    /// Verifies `password` against `hash` in constant time; a malformed hash (an account without
    /// a password) never matches, and costs a verification of the decoy, so the time does not
    /// tell that the account exists.
    pub fn verify(&self, password: &str, hash: &PasswordHash) -> bool {
        let Ok(parsed) = argon2::PasswordHash::new(&hash.0) else {
            self.verify_decoy(password);
            return false;
        };
        // The usual case, a hash made with the configured parameters, is computed in pooled
        // memory; anything else (parameters changed since) takes argon2's own path.
        let same_params = parsed.algorithm == argon2::Algorithm::Argon2id.ident()
            && Params::try_from(&parsed).is_ok_and(|p| {
                p.m_cost() == self.params.memory_kib
                    && p.t_cost() == self.params.iterations
                    && p.p_cost() == self.params.parallelism
            });
        let (Some(expected), Some(salt), true) = (parsed.hash, parsed.salt, same_params) else {
            return self.pool.run(|_| self.argon2.verify_password(password.as_bytes(), &parsed).is_ok());
        };
        let mut salt_bytes = [0u8; 64];
        let Ok(salt) = salt.decode_b64(&mut salt_bytes) else { return false };
        let mut out = vec![0u8; expected.len()];
        self.pool.run(|memory| {
            debug_assert_eq!(memory.len(), self.pool.blocks);
            self.argon2.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, memory).is_ok()
                && subtle_eq(&out, expected.as_bytes())
        })
    }

    /// Spends the time of one verification without a real hash (unknown login).
    pub fn verify_decoy(&self, password: &str) {
        let _ = self.verify(password, &self.decoy);
    }
}

/// Constant-time comparison of two hashes.
fn subtle_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The password rules every new password must follow: a minimum length, not the login, a
/// strength estimate (zxcvbn, which knows common passwords, names, keyboard walks, repeats and
/// dates, and is given the login and a few local words), and, when the operator configured one,
/// not on a list of breached passwords.
#[derive(Debug, Clone)]
pub struct PasswordPolicy {
    pub min_length: usize,
    /// Breached passwords to refuse (`password.breached_list`), loaded by the server.
    pub breached: Option<std::sync::Arc<BreachedPasswords>>,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self { min_length: 10, breached: None }
    }
}

/// zxcvbn's score a password must reach: 3 is "safely unguessable" (about 10^8 guesses: it
/// withstands online guessing and slows an offline attack on a slow hash).
const MIN_SCORE: zxcvbn::Score = zxcvbn::Score::Three;

/// Words zxcvbn's English-centred dictionaries lack but a guesser here would try first.
const LOCAL_WORDS: &[&str] = &["uzbekistan", "ozbekiston", "toshkent", "tashkent", "parol", "yagona", "oneid", "gov"];

impl PasswordPolicy {
    pub fn new(min_length: usize, breached: Option<std::sync::Arc<BreachedPasswords>>) -> Self {
        Self { min_length, breached }
    }

    pub fn check(&self, password: &str, login: &Login) -> Result<(), AccountError> {
        if password.chars().count() < self.min_length {
            return Err(AccountError::PasswordTooShort(self.min_length));
        }
        let lower = password.to_lowercase();
        if lower.contains(login.as_str()) {
            return Err(AccountError::PasswordContainsLogin);
        }
        if self.breached.as_ref().is_some_and(|list| list.contains(password)) {
            return Err(AccountError::PasswordBreached);
        }
        let mut inputs = vec![login.as_str()];
        inputs.extend_from_slice(LOCAL_WORDS);
        if zxcvbn::zxcvbn(password, &inputs).score() < MIN_SCORE {
            return Err(AccountError::PasswordTooWeak);
        }
        Ok(())
    }
}

/// A list of breached passwords, held as SHA-1 digests. The file (`password.breached_list`) has
/// one entry per line: a password as it is, or its SHA-1 as 40 hexadecimal digits in either
/// case, optionally followed by `:count` (the format of the Pwned Passwords downloads). Empty
/// lines and lines starting with `#` are skipped. A 40-hex-digit line is read as a digest.
#[derive(Default)]
pub struct BreachedPasswords {
    digests: std::collections::HashSet<[u8; 20]>,
}

impl std::fmt::Debug for BreachedPasswords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BreachedPasswords({} entries)", self.digests.len())
    }
}

impl BreachedPasswords {
    /// Reads the list from its text (the caller reads the file).
    pub fn parse(text: &str) -> Self {
        let digests = text
            .lines()
            .map(|line| line.trim_end_matches('\r'))
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(|line| {
                let candidate = line.split_once(':').map_or(line, |(hash, _)| hash);
                hex_digest(candidate).unwrap_or_else(|| sha1_of(line))
            })
            .collect();
        Self { digests }
    }

    pub fn len(&self) -> usize {
        self.digests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    pub fn contains(&self, password: &str) -> bool {
        self.digests.contains(&sha1_of(password))
    }
}

fn sha1_of(text: &str) -> [u8; 20] {
    use sha1::Digest as _;
    sha1::Sha1::digest(text.as_bytes()).into()
}

fn hex_digest(text: &str) -> Option<[u8; 20]> {
    if text.len() != 40 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 20];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordHasher {
        PasswordHasher::new(PasswordParams { memory_kib: 64, iterations: 1, parallelism: 1 }).unwrap()
    }

    #[test]
    fn hash_and_verify() {
        let hasher = cheap();
        let hash = hasher.hash("correct horse battery").unwrap();
        assert!(hash.as_phc().starts_with("$argon2id$"));
        assert!(hasher.verify("correct horse battery", &hash));
        assert!(!hasher.verify("wrong", &hash));
        assert!(!hasher.verify("x", &PasswordHash::from_phc("garbage".into())));
        assert_eq!(format!("{hash:?}"), "PasswordHash(..)");
    }

    /// Hashing runs in the pool's memory (no 19 MiB allocation per call) and still writes a
    /// standard PHC string that argon2's own verifier accepts.
    #[test]
    fn hashing_uses_the_pool_and_writes_a_standard_hash() {
        let hasher = cheap();
        let runs = || hasher.pool.runs.load(std::sync::atomic::Ordering::Relaxed);
        let before = runs();
        let hash = hasher.hash("Buxoro-Ark-2026").unwrap();
        assert_eq!(runs(), before + 1, "one argon2 run, in the pool");
        let parsed = argon2::PasswordHash::new(hash.as_phc()).unwrap();
        assert!(Argon2::default().verify_password(b"Buxoro-Ark-2026", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"Buxoro-Ark-2027", &parsed).is_err());
    }

    #[test]
    fn the_decoy_costs_a_real_verification_and_matches_nothing() {
        let hasher = cheap();
        let real = argon2::PasswordHash::new(hasher.hash("anything at all").unwrap().as_phc()).unwrap().params.clone();
        let decoy = argon2::PasswordHash::new(&hasher.decoy.0).unwrap();
        assert_eq!(decoy.algorithm, Algorithm::Argon2id.ident());
        assert_eq!(decoy.params, real, "same cost as the hashes it stands in for");
        assert!(!hasher.verify("", &hasher.decoy));
        assert!(!hasher.verify("decoy password never used", &hasher.decoy));
    }

    #[test]
    fn an_account_without_a_password_costs_one_verification() {
        let hasher = cheap();
        let runs = || hasher.pool.runs.load(std::sync::atomic::Ordering::Relaxed);
        let before = runs();
        assert!(!hasher.verify("anything", &PasswordHash::unusable()));
        assert!(!hasher.verify("anything", &PasswordHash::from_phc(String::new())));
        assert_eq!(runs() - before, 2, "each paid an argon2 computation, as a real hash does");
        hasher.verify_decoy("anything");
        assert_eq!(runs() - before, 3);
    }

    #[test]
    fn policy() {
        let login = Login::try_from("alisher").unwrap();
        let p = PasswordPolicy::default();
        assert_eq!(p.check("short", &login), Err(AccountError::PasswordTooShort(10)));
        assert_eq!(p.check("my-alisher-pass", &login), Err(AccountError::PasswordContainsLogin));
        for weak in ["aaaaaaaaaa", "Password123", "1234567890", "qwertyuiop", "toshkent2024", "alisheralisher1"] {
            assert!(p.check(weak, &login).is_err(), "{weak}");
        }
        assert!(p.check("Samarqand-Registon-7", &login).is_ok());
    }

    #[test]
    fn breached_list_plain_and_sha1() {
        let login = Login::try_from("alisher").unwrap();
        // SHA-1 of "Xiva-Ichan-Qala-1", upper case with a count, as Pwned Passwords writes it.
        let digest = hex::encode_upper(super::sha1_of("Xiva-Ichan-Qala-1"));
        let list = BreachedPasswords::parse(&format!("# comment\n\nToshkent-Chorsu-77\r\n{digest}:42\n"));
        assert_eq!(list.len(), 2);
        let p = PasswordPolicy::new(10, Some(std::sync::Arc::new(list)));
        assert_eq!(p.check("Toshkent-Chorsu-77", &login), Err(AccountError::PasswordBreached));
        assert_eq!(p.check("Xiva-Ichan-Qala-1", &login), Err(AccountError::PasswordBreached));
        assert!(p.check("Samarqand-Registon-7", &login).is_ok());
    }

    mod hex {
        pub fn encode_upper(bytes: [u8; 20]) -> String {
            bytes.iter().map(|b| format!("{b:02X}")).collect()
        }
    }
}
