#!/usr/bin/env python3
"""Writes a synthetic legacy export of N rows for `idp import-legacy` (benchmarks, manual tests).

    python3 scripts/legacy_export.py 100000 > /tmp/legacy-100k.csv
    python3 scripts/legacy_export.py 100000 --format jsonl > /tmp/legacy-100k.jsonl

The rows look like a real city's export: mostly bcrypt and PBKDF2 hashes with a tail of older
formats (one real hash string per format from tests/data/legacy_hashes.tsv, reused: the import
detects formats, it never verifies), some hashes of an unknown format and some empty; one row in
20 without an address, one in 50 sharing its address with the row before (a family); names with
commas and quotes; an explicit numeric subject on one row in three; an authority account in 500.
The output is the same for the same arguments. Nothing here is a real person's data."""

import argparse
import csv
import json
import sys
from pathlib import Path

TSV = Path(__file__).resolve().parent.parent / "tests" / "data" / "legacy_hashes.tsv"

# (format in legacy_hashes.tsv, weight): how often each appears.
MIX = [
    ("bcrypt-2y", 40),
    ("django-pbkdf2-sha256", 25),
    ("pbkdf2-sha256", 10),
    ("sha512-crypt", 8),
    ("md5-crypt", 5),
    ("argon2id", 3),
    ("scrypt", 2),
    ("sha256-crypt", 2),
    (None, 3),  # empty: the account falls back to the mailed link
    ("unknown", 2),  # a format no verifier knows
]

FIRST = ["Matti", "Maija", "Liisa", "Pekka", "Aino", "Juha", "Sanna", "Erkki", "Ää-Ville", "Östen"]
LAST = ["Virtanen", "Korhonen", "Mäkinen", "Nieminen", "Hämäläinen", "O'Neil", "Laine"]


def hashes():
    by_format = {}
    for line in TSV.read_text(encoding="utf-8").splitlines():
        kind, _password, value = line.split("\t")
        by_format.setdefault(kind, value)
    table = []
    for kind, weight in MIX:
        if kind is None:
            value = ""
        elif kind == "unknown":
            value = "{SSHA}c2FsdCxzYWx0\"ish=="  # holds a comma and a quote
        else:
            value = by_format[kind]
        table.extend([value] * weight)
    return table


def rows(n):
    table = hashes()
    for i in range(n):
        username = f"user{i:07d}"
        if i % 50 == 1:
            email = f"family{i - 1:07d}@example.fi"  # shares the previous row's address
        elif i % 20 == 7:
            email = ""
        else:
            email = f"user{i:07d}@example.fi" if i % 2 else f"User{i:07d}@Example.FI"
        first, last = FIRST[i % len(FIRST)], LAST[i % len(LAST)]
        name = f"{last}, {first}" if i % 4 == 0 else f'{first} "{last[:3]}" {last}'
        yield {
            "username": username,
            "subject": f"{1000000 + i}" if i % 3 == 0 else "",
            "email": email if i % 50 != 0 else f"family{i:07d}@example.fi",
            "password_hash": table[(i * 7919) % len(table)],
            "name": name,
            "authority": "yes" if i % 500 == 499 else "",
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int)
    parser.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    args = parser.parse_args()
    out = sys.stdout
    columns = ["username", "subject", "email", "password_hash", "name", "authority"]
    if args.format == "csv":
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows(args.rows):
            writer.writerow(row)
    else:
        for row in rows(args.rows):
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
