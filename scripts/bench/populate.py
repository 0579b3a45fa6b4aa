#!/usr/bin/env python3
"""Fills the tenant `bench` of a migrated idp database with what N residents leave after a year
of use (issue 17, point 5): the benchmark then runs against 1,000 or 1,000,000 residents without
a million logins. `scripts/bench/bench.py --population N` calls it right after `idp migrate`.

    scripts/bench/populate.py sqlite:///path/idp.sqlite 1000000
    scripts/bench/populate.py postgres://user@host/db 1000000

The year is simulated day by day: on each day, a random set of the residents who exist by then
log in, and each login leaves what idp writes for it (idp/flows/oidc/login.rs, token.rs,
logout.rs): audit events, an SSO session, a grant with its code and refresh tokens. Of the rows
that expire, only those the expiry clean-up (idp/store/cleanup.rs, every 300 s) has not deleted
yet are written: the live ones, plus those that became deletable within the last `--stale-hours`
(24 by default: as if the node had been stopped for a day), so that the server's first clean-up
round has real work. The proportions, per resident and year, and why:

- residents: 85 % existed before the year (created over the 5 years before), 15 % are created
  during it (`user.created`), a city's steady trickle of newcomers. All have the same argon2id
  hash of the bench password ([`PASSWORD_HASH`], made once by `idp users add`): a million
  hashes would take hours, and no load logs them in. 95 % have a verified address; locales are
  fi 80 %, sv 12 %, en 8 %.
- legacy accounts (the old login system, docs/legacy-import.md): 30 % of residents came through
  one, now linked (their `subject` is the legacy one); another 5 % of N were never claimed.
- logins: 4 a year on average (Poisson), at uniformly random times: a resident uses the city's
  e-services a few times a year (day care, library, parking). Per login: `login.succeeded`
  and `token.issued` (one code exchange at one e-service); 10 % are preceded by a
  `login.failed` (mistyped password); 30 % end with a logout (`session.ended`); 3 % are
  preceded by a password reset (`password.reset_requested`, `password.reset`). That makes
  about 10 audit events per resident and year: the retention window's worth, with
  `[audit] retention_days = 365`.
- sessions: 25 % of logins ask to be remembered (30 days), the rest live 8 h (the defaults of
  docs/configuration.md); a logged-out session stays a day after its end, as the clean-up keeps it.
  About 7 % of residents hold a session at any time (with the last day's expired ones).
- grants: one per login, to one of six e-services; 10 % with `offline_access` (30 days), the
  others bound to the session (at most 8 h, revoked at logout). Each has its used code (kept as
  long as its grant, for a replay to revoke it) and its refresh tokens: a session-bound
  grant is refreshed 0–3 times, an offline one 0–20 times; the rotated ones stay, used, until
  the grant expires, beside the one live token.
- consents: to the two e-services that are not first-party: 30 % of residents gave one, 10 %
  both. Consents do not expire: they grow with the residents, not with time.

The audit events are sealed here as idp's sealer seals them (idp/store/audit_chain.rs: seq,
prev_hash, salt, personal_digest, hash), in the order of their ids, so that `idp audit verify
--tenant bench` passes and the sealer has nothing to do during the loads; the chain continues
from its head when idp writes the next event. Rows are written with the secondary indexes of
the big tables dropped and then created again with their own definitions (read from the
database), which is several times faster than maintaining random-keyed B-trees row by row;
the schema after the run is exactly the migrated one. SQLite: one transaction of executemany;
PostgreSQL: COPY through psql. Randomness comes from `--seed`, so that a run is repeatable.
"""

import argparse
import base64
import datetime
import hashlib
import json
import random
import subprocess
import sys
import time

TENANT = "bench"
# `idp users add` of the bench password (scripts/bench/bench.py PASSWORD), m=19456 KiB, t=2, p=1.
PASSWORD_HASH = (
    "$argon2id$v=19$m=19456,t=2,p=1$FuXPCcQXqn2PoTOXkl50+A$"
    "xVUTQFLKNfbRf/9NnKBrjRUEKm9B7psGgfw5McQ/1Rg"
)
# A legacy bcrypt hash (unused by the loads; its length is what matters for the size).
LEGACY_HASH = "$2y$10$Wq3GdZ0bqv0m3Hc8zJ1mUeX1b0JYv1kqT8lP4cQ2b1v8Jj7y9sQ0W"

DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
MINUTE_US = 60_000_000
SECOND_US = 1_000_000

FIRST_PARTY = ["paivahoito", "kirjasto", "pysakointi", "asukasportaali"]
THIRD_PARTY = ["liikuntapalvelut", "kuntalaisaloite"]
CLIENTS = FIRST_PARTY + THIRD_PARTY
LOCALES = ["fi"] * 80 + ["sv"] * 12 + ["en"] * 8
FIRST_NAMES = ["Aino", "Eino", "Helmi", "Väinö", "Linnea", "Oskari", "Sofia", "Leo", "Östen",
               "Maija", "Juha", "Anna-Liisa"]
LAST_NAMES = ["Virtanen", "Korhonen", "Mäkinen", "Nieminen", "Hämäläinen", "Laine", "Koskinen",
              "Järvinen", "Lindqvist", "Heikkinen"]
USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
]

LOGINS_PER_YEAR = 4.0
FAILED_SHARE = 0.10
LOGOUT_SHARE = 0.30
RESET_SHARE = 0.03
REMEMBER_SHARE = 0.25
OFFLINE_SHARE = 0.10
CREATED_IN_YEAR = 0.15
LINKED_SHARE = 0.30
UNCLAIMED_SHARE = 0.05

SESSION_US = 8 * HOUR_US
REMEMBER_US = 30 * DAY_US
OFFLINE_US = 30 * DAY_US
CODE_US = 60 * SECOND_US

# The chain's constants (idp/store/audit_chain.rs): its first scheme, which idp still verifies
# (it seals new events under the second, whose hash also covers the detail an erasure keeps).
GENESIS = "idp-audit/1 genesis"
EVENT = "idp-audit/1 event"
PERSONAL = "idp-audit/1 personal"

# The tables whose secondary indexes are dropped while they are filled.
TABLES = ["users", "legacy_accounts", "sso_sessions", "grants", "auth_codes", "refresh_tokens",
          "consents", "audit_events"]


def log(*parts):
    print("populate:", *parts, file=sys.stderr, flush=True)


# --- the hash chain, as idp/store/audit_chain.rs computes it ----------------------------------


def enc(text):
    """One field of the canonical encoding: 0 for NULL, else 1, its length (8 bytes BE), UTF-8."""
    if text is None:
        return b"\x00"
    raw = text.encode()
    return b"\x01" + len(raw).to_bytes(8, "big") + raw


def genesis(tenant):
    return hashlib.sha256(enc(GENESIS) + enc(tenant)).hexdigest()


class Sealer:
    """Gives each event of one tenant, in the order of their ids, its place in the chain."""

    def __init__(self, tenant, rng):
        self.rng = rng
        self.prev = genesis(tenant)
        self.seq = 0
        self.personal = hashlib.sha256(enc(PERSONAL))
        self.event = hashlib.sha256(enc(EVENT))
        self.tenant = enc(tenant)

    def seal(self, event_id, stamp, kind, user, client, addr, detail):
        """(seq, prev_hash, hash, personal_digest, salt) of the next event."""
        self.seq += 1
        salt = "%032x" % self.rng.getrandbits(128)
        h = self.personal.copy()
        h.update(enc(salt) + enc(user) + enc(addr) + enc(detail))
        personal = h.hexdigest()
        h = self.event.copy()
        h.update(enc(self.prev) + self.tenant + enc(str(self.seq)) + enc(str(event_id))
                 + enc(stamp) + enc(kind) + enc(client) + enc(personal))
        sealed = (self.seq, self.prev, h.hexdigest(), personal, salt)
        self.prev = sealed[2]
        return sealed


# --- values -------------------------------------------------------------------------------------

EPOCH = datetime.datetime(1970, 1, 1)
_days = {}


def day_text(us):
    day = us // DAY_US
    text = _days.get(day)
    if text is None:
        text = (EPOCH + datetime.timedelta(days=day)).strftime("%Y-%m-%d")
        _days[day] = text
    return day, text


def stamp(us):
    """A time as idp stores it: 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC, microseconds)."""
    day, text = day_text(us)
    rest = us - day * DAY_US
    seconds, micros = divmod(rest, SECOND_US)
    return "%s %02d:%02d:%02d.%06d" % (text, seconds // 3600, seconds // 60 % 60, seconds % 60,
                                       micros)


def chain_stamp(text):
    """The same time as the chain hashes it and the export prints it (RFC 3339, Z)."""
    return text[:10] + "T" + text[11:] + "Z"


class Ids:
    def __init__(self, rng):
        self.rng = rng

    def uuid7(self, us):
        """A UUIDv7 like the ones idp makes: the milliseconds first, then random bits."""
        r = self.rng.getrandbits(74)
        ms = us // 1000
        return "%08x-%04x-7%03x-%04x-%012x" % (ms >> 16, ms & 0xFFFF, r >> 62,
                                               0x8000 | (r >> 48) & 0x3FFF, r & 0xFFFFFFFFFFFF)

    def uuid4(self):
        r = self.rng.getrandbits(122)
        return "%08x-%04x-4%03x-%04x-%012x" % (r >> 90, (r >> 74) & 0xFFFF, (r >> 62) & 0xFFF,
                                               0x8000 | (r >> 48) & 0x3FFF, r & 0xFFFFFFFFFFFF)

    def hex256(self):
        """A SHA-256 in hex: what idp stores of a session cookie, a code or a refresh token."""
        return "%064x" % self.rng.getrandbits(256)

    def token(self):
        """32 random bytes, base64url: a grant id."""
        return base64.urlsafe_b64encode(self.rng.getrandbits(256).to_bytes(32, "big")).decode()[:43]

    def address(self):
        rng = self.rng
        if rng.random() < 0.2:
            return "2001:14ba:%x:%x::%x" % (rng.getrandbits(16), rng.getrandbits(16),
                                             rng.getrandbits(16))
        return "%d.%d.%d.%d" % (rng.choice((85, 91, 37, 62, 213, 88)), rng.getrandbits(8),
                                rng.getrandbits(8), 1 + rng.randrange(254))


def poisson(rng, mean):
    """Knuth's method; mean is small."""
    limit, k, p = pow(2.718281828459045, -mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


# --- the stores ---------------------------------------------------------------------------------


class SqliteSink:
    def __init__(self, path):
        import sqlite3

        self.db = sqlite3.connect(path, isolation_level=None)
        # No journal while filling (a failed run leaves a database to throw away): the WAL would
        # hold the whole database a second time until the checkpoint copied it. Back to WAL, as
        # `idp migrate` left it, at the end.
        self.db.execute("PRAGMA journal_mode = OFF")
        self.db.execute("PRAGMA synchronous = OFF")
        self.db.execute("PRAGMA cache_size = -262144")
        self.db.execute("BEGIN")
        if self.db.execute("SELECT COUNT(*) FROM audit_events").fetchone()[0]:
            raise SystemExit("populate: the database already has audit events; give it a new one")
        placeholders = ",".join("?" for _ in TABLES)
        self.indexes = self.db.execute(
            f"SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({placeholders})", TABLES).fetchall()
        for name, _ in self.indexes:
            self.db.execute(f'DROP INDEX "{name}"')

    def write(self, table, columns, rows):
        if not rows:
            return
        sql = f"INSERT INTO {table} ({','.join(columns)}) VALUES ({','.join('?' * len(columns))})"
        self.db.executemany(sql, rows)

    def boolean(self, value):
        return 1 if value else 0

    def finish(self, next_audit_id):
        log("creating the indexes again")
        for _, sql in self.indexes:
            self.db.execute(sql)
        # AUTOINCREMENT already follows the largest id written.
        self.db.execute("COMMIT")
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.close()


class PostgresSink:
    """COPY … FROM STDIN through one psql, in one transaction."""

    def __init__(self, url):
        self.url = url
        events = subprocess.run(["psql", "-At", url, "-c", "SELECT COUNT(*) FROM audit_events"],
                                capture_output=True, text=True, check=True).stdout.strip()
        if events != "0":
            raise SystemExit("populate: the database already has audit events; give it a new one")
        out = subprocess.run(
            ["psql", "-At", "-v", "ON_ERROR_STOP=1", url, "-c",
             "SELECT indexname || '|' || indexdef FROM pg_indexes WHERE schemaname = "
             "current_schema() AND tablename IN (" + ",".join(f"'{t}'" for t in TABLES) + ") "
             "AND indexname NOT IN (SELECT conname FROM pg_constraint)"],
            capture_output=True, text=True, check=True)
        self.indexes = [line.split("|", 1) for line in out.stdout.splitlines() if line]
        self.psql = subprocess.Popen(["psql", "-q", "-v", "ON_ERROR_STOP=1", url],
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        self.send("BEGIN;\n")
        for name, _ in self.indexes:
            self.send(f'DROP INDEX "{name}";\n')

    def send(self, text):
        self.psql.stdin.write(text)

    @staticmethod
    def field(value):
        if value is None:
            return "\\N"
        if isinstance(value, str):
            if "\\" in value or "\t" in value or "\n" in value:
                return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            return value
        return str(value)

    def write(self, table, columns, rows):
        if not rows:
            return
        field = self.field
        self.send(f"COPY {table} ({','.join(columns)}) FROM STDIN;\n")
        self.send("".join("\t".join(map(field, row)) + "\n" for row in rows))
        self.send("\\.\n")

    def boolean(self, value):
        return "t" if value else "f"

    def finish(self, next_audit_id):
        log("creating the indexes again")
        for _, sql in self.indexes:
            self.send(sql + ";\n")
        self.send(f"SELECT setval(pg_get_serial_sequence('audit_events', 'id'), "
                  f"{max(next_audit_id - 1, 1)}, {'true' if next_audit_id > 1 else 'false'});\n")
        # VACUUM as well as ANALYZE: freshly copied rows would otherwise be vacuumed by
        # autovacuum (and their hint bits set by the first reads) during the loads that follow,
        # on the same cores (docs/performance.md, issue 17's growth rows).
        self.send("COMMIT;\nVACUUM (FREEZE, ANALYZE);\n")
        self.psql.stdin.close()
        if self.psql.wait() != 0:
            raise SystemExit("populate: psql failed")


# --- the simulation -----------------------------------------------------------------------------


class Population:
    def __init__(self, sink, n, now_us, seed, stale_hours):
        self.sink = sink
        self.n = n
        self.now = now_us
        self.keep_after = now_us - stale_hours * HOUR_US
        self.rng = random.Random(seed)
        self.ids = Ids(self.rng)
        self.sealer = Sealer(TENANT, self.rng)
        self.start = now_us - 365 * DAY_US
        # The chain starts at its genesis: the database must hold no event yet.
        self.next_event = 1
        self.counts = {}

    def out(self, table, columns, rows):
        self.sink.write(table, columns, rows)
        self.counts[table] = self.counts.get(table, 0) + len(rows)

    def run(self):
        rng, ids, n = self.rng, self.ids, self.n
        old = n - int(n * CREATED_IN_YEAR)
        # Creation times: the old residents over the 5 years before, the new ones in order.
        created = [self.start - rng.randrange(5 * 365 * DAY_US) for _ in range(old)]
        span = 365 * DAY_US
        created += [self.start + (i * span) // max(1, n - old) + rng.randrange(DAY_US // 2)
                    for i in range(n - old)]
        self.user_ids = [ids.uuid7(t) for t in created]
        self.created = created
        self.write_users(old)
        self.write_legacy()
        self.write_consents()
        # The year, day by day.
        per_day = n * LOGINS_PER_YEAR / 365
        new = old  # residents [0, new) exist by the start of the day
        for day in range(365):
            day_start = self.start + day * DAY_US
            day_end = min(day_start + DAY_US, self.now)
            events = []
            while new < n and created[new] < day_end:
                events.append((created[new], "user.created", self.user_ids[new], None,
                               ids.address(), '{"by":"registration"}'))
                new += 1
            eligible = max(new, 1)
            logins = sorted(
                (day_start + rng.randrange(day_end - day_start), rng.randrange(eligible))
                for _ in range(poisson(rng, per_day) if per_day < 30 else
                               int(rng.gauss(per_day, per_day ** 0.5)))
            )
            rows = {"sessions": [], "grants": [], "codes": [], "refresh": []}
            for at, who in logins:
                at = max(at, created[who] + MINUTE_US)
                if at < self.now:
                    self.login(at, who, events, rows)
            events.sort(key=lambda e: e[0])
            self.write_events(events)
            self.write_rows(rows)
            if day % 30 == 29:
                log(f"day {day + 1}: {self.next_event - 1} audit events so far")
        self.sink.finish(self.next_event)
        return self.counts

    def login(self, at, who, events, rows):
        rng, ids = self.rng, self.ids
        user = self.user_ids[who]
        client = rng.choice(CLIENTS)
        addr = ids.address()
        if rng.random() < RESET_SHARE:
            events.append((at - 10 * MINUTE_US, "password.reset_requested", user, None, addr,
                           None))
            events.append((at - 5 * MINUTE_US, "password.reset", user, None, addr, None))
        if rng.random() < FAILED_SHARE:
            events.append((at - rng.randrange(5, 60) * SECOND_US, "login.failed", user, client,
                           addr, None))
        events.append((at, "login.succeeded", user, client, addr, '{"amr":"pwd"}'))
        issued = at + rng.randrange(100_000, 900_000)
        events.append((issued, "token.issued", user, client, addr, None))
        remember = rng.random() < REMEMBER_SHARE
        expires = at + (REMEMBER_US if remember else SESSION_US)
        ended = None
        if rng.random() < LOGOUT_SHARE:
            ended = min(at + rng.randrange(5 * MINUTE_US, 2 * HOUR_US), expires - SECOND_US)
            if ended < self.now:
                events.append((ended, "session.ended", user, None, addr, None))
            else:
                ended = None
        # What the clean-up would have left: the session until it expires or a day after its end.
        gone = expires if ended is None else min(expires, ended + DAY_US)
        session = ids.uuid7(at)
        keep_session = gone >= self.keep_after
        if keep_session:
            t = stamp(at)
            rows["sessions"].append((
                session, ids.hex256(), TENANT, user, self.sink.boolean(remember), t, "pwd",
                "urn:idp:acr:password", t, stamp(max(at, issued)), stamp(expires),
                None if ended is None else stamp(ended), rng.choice(USER_AGENTS), None))
        offline = rng.random() < OFFLINE_SHARE
        grant_expires = at + OFFLINE_US if offline else min(expires, at + SESSION_US)
        if grant_expires < self.keep_after:
            return
        revoked = ended if ended is not None and not offline else None
        grant = ids.token()
        scope = "openid email offline_access" if offline else "openid email"
        t = stamp(at)
        rows["grants"].append((
            grant, TENANT, client, user, session if keep_session else None, scope, t, "pwd",
            "urn:idp:acr:password", self.sink.boolean(offline), t, stamp(grant_expires),
            None if revoked is None else stamp(revoked)))
        rows["codes"].append((
            ids.hex256(), grant, TENANT, client, f"https://{client}.example.fi/callback",
            ids.token()[:22], None, None, t, stamp(at + CODE_US), stamp(issued)))
        rotations = rng.randint(0, 20 if offline else 3)
        made = issued
        for r in range(rotations + 1):
            if made >= self.now:
                break
            step = rng.randrange(HOUR_US, 2 * DAY_US) if offline else 5 * MINUTE_US
            used = made + step
            last = r == rotations or used >= self.now or used >= grant_expires
            rows["refresh"].append((
                ids.hex256(), grant, TENANT, scope, stamp(made), stamp(grant_expires),
                None if last else stamp(used)))
            if last:
                break
            made = used

    def write_events(self, events):
        seal = self.sealer.seal
        batch = []
        for at, kind, user, client, addr, detail in events:
            if at >= self.now:
                continue
            event_id = self.next_event
            self.next_event += 1
            text = stamp(at)
            batch.append((event_id, TENANT, text, kind, user, client, addr, detail)
                         + seal(event_id, chain_stamp(text), kind, user, client, addr, detail))
        self.out("audit_events", ["id", "tenant_id", "occurred_at", "kind", "user_id",
                                  "client_id", "remote_addr", "detail", "seq", "prev_hash",
                                  "hash", "personal_digest", "salt"], batch)

    def write_rows(self, rows):
        self.out("sso_sessions", ["id", "token_hash", "tenant_id", "user_id", "remember",
                                  "auth_time", "amr", "acr", "created_at", "last_seen_at",
                                  "expires_at", "ended_at", "user_agent", "location"],
                 rows["sessions"])
        self.out("grants", ["id", "tenant_id", "client_id", "user_id", "session_id", "scope",
                            "auth_time", "amr", "acr", "offline", "created_at", "expires_at",
                            "revoked_at"], rows["grants"])
        self.out("auth_codes", ["code_hash", "grant_id", "tenant_id", "client_id",
                                "redirect_uri", "nonce", "code_challenge", "claims",
                                "created_at", "expires_at", "used_at"], rows["codes"])
        self.out("refresh_tokens", ["token_hash", "grant_id", "tenant_id", "scope",
                                    "created_at", "expires_at", "used_at"], rows["refresh"])

    def write_users(self, old):
        rng, ids = self.rng, self.ids
        b = self.sink.boolean
        batch = []
        self.linked = set()
        for i, user in enumerate(self.user_ids):
            linked = rng.random() < LINKED_SHARE
            if linked:
                self.linked.add(i)
            email = f"asukas{i:07d}@kunta.example"
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            created = stamp(self.created[i])
            changed = stamp(self.created[i] + rng.randrange(max(1, self.now - self.created[i])))
            batch.append((
                user, TENANT, str(2_000_000 + i) if linked else ids.uuid4(), email, email,
                b(rng.random() < 0.95), None, None, f"{first} {last}", rng.choice(LOCALES),
                PASSWORD_HASH, changed, b(False), b(False), created, changed))
            if len(batch) == 50_000:
                self.out("users", USER_COLUMNS, batch)
                batch = []
        self.out("users", USER_COLUMNS, batch)

    def write_legacy(self):
        rng, ids = self.rng, self.ids
        b = self.sink.boolean
        batch = []
        imported = stamp(self.start - 400 * DAY_US)
        unclaimed = int(self.n * UNCLAIMED_SHARE)
        for i in list(sorted(self.linked)) + list(range(self.n, self.n + unclaimed)):
            username = f"asukas{i:07d}"
            email = f"{username}@vanha.example"
            linked = i < self.n
            at = stamp(self.created[i] + HOUR_US) if linked else None
            batch.append((
                ids.uuid7(self.start - 400 * DAY_US), TENANT, username, username,
                str(2_000_000 + i), email, email, LEGACY_HASH, "bcrypt",
                f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}", b(False),
                self.user_ids[i] if linked else None, at, imported, at or imported))
            if len(batch) == 50_000:
                self.out("legacy_accounts", LEGACY_COLUMNS, batch)
                batch = []
        self.out("legacy_accounts", LEGACY_COLUMNS, batch)

    def write_consents(self):
        rng = self.rng
        batch = []
        for i, user in enumerate(self.user_ids):
            draw = rng.random()
            clients = THIRD_PARTY if draw < 0.10 else [rng.choice(THIRD_PARTY)] if draw < 0.40 \
                else []
            for client in clients:
                at = self.created[i] + rng.randrange(max(1, self.now - self.created[i]))
                batch.append((user, client, TENANT, "openid email", stamp(at)))
            if len(batch) >= 50_000:
                self.out("consents", ["user_id", "client_id", "tenant_id", "scope",
                                      "granted_at"], batch)
                batch = []
        self.out("consents", ["user_id", "client_id", "tenant_id", "scope", "granted_at"], batch)


USER_COLUMNS = ["id", "tenant_id", "subject", "email", "email_normalized", "email_verified",
                "username", "username_normalized", "name", "locale", "password_hash",
                "password_changed_at", "is_authority", "disabled", "created_at", "updated_at"]
LEGACY_COLUMNS = ["id", "tenant_id", "username", "username_normalized", "subject", "email",
                  "email_normalized", "password_hash", "hash_format", "name", "is_authority",
                  "linked_user_id", "linked_at", "imported_at", "updated_at"]


def populate(database_url, residents, seed=17, stale_hours=24, now=None):
    """Fills the tenant; returns the rows written per table and the seconds it took."""
    began = time.monotonic()
    now_us = int((now or time.time()) * 1_000_000)
    if database_url.startswith("sqlite://"):
        sink = SqliteSink(database_url[len("sqlite://"):])
    elif database_url.startswith(("postgres://", "postgresql://")):
        sink = PostgresSink(database_url)
    else:
        raise SystemExit(f"populate: unknown database {database_url}")
    counts = Population(sink, residents, now_us, seed, stale_hours).run()
    return counts, time.monotonic() - began


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database", help="sqlite:///path or postgres://…, migrated")
    parser.add_argument("residents", type=int)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--stale-hours", type=int, default=24,
                        help="expired rows kept: those the clean-up could delete since then")
    args = parser.parse_args()
    counts, seconds = populate(args.database, args.residents, args.seed, args.stale_hours)
    print(json.dumps({"residents": args.residents, "seconds": round(seconds, 1), "rows": counts}))


if __name__ == "__main__":
    main()
