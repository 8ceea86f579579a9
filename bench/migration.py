#!/usr/bin/env python3
"""A migration on a large database under load (issue 16, item 5; docs/performance.md, "Migrations
on large tables").

On a seeded database, starts the release server and a steady write load (token refreshes), takes
the expiry-index migration (2026-12-03-000400_expiry_indexes) back out (drops its indexes and its
row in __diesel_schema_migrations), and applies it again with `yagona migrate` while the load runs: reports how long it took and requests/s, p50, p99 and errors before, during
and after. Then times adding a nullable column to the largest table (`ALTER TABLE ... ADD COLUMN`,
left in place: the bench database is thrown away). Writes JSON to --json-out.

    python3 bench/migration.py --database URL [--json-out target/bench/migration.json]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from purge import Database, Server, finish, phase_stats, start_load, write_json  # noqa: E402

MIGRATION = "20261203000400"
# The migration's indexes, read from its own file: a list kept here drifted once (an index added
# to the migration later made `yagona migrate` fail with "already exists").
UP_SQL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "migrations", "sqlite",
                      "2026-12-03-000400_expiry_indexes", "up.sql")
INDEXES = re.findall(r"CREATE INDEX (?:CONCURRENTLY )?(?:IF NOT EXISTS )?(\w+) ON", open(UP_SQL).read())


def execute(db, sql):
    if db.sqlite:
        import sqlite3
        with sqlite3.connect(db.path, timeout=60) as c:
            c.executescript(sql)
    else:
        subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", db.url, "-c", sql], check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database", required=True)
    ap.add_argument("--json-out", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                       "target", "bench", "migration.json"))
    ap.add_argument("--scenario", default="refresh_token")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--settle", type=float, default=10.0)
    args = ap.parse_args()
    db = Database(args.database)
    workdir = tempfile.mkdtemp(prefix="yagona-migration-bench-")
    server = Server(args.database, workdir)
    result = {"database": "sqlite" if db.sqlite else "postgres", "scenario": args.scenario}
    loadgen = None
    try:
        server.prepare()
        result["rows"] = db.row_counts()
        server.start()
        loadgen, samples_path, stop_path = start_load(server, args.scenario, args.concurrency, workdir)
        # Taken out under load (the server applies pending migrations at its start): a dropped
        # index is gone at once on either backend.
        drop = "".join(f"DROP INDEX IF EXISTS {i};" for i in INDEXES)
        execute(db, drop + f"DELETE FROM __diesel_schema_migrations WHERE version = '{MIGRATION}';")
        t0 = time.time() * 1000
        time.sleep(args.settle)
        t1 = time.time() * 1000
        done = server.cli("migrate", check=False)
        t2 = time.time() * 1000
        if done.returncode != 0:
            raise RuntimeError(f"yagona migrate failed: {done.stderr.strip()[-500:]}")
        result["migrate_seconds"] = round((t2 - t1) / 1000, 2)
        time.sleep(args.settle)
        t3 = time.time() * 1000
        with open(stop_path, "w"):
            pass
        out, err = loadgen.communicate(timeout=120)
        if loadgen.returncode != 0:
            raise RuntimeError(f"load generator failed: {err.strip()[-500:]}")
        samples = [tuple(map(float, line.split())) for line in open(samples_path)]
        result["phases"] = {"before": phase_stats(samples, t0, t1), "during_migrate": phase_stats(samples, t1, t2),
                            "after": phase_stats(samples, t2, t3)}
        server.stop()
        column = f"bench_probe_{int(time.time())}"
        started = time.monotonic()
        execute(db, f"ALTER TABLE refresh_tokens ADD COLUMN {column} TEXT;")
        result["add_nullable_column_seconds"] = round(time.monotonic() - started, 3)
        if not db.sqlite:
            execute(db, f"ALTER TABLE refresh_tokens DROP COLUMN {column};")
    finally:
        finish(loadgen, server, workdir)
    write_json(args.json_out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    sys.exit(main())
