//! A short, deterministic mutation fuzz run of the CMS verifier (`make fuzz-smoke`): any panic
//! fails it. See crates/pki/fuzz/README.md.

use std::time::{Duration, Instant};

use yagona_pki::dev_ca::{self, DevCa, KeyAlg, Subject};
use yagona_pki::{SignatureVerifier as _, TrustStore, Verifier};

/// xorshift64*: a fixed sequence, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(20);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
    let ca = DevCa::init("Fuzz CA", now)?;
    let mut trust = TrustStore::new();
    trust.add_anchor_pem(ca.cert_pem.as_bytes(), yagona_pki::RevocationPolicy::NotChecked)?;
    let verifier = Verifier { trust };
    let subject = |alg, legal: bool| Subject {
        pinfl: "31205900260011".into(),
        name: "FUZZ PERSON".into(),
        tin: None,
        legal_tin: legal.then(|| "301234567".into()),
        org: legal.then(|| "Fuzz MChJ".into()),
        title: legal.then(|| "Direktor".into()),
        alg,
        not_before: now - 86_400,
        not_after: now + 86_400,
        key_usage_signing: true,
    };
    let mut corpus = Vec::new();
    for (alg, legal) in [(KeyAlg::Rsa, false), (KeyAlg::Ecdsa, false), (KeyAlg::Ecdsa, true)] {
        let issued = dev_ca::issue(&ca, &subject(alg, legal))?;
        corpus.push(dev_ca::sign_attached(&issued, b"fuzz challenge", now)?);
    }
    for seed in &corpus {
        verifier.verify_attached(seed, now)?;
    }
    let mut rng = Rng(0x5941_474f_4e41_2026);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut runs: u64 = 0;
    while Instant::now() < deadline {
        let mut input = corpus[rng.below(corpus.len())].clone();
        for _ in 0..=rng.below(4) {
            match rng.below(5) {
                0 => input.truncate(rng.below(input.len() + 1)),
                1 => {
                    let i = rng.below(input.len());
                    if let Some(b) = input.get_mut(i) {
                        *b ^= 1 << rng.below(8);
                    }
                }
                2 => {
                    let i = rng.below(input.len() + 1);
                    input.insert(i, rng.next() as u8);
                }
                3 => {
                    if !input.is_empty() {
                        let i = rng.below(input.len());
                        input.remove(i);
                    }
                }
                _ => {
                    // A length byte set to an extreme.
                    let i = rng.below(input.len());
                    if let Some(b) = input.get_mut(i) {
                        *b = [0x00, 0x7f, 0x80, 0x81, 0x82, 0x84, 0xff][rng.below(7)];
                    }
                }
            }
        }
        let _ = verifier.verify_attached(&input, now);
        runs += 1;
    }
    println!("fuzz-smoke: {runs} inputs in {seconds} s, no panic");
    Ok(())
}
