//! Feeds arbitrary bytes to the CMS parser and verifier: any input must give a result, never a
//! panic. `cargo +nightly fuzz run verify_cms` (see README.md).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use yagona_pki::dev_ca::DevCa;
use yagona_pki::{SignatureVerifier as _, TrustStore, Verifier};

fn verifier() -> &'static Verifier {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let ca = DevCa::init("Fuzz CA", 1_800_000_000).expect("a CA");
        let mut trust = TrustStore::new();
        trust.add_anchor_pem(ca.cert_pem.as_bytes(), yagona_pki::RevocationPolicy::NotChecked).expect("its certificate");
        Verifier { trust }
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = verifier().verify_attached(data, 1_800_000_000);
});
