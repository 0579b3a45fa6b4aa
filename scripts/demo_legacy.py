#!/usr/bin/env python3
"""Writes the demo legacy exports config/legacy/seinajoki.csv and config/legacy/kouvola.jsonl from
the reference hashes in tests/data (made by passlib and hashlib, see scripts/legacy_vectors.py and
scripts/salted_sha_vectors.py), so that every hash format and every case of the linker has a demo
resident. Run from the repository root: python3 scripts/demo_legacy.py

Every demo password is the first of the vectors' passwords, "salasana123"."""
import csv
import json

PASSWORD = "salasana123"

vectors = {}
for line in open("tests/data/legacy_hashes.tsv", encoding="utf-8"):
    kind, password, hash_ = line.rstrip("\n").split("\t")
    if password == PASSWORD:
        vectors.setdefault(kind, hash_)
for line in open("tests/data/legacy_salted_sha.tsv", encoding="utf-8"):
    layout, password, hash_ = line.rstrip("\n").split("\t")
    if password == PASSWORD and layout == "a":
        vectors.setdefault("salted-sha1", hash_)

# One resident per hash format: username, the format's vector.
RESIDENTS = [
    ("aino.bcrypt", "bcrypt-2b"), ("eino.bcrypt2a", "bcrypt-2a"), ("helmi.bcrypt2y", "bcrypt-2y"),
    ("ilmari.pbkdf2", "pbkdf2-sha256"), ("kerttu.pbkdf2sha1", "pbkdf2-sha1"),
    ("lauri.pbkdf2sha512", "pbkdf2-sha512"), ("martta.django", "django-pbkdf2-sha256"),
    ("niilo.djangosha1", "django-pbkdf2-sha1"), ("olga.sha512", "sha512-crypt"),
    ("pentti.sha256", "sha256-crypt"), ("raili.md5", "md5-crypt"), ("sulo.argon2id", "argon2id"),
    ("tyyne.argon2i", "argon2i"), ("urho.scrypt", "scrypt"), ("vieno.ssha", "salted-sha1"),
]


def rows(city, subject_prefix):
    out = []
    for number, (username, kind) in enumerate(RESIDENTS, start=1):
        out.append(dict(username=username, subject=f"{subject_prefix}-{number:05d}",
                        email=f"{username}@{city}.example", password_hash=vectors[kind],
                        name=username.split(".")[0].capitalize() + " Esimerkki", authority="false"))
    # A family sharing one address: the resident chooses which old account to bind.
    out.append(dict(username="perhe.isa", subject=f"{subject_prefix}-10001",
                    email=f"perhe@{city}.example", password_hash=vectors["bcrypt-2b"],
                    name="Isä Perhe", authority="false"))
    out.append(dict(username="perhe.aiti", subject=f"{subject_prefix}-10002",
                    email=f"Perhe@{city.capitalize()}.example", password_hash=vectors["sha512-crypt"],
                    name="Äiti Perhe", authority="false"))
    # No usable hash: the first login mails a set-password link under either policy.
    out.append(dict(username="vanha.hash", subject=f"{subject_prefix}-10003",
                    email=f"vanha.hash@{city}.example", password_hash="{MD4}0cb6948805f797bf2a82807973b89537",
                    name="Veikko Vanha", authority="false"))
    # No address: cannot log in by email until support runs `idp legacy set-email`.
    out.append(dict(username="ei.osoitetta", subject=f"{subject_prefix}-10004", email="",
                    password_hash=vectors["bcrypt-2b"], name="Eila Osoitteeton", authority="false"))
    # An authority user: keeps logging in with the old username.
    out.append(dict(username="viranomainen", subject=f"{subject_prefix}-20001", email="",
                    password_hash=vectors["pbkdf2-sha256"], name="Viranomainen Virtanen",
                    authority="true"))
    # Subject empty: the username is the subject.
    out.append(dict(username="sama.tunnus", subject="", email=f"sama.tunnus@{city}.example",
                    password_hash=vectors["bcrypt-2b"], name="Sami Sama", authority="false"))
    return out


FIELDS = ["username", "subject", "email", "password_hash", "name", "authority"]
with open("config/legacy/seinajoki.csv", "w", newline="", encoding="utf-8") as f:
    writer = csv.DictWriter(f, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows("seinajoki", "SJK"))
with open("config/legacy/kouvola.jsonl", "w", encoding="utf-8") as f:
    for row in rows("kouvola", "KVL"):
        row["authority"] = row["authority"] == "true"
        f.write(json.dumps(row, ensure_ascii=False) + "\n")
