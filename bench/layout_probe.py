#!/usr/bin/env python3
"""A layout probe for SQLite (docs/performance.md, "Cost as data grows"): does a change of the
schema make the per-person lookups at a large size cheaper, measured side by side?

Takes the seedings `bench/scale.py` kept (`SCALE_KEEP=1 SCALE_BACKENDS=sqlite`): the
1000-person one as the baseline and the large one, of which it makes two `VACUUM INTO` copies
(so that neither carries the holes of an earlier purge), applies `--sql` to one of them and
`ANALYZE`s both. The three release servers then run the per-person lookups in alternation,
`--rounds` times, the order rotated from round to round. Prints each window's rate and the server's
CPU time per request, and the paired medians (each round's ratio, then the median over
rounds): base/1000, variant/1000 and variant/base, and the same for the CPU time per request
the other way up (1000/base: the rate ratio the server's CPU alone would allow). The copies are deleted at the end unless `--keep`.

Usage: python3 bench/layout_probe.py --sql FILE [--people 1000000] [--rounds 6]
       [--scenarios seeded_userinfo,seeded_introspection] [--keep]
"""
import argparse
import os
import sqlite3
import statistics
import sys
import time

os.environ["SCALE_KEEP"] = "1"  # the probe only ever reuses the kept seedings
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scale  # noqa: E402


def vacuum_copy(source, target, sql=None):
    scale.remove_sqlite(target)
    started = time.monotonic()
    with sqlite3.connect(source) as db:
        db.execute("VACUUM INTO ?", (target,))
    with sqlite3.connect(target, isolation_level=None) as db:
        if sql:
            db.executescript(sql)
        db.execute("ANALYZE")
    print(f"  {os.path.basename(target)}: {os.path.getsize(target) / 2**30:.2f} GiB in "
          f"{time.monotonic() - started:.0f} s", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sql", required=True, help="the SQL script that makes the variant")
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--scenarios", default="seeded_userinfo,seeded_introspection")
    parser.add_argument("--keep", action="store_true", help="keep the two copies")
    args = parser.parse_args()
    kept = os.path.join(scale.OUT, "scale", f"seed-{args.people}.db")
    if not os.path.exists(kept) or not os.path.exists(os.path.join(scale.OUT, "scale", "seed-1000.db")):
        sys.exit("no kept SQLite seedings: run SCALE_KEEP=1 SCALE_BACKENDS=sqlite python3 bench/scale.py first")
    with open(args.sql) as f:
        sql = f.read()
    base_db = os.path.join(scale.OUT, "scale", f"probe-base-{args.people}.db")
    variant_db = os.path.join(scale.OUT, "scale", f"probe-variant-{args.people}.db")
    names = ["1000", "base", "variant"]
    rates = {(s, name): [] for s in args.scenarios.split(",") for name in names}
    cpu = {(s, name): [] for s in args.scenarios.split(",") for name in names}
    servers = {}
    try:
        vacuum_copy(kept, base_db)
        vacuum_copy(kept, variant_db, sql)
        servers["1000"] = scale.ScaleServer("sqlite", 1000)
        servers["base"] = scale.ScaleServer("sqlite", args.people, sqlite_path=base_db)
        servers["variant"] = scale.ScaleServer("sqlite", args.people, sqlite_path=variant_db)
        for server in servers.values():
            server.start()
        for r in range(args.rounds):
            order = names[r % 3:] + names[:r % 3]
            for scenario in args.scenarios.split(","):
                for name in order:
                    result = scale.load(servers[name], scenario)
                    rps = result.get("rps", 0.0)  # a failed window: 0, left out of the ratios
                    rates[(scenario, name)].append(rps)
                    cpu[(scenario, name)].append(result.get("server_cpu_us_per_request", 0.0))
                    print(f"  round {r + 1} {scenario:22} {name:8} {rps:8.0f} req/s, p99 "
                          f"{result.get('p99_ms', float('nan')):.2f} ms, server CPU "
                          f"{cpu[(scenario, name)][-1]:.1f} µs/request {result.get('error', '')}", flush=True)
    finally:
        for server in servers.values():
            if server.proc is not None and server.proc.poll() is None:
                server.stop()
            server.close()
        if not args.keep:
            scale.remove_sqlite(base_db)
            scale.remove_sqlite(variant_db)
    for scenario in args.scenarios.split(","):
        def paired(series, a, b):
            pairs = [x / y for x, y in zip(series[(scenario, a)], series[(scenario, b)]) if x and y]
            return statistics.median(pairs) if pairs else float("nan")
        medians = {name: statistics.median([v for v in rates[(scenario, name)] if v] or [0.0]) for name in names}
        print(f"{scenario}: medians " + ", ".join(f"{n} {v:.0f}" for n, v in medians.items())
              + f"; paired base/1000 {paired(rates, 'base', '1000'):.2f}x, variant/1000 "
              f"{paired(rates, 'variant', '1000'):.2f}x, variant/base {paired(rates, 'variant', 'base'):.2f}x")
        # CPU per request the other way up (baseline over size), comparable with the rates.
        print(f"{scenario}: server CPU per request, paired: 1000/base {paired(cpu, '1000', 'base'):.2f}x, "
              f"1000/variant {paired(cpu, '1000', 'variant'):.2f}x, base/variant {paired(cpu, 'base', 'variant'):.2f}x")


if __name__ == "__main__":
    main()
