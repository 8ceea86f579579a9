//! Requests to URLs a client chose (`jwks_uri`, `sector_identifier_uri`,
//! `backchannel_logout_uri`): the one place they are made from, so that a client cannot point
//! Yagona at its own network (server-side request forgery: a cloud metadata service, an admin
//! port on loopback, a database on a private address).
//!
//! Every request goes through an agent whose resolver checks **every** address the host
//! resolves to and fails the request if any is not a public unicast address, unless the
//! operator allowed it (`outbound.allow`, `outbound.allow_private`). ureq connects only to the
//! addresses its resolver returned, so a name that resolves to a public address when checked
//! cannot be switched to a private one for the connection (DNS rebinding): there is one
//! resolution, and it is the checked one. Proxies from the environment are not used (the check
//! would then apply to the proxy), and the callers follow no redirects.
//!
//! Over https, the server's certificate must chain to the system's trust store or to
//! `outbound.ca_file` ([`crate::outbound_trust`]).
//!
//! Registration (`client add`, dynamic registration) checks the same URLs up front
//! ([`check_client_urls`]), so a client is told at once (`invalid_client_metadata`) rather than
//! failing at its first token request.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs as _};
use std::path::PathBuf;
use std::sync::Arc;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use ureq::config::{Config, ConfigBuilder};
use ureq::tls::TlsConfig;
use ureq::typestate::AgentScope;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};
use yagona_oidc::{Client, ClientKeys, ErrorCode, OAuthError};

/// `[outbound]`: which non-public addresses requests to client-chosen URLs may reach.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboundConfig {
    /// Allow every address (private, loopback, link-local ...): only for a closed test network.
    pub allow_private: bool,
    /// Networks (CIDR, or single addresses) allowed although not public, e.g. the private
    /// network where the operator's own relying parties run.
    pub allow: Vec<String>,
    /// Certificates (PEM) trusted for https besides the system's trust store: the national CA,
    /// or the private CA of the operator's own relying parties.
    pub ca_file: Option<PathBuf>,
}

/// The checked `[outbound]` settings.
#[derive(Debug, Clone)]
pub struct OutboundPolicy {
    allow_private: bool,
    allow: Vec<IpNet>,
    tls: TlsConfig,
}

impl Default for OutboundPolicy {
    /// Public addresses only; https trusts the system's trust store.
    fn default() -> Self {
        let tls = crate::outbound_trust::system_tls_config();
        Self { allow_private: false, allow: Vec::new(), tls }
    }
}

impl OutboundConfig {
    pub fn policy(&self) -> Result<OutboundPolicy, String> {
        let allow = self
            .allow
            .iter()
            .map(|net| {
                net.parse::<IpNet>().or_else(|_| net.parse::<IpAddr>().map(IpNet::from)).map_err(|_| {
                    format!("configuration key `outbound.allow`: {net:?} is not an address or CIDR (e.g. 10.20.0.0/16)")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let tls = crate::outbound_trust::tls_config(self.ca_file.as_deref())?;
        Ok(OutboundPolicy { allow_private: self.allow_private, allow, tls })
    }
}

impl OutboundPolicy {
    /// The policy with loopback allowed too (`serve --dev`, whose demo relying party runs on
    /// this machine).
    pub fn with_loopback(mut self) -> Self {
        let v4 = ipnet::Ipv4Net::new(Ipv4Addr::LOCALHOST, 8).map(IpNet::V4);
        let v6 = ipnet::Ipv6Net::new(Ipv6Addr::LOCALHOST, 128).map(IpNet::V6);
        self.allow.extend([v4, v6].into_iter().flatten());
        self
    }

    /// Whether a request may connect to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        // An allowed IPv4 network is allowed when a resolver answers it IPv4-mapped too.
        let plain = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            IpAddr::V4(_) => ip,
        };
        self.allow_private || is_public(ip) || self.allow.iter().any(|net| net.contains(&ip) || net.contains(&plain))
    }

    /// The TLS settings of outbound requests (rustls, trusted roots), for agents that reach
    /// operator-configured servers rather than client-chosen URLs.
    pub fn tls(&self) -> TlsConfig {
        self.tls.clone()
    }

    /// An agent for client-chosen URLs, configured by `config` (timeouts, redirects), whose
    /// every connection goes to a checked address and whose https is verified against the
    /// trusted roots.
    pub fn agent(&self, config: ConfigBuilder<AgentScope>) -> ureq::Agent {
        let config = config.proxy(None).tls_config(self.tls.clone()).build();
        let resolver = CheckedResolver { policy: Arc::new(self.clone()), inner: DefaultResolver::default() };
        ureq::Agent::with_parts(config, DefaultConnector::new(), resolver)
    }

    /// Checks `url` (named `field`) now: every address its host resolves to must be permitted. A
    /// host that does not resolve (yet) passes: the request itself is checked again.
    pub fn check_url(&self, field: &str, url: &str) -> Result<(), OAuthError> {
        let refused = |detail: String| OAuthError::new(ErrorCode::InvalidClientMetadata, format!("{field}: {detail}"));
        let parsed = url::Url::parse(url).map_err(|e| refused(format!("not a URL: {e}")))?;
        let port = parsed.port_or_known_default().unwrap_or(443);
        let addresses: Vec<SocketAddr> = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(ip.into(), port)],
            Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(ip.into(), port)],
            Some(url::Host::Domain(name)) => (name, port).to_socket_addrs().map(Iterator::collect).unwrap_or_default(),
            None => return Err(refused("the URL has no host".into())),
        };
        match addresses.iter().find(|a| !self.permits(a.ip())) {
            Some(address) => Err(refused(refusal(address.ip()))),
            None => Ok(()),
        }
    }
}

/// Why a request to `ip` is refused, for the client or the log.
fn refusal(ip: IpAddr) -> String {
    format!("{ip} is not a public address; requests to client URLs may not reach it (outbound.allow)")
}

/// Checks the URLs of `client` that Yagona will fetch or post to (see [`OutboundPolicy::check_url`]).
pub fn check_client_urls(policy: &OutboundPolicy, client: &Client) -> Result<(), OAuthError> {
    if let ClientKeys::JwksUri(uri) = &client.keys {
        policy.check_url("jwks_uri", uri)?;
    }
    let token = &client.token_metadata;
    for (field, uri) in [
        ("sector_identifier_uri", &token.sector_identifier_uri),
        ("backchannel_logout_uri", &token.backchannel_logout_uri),
    ] {
        if let Some(uri) = uri {
            policy.check_url(field, uri)?;
        }
    }
    Ok(())
}

/// Resolves as ureq does, then fails unless every address is permitted.
struct CheckedResolver {
    policy: Arc<OutboundPolicy>,
    inner: DefaultResolver,
}

impl fmt::Debug for CheckedResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckedResolver").field("policy", &self.policy).finish()
    }
}

impl Resolver for CheckedResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let addresses = self.inner.resolve(uri, config, timeout)?;
        if let Some(address) = addresses.iter().find(|a| !self.policy.permits(a.ip())) {
            tracing::warn!(address = %address.ip(), host = ?uri.host(), "outbound request refused");
            return Err(ureq::Error::Io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                refusal(address.ip()),
            )));
        }
        Ok(addresses)
    }
}

/// Whether `ip` is a public unicast address: not unspecified, loopback, private (RFC 1918),
/// shared (RFC 6598), link-local (with the cloud metadata address 169.254.169.254),
/// unique-local (fc00::/7, with fd00:ec2::254), multicast, broadcast, documentation,
/// benchmarking or reserved. IPv4 inside IPv6 (mapped, NAT64) is judged as IPv4.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space, RFC 6598
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking, RFC 2544
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local, RFC 4193
        || (s[0] & 0xffc0) == 0xfe80 // link local
        || (s[0] & 0xffc0) == 0xfec0 // site local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x2001 && s[1] == 0) // Teredo: tunnels to an IPv4 address it hides
        || s[..3] == [0x64, 0xff9b, 1] // local-use NAT64, RFC 8215: translates to any IPv4
        || s[..4] == [0x100, 0, 0, 0] // discard-only, RFC 6666
        || (s[..4] == [0; 4] && s[4] == 0xffff && s[5] == 0)) // IPv4-translated (SIIT)
}

/// The IPv4 address an IPv6 address carries: IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible
/// (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d) or 6to4 (2002:AABB:CCDD::).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let v4 = |high: u16, low: u16| Ipv4Addr::new((high >> 8) as u8, high as u8, (low >> 8) as u8, low as u8);
    let mapped = s[..5] == [0; 5] && (s[5] == 0xffff || (s[5] == 0 && !ip.is_loopback() && !ip.is_unspecified()));
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    if s[0] == 0x2002 {
        return Some(v4(s[1], s[2]));
    }
    (mapped || nat64).then_some(v4(s[6], s[7]))
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_public_unicast_addresses_are_public() {
        for private in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "0.0.0.0",
            "169.254.169.254",
            "100.100.100.200",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2001:db8::1",
            "64:ff9b:1::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "2002:7f00:1::",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "::ffff:0:a9fe:a9fe",
            "100::1",
        ] {
            assert!(!is_public(ip(private)), "{private}");
        }
        for public in [
            "8.8.8.8",
            "93.184.216.34",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public(ip(public)), "{public}");
        }
    }

    #[test]
    fn the_allow_list_opens_networks_and_is_checked() {
        let policy = OutboundConfig {
            allow_private: false,
            allow: vec!["10.20.0.0/16".into(), "fd00::7".into()],
            ..Default::default()
        }
        .policy()
        .unwrap();
        assert!(policy.permits(ip("10.20.3.4")) && policy.permits(ip("fd00::7")));
        assert!(!policy.permits(ip("10.21.0.1")) && !policy.permits(ip("127.0.0.1")));
        assert!(policy.permits(ip("::ffff:10.20.0.5")), "an allowed network, answered IPv4-mapped");
        assert!(!policy.permits(ip("::ffff:10.21.0.5")));
        assert!(policy.clone().with_loopback().permits(ip("127.0.0.1")));
        assert!(OutboundConfig { allow_private: true, allow: vec![], ..Default::default() }
            .policy()
            .unwrap()
            .permits(ip("169.254.169.254")));
        let bad = OutboundConfig { allow_private: false, allow: vec!["10.0.0.0/33".into()], ..Default::default() }
            .policy()
            .unwrap_err();
        assert!(bad.contains("outbound.allow"), "{bad}");
    }

    #[test]
    fn urls_are_checked_by_every_address_they_resolve_to() {
        let policy = OutboundPolicy::default();
        for url in ["http://10.0.0.1/jwks", "http://169.254.169.254/latest", "http://[::1]:8080/", "http://localhost/"]
        {
            let e = policy.check_url("jwks_uri", url).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidClientMetadata, "{url}");
            assert!(e.description.starts_with("jwks_uri: "), "{}", e.description);
        }
        assert!(policy.check_url("jwks_uri", "https://8.8.8.8/jwks").is_ok());
        assert!(policy.clone().with_loopback().check_url("jwks_uri", "http://localhost/").is_ok());
    }

    /// A real loopback server: the refused agent never connects to it; the allowed one does.
    #[test]
    fn the_agent_connects_only_to_permitted_addresses() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}/jwks", listener.local_addr().unwrap().port());
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buffer = [0u8; 1024];
            let _ = stream.read(&mut buffer);
            stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").unwrap();
        });
        let refused = OutboundPolicy::default().agent(Config::builder()).get(&url).call().unwrap_err();
        assert!(refused.to_string().contains("not a public address"), "{refused}");
        let allowed = OutboundPolicy::default().with_loopback().agent(Config::builder());
        let body = allowed.get(&url).call().unwrap().body_mut().read_to_string().unwrap();
        assert_eq!(body, "ok");
        server.join().unwrap();
    }
}
