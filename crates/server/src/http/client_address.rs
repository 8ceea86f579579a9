//! The client's address: the TCP peer, or, when the peer is a trusted proxy
//! (`http.trusted_proxies`), the address the proxies say they received the request from.
//!
//! The forwarding headers are read from the right (the hop nearest to us): each address that is
//! itself a trusted proxy is skipped, and the first one that is not is the client. Whatever a
//! client writes into the header itself sits further left and is never reached unless every hop
//! after it is trusted, so a client cannot choose its own address. From an untrusted peer the
//! headers are ignored.

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

/// The address login throttling, session lists and the audit trail record for this request.
pub fn client_address(req: &HttpRequest, trusted: &[IpNet]) -> String {
    let Some(peer) = req.peer_addr().map(|a| a.ip()) else { return "unknown".into() };
    if !is_trusted(peer, trusted) {
        return peer.to_string();
    }
    let hops = forwarded_for(req).or_else(|| x_forwarded_for(req));
    let Some(hops) = hops else { return peer.to_string() };
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop {
            Some(addr) => {
                client = *addr;
                if !is_trusted(*addr, trusted) {
                    break;
                }
            }
            // An entry we cannot read (obfuscated, "unknown", garbage): stop at the last hop we
            // could trust rather than guess.
            None => break,
        }
    }
    client.to_string()
}

fn is_trusted(addr: IpAddr, trusted: &[IpNet]) -> bool {
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(addr),
        v4 => v4,
    };
    trusted.iter().any(|net| net.contains(&addr))
}

/// `X-Forwarded-For: client, proxy1, proxy2` (all header lines, in order).
fn x_forwarded_for(req: &HttpRequest) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    for value in req.headers().get_all("x-forwarded-for") {
        let value = value.to_str().ok()?;
        hops.extend(value.split(',').map(|h| parse_node(h.trim())));
    }
    (!hops.is_empty()).then_some(hops)
}

/// RFC 7239 `Forwarded: for=192.0.2.60;proto=http, for="[2001:db8::1]:4711"`.
fn forwarded_for(req: &HttpRequest) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    for value in req.headers().get_all("forwarded") {
        let value = value.to_str().ok()?;
        for element in value.split(',') {
            let node = element.split(';').find_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                name.trim().eq_ignore_ascii_case("for").then(|| value.trim().trim_matches('"').to_owned())
            });
            hops.push(node.and_then(|n| parse_node(&n)));
        }
    }
    (!hops.is_empty()).then_some(hops)
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`,
/// `[2001:db8::1]:4711`, `2001:db8::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']').and_then(|(ip, _)| ip.parse().ok());
    }
    node.rsplit_once(':').and_then(|(ip, port)| port.parse::<u16>().ok().and_then(|_| ip.parse().ok()))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn request(peer: &str, headers: &[(&str, &str)]) -> HttpRequest {
        let mut r = TestRequest::default().peer_addr(format!("{peer}:5000").parse().unwrap());
        for (k, v) in headers {
            r = r.append_header((*k, *v));
        }
        r.to_http_request()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn headers_count_only_from_trusted_peers() {
        let trusted = nets(&["10.0.0.0/8"]);
        let spoofed = request("203.0.113.9", &[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(client_address(&spoofed, &trusted), "203.0.113.9");
        let proxied = request("10.0.0.2", &[("x-forwarded-for", "1.2.3.4, 198.51.100.7")]);
        assert_eq!(client_address(&proxied, &trusted), "198.51.100.7", "the client's own header entry is not reached");
        let two_hops = request("10.0.0.2", &[("x-forwarded-for", "198.51.100.7, 10.1.1.1")]);
        assert_eq!(client_address(&two_hops, &trusted), "198.51.100.7");
        let no_header = request("10.0.0.2", &[]);
        assert_eq!(client_address(&no_header, &trusted), "10.0.0.2");
        assert_eq!(client_address(&proxied, &[]), "10.0.0.2", "no trusted proxies: the peer");
    }

    #[test]
    fn forwarded_header_forms() {
        let trusted = nets(&["127.0.0.1/32"]);
        let r = request("127.0.0.1", &[("forwarded", "for=\"[2001:db8::1]:4711\";proto=https")]);
        assert_eq!(client_address(&r, &trusted), "2001:db8::1");
        let r = request("127.0.0.1", &[("forwarded", "for=192.0.2.60:80, for=unknown")]);
        assert_eq!(client_address(&r, &trusted), "127.0.0.1", "an unreadable nearest hop is not guessed past");
        let r = request("127.0.0.1", &[("forwarded", "For=192.0.2.60")]);
        assert_eq!(client_address(&r, &trusted), "192.0.2.60");
    }
}
