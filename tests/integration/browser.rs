//! Real pages, real clicks: headless Chromium through the registration wizard, a login to a
//! relying party, and the cabinet.

use openidconnect::core::{CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge, RedirectUrl, Scope,
    TokenResponse,
};
use yagona_tests::chrome::{Callback, Chrome};
use yagona_tests::{browser as http_browser, location, query_param, sign_in, Backend, TestServer};

use crate::registration::pinfl;

#[tokio::test(flavor = "multi_thread")]
async fn register_then_log_in_to_a_relying_party_change_password_and_end_a_session() {
    let server = TestServer::start(Backend::Sqlite).await;
    let callback = Callback::start().await;
    let redirect = format!("{}/callback", callback.base_url);
    let secret = "portal-secret-for-the-browser-test";
    server.cli_ok(
        &[
            "client",
            "add",
            "--id",
            "portal",
            "--name",
            "Davlat xizmatlari portali",
            "--redirect-uri",
            &redirect,
            "--secret",
            secret,
        ],
        None,
    );
    let chrome = Chrome::start("en").await;

    // Step 1: the offer.
    chrome.goto(&server.url("/register")).await;
    assert_eq!(chrome.attribute("html", "lang").await.as_deref(), Some("en"));
    chrome.screenshot("register-1-offer").await;
    chrome.click("#accept_offer").await;
    chrome.submit("#next").await;
    assert_eq!(chrome.path().await, "/register/person");

    // Step 2: personal data, first with the PINFL of an existing account: the ways in to it.
    server.add_person("olim");
    chrome.fill("#surname", "Yuldasheva").await;
    chrome.fill("#first_name", "Madina").await;
    chrome.fill("#middle_name", "Rustamovna").await;
    // A date input takes the date in the browser's locale order; typing digits fills it.
    chrome.fill("#birth_date", "05121990").await;
    chrome.fill("#pinfl", &yagona_tests::person_pinfl("olim")).await;
    chrome.fill("#passport", "AC1234567").await;
    chrome.submit("#next").await;
    assert_eq!(chrome.path().await, "/register/person");
    assert!(chrome.text("#pinfl-taken-ways").await.contains("Recover the password"));
    chrome.screenshot("register-2-person-taken").await;
    chrome.assert_fits_phone("register-person-taken").await;
    // Then a PINFL whose check digit is wrong.
    let good_pinfl = pinfl(42);
    let bad_pinfl = format!("{}{}", &good_pinfl[..13], (good_pinfl.as_bytes()[13] - b'0' + 1) % 10);
    chrome.fill("#pinfl", &bad_pinfl).await;
    chrome.submit("#next").await;
    assert_eq!(chrome.path().await, "/register/person");
    let error = chrome.text("#pinfl-error").await;
    assert!(error.contains("check the digits"), "{error}");
    assert_eq!(chrome.attribute("#pinfl", "aria-invalid").await.as_deref(), Some("true"));
    chrome.screenshot("register-2-person-error").await;
    chrome.fill("#pinfl", &good_pinfl).await;
    chrome.submit("#next").await;

    // Step 3: confirm; step 4: login and contacts.
    assert_eq!(chrome.path().await, "/register/confirm");
    let data = chrome.text("dl.data").await;
    assert!(data.contains("Yuldasheva") && data.contains("1990-05-12") && data.contains(&good_pinfl), "{data}");
    chrome.screenshot("register-3-confirm").await;
    chrome.submit("#next").await;
    assert_eq!(chrome.path().await, "/register/account");
    chrome.fill("#login", "madina.y").await;
    chrome.fill("#password", "Xiva-Ichan-Qala-7").await;
    chrome.fill("#password_confirm", "Xiva-Ichan-Qala-7").await;
    chrome.fill("#phone", "+998 93 555 12 34").await;
    chrome.fill("#email", "madina@example.uz").await;
    chrome.screenshot("register-4-account").await;
    chrome.submit("#next").await;
    assert_eq!(chrome.path().await, "/register/done");
    assert!(chrome.text("main").await.contains("not confirmed yet"));
    chrome.screenshot("register-5-done").await;

    // Sign out, then log in to the relying party with the new account.
    chrome.goto(&server.url("/end_session")).await;
    chrome.submit("button[name=logout]").await;
    assert!(chrome.text("h1").await.contains("signed out"));
    let http = yagona_tests::http_client();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(server.base_url.clone()).unwrap(), &http).await.unwrap();
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new("portal".into()),
        Some(ClientSecret::new(secret.into())),
    )
    .set_redirect_uri(RedirectUrl::new(redirect.clone()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = rp
        .authorize_url(
            openidconnect::core::CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    chrome.goto(url.as_str()).await;
    assert!(chrome.path().await.starts_with("/login?interaction="));
    assert!(chrome.text("main").await.contains("Davlat xizmatlari portali"));
    chrome.fill("#login", "madina.y").await;
    chrome.fill("#password", "Xiva-Ichan-Qala-7").await;
    chrome.screenshot("login").await;
    chrome.submit("button[type=submit]").await;
    assert!(chrome.path().await.starts_with("/consent?"), "{}", chrome.path().await);
    chrome.screenshot("consent").await;
    chrome.submit("button[value=allow]").await;
    let landed = chrome.url().await;
    assert!(landed.starts_with(&redirect), "{landed}");
    assert_eq!(query_param(&landed, "state").as_deref(), Some(state.secret().as_str()));
    let tokens = rp
        .exchange_code(AuthorizationCode::new(query_param(&landed, "code").unwrap()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let claims = tokens.id_token().unwrap().claims(&rp.id_token_verifier(), &nonce).unwrap();
    assert_eq!(claims.family_name().unwrap().get(None).unwrap().as_str(), "Yuldasheva");
    assert_eq!(claims.preferred_username().unwrap().as_str(), "madina.y");
    assert_eq!(callback.last().as_deref(), Some(landed.as_str()));

    // A second device signs in too (over plain HTTP).
    let phone = http_browser();
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (url, _, _) = rp
        .authorize_url(
            openidconnect::core::CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .url();
    let landed_phone = sign_in(&phone, &server.base_url, url.as_str(), "madina.y", "Xiva-Ichan-Qala-7").await;
    assert!(query_param(&landed_phone, "code").is_some());

    // The cabinet: change the password.
    chrome.goto(&server.url("/account")).await;
    assert!(chrome.text("#status").await.contains("Unconfirmed"));
    assert_eq!(chrome.client.find_all(fantoccini_css(".end-session")).await.unwrap().len(), 1, "the phone's session");
    chrome.fill("#current_password", "Xiva-Ichan-Qala-7").await;
    chrome.fill("#new_password", "Samarqand-Shohizinda-8").await;
    chrome.fill("#new_password_confirm", "Samarqand-Shohizinda-8").await;
    chrome.submit("#change-password").await;
    assert!(chrome.text("#notice").await.contains("The password is changed"));
    chrome.screenshot("cabinet").await;
    // Changing the password ended the phone's session.
    assert!(chrome.client.find_all(fantoccini_css(".end-session")).await.unwrap().is_empty());
    let silent = rp
        .authorize_url(
            openidconnect::core::CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(PkceCodeChallenge::new_random_sha256().0)
        .add_extra_param("prompt", "none")
        .url()
        .0;
    let r = phone.get(silent.as_str()).send().await.unwrap();
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("login_required"));

    // The phone signs in again with the new password; the cabinet ends that session by click.
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (url, _, _) = rp
        .authorize_url(
            openidconnect::core::CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .url();
    sign_in(&phone, &server.base_url, url.as_str(), "madina.y", "Samarqand-Shohizinda-8").await;
    chrome.goto(&server.url("/account")).await;
    chrome.submit(".end-session").await;
    assert!(chrome.text("#notice").await.contains("The session has ended"));
    let r = phone.get(silent.as_str()).send().await.unwrap();
    assert_eq!(query_param(&location(&r), "error").as_deref(), Some("login_required"));
    chrome.close().await;
}

fn fantoccini_css(css: &str) -> yagona_tests::chrome::fantoccini::Locator<'_> {
    yagona_tests::chrome::fantoccini::Locator::Css(css)
}

/// The wizard's first page in each language, as a browser set to that language sees it.
#[tokio::test(flavor = "multi_thread")]
async fn the_wizard_speaks_every_language() {
    let server = TestServer::start_with(Backend::Sqlite, &[("YAGONA_UI__DEFAULT_LOCALE", "en")]).await;
    for (language, file) in [("uz-Latn", "uz-Latn"), ("ru", "ru"), ("en", "en")] {
        let catalogue: toml::Table = toml::from_str(
            &std::fs::read_to_string(format!("{}/../crates/server/locales/{file}.toml", env!("CARGO_MANIFEST_DIR")))
                .unwrap(),
        )
        .unwrap();
        let expected = catalogue["register"]["offer_title"].as_str().unwrap().to_owned();
        let accept = catalogue["register"]["accept"].as_str().unwrap().to_owned();
        let chrome = Chrome::start(language).await;
        chrome.goto(&server.url("/register")).await;
        assert_eq!(chrome.attribute("html", "lang").await.as_deref(), Some(language));
        assert_eq!(chrome.text("h1").await, expected, "{language}");
        assert!(chrome.text("label.check").await.contains(&accept), "{language}");
        chrome.screenshot(&format!("register-1-offer-{language}")).await;
        // Submitting without accepting shows the message in the same language.
        chrome.submit("#next").await;
        let required = catalogue["validation"]["offer_required"].as_str().unwrap();
        assert_eq!(chrome.text("#accept_offer-error").await, required, "{language}");
        chrome.close().await;
    }
}
