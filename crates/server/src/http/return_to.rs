//! "Return to" values: where a page sends the browser back after it has done its job (the
//! language switcher's `back`, and any later link of that kind).
//!
//! Every such value goes through [`same_origin_path`]: it is resolved against the issuer's
//! origin as a browser would resolve it, and accepted only when it stays on that origin. The
//! value must be a path as this site writes its own addresses: visible ASCII only. Browsers drop
//! tabs and line breaks from URLs and treat `\` as `/`, so `/\t/evil.example` is
//! `//evil.example` to them: no whitespace, control or non-ASCII character is accepted, and
//! neither is a path starting `//` or `/\`.

use url::Url;

/// The path (with its query) that `value` names on the issuer's own origin, or `None` when it
/// names anything else or is not a plain same-origin path.
pub fn same_origin_path(issuer: &str, value: &str) -> Option<String> {
    if !value.starts_with('/') || value.starts_with("//") || value.starts_with("/\\") {
        return None;
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) || value.contains('\\') {
        return None;
    }
    let base = Url::parse(issuer).ok()?;
    let resolved = base.join(value).ok()?;
    if resolved.origin() != base.origin() || resolved.fragment().is_some() {
        return None;
    }
    Some(resolved[url::Position::BeforePath..].to_owned())
}

#[cfg(test)]
mod tests {
    use super::same_origin_path;

    const ISSUER: &str = "https://id.example.uz";

    #[test]
    fn only_paths_of_this_origin_are_accepted() {
        for bad in [
            "",
            "account",
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\nSet-Cookie: x",
            " /account",
            "/ /x",
            "/\u{0}x",
            "/\u{7f}",
            "/\u{202e}x",
            "https://evil.example/",
            "https://id.example.uz/account",
            "http:evil.example",
            "/a\\b",
            "/account#frag",
        ] {
            assert_eq!(same_origin_path(ISSUER, bad), None, "{bad:?}");
        }
        assert_eq!(same_origin_path(ISSUER, "/account").as_deref(), Some("/account"));
        assert_eq!(same_origin_path(ISSUER, "/login?interaction=a%20b").as_deref(), Some("/login?interaction=a%20b"));
        assert_eq!(same_origin_path(ISSUER, "/a/../b").as_deref(), Some("/b"));
    }
}
