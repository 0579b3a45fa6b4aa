//! A session's coarse location: the city and country a MaxMind DB file (`server.geoip_database`,
//! GeoLite2-City or -Country) gives for the client address when the session starts. Only the
//! location is kept, never the address; the account page shows it so that a resident can tell
//! their own sessions from someone else's.

use std::net::IpAddr;
use std::path::Path;

use maxminddb::{Reader, geoip2};

/// An opened location database, held by the node for its whole life.
pub struct GeoIp {
    reader: Reader<Vec<u8>>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoIp")
            .field("database_type", &self.reader.metadata().database_type)
            .finish_non_exhaustive()
    }
}

impl GeoIp {
    /// Reads the database file at `path` into memory.
    pub fn open(path: &Path) -> Result<GeoIp, String> {
        let reader = Reader::open_readfile(path)
            .map_err(|e| format!("cannot read the location database {}: {e}", path.display()))?;
        Ok(GeoIp { reader })
    }

    /// "City, Country" (or the country alone) in English, the language every MaxMind database
    /// carries, for the client address `address`; `None` for an address the database does not
    /// know (a private or loopback one) or that is not an IP address.
    pub fn locate(&self, address: &str) -> Option<String> {
        let ip: IpAddr = address.parse().ok()?;
        let found = self.reader.lookup(ip).ok()?;
        let record: geoip2::City<'_> = found.decode().ok()??;
        let city = record.city.names.english;
        let country = record.country.names.english;
        match (city, country) {
            (Some(city), Some(country)) => Some(format!("{city}, {country}")),
            (Some(place), None) | (None, Some(place)) => Some(place.to_string()),
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::GeoIp;

    fn test_database() -> GeoIp {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/geoip-test.mmdb");
        GeoIp::open(&path).expect("tests/data/geoip-test.mmdb (scripts/make-test-geoip.py)")
    }

    #[test]
    fn an_address_is_named_by_its_city_and_country_or_its_country() {
        let geo = test_database();
        assert_eq!(
            geo.locate("192.0.2.17").as_deref(),
            Some("Tampere, Finland")
        );
        assert_eq!(geo.locate("198.51.100.4").as_deref(), Some("Sweden"));
        assert_eq!(geo.locate("2001:db8::1").as_deref(), Some("Turku, Finland"));
    }

    #[test]
    fn an_unknown_or_malformed_address_has_no_location() {
        let geo = test_database();
        assert_eq!(geo.locate("127.0.0.1"), None);
        assert_eq!(geo.locate("203.0.113.9"), None);
        assert_eq!(geo.locate("not an address"), None);
        assert_eq!(geo.locate(""), None);
    }

    #[test]
    fn a_missing_database_is_a_clear_error() {
        let error = GeoIp::open(std::path::Path::new("/nonexistent/geo.mmdb")).unwrap_err();
        assert!(error.starts_with("cannot read the location database /nonexistent/geo.mmdb: "));
    }
}
