//! The key a client address is counted under by every per-address limit: the login throttle, the
//! mail limits and the hashing pool's share. The audit trail keeps the full address.

use std::net::{IpAddr, Ipv6Addr};

/// The key the per-client-address limits count `address` under: an IPv4 address as it is, an
/// IPv4-mapped IPv6 address (`::ffff:203.0.113.7`) as its IPv4 address, any other IPv6 address as
/// its /64 (`2001:db8:1:2::/64`). One subscriber is routed at least a /64 and may send each
/// request from another address of it: counted per address, it would never reach a limit. Text
/// that is not an IP address (a proxy's `unknown`) is its own key.
pub fn counting_key(address: &str) -> String {
    match address.trim().parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{}/64", Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        },
        Err(_) => address.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_is_its_own_key() {
        assert_eq!(counting_key("203.0.113.7"), "203.0.113.7");
        assert_ne!(counting_key("203.0.113.7"), counting_key("203.0.113.8"));
    }

    #[test]
    fn a_mapped_ipv4_is_the_ipv4() {
        assert_eq!(counting_key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(counting_key("::ffff:cb00:7107"), "203.0.113.7");
    }

    #[test]
    fn ipv6_is_counted_per_64() {
        let one = counting_key("2001:db8:1:2::1");
        assert_eq!(one, "2001:db8:1:2::/64");
        assert_eq!(counting_key("2001:db8:1:2:ffff:abcd:1234:5678"), one);
        assert_eq!(counting_key("2001:0db8:0001:0002:0000:0000:0000:0009"), one);
        assert_eq!(counting_key("2001:db8:1:3::1"), "2001:db8:1:3::/64");
        assert_eq!(counting_key("2001:db8::1"), "2001:db8::/64");
    }

    #[test]
    fn other_text_is_kept() {
        assert_eq!(counting_key("unknown"), "unknown");
        assert_eq!(counting_key("_hidden"), "_hidden");
    }
}
