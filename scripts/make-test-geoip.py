#!/usr/bin/env python3
"""Writes tests/data/geoip-test.mmdb: a tiny MaxMind DB in the GeoIP2-City layout that the tests of
session locations look addresses up in (they never use real location data).

    python3 -m venv /tmp/mmdb && /tmp/mmdb/bin/pip install mmdb-writer netaddr
    /tmp/mmdb/bin/python scripts/make-test-geoip.py

The networks are documentation ranges (RFC 5737, RFC 3849), so no real address is located.
"""
from pathlib import Path

from mmdb_writer import MMDBWriter
from netaddr import IPSet

ROWS = [
    # A city and its country.
    ("192.0.2.0/24", {
        "city": {"names": {"en": "Tampere", "de": "Tampere"}},
        "country": {"iso_code": "FI", "names": {"en": "Finland", "de": "Finnland"}},
    }),
    # A country without a city.
    ("198.51.100.0/24", {
        "country": {"iso_code": "SE", "names": {"en": "Sweden", "de": "Schweden"}},
    }),
    # IPv6: a city and its country.
    ("2001:db8::/32", {
        "city": {"names": {"en": "Turku"}},
        "country": {"iso_code": "FI", "names": {"en": "Finland"}},
    }),
]

writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-City",
                    languages=["en", "de"], description="idp test data")
for network, record in ROWS:
    writer.insert_network(IPSet([network]), record)
out = Path(__file__).resolve().parent.parent / "tests" / "data" / "geoip-test.mmdb"
writer.to_db_file(str(out))
print(out, out.stat().st_size, "bytes")
