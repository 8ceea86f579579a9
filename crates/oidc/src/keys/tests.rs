use super::*;

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Claims {
    iss: String,
    exp: i64,
    sub: String,
}

/// An active key for every algorithm, in [`SigningAlg::ALL`]'s order.
fn one_key_per_alg(kek: &KeyEncryptionKey, t: i64) -> Vec<StoredKey> {
    SigningAlg::ALL.iter().map(|alg| StoredKey::generate(*alg, kek, t).unwrap()).collect()
}

/// A ring loaded from [`one_key_per_alg`], and the time it was made at.
fn ring_of_every_alg() -> (KeyRing, i64) {
    let kek = KeyEncryptionKey::generate();
    let t = now();
    (KeyRing::load(&one_key_per_alg(&kek, t), &kek, t, 600).unwrap(), t)
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[test]
fn kek_seals_and_refuses_tampering() {
    let kek = KeyEncryptionKey::generate();
    let sealed = kek.seal(b"secret", b"kid1").unwrap();
    assert_eq!(kek.open(&sealed, b"kid1").unwrap(), b"secret");
    assert!(kek.open(&sealed, b"kid2").is_err());
    assert!(KeyEncryptionKey::generate().open(&sealed, b"kid1").is_err());
    let back = KeyEncryptionKey::from_base64(&kek.to_base64()).unwrap();
    assert_eq!(back.id(), kek.id());
    assert!(KeyEncryptionKey::from_base64("c2hvcnQ=").is_err());
}

#[test]
fn forged_and_malformed_tokens_are_refused() {
    let (ring, t) = ring_of_every_alg();
    let opts = VerifyOptions { issuer: "i", check_expiry: true, typ: None };
    let good = Claims { iss: "i".into(), exp: t + 60, sub: "a".into() };
    for alg in SigningAlg::ALL {
        let jwt = ring.sign(alg, "JWT", &good).unwrap();
        let (head, rest) = jwt.split_once('.').unwrap();
        let (payload, signature) = rest.split_once('.').unwrap();
        // Another payload under the same signature.
        let forged = URL_SAFE_NO_PAD.encode(br#"{"iss":"i","exp":99999999999,"sub":"admin"}"#);
        assert!(ring.verify::<Claims>(&format!("{head}.{forged}.{signature}"), opts).is_err());
        // alg "none", and the other algorithm named for this key.
        let kid = ring.active_kid(alg).unwrap();
        let other = SigningAlg::ALL.into_iter().filter(|a| *a != alg).map(SigningAlg::as_str);
        for bad_alg in ["none", "HS256", "Ed25519"].into_iter().chain(other) {
            let h = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{bad_alg}","kid":"{kid}"}}"#));
            assert!(ring.verify::<Claims>(&format!("{h}.{payload}.{signature}"), opts).is_err(), "{bad_alg}");
            assert!(ring.verify::<Claims>(&format!("{h}.{payload}."), opts).is_err(), "{bad_alg}");
        }
        // Not three parts, bad base64, a truncated signature.
        assert!(ring.verify::<Claims>(&format!("{jwt}.x"), opts).is_err());
        assert!(ring.verify::<Claims>(&format!("{head}.{payload}"), opts).is_err());
        assert!(ring.verify::<Claims>(&format!("{head}.{payload}.!!"), opts).is_err());
        assert!(ring.verify::<Claims>(&jwt[..jwt.len() - 4], opts).is_err());
        assert!(ring.verify::<Claims>("", opts).is_err());
    }
    // Expired one second ago: refused, and said so.
    let expired = ring.sign(SigningAlg::Es256, "JWT", &Claims { exp: t - 1, ..good }).unwrap();
    let err = ring.verify::<Claims>(&expired, opts).unwrap_err();
    assert_eq!(err.description, "the token has expired");
    // No exp at all: refused when expiry is checked.
    #[derive(Serialize)]
    struct NoExp {
        iss: String,
    }
    let no_exp = ring.sign(SigningAlg::Es256, "JWT", &NoExp { iss: "i".into() }).unwrap();
    assert!(ring.verify::<serde_json::Value>(&no_exp, opts).is_err());
    assert!(ring.verify::<serde_json::Value>(&no_exp, VerifyOptions { check_expiry: false, ..opts }).is_ok());
}

/// Publish before use: a `next` key is in the JWKS and verifies, but the old key signs until
/// the activation time, when the ring (loaded again) signs with the new one by itself.
#[test]
fn a_next_key_is_published_first_and_signs_from_its_activation() {
    let kek = KeyEncryptionKey::generate();
    let t = now();
    let mut keys = one_key_per_alg(&kek, t);
    let next = StoredKey::generate(SigningAlg::Rs256, &kek, t).unwrap().scheduled(t + 300);
    keys.push(next.clone());
    let before = KeyRing::load(&keys, &kek, t, 600).unwrap();
    assert_eq!(before.active_kid(SigningAlg::Rs256), Some(keys[0].kid.as_str()), "the old key still signs");
    assert!(before.jwks_json().contains(&next.kid), "the next key is published");
    assert_eq!(before.next_activation(), Some(t + 300));
    // A token signed by the next key (by a node already past the time) verifies here.
    let after = KeyRing::load(&keys, &kek, t + 300, 600).unwrap();
    assert_eq!(after.active_kid(SigningAlg::Rs256), Some(next.kid.as_str()), "due: it signs, unrecorded yet");
    assert_eq!(after.next_activation(), None);
    let claims = Claims { iss: "https://id.example".into(), exp: t + 60, sub: "a".into() };
    let opts = VerifyOptions { issuer: "https://id.example", check_expiry: true, typ: Some("JWT") };
    let by_next = after.sign(SigningAlg::Rs256, "JWT", &claims).unwrap();
    assert_eq!(before.verify::<Claims>(&by_next, opts).unwrap(), claims);
    let by_old = before.sign(SigningAlg::Rs256, "JWT", &claims).unwrap();
    assert_eq!(after.verify::<Claims>(&by_old, opts).unwrap(), claims);
}

#[test]
fn sign_verify_rotate() {
    let kek = KeyEncryptionKey::generate();
    let t = now();
    let mut keys = one_key_per_alg(&kek, t);
    let ring = KeyRing::load(&keys, &kek, t, 600).unwrap();
    let claims = Claims { iss: "https://id.example".into(), exp: t + 60, sub: "a".into() };
    let opts = VerifyOptions { issuer: "https://id.example", check_expiry: true, typ: Some("JWT") };
    for alg in SigningAlg::ALL {
        let jwt = ring.sign(alg, "JWT", &claims).unwrap();
        assert_eq!(ring.verify::<Claims>(&jwt, opts).unwrap(), claims);
        assert!(ring.verify::<Claims>(&jwt, VerifyOptions { typ: Some("at+jwt"), ..opts }).is_err());
        assert!(ring.verify::<Claims>(&jwt, VerifyOptions { issuer: "https://other", ..opts }).is_err());
    }
    let old = ring.sign(SigningAlg::Rs256, "JWT", &claims).unwrap();

    // rotate RS256: the retired key keeps verifying until its tokens have expired
    keys[0].state = KeyState::Retired;
    keys[0].retired_at = Some(t);
    keys.push(StoredKey::generate(SigningAlg::Rs256, &kek, t).unwrap());
    let rotated = KeyRing::load(&keys, &kek, t, 600).unwrap();
    assert_ne!(rotated.active_kid(SigningAlg::Rs256), ring.active_kid(SigningAlg::Rs256));
    assert!(rotated.verify::<Claims>(&old, opts).is_ok());
    let jwks: serde_json::Value = serde_json::from_str(rotated.jwks_json()).unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), SigningAlg::ALL.len() + 1);
    let later = KeyRing::load(&keys, &kek, t + 601, 600).unwrap();
    assert!(later.verify::<Claims>(&old, VerifyOptions { check_expiry: false, ..opts }).is_err());
}

#[test]
fn expired_tokens_refused_unless_asked() {
    let (ring, t) = ring_of_every_alg();
    let jwt = ring.sign(SigningAlg::Rs256, "JWT", &Claims { iss: "i".into(), exp: t - 10, sub: "a".into() }).unwrap();
    let opts = VerifyOptions { issuer: "i", check_expiry: true, typ: None };
    assert!(ring.verify::<Claims>(&jwt, opts).is_err());
    assert!(ring.verify::<Claims>(&jwt, VerifyOptions { check_expiry: false, ..opts }).is_ok());
    assert!(ring.verify::<Claims>("garbage", opts).is_err());
    assert!(ring.verify::<Claims>("a.b.c", opts).is_err());
}

/// The published JWKs say what each key is (RFC 7517, RFC 8037): RSA for RS256 and PS256, each
/// its own key; EC P-256; OKP Ed25519 with a 32-byte `x`. No private member is published.
#[test]
fn each_algorithm_has_its_own_key_and_jwk() {
    let (ring, t) = ring_of_every_alg();
    let jwks: serde_json::Value = serde_json::from_str(ring.jwks_json()).unwrap();
    let jwk = |alg: SigningAlg| {
        jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == ring.active_kid(alg).unwrap()).unwrap().clone()
    };
    let expected = [
        (SigningAlg::Rs256, "RSA", None),
        (SigningAlg::Es256, "EC", Some("P-256")),
        (SigningAlg::Ps256, "RSA", None),
        (SigningAlg::EdDsa, "OKP", Some("Ed25519")),
    ];
    for (alg, kty, crv) in expected {
        let k = jwk(alg);
        assert_eq!(k["alg"], alg.as_str());
        assert_eq!(k["kty"], kty);
        assert_eq!(k["use"], "sig");
        assert_eq!(k["crv"].as_str(), crv);
        assert!(k.get("d").is_none() && k.get("p").is_none(), "{alg:?}: no private member");
    }
    assert_ne!(jwk(SigningAlg::Rs256)["n"], jwk(SigningAlg::Ps256)["n"], "PS256 has its own RSA key");
    assert_eq!(URL_SAFE_NO_PAD.decode(jwk(SigningAlg::EdDsa)["x"].as_str().unwrap()).unwrap().len(), 32);
    // The header names the algorithm as registered; Ed25519 signatures are 64 bytes, PSS ones
    // are randomised (two signatures of one input differ), PKCS#1 v1.5 ones are not.
    let claims = Claims { iss: "i".into(), exp: t + 60, sub: "a".into() };
    let parts = |jwt: String| jwt.split('.').map(str::to_owned).collect::<Vec<_>>();
    let ed = parts(ring.sign(SigningAlg::EdDsa, "JWT", &claims).unwrap());
    let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&ed[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(URL_SAFE_NO_PAD.decode(&ed[2]).unwrap().len(), 64);
    let ps = |_| parts(ring.sign(SigningAlg::Ps256, "JWT", &claims).unwrap())[2].clone();
    assert_ne!(ps(0), ps(1));
    let rs = |_| parts(ring.sign(SigningAlg::Rs256, "JWT", &claims).unwrap())[2].clone();
    assert_eq!(rs(0), rs(1));
}

/// A ring needs a signing key for every algorithm: a database made before an algorithm was
/// added is completed at start (the server's `ensure_signing_keys`), never loaded half.
#[test]
fn a_missing_algorithm_is_named() {
    let kek = KeyEncryptionKey::generate();
    let t = now();
    let keys: Vec<_> = one_key_per_alg(&kek, t).into_iter().filter(|k| k.alg != SigningAlg::EdDsa).collect();
    let err = KeyRing::load(&keys, &kek, t, 600).err().unwrap();
    assert!(err.description.contains("EdDSA"), "{}", err.description);
}
