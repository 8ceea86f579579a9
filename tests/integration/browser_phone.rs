//! Every page at phone size (390 x 844), in the three languages (issue 14): none may scroll
//! sideways. The wizard, login, consent, the cabinet with its EDS forms, sign-out, recovery and
//! an error page; act-as and the EDS preview are checked at phone size in browser_eds.rs.
//! `make screenshots` keeps the English pages (and the login and cabinet in every language) as
//! `phone-*.png` in docs/images.

use yagona_tests::chrome::Chrome;
use yagona_tests::Backend;

use crate::eds::server_with_ca;
use crate::registration::pinfl;
use crate::rp::RelyingParty;

#[tokio::test(flavor = "multi_thread")]
async fn every_page_fits_a_phone_in_every_language() {
    let (mut server, _ca) = server_with_ca(Backend::Sqlite);
    server.set_env("YAGONA_MAIL__SMTP_URL", "smtp://127.0.0.1:9");
    server.spawn().await;
    let secret = server.add_client("portal", &[]);
    let rp = RelyingParty::discover(&server, "portal", Some(&secret)).await;
    for (n, language) in ["uz-Latn", "ru", "en"].into_iter().enumerate() {
        let chrome = Chrome::phone(language).await;
        let keep = |page: &str| language == "en" || matches!(page, "login" | "cabinet");
        let check = |page: &'static str| {
            let chrome = &chrome;
            async move {
                chrome.assert_fits(&format!("{page} ({language})")).await;
                if keep(page) {
                    chrome.screenshot(&format!("phone-{page}-{language}")).await;
                }
            }
        };

        chrome.goto(&server.url("/")).await;
        check("home").await;
        chrome.goto(&server.url("/login")).await;
        check("login").await;
        chrome.goto(&server.url("/recover")).await;
        check("recover").await;
        chrome.goto(&server.url("/login?interaction=gone")).await;
        check("expired").await;

        // The wizard, with a validation message on the personal-data step.
        chrome.goto(&server.url("/register")).await;
        check("register-offer").await;
        chrome.click("#accept_offer").await;
        chrome.submit("#next").await;
        chrome.fill("#surname", "Toshmatova").await;
        chrome.fill("#first_name", "Dilnoza").await;
        chrome.fill("#birth_date", "05121990").await;
        chrome.fill("#pinfl", "1234").await;
        chrome.fill("#passport", &format!("AD{:07}", 1000 + n)).await;
        chrome.submit("#next").await;
        check("register-person-error").await;
        // Typed in groups, as printed: accepted.
        let good = pinfl(60 + n as u32);
        let grouped = format!("{} {} {} {}", &good[..4], &good[4..8], &good[8..12], &good[12..]);
        chrome.fill("#pinfl", &grouped).await;
        assert_eq!(chrome.attribute("#pinfl", "inputmode").await.as_deref(), Some("numeric"));
        chrome.submit("#next").await;
        assert_eq!(chrome.path().await, "/register/confirm", "a PINFL typed with spaces is accepted");
        check("register-confirm").await;
        chrome.submit("#next").await;
        let login = format!("dilnoza{n}");
        chrome.fill("#login", &login).await;
        chrome.fill("#password", "Xiva-Ichan-Qala-7").await;
        chrome.fill("#password_confirm", "Xiva-Ichan-Qala-7").await;
        chrome.fill("#phone", &format!("+998 93 555 12 3{n}")).await;
        chrome.fill("#email", &format!("dilnoza{n}@example.uz")).await;
        check("register-account").await;
        chrome.submit("#next").await;
        let errors: Vec<String> = match chrome.client.find_all(fantoccini_css(".field-error, .error")).await {
            Ok(found) => {
                futures_util::future::join_all(found.iter().map(|e| e.text())).await.into_iter().flatten().collect()
            }
            Err(_) => Vec::new(),
        };
        assert_eq!(chrome.path().await, "/register/done", "{errors:?}");
        check("register-done").await;

        // The cabinet, with the EDS and legal-entity sections.
        chrome.goto(&server.url("/account")).await;
        assert!(chrome.client.find(fantoccini_css("#eds-file")).await.is_ok(), "the EDS form is there");
        check("cabinet").await;

        // Consent for a service.
        let start = rp.start(&["profile", "email"], &[]);
        chrome.goto(&start.url).await;
        assert!(chrome.path().await.starts_with("/consent"), "{}", chrome.path().await);
        check("consent").await;

        // Sign-out, and where it lands.
        chrome.goto(&server.url("/end_session")).await;
        check("logout").await;
        chrome.submit("button[name=logout]").await;
        assert_eq!(chrome.path().await, "/logout/done", "a redirect after the sign-out (no resubmission on Back)");
        check("logout-done").await;
        chrome.close().await;
    }
}

fn fantoccini_css(css: &str) -> yagona_tests::chrome::fantoccini::Locator<'_> {
    yagona_tests::chrome::fantoccini::Locator::Css(css)
}
