#!/usr/bin/env python3
"""Writes tests/data/legacy_hashes.tsv: password hashes made by passlib (the reference
implementation) for idp's legacy verifiers to check. Run: pip install passlib==1.7.4 bcrypt==4.0.1 argon2-cffi;
python3 scripts/legacy_vectors.py > tests/data/legacy_hashes.tsv

Each line: format, password, hash, tab-separated. Passwords include non-ASCII text, which the old
systems hashed as UTF-8."""
from passlib.hash import (bcrypt, pbkdf2_sha1, pbkdf2_sha256, pbkdf2_sha512, django_pbkdf2_sha256,
                          django_pbkdf2_sha1, sha512_crypt, sha256_crypt, md5_crypt, scrypt, argon2)

PASSWORDS = ["salasana123", "Sälasana-ÄÖå €", "correct horse battery staple"]

rows = []
for password in PASSWORDS:
    rows.append(("bcrypt-2b", password, bcrypt.using(rounds=4, ident="2b").hash(password)))
    rows.append(("bcrypt-2a", password, bcrypt.using(rounds=4, ident="2a").hash(password)))
    rows.append(("bcrypt-2y", password, bcrypt.using(rounds=4, ident="2y").hash(password)))
    rows.append(("pbkdf2-sha1", password, pbkdf2_sha1.using(rounds=1000).hash(password)))
    rows.append(("pbkdf2-sha256", password, pbkdf2_sha256.using(rounds=1000).hash(password)))
    rows.append(("pbkdf2-sha512", password, pbkdf2_sha512.using(rounds=1000).hash(password)))
    rows.append(("django-pbkdf2-sha256", password, django_pbkdf2_sha256.using(rounds=1000).hash(password)))
    rows.append(("django-pbkdf2-sha1", password, django_pbkdf2_sha1.using(rounds=1000).hash(password)))
    rows.append(("sha512-crypt", password, sha512_crypt.using(rounds=5000).hash(password)))
    rows.append(("sha256-crypt", password, sha256_crypt.using(rounds=5000).hash(password)))
    rows.append(("md5-crypt", password, md5_crypt.hash(password)))
    rows.append(("scrypt", password, scrypt.using(rounds=8).hash(password)))
    rows.append(("argon2id", password, argon2.using(type="ID", memory_cost=1024, rounds=2).hash(password)))
    rows.append(("argon2i", password, argon2.using(type="I", memory_cost=1024, rounds=2).hash(password)))

# The PHC string format of PBKDF2 (RustCrypto's `pbkdf2` and other PHC libraries, not passlib):
# `i=<rounds>,l=<length>`, standard base64 without padding, the salt the bytes it encodes.
import base64
import hashlib
import os


def phc_pbkdf2_sha256(password, salt, rounds=1000):
    b64 = lambda raw: base64.b64encode(raw).decode().rstrip("=")
    derived = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, rounds, 32)
    return f"$pbkdf2-sha256$i={rounds},l=32${b64(salt)}${b64(derived)}"


for password in PASSWORDS:
    rows.append(("pbkdf2-sha256-phc", password, phc_pbkdf2_sha256(password, os.urandom(16))))

for row in rows:
    print("\t".join(row))
