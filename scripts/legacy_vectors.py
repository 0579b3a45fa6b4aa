#!/usr/bin/env python3
"""Writes the legacy verifiers' test vectors: password hashes made by passlib (the reference
implementation) for idp's legacy verifiers to check. Run: pip install passlib==1.7.4 bcrypt==4.0.1 argon2-cffi;
python3 scripts/legacy_vectors.py > tests/data/legacy_hashes.tsv
python3 scripts/legacy_vectors.py windows-1252 > tests/data/legacy_hashes_cp1252.tsv
python3 scripts/legacy_vectors.py iso-8859-15 > tests/data/legacy_hashes_latin9.tsv

Each line: format, password, hash, tab-separated. Passwords include non-ASCII text, which the old
systems hashed as UTF-8 (the first file), as the windows-1252 bytes a browser sent from a page
in windows-1252 or ISO-8859-1 (the second), or as ISO-8859-15 bytes (the third: `[legacy]
password_encodings`)."""
import base64
import hashlib
import os
import sys

from passlib.hash import (bcrypt, pbkdf2_sha1, pbkdf2_sha256, pbkdf2_sha512, django_pbkdf2_sha256,
                          django_pbkdf2_sha1, sha512_crypt, sha256_crypt, md5_crypt, scrypt, argon2)

ENCODING = sys.argv[1] if len(sys.argv) > 1 else "utf-8"
PASSWORDS = {
    "utf-8": ["salasana123", "Sälasana-ÄÖå €", "correct horse battery staple"],
    # "€" is 0x80 in windows-1252 (a C1 control in ISO-8859-1 itself; browsers send windows-1252).
    "windows-1252": ["Sälasana-ÄÖå €", "Åke Öhman äiti"],
    # "€", "Š" and "Ž" are other bytes in ISO-8859-15 than in windows-1252.
    "iso-8859-15": ["Sälasana-ÄÖå €", "Šakki Žanna"],
}[ENCODING]
CODEC = {"utf-8": "utf-8", "windows-1252": "cp1252", "iso-8859-15": "iso8859_15"}[ENCODING]


def phc_pbkdf2_sha256(secret, salt, rounds=1000):
    """The PHC string format of PBKDF2 (RustCrypto's `pbkdf2` and other PHC libraries, not
    passlib): `i=<rounds>,l=<length>`, standard base64 without padding, the salt the bytes it
    encodes."""
    b64 = lambda raw: base64.b64encode(raw).decode().rstrip("=")
    derived = hashlib.pbkdf2_hmac("sha256", secret, salt, rounds, 32)
    return f"$pbkdf2-sha256$i={rounds},l=32${b64(salt)}${b64(derived)}"


rows = []
for password in PASSWORDS:
    secret = password.encode(CODEC)
    rows.append(("bcrypt-2b", password, bcrypt.using(rounds=4, ident="2b").hash(secret)))
    rows.append(("bcrypt-2a", password, bcrypt.using(rounds=4, ident="2a").hash(secret)))
    rows.append(("bcrypt-2y", password, bcrypt.using(rounds=4, ident="2y").hash(secret)))
    rows.append(("pbkdf2-sha1", password, pbkdf2_sha1.using(rounds=1000).hash(secret)))
    rows.append(("pbkdf2-sha256", password, pbkdf2_sha256.using(rounds=1000).hash(secret)))
    rows.append(("pbkdf2-sha512", password, pbkdf2_sha512.using(rounds=1000).hash(secret)))
    rows.append(("django-pbkdf2-sha256", password, django_pbkdf2_sha256.using(rounds=1000).hash(secret)))
    rows.append(("django-pbkdf2-sha1", password, django_pbkdf2_sha1.using(rounds=1000).hash(secret)))
    rows.append(("sha512-crypt", password, sha512_crypt.using(rounds=5000).hash(secret)))
    rows.append(("sha256-crypt", password, sha256_crypt.using(rounds=5000).hash(secret)))
    rows.append(("md5-crypt", password, md5_crypt.hash(secret)))
    rows.append(("scrypt", password, scrypt.using(rounds=8).hash(secret)))
    rows.append(("argon2id", password, argon2.using(type="ID", memory_cost=1024, rounds=2).hash(secret)))
    rows.append(("argon2i", password, argon2.using(type="I", memory_cost=1024, rounds=2).hash(secret)))

for password in PASSWORDS:
    rows.append(("pbkdf2-sha256-phc", password, phc_pbkdf2_sha256(password.encode(CODEC), os.urandom(16))))

for row in rows:
    print("\t".join(row))
