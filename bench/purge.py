#!/usr/bin/env python3
"""The purge under load (issue 16, item 3; docs/performance.md, "Housekeeping at scale").

On a seeded database (`yagona bench seed`, whose expired rows expired evenly over the day before
seeding), starts the release server, drives a steady load with the load generator (one hot
scenario, per-request samples), and purges twice while it runs: first the purge as it was before
batches (`yagona purge --at-once`, one statement per table in one transaction) on the rows that
expired in the older half of that day, then the batched purge (`yagona purge`) on the rest. Reports
requests/s, p50 and p99 before, during and after each purge, the rows deleted and the time taken,
the database's size before and after, PostgreSQL's dead tuples and autovacuum runs, and SQLite's
write-ahead log size during and after. Writes JSON to --json-out.

    python3 bench/purge.py --database URL [--json-out target/bench/purge.json]
        [--scenario refresh_token] [--concurrency 8] [--settle 20] [--methods at_once,batches]

The purge runs in its own process (`yagona purge`), pinned to the server's core: in production it
runs inside the server, on the same cores. The bench reports; it never fails on speed.
"""
import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The release binaries, the CPU pinning and the server helpers of `make bench`.
from run import LOAD_CPU, LOADGEN, PINNED, ROOT, SERVER_CPU, YAGONA, free_port, wait_for  # noqa: E402

SECRET, PASSWORD = "bench-secret-0123456789", "Samarqand-Yulduz-2026"
PURGED_TABLES = ["authorization_codes", "refresh_tokens", "grants", "sessions", "interactions", "eds_challenges",
                 "registrations", "pending_signatures", "recovery_tokens", "revoked_access_tokens",
                 "opaque_access_tokens", "client_assertion_jtis", "pushed_authorization_requests", "registration_tokens", "dpop_proofs", "throttle_counters"]
# The tables the seeder fills, for the row counts (issue 16, item 5).
SEEDED_TABLES = ["accounts", "certificates", "sessions", "legal_entities", "memberships", "grants", "refresh_tokens",
                 "opaque_access_tokens", "consents", "login_events", "audit_events"]


class Database:
    """Size and statistics probes for the database under test, read beside the server."""

    def __init__(self, url):
        self.url = url
        self.sqlite = url.startswith("sqlite://")
        self.path = url[len("sqlite://"):] if self.sqlite else None

    def query(self, sql):
        if self.sqlite:
            with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30) as c:
                return c.execute(sql).fetchall()
        out = subprocess.run(["psql", "-X", "-A", "-t", "-F", "\t", self.url, "-c", sql], capture_output=True, text=True,
                             check=True).stdout
        return [tuple(line.split("\t")) for line in out.splitlines() if line]

    def wal_bytes(self):
        try:
            return os.path.getsize(self.path + "-wal")
        except OSError:
            return 0

    def sizes(self):
        """Bytes: the whole database, and the purged tables with their indexes (PostgreSQL)."""
        if self.sqlite:
            free = int(self.query("PRAGMA freelist_count")[0][0]) * int(self.query("PRAGMA page_size")[0][0])
            return {"database_bytes": os.path.getsize(self.path), "wal_bytes": self.wal_bytes(),
                    "free_page_bytes": free}
        names = ",".join(f"'{t}'" for t in PURGED_TABLES)
        tables = dict(self.query(f"SELECT relname, pg_total_relation_size(relid) FROM pg_stat_user_tables "
                                 f"WHERE relname IN ({names})"))
        return {"database_bytes": int(self.query("SELECT pg_database_size(current_database())")[0][0]),
                "purged_tables_bytes": sum(int(v) for v in tables.values()),
                "table_bytes": {k: int(v) for k, v in tables.items()}}

    def vacuum_stats(self):
        if self.sqlite:
            return None
        names = ",".join(f"'{t}'" for t in PURGED_TABLES)
        rows = self.query(f"SELECT relname, n_live_tup, n_dead_tup, autovacuum_count, coalesce(last_autovacuum::text, '') "
                          f"FROM pg_stat_user_tables WHERE relname IN ({names}) ORDER BY relname")
        return {r[0]: {"n_live_tup": int(r[1]), "n_dead_tup": int(r[2]), "autovacuum_count": int(r[3]),
                       "last_autovacuum": r[4] or None} for r in rows}

    def row_counts(self):
        return {t: int(self.query(f"SELECT count(*) FROM {t}")[0][0]) for t in SEEDED_TABLES}

    def expired_span(self, now):
        """The earliest and latest expiry of the expired refresh tokens (the seeder's day)."""
        row = self.query(f"SELECT min(expires_at), max(expires_at) FROM refresh_tokens WHERE expires_at <= {now}")[0]
        return (int(row[0]), int(row[1])) if row[0] not in (None, "") else None


class Server:
    def __init__(self, url, workdir):
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.env = dict(os.environ, YAGONA_ISSUER=self.base, YAGONA_HTTP__LISTEN=f"127.0.0.1:{port}",
                        YAGONA_DATABASE__URL=url, YAGONA_LOG__LEVEL="warn", YAGONA_HTTP__SHUTDOWN_GRACE="0",
                        YAGONA_METRICS__LISTEN=f"127.0.0.1:{free_port()}",
                        YAGONA_KEYS__ENCRYPTION_KEY="MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
                        # The purges measured are the bench's own; the server's every 10 minutes
                        # would run beside them at 10 M people (and did, before this).
                        YAGONA_PURGE__INTERVAL="0")
        self.workdir = workdir
        self.proc = None

    def cli(self, *args, stdin=None, check=True, cpu=()):
        return subprocess.run([*cpu, YAGONA, *args], env=self.env, input=stdin, text=True, check=check,
                              capture_output=True)

    def prepare(self):
        self.cli("migrate")
        # The bench client and person (kept when they exist: the database may be used again).
        self.cli("client", "add", "--id", "bench", "--secret", SECRET, "--redirect-uri",
                 "http://127.0.0.1:9/bench/callback", "--first-party", "--grant-type", "authorization_code",
                 "--grant-type", "refresh_token", "--grant-type", "client_credentials", check=False)
        self.cli("account", "add", "--login", "bench", "--password-stdin", "--pinfl", "31205900260011", "--surname",
                 "Benchmark", "--first-name", "Bench", "--birth-date", "1990-05-12", stdin=PASSWORD + "\n",
                 check=False)

    def start(self):
        self.proc = subprocess.Popen(SERVER_CPU + [YAGONA, "serve"], env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.workdir, "server.log"), "w"))
        wait_for(self.base + "/.well-known/openid-configuration", deadline_s=120)

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def start_load(server, scenario, concurrency, workdir):
    """The load generator on `scenario`, running until its stop file appears and writing every
    request to its samples file, past its 3 s warm-up; (process, samples path, stop path)."""
    samples_path, stop_path = os.path.join(workdir, "samples.txt"), os.path.join(workdir, "stop")
    loadgen = subprocess.Popen(LOAD_CPU + [LOADGEN, "--base", server.base, "--scenario", scenario,
                                           "--concurrency", str(concurrency), "--warmup", "3",
                                           "--duration", "86400", "--stop-file", stop_path,
                                           "--samples", samples_path],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    return loadgen, samples_path, stop_path


def finish(loadgen, server, workdir):
    """The end of a bench under load, however it ended: the load and the server stopped."""
    if loadgen and loadgen.poll() is None:
        loadgen.kill()
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def write_json(path, result):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=2)


def percentile(sorted_values, p):
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p / 100.0))]


def phase_stats(samples, start_ms, end_ms):
    inside = [lat for t, lat in samples if start_ms <= t < end_ms]
    ok = sorted(lat for lat in inside if lat >= 0)
    seconds = max((end_ms - start_ms) / 1000.0, 1e-9)
    return {"seconds": round(seconds, 2), "requests": len(ok), "errors": len(inside) - len(ok),
            "rps": round(len(ok) / seconds, 1), "p50_ms": round(percentile(ok, 50), 3),
            "p99_ms": round(percentile(ok, 99), 3), "max_ms": round(ok[-1], 3) if ok else 0.0}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database", required=True, help="sqlite://PATH or postgres://... of a seeded database")
    ap.add_argument("--json-out", default=os.path.join(ROOT, "target", "bench", "purge.json"))
    ap.add_argument("--scenario", default="refresh_token", help="the load generator's scenario")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--settle", type=float, default=20.0, help="seconds measured before, between and after")
    ap.add_argument("--methods", default="at_once,batches",
                    help="purges in order: at_once (older half of the expired rows), batches (the rest)")
    ap.add_argument("--batch", type=int, help="rows per batch (default: yagona purge's for the backend)")
    ap.add_argument("--pause-ms", type=int, help="SQLite's least pause (default: yagona purge's)")
    args = ap.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    db = Database(args.database)
    workdir = tempfile.mkdtemp(prefix="yagona-purge-bench-")
    server = Server(args.database, workdir)
    result = {"database": "sqlite" if db.sqlite else "postgres", "scenario": args.scenario,
              "concurrency": args.concurrency, "machine": {"cpus": os.cpu_count(), "pinned": bool(PINNED)}}
    loadgen = None
    try:
        server.prepare()
        now = int(time.time())
        span = db.expired_span(now)
        result["expired_span"] = span
        result["rows_before"] = db.row_counts()
        result["size_before"] = db.sizes()
        result["vacuum_before"] = db.vacuum_stats()
        server.start()
        loadgen, samples_path, stop_path = start_load(server, args.scenario, args.concurrency, workdir)
        marks = [("before", time.time() * 1000)]
        time.sleep(args.settle)
        purges = []
        for k, method in enumerate(methods):
            # The first of two purges takes the older half of the seeded day's expired rows.
            as_of = now if (k == len(methods) - 1 or not span) else (span[0] + span[1]) // 2
            cmd = ["purge", "--json", "--as-of", str(as_of)] + (["--at-once"] if method == "at_once" else [])
            cmd += ["--batch", str(args.batch)] if args.batch is not None else []
            cmd += ["--pause-ms", str(args.pause_ms)] if args.pause_ms is not None else []
            wal_peak, polling = [0], [True]

            def poll_wal():
                while polling[0]:
                    wal_peak[0] = max(wal_peak[0], db.wal_bytes())
                    time.sleep(0.2)

            poller = threading.Thread(target=poll_wal) if db.sqlite else None
            if poller:
                poller.start()
            start = time.time() * 1000
            done = server.cli(*cmd, cpu=SERVER_CPU, check=False)
            end = time.time() * 1000
            polling[0] = False
            if poller:
                poller.join()
            if done.returncode != 0:
                raise RuntimeError(f"yagona purge failed: {done.stderr.strip()[-500:]}")
            report = json.loads(done.stdout.strip().splitlines()[-1])
            marks.append((f"during_{method}", start))
            marks.append((f"after_{method}", end))
            entry = {"method": method, "as_of": as_of, "rows": report["rows"], "batches": report["batches"],
                     "purge_seconds": round(report["seconds"], 2), "wall_seconds": round((end - start) / 1000, 2),
                     "tables": {t: n for t, n in report["tables"].items() if n},
                     # The audit trail's retention, after the expired rows (in wall_seconds too).
                     "audit_events": report.get("audit_events"), "audit_seconds": report.get("audit_seconds")}
            if db.sqlite:
                entry["wal_peak_bytes"] = wal_peak[0]
            time.sleep(args.settle)
            if db.sqlite:
                entry["wal_bytes_after"] = db.wal_bytes()
            entry["vacuum_after"] = db.vacuum_stats()
            purges.append(entry)
        marks.append(("end", time.time() * 1000))
        with open(stop_path, "w"):
            pass
        out, err = loadgen.communicate(timeout=120)
        if loadgen.returncode != 0:
            raise RuntimeError(f"load generator failed: {err.strip()[-500:]}")
        result["load_total"] = json.loads(out.strip().splitlines()[-1])
        samples = []
        with open(samples_path) as f:
            for line in f:
                t, lat = line.split()
                samples.append((float(t), float(lat)))
        phases = {}
        for (name, start), (_, end) in zip(marks, marks[1:]):
            phases[name] = phase_stats(samples, start, end)
        result["phases"] = phases
        base = phases["before"]["p99_ms"] or 1e-9
        for entry in purges:
            entry["p99_during_over_before"] = round(phases[f"during_{entry['method']}"]["p99_ms"] / base, 2)
            entry["rps_during_over_before"] = round(phases[f"during_{entry['method']}"]["rps"]
                                                    / max(phases["before"]["rps"], 1e-9), 2)
        result["purges"] = purges
        server.stop()
        result["size_after"] = db.sizes()
        result["vacuum_after"] = db.vacuum_stats()
    finally:
        finish(loadgen, server, workdir)
    write_json(args.json_out, result)
    print_summary(result)


def print_summary(r):
    print(f"\n{r['database']}: {r['scenario']} at concurrency {r['concurrency']}")
    print(f"{'phase':<22}{'seconds':>9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'errors':>8}")
    for name, p in r["phases"].items():
        print(f"{name:<22}{p['seconds']:>9.1f}{p['rps']:>9.0f}{p['p50_ms']:>9.2f}{p['p99_ms']:>9.2f}"
              f"{p['max_ms']:>9.1f}{p['errors']:>8}")
    for e in r["purges"]:
        wal = f", WAL peak {e['wal_peak_bytes'] / 2**20:.0f} MiB, after {e['wal_bytes_after'] / 2**20:.0f} MiB" \
            if "wal_peak_bytes" in e else ""
        print(f"{e['method']:<9} {e['rows']:>10} rows in {e['purge_seconds']:.1f} s ({e['batches']} batches); "
              f"p99 during / before {e['p99_during_over_before']:.2f}x, req/s {e['rps_during_over_before']:.2f}x{wal}")
    mib = lambda b: f"{b / 2**20:.0f} MiB"
    print(f"database {mib(r['size_before']['database_bytes'])} before, {mib(r['size_after']['database_bytes'])} after")


if __name__ == "__main__":
    sys.exit(main())
