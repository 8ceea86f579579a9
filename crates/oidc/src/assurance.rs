//! Levels of assurance (eIDAS, the `acr` values: domain.md "Login methods and assurance") and
//! the level an authorization request demands of the login, by `acr_values` (OIDC Core 3.1.2.1)
//! or by an essential `acr` claim in the `claims` parameter (OIDC Core 5.5.1.1).

use serde::{Deserialize, Serialize};

pub const ACR_LOW: &str = "http://eidas.europa.eu/LoA/low";
pub const ACR_SUBSTANTIAL: &str = "http://eidas.europa.eu/LoA/substantial";
pub const ACR_HIGH: &str = "http://eidas.europa.eu/LoA/high";

/// An eIDAS level of assurance. The levels are ordered: a higher one meets a lower demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loa {
    Low,
    Substantial,
    High,
}

impl Loa {
    pub fn from_acr(acr: &str) -> Option<Self> {
        match acr {
            ACR_LOW => Some(Self::Low),
            ACR_SUBSTANTIAL => Some(Self::Substantial),
            ACR_HIGH => Some(Self::High),
            _ => None,
        }
    }

    pub fn acr(self) -> &'static str {
        match self {
            Self::Low => ACR_LOW,
            Self::Substantial => ACR_SUBSTANTIAL,
            Self::High => ACR_HIGH,
        }
    }
}

/// The level a request demands: the lowest level its `acr_values` name, since a request that
/// names a lower level too allows it (values Yagona does not know are ignored), or the level of
/// an essential `acr` claim (see [`crate::claims_request::ClaimsRequest::essential_acr`]) if that is stricter. `None`: any login will
/// do.
pub fn required_loa(acr_values: Option<&str>, essential: Option<Loa>) -> Option<Loa> {
    acr_values.and_then(|values| lowest_named(values.split(' '))).max(essential)
}

pub(crate) fn lowest_named<'a>(values: impl Iterator<Item = &'a str>) -> Option<Loa> {
    values.filter_map(Loa::from_acr).min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_named_level_is_required() {
        assert_eq!(required_loa(None, None), None);
        assert_eq!(required_loa(Some(ACR_SUBSTANTIAL), None), Some(Loa::Substantial));
        assert_eq!(required_loa(Some(&format!("{ACR_HIGH} {ACR_SUBSTANTIAL}")), None), Some(Loa::Substantial));
        assert_eq!(required_loa(Some(&format!("{ACR_SUBSTANTIAL} {ACR_LOW}")), None), Some(Loa::Low));
        assert_eq!(required_loa(Some("urn:unknown"), None), None);
        assert_eq!(required_loa(Some(ACR_LOW), Some(Loa::High)), Some(Loa::High), "the stricter wins");
    }
}
