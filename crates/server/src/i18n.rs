//! Languages: Uzbek (Latin), Russian and English. Messages live in catalogue files
//! (`locales/*.toml`), compiled in; a test checks every catalogue has every key.
//!
//! The language of a page is the person's own choice on the language switcher (remembered in a
//! cookie), then the relying party's `ui_locales`, then the browser's `Accept-Language`, then the
//! configured default. (The explicit choice comes first so that the switcher works on every page,
//! including a login page opened with `ui_locales`: docs/architecture.md, "Decisions".)

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Locale {
    #[serde(rename = "uz-Latn")]
    UzLatn,
    #[serde(rename = "ru")]
    Ru,
    #[serde(rename = "en")]
    En,
}

impl Locale {
    pub const ALL: [Locale; 3] = [Locale::UzLatn, Locale::Ru, Locale::En];

    /// The BCP 47 tag (`lang` attribute, cookie value).
    pub fn tag(self) -> &'static str {
        match self {
            Self::UzLatn => "uz-Latn",
            Self::Ru => "ru",
            Self::En => "en",
        }
    }

    /// The language's own name, for the switcher.
    pub fn native_name(self) -> &'static str {
        match self {
            Self::UzLatn => "Oʻzbekcha",
            Self::Ru => "Русский",
            Self::En => "English",
        }
    }

    /// Matches a language tag by its primary subtag: `uz`, `uz-Latn-UZ`, `ru-RU`, `en-GB`.
    /// Cyrillic Uzbek (`uz-Cyrl`) is not offered and does not match.
    pub fn from_tag(tag: &str) -> Option<Locale> {
        let tag = tag.trim().to_ascii_lowercase();
        let mut parts = tag.split(['-', '_']);
        match (parts.next()?, parts.next()) {
            ("uz", Some("cyrl")) => None,
            ("uz", _) => Some(Self::UzLatn),
            ("ru", _) => Some(Self::Ru),
            ("en", _) => Some(Self::En),
            _ => None,
        }
    }
}

/// The first supported language of a space-separated `ui_locales` list, or of an
/// `Accept-Language` header (RFC 9110 12.5.4, by quality).
pub fn negotiate(
    ui_locales: Option<&str>,
    cookie: Option<&str>,
    accept_language: Option<&str>,
    default: Locale,
) -> Locale {
    if let Some(found) = cookie.and_then(Locale::from_tag) {
        return found;
    }
    if let Some(found) = ui_locales.and_then(|l| l.split(' ').find_map(Locale::from_tag)) {
        return found;
    }
    if let Some(header) = accept_language {
        let mut ranked: Vec<(f32, Locale)> = header
            .split(',')
            .filter_map(|item| {
                let mut parts = item.split(';');
                let locale = Locale::from_tag(parts.next()?)?;
                let q =
                    parts.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
                (q > 0.0).then_some((q, locale))
            })
            .collect();
        // Stable: among equal qualities the first listed wins.
        ranked.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
        if let Some((_, locale)) = ranked.first() {
            return *locale;
        }
    }
    default
}

const CATALOGUE_SOURCES: [(Locale, &str); 3] = [
    (Locale::UzLatn, include_str!("../locales/uz-Latn.toml")),
    (Locale::Ru, include_str!("../locales/ru.toml")),
    (Locale::En, include_str!("../locales/en.toml")),
];

static CATALOGUES: std::sync::LazyLock<Result<Catalogues, String>> = std::sync::LazyLock::new(Catalogues::load);

/// The compiled-in catalogues. `serve` checks at start that they load
/// ([`check_catalogues`]), so the empty fallback is never seen in practice.
pub fn catalogues() -> &'static Catalogues {
    static EMPTY: std::sync::LazyLock<Catalogues> =
        std::sync::LazyLock::new(|| Catalogues { by_locale: HashMap::new() });
    CATALOGUES.as_ref().unwrap_or(&EMPTY)
}

pub fn check_catalogues() -> Result<(), String> {
    CATALOGUES.as_ref().map(|_| ()).map_err(Clone::clone)
}

/// All catalogues, flattened to `section.key -> text`.
pub struct Catalogues {
    by_locale: HashMap<Locale, HashMap<String, String>>,
}

impl Catalogues {
    pub fn load() -> Result<Self, String> {
        let mut by_locale = HashMap::new();
        for (locale, source) in CATALOGUE_SOURCES {
            let table: toml::Table =
                toml::from_str(source).map_err(|e| format!("message catalogue {}: {e}", locale.tag()))?;
            let mut flat = HashMap::new();
            flatten("", &toml::Value::Table(table), &mut flat);
            by_locale.insert(locale, flat);
        }
        Ok(Self { by_locale })
    }

    pub fn for_locale(&'static self, locale: Locale) -> Tr<'static> {
        static EMPTY: std::sync::LazyLock<HashMap<String, String>> = std::sync::LazyLock::new(HashMap::new);
        Tr { locale, messages: self.by_locale.get(&locale).unwrap_or(&EMPTY) }
    }

    /// The keys of each catalogue (for the completeness test).
    pub fn keys(&self, locale: Locale) -> Vec<&str> {
        let mut keys: Vec<&str> =
            self.by_locale.get(&locale).map(|m| m.keys().map(String::as_str).collect()).unwrap_or_default();
        keys.sort_unstable();
        keys
    }
}

fn flatten(prefix: &str, value: &toml::Value, out: &mut HashMap<String, String>) {
    match value {
        toml::Value::Table(table) => {
            for (k, v) in table {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, v, out);
            }
        }
        toml::Value::String(s) => {
            out.insert(prefix.to_owned(), s.clone());
        }
        other => {
            out.insert(prefix.to_owned(), other.to_string());
        }
    }
}

/// The messages of one language, as templates use them: `{{ t.t("login.title") }}`.
#[derive(Clone, Copy)]
pub struct Tr<'a> {
    pub locale: Locale,
    messages: &'a HashMap<String, String>,
}

impl std::fmt::Debug for Tr<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tr({})", self.locale.tag())
    }
}

impl<'a> Tr<'a> {
    /// The message for `key`; a missing key shows as itself (the catalogue test prevents it).
    pub fn t<'k>(&self, key: &'k str) -> &'k str
    where
        'a: 'k,
    {
        self.messages.get(key).map(String::as_str).unwrap_or(key)
    }

    /// The message with `{name}` placeholders filled.
    pub fn f(&self, key: &str, args: &[(&str, &str)]) -> String {
        let mut text = self.t(key).to_owned();
        for (name, value) in args {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
    }

    pub fn lang(&self) -> &'static str {
        self.locale.tag()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogue_has_every_key() {
        let catalogues = Catalogues::load().unwrap();
        let english = catalogues.keys(Locale::En);
        assert!(english.len() > 50);
        for locale in Locale::ALL {
            let keys = catalogues.keys(locale);
            let missing: Vec<_> = english.iter().filter(|k| !keys.contains(k)).collect();
            let extra: Vec<_> = keys.iter().filter(|k| !english.contains(k)).collect();
            assert!(missing.is_empty() && extra.is_empty(), "{}: missing {missing:?}, extra {extra:?}", locale.tag());
        }
    }

    #[test]
    fn every_key_used_in_templates_and_code_exists() {
        let catalogues = Catalogues::load().unwrap();
        let english = catalogues.keys(Locale::En);
        let sections: std::collections::HashSet<&str> = english.iter().filter_map(|k| k.split('.').next()).collect();
        let root = env!("CARGO_MANIFEST_DIR");
        let mut used = 0;
        for dir in ["templates", "src/http"] {
            for entry in std::fs::read_dir(format!("{root}/{dir}")).unwrap() {
                let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
                // Every string literal shaped like `section.key` of a known section is a key.
                for literal in source.split('"').skip(1).step_by(2) {
                    let Some((section, key)) = literal.split_once('.') else { continue };
                    let shaped =
                        !key.is_empty() && key != "html" && key.chars().all(|c| c.is_ascii_lowercase() || c == '_');
                    if sections.contains(section) && shaped {
                        used += 1;
                        assert!(english.contains(&literal), "message key {literal:?} is not in the catalogues");
                    }
                }
            }
        }
        assert!(used > 100, "found only {used} keys in use");
    }

    #[test]
    fn every_account_error_has_a_message() {
        use yagona_account::AccountError as E;
        let catalogues = Catalogues::load().unwrap();
        let all = [
            E::PinflFormat,
            E::PinflCheckDigit,
            E::PinflBirthDate(String::new()),
            E::LoginFormat,
            E::PassportFormat,
            E::BirthDateFormat,
            E::Required("x"),
            E::PasswordTooShort(1),
            E::PasswordContainsLogin,
            E::PasswordTooWeak,
            E::PasswordBreached,
            E::LoginTaken,
            E::PinflTaken,
            E::Hashing(String::new()),
            E::PhoneFormat,
            E::EmailFormat,
            E::PasswordMismatch,
            E::OfferNotAccepted,
            E::CertificateWithoutPinfl,
            E::CertificatePinflMismatch,
            E::CertificateTaken,
            E::Storage(String::new()),
            E::TinFormat,
            E::NotALegalEntityCertificate,
            E::NotConfirmed,
            E::NotTheHead,
            E::UnknownRole,
            E::NoSuchPerson,
        ];
        for locale in Locale::ALL {
            let keys = catalogues.keys(locale);
            for error in &all {
                let key = format!("validation.{}", error.code());
                assert!(keys.contains(&key.as_str()), "{}: {key}", locale.tag());
            }
        }
    }

    #[test]
    fn negotiation_order() {
        let en = Locale::En;
        assert_eq!(negotiate(Some("fr ru"), None, Some("uz"), en), Locale::Ru);
        assert_eq!(negotiate(Some("fr ru"), Some("en"), Some("uz"), Locale::UzLatn), Locale::En);
        assert_eq!(negotiate(None, Some("uz-Latn"), Some("ru"), en), Locale::UzLatn);
        assert_eq!(negotiate(None, None, Some("fr, ru;q=0.5, en;q=0.8"), Locale::UzLatn), Locale::En);
        assert_eq!(negotiate(None, None, Some("uz-Cyrl"), Locale::Ru), Locale::Ru);
        assert_eq!(negotiate(None, None, None, Locale::UzLatn), Locale::UzLatn);
        assert_eq!(Locale::from_tag("ru-RU"), Some(Locale::Ru));
    }
}
