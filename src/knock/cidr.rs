//! CIDR arithmetic shared by the profile's checks (`knock_allow_sources`) and the apply's proof
//! (is the controller allow-listed?): parsing, containment, whole-space coverage. Pure.

use std::net::IpAddr;

/// `addr/len` or a bare address (a single host).
pub fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = addr.trim().parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => l.trim().parse::<u8>().ok().filter(|l| *l <= max)?,
    };
    Some((addr, len))
}

/// Whether CIDRs of one family (as `cidrs` normalizes them) together cover the whole address
/// space, like `0.0.0.0/1` with `128.0.0.0/1`.
pub fn covers_everything(cidrs: &[String]) -> bool {
    let mut ranges: Vec<(u128, u128)> = cidrs
        .iter()
        .filter_map(|c| parse_cidr(c))
        .map(|(net, len)| {
            let (bits, n) = match net {
                IpAddr::V4(a) => (32u32, u128::from(u32::from(a))),
                IpAddr::V6(a) => (128u32, u128::from(a)),
            };
            let host_bits = bits - u32::from(len);
            let size = if host_bits >= 128 {
                u128::MAX
            } else {
                (1u128 << host_bits) - 1
            };
            let start = if host_bits >= 128 { 0 } else { n & !size };
            (start, start.saturating_add(size))
        })
        .collect();
    let Some(top) = cidrs
        .first()
        .and_then(|c| parse_cidr(c))
        .map(|(a, _)| match a {
            IpAddr::V4(_) => u128::from(u32::MAX),
            IpAddr::V6(_) => u128::MAX,
        })
    else {
        return false;
    };
    ranges.sort();
    let mut next = 0u128; // first address not yet covered
    for (start, end) in ranges {
        if start > next {
            return false;
        }
        if end >= top {
            return true;
        }
        next = next.max(end + 1);
    }
    false
}

/// Whether `ip` lies in the network `net/len` (never across address families).
pub fn net_contains(net: IpAddr, len: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len.min(32)))
            };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len.min(128)))
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// Whether `ip` lies in one of `cidrs` (as `parse_cidr` reads them; unreadable ones match
/// nothing). `None` (an address sesame could not learn) is never allow-listed.
pub fn allow_listed<'a>(cidrs: impl IntoIterator<Item = &'a String>, ip: Option<IpAddr>) -> bool {
    let Some(ip) = ip else { return false };
    cidrs
        .into_iter()
        .filter_map(|c| parse_cidr(c))
        .any(|(net, len)| net_contains(net, len, ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_matching() {
        assert!(net_contains(ip("198.19.3.0"), 24, ip("198.19.3.1")));
        assert!(!net_contains(ip("198.19.3.0"), 24, ip("198.19.4.1")));
        assert!(net_contains(ip("0.0.0.0"), 0, ip("1.2.3.4")));
        assert!(net_contains(ip("fd5e::"), 16, ip("fd5e:5a3e::1")));
        assert!(!net_contains(ip("fd5e::"), 16, ip("198.19.3.1")));
        // An out-of-range length is clamped, never a shift overflow.
        assert!(net_contains(ip("198.19.3.1"), 40, ip("198.19.3.1")));
    }

    #[test]
    fn allow_listed_reads_each_cidr_and_needs_an_address() {
        let list = [
            "198.19.3.0/24".to_string(),
            "fd5e::/16".to_string(),
            "junk".to_string(),
        ];
        assert!(allow_listed(&list, Some(ip("198.19.3.7"))));
        assert!(allow_listed(&list, Some(ip("fd5e:5a3e::1"))));
        assert!(!allow_listed(&list, Some(ip("198.19.4.7"))));
        assert!(!allow_listed(&list, None));
    }

    #[test]
    fn parse_and_cover() {
        assert_eq!(parse_cidr("198.19.3.1"), Some((ip("198.19.3.1"), 32)));
        assert_eq!(parse_cidr("fd5e::/16"), Some((ip("fd5e::"), 16)));
        assert_eq!(parse_cidr("198.19.3.0/33"), None);
        let halves = ["0.0.0.0/1".to_string(), "128.0.0.0/1".to_string()];
        assert!(covers_everything(&halves));
        assert!(!covers_everything(&halves[..1]));
        assert!(!covers_everything(&["10.0.0.0/8".to_string()]));
    }
}
