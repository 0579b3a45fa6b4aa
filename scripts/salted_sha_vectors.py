#!/usr/bin/env python3
"""Writes tests/data/legacy_salted_sha.tsv: salted SHA-1/SHA-256 hashes made with Python's hashlib
(the reference implementation) in the two layouts idp's tests configure. Run:
python3 scripts/salted_sha_vectors.py > tests/data/legacy_salted_sha.tsv

Each line: layout, password, hash, tab-separated. Layout "a": sha1(salt + password), written
`<salt text>$<hex digest>`. Layout "b": sha256(password + salt), written
`{SSHA256}<base64 digest>:<hex salt>`. Passwords are hashed as UTF-8."""
import base64
import hashlib
import secrets

PASSWORDS = ["salasana123", "Sälasana-ÄÖå €", "correct horse battery staple"]

for password in PASSWORDS:
    salt = secrets.token_urlsafe(9)
    digest = hashlib.sha1(salt.encode() + password.encode("utf-8")).hexdigest()
    print(f"a\t{password}\t{salt}${digest}")
    salt = secrets.token_bytes(12)
    digest = hashlib.sha256(password.encode("utf-8") + salt).digest()
    print(f"b\t{password}\t{{SSHA256}}{base64.b64encode(digest).decode()}:{salt.hex()}")
