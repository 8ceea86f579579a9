//! Levels of assurance (eIDAS, the `acr` values: domain.md "Login methods and assurance") and
//! the level an authorization request demands of the login, by `acr_values` (OIDC Core 3.1.2.1)
//! or by an essential `acr` claim in the `claims` parameter (OIDC Core 5.5.1.1).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::OAuthError;

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
/// an essential `acr` claim (see [`essential_acr`]) if that is stricter. `None`: any login will
/// do.
pub fn required_loa(acr_values: Option<&str>, essential: Option<Loa>) -> Option<Loa> {
    acr_values.and_then(|values| lowest_named(values.split(' '))).max(essential)
}

fn lowest_named<'a>(values: impl Iterator<Item = &'a str>) -> Option<Loa> {
    values.filter_map(Loa::from_acr).min()
}

/// The lowest level named by an essential `acr` claim requested for the ID token or userinfo
/// in a `claims` parameter (the stricter of the two when both are).
///
/// Only the `acr` member of `claims` is read, so that an essential `acr` is never dropped
/// silently; the parameter as a whole is not supported (discovery says
/// `claims_parameter_supported: false`) and its other members are ignored.
pub fn essential_acr(claims: &str) -> Result<Option<Loa>, OAuthError> {
    let claims: Value =
        serde_json::from_str(claims).map_err(|_| OAuthError::invalid_request("claims is not valid JSON"))?;
    if !claims.is_object() {
        return Err(OAuthError::invalid_request("claims must be a JSON object"));
    }
    let mut levels = Vec::new();
    for target in ["id_token", "userinfo"] {
        let acr = &claims[target]["acr"];
        if acr["essential"] != Value::Bool(true) {
            continue;
        }
        let named: Vec<&str> = match (&acr["value"], &acr["values"]) {
            (Value::String(one), _) => vec![one.as_str()],
            (_, Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        levels.extend(lowest_named(named.into_iter()));
    }
    Ok(levels.into_iter().max())
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

    #[test]
    fn an_essential_acr_claim_is_read() {
        let essential = format!(r#"{{"id_token":{{"acr":{{"essential":true,"values":["{ACR_SUBSTANTIAL}"]}}}}}}"#);
        assert_eq!(essential_acr(&essential).unwrap(), Some(Loa::Substantial));
        let one = format!(r#"{{"userinfo":{{"acr":{{"essential":true,"value":"{ACR_HIGH}"}}}}}}"#);
        assert_eq!(essential_acr(&one).unwrap(), Some(Loa::High));
        let voluntary = format!(r#"{{"id_token":{{"acr":{{"values":["{ACR_HIGH}"]}}}}}}"#);
        assert_eq!(essential_acr(&voluntary).unwrap(), None);
        assert!(essential_acr("[1]").is_err());
        assert!(essential_acr("{").is_err());
    }
}
