#!/usr/bin/env bash
# The benchmark (docs/performance.md): builds the release binary and the argon2 timer, installs
# wrk if it is missing, and runs scripts/bench/bench.py on SQLite and on a throwaway PostgreSQL.
# The table is printed and written to target/bench/latest.md. Extra arguments go to bench.py
# (`--help` lists them all):
#
#   --stores sqlite            SQLite alone (default sqlite,postgres; also sqlite-normal)
#   --seconds 10               each load's length (default 5; logins --login-seconds, 10)
#   --connections 1,4,16       the connection counts of code exchange and refresh (the default)
#   --pin / --no-pin           the server on CPU 1 and wrk on CPU 0 (taskset) for the request
#                              loads; on by default with 2 or more CPUs. The full login and the
#                              overload always run unpinned (idp's hashing pool has one thread
#                              per core it may use)
#   --compare node / none      the same request loads against node-oidc-provider (the exact
#                              version in scripts/bench/node/package.json, installed with npm
#                              into target/bench/node/ once, its in-memory adapter), pinned the
#                              same way, with the ratio per row; on by default if npm is installed
#   --population 1000000       first fill the tenant with N generated residents and a year of
#                              their use (scripts/bench/populate.py; a million take 4–8 minutes
#                              and about 6 GB per store under $TMPDIR)
#   --keep                     keep the scratch directories
#
# The whole run at the defaults (node, SQLite, PostgreSQL) takes about 12 minutes on 2 cores
# besides the build (8 minutes from scratch: the release profile has LTO); with --seconds 2, 7.
#
#   scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# What the benchmark needs besides Rust: wrk, /usr/bin/time, sqlite3 and psql (the database
# size per session), python3, and PostgreSQL 15's server for scripts/with-postgres.
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
[ -x /usr/bin/time ] || missing+=(time)
command -v sqlite3 >/dev/null 2>&1 || missing+=(sqlite3)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql-15)
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: installing ${missing[*]}"
  sudo=(); [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "${missing[@]}"
fi

cargo build --release --bin idp --example hash_cost
target=${CARGO_TARGET_DIR:-target}
args=(--idp "$target/release/idp" --hash-cost "$target/release/examples/hash_cost" "$@")

case " $* " in
  *" --stores sqlite "* | *" --stores=sqlite "*) python3 scripts/bench/bench.py "${args[@]}" ;;
  *) scripts/with-postgres python3 scripts/bench/bench.py "${args[@]}" ;;
esac
