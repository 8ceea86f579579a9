#!/usr/bin/env python3
"""`make bench`: Yagona on SQLite and on PostgreSQL, and panva's oidc-provider, side by side.

Every scenario runs against each server in the same run with the same load generator
(crates/loadgen), fixed concurrency, a warm-up and a timed window; the server is pinned to core 0
and the load to core 1 with taskset where there are two cores. Prints one table (requests/s, p50,
p99, errors, and Yagona/peer ratios) and writes target/bench/results.json. `--quick` is the
one-minute version (shorter windows, fewer scenarios). The bench reports; it never fails on speed.
"""
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

QUICK = "--quick" in sys.argv
WARMUP, DURATION, CONCURRENCY = (0.5, 2.0, 16) if QUICK else (2.0, 6.0, 16)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")
YAGONA = os.environ.get("BENCH_YAGONA") or os.path.join(RELEASE, "yagona")  # BENCH_YAGONA: a before/after probe
LOADGEN = os.path.join(RELEASE, "yagona-loadgen")
OUT = os.path.join(ROOT, "target", "bench")
SECRET, PASSWORD = "bench-secret-0123456789", "Samarqand-Yulduz-2026"
PINNED = shutil.which("taskset") is not None and os.cpu_count() and os.cpu_count() >= 2
SERVER_CPU, LOAD_CPU = (["taskset", "-c", "0"], ["taskset", "-c", "1"]) if PINNED else ([], [])
YAGONA_SCENARIOS = ["discovery", "jwks", "client_credentials", "introspection", "userinfo", "refresh_token",
                    "refresh_token/opaque"]
if not QUICK:
    YAGONA_SCENARIOS += ["code_exchange", "code_exchange/opaque", "login_flow"]
PEER_SCENARIOS = ["discovery", "jwks", "client_credentials", "introspection", "userinfo", "refresh_token",
                  "refresh_token/opaque"]
if not QUICK:
    PEER_SCENARIOS += ["code_exchange", "code_exchange/opaque"]
# Rows compare the same work. A plain row issues JWT (RS256) access tokens on both sides: Yagona's
# `bench` client does, and the peer does for a resource server (RFC 8707), so its logins and its
# client_credentials ask for resource=urn:bench (with its scope `api`). A row "S/opaque" issues
# opaque access tokens on both sides: Yagona's client `bench-opaque` (registered with
# --access-token-format opaque) and the peer without a resource, its default. A token response is
# then one RS256 signature (the ID token) instead of two. introspection and userinfo use opaque
# tokens at the peer (its JWT access tokens are neither introspectable nor accepted at userinfo).
# Its logins go through its development interaction pages; it issues a refresh token only for
# offline_access granted at prompt=consent (Yagona's first-party bench client needs no consent).
# code_exchange redeems 400 codes in rounds of 80, each made just before its round: the peer's
# in-memory store is an LRU of 1000 entries, which a bigger round overflows (its codes vanish).
CODE_BATCH = ["--batch", "80"]
OPAQUE_CLIENT = ["--client-id", "bench-opaque"]
YAGONA_EXTRA = {"code_exchange": CODE_BATCH, "code_exchange/opaque": CODE_BATCH + OPAQUE_CLIENT,
                "refresh_token/opaque": OPAQUE_CLIENT}
PEER_LOGIN = ["--prompt", "consent"]
PEER_JWT = PEER_LOGIN + ["--resource", "urn:bench", "--scope", "openid profile offline_access api"]
PEER_EXTRA = {"client_credentials": ["--extra", "resource=urn:bench", "--extra", "scope=api"],
              "userinfo": PEER_LOGIN, "refresh_token": PEER_JWT, "refresh_token/opaque": PEER_LOGIN,
              "code_exchange": PEER_JWT + CODE_BATCH, "code_exchange/opaque": PEER_LOGIN + CODE_BATCH}

def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url, deadline_s=30):
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return time.monotonic() - started
        except Exception:
            time.sleep(0.005)
    raise RuntimeError(f"{url} did not answer")


def proc_status_kib(pid, *keys):
    """Fields of /proc/PID/status in KiB (VmRSS, VmHWM, RssAnon, RssFile, ...)."""
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return [int(fields[key].split()[0]) for key in keys]


def rss_kib(pid):
    return tuple(proc_status_kib(pid, "VmRSS", "VmHWM"))


def rss_split_kib(pid):
    """The resident memory now, split: the process's own (anonymous: heap, stacks) and the file
    pages it has mapped (SQLite's memory-mapped database file counts there: the kernel's page
    cache, shared and reclaimable, not the server's heap)."""
    anon, file = proc_status_kib(pid, "RssAnon", "RssFile")
    return {"anon": anon, "file": file}


class Yagona:
    def __init__(self, backend):
        self.backend = backend
        self.dir = tempfile.mkdtemp(prefix="yagona-bench-")
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.pg = None
        if backend == "postgres":
            self.pg = "yagona_bench_" + secrets.token_hex(4)
            subprocess.run(["psql", "postgres://postgres@127.0.0.1:5432/test", "-q", "-c", f"CREATE DATABASE {self.pg}"], check=True)
            url = f"postgres://postgres@127.0.0.1:5432/{self.pg}"
        else:
            url = f"sqlite://{self.dir}/yagona.db"
        self.env = dict(os.environ, YAGONA_ISSUER=self.base, YAGONA_HTTP__LISTEN=f"127.0.0.1:{port}",
                        YAGONA_DATABASE__URL=url, YAGONA_LOG__LEVEL="warn",
                        # No load balancer to drain from: SIGTERM stops at once.
                        YAGONA_HTTP__SHUTDOWN_GRACE="0",
                        # Metrics on, as in production, on a port of their own.
                        YAGONA_METRICS__LISTEN=f"127.0.0.1:{free_port()}",
                        YAGONA_KEYS__ENCRYPTION_KEY="MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
        cli = lambda *args, stdin=None: subprocess.run([YAGONA, *args], env=self.env, input=stdin, text=True, check=True,
                                                         capture_output=True)
        cli("migrate")
        cli("client", "add", "--id", "bench", "--secret", SECRET, "--redirect-uri", "http://127.0.0.1:9/bench/callback",
            "--first-party", "--grant-type", "authorization_code", "--grant-type", "refresh_token",
            "--grant-type", "client_credentials")
        cli("client", "add", "--id", "bench-opaque", "--secret", SECRET, "--redirect-uri",
            "http://127.0.0.1:9/bench/callback", "--first-party", "--grant-type", "authorization_code",
            "--grant-type", "refresh_token", "--access-token-format", "opaque")
        cli("account", "add", "--login", "bench", "--password-stdin", "--pinfl", "31205900260011", "--surname", "Benchmark",
            "--first-name", "Bench", "--birth-date", "1990-05-12", stdin=PASSWORD + "\n")
        # The first start generates keys; the start time is measured on an existing database.
        self.start()
        self.stop()
        self.startup_ms = self.start() * 1000

    def start(self):
        started = time.monotonic()
        self.proc = subprocess.Popen(SERVER_CPU + [YAGONA, "serve"], env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for(self.base + "/.well-known/openid-configuration")
        return time.monotonic() - started

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def close(self):
        self.stop()
        if self.pg:
            subprocess.run(["psql", "postgres://postgres@127.0.0.1:5432/test", "-q", "-c",
                            f"DROP DATABASE IF EXISTS {self.pg} WITH (FORCE)"], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


class Peer:
    def __init__(self):
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        self.proc = subprocess.Popen(SERVER_CPU + ["node", os.path.join(ROOT, "bench", "peer.mjs")],
                                     env=dict(os.environ, PORT=str(port)), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for(self.base + "/.well-known/openid-configuration")
        self.startup_ms = (time.monotonic() - started) * 1000

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def load(base, scenario, extra=()):
    args = LOAD_CPU + [LOADGEN, "--base", base, "--scenario", scenario, "--concurrency", str(CONCURRENCY),
                       "--warmup", str(WARMUP), "--duration", str(DURATION), *extra]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        return {"scenario": scenario, "error": done.stderr.strip()[-300:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    os.makedirs(OUT, exist_ok=True)
    signing = json.loads(subprocess.run(SERVER_CPU + [YAGONA, "keys", "bench", "--seconds", "1" if QUICK else "3"],
                                        capture_output=True, text=True, check=True).stdout)
    results = {"machine": {"cpus": os.cpu_count(), "pinned": bool(PINNED)}, "signing": signing, "servers": {}}
    targets = [("yagona-sqlite", lambda: Yagona("sqlite"), YAGONA_SCENARIOS, YAGONA_EXTRA)]
    if not QUICK or "--postgres" in sys.argv:
        targets.append(("yagona-postgres", lambda: Yagona("postgres"), YAGONA_SCENARIOS, YAGONA_EXTRA))
    targets.append(("oidc-provider", Peer, PEER_SCENARIOS, PEER_EXTRA))
    # --only NAME[,NAME]: a subset of the servers (for probing one change; not for the record).
    only = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--only=")), None)
    if only:
        targets = [t for t in targets if t[0] in only.split(",")]
    for name, make, scenarios, extra in targets:
        server = make()
        try:
            idle = rss_kib(server.proc.pid)[0]
            runs = {}
            for row in scenarios:
                runs[row] = load(server.base, row.partition("/")[0], extra.get(row, ()))
            peak = rss_kib(server.proc.pid)[1]
            results["servers"][name] = {"startup_ms": server.startup_ms, "rss_idle_kib": idle, "rss_peak_kib": peak,
                                        "scenarios": runs}
        finally:
            server.close()
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    print_table(results)


def print_table(results):
    servers = results["servers"]
    names = list(servers)
    peer = servers.get("oidc-provider", {}).get("scenarios", {})
    print(f"\nsigning bound (one core, Yagona's code): RS256 {results['signing']['rs256_per_s']:.0f}/s, "
          f"ES256 {results['signing']['es256_per_s']:.0f}/s; load and server pinned to separate cores: {results['machine']['pinned']}\n")
    header = f"{'scenario':<20}" + "".join(f"{n + ' req/s':>22}{'p50 ms':>9}{'p99 ms':>9}{'err':>6}" for n in names)
    header += "".join(f"{n.split('-')[1] + '/peer':>13}" for n in names if n.startswith("yagona"))
    print(header)
    scenarios = []
    for n in names:
        for s in servers[n]["scenarios"]:
            if s not in scenarios:
                scenarios.append(s)
    for s in scenarios:
        row = f"{s:<20}"
        for n in names:
            r = servers[n]["scenarios"].get(s)
            if not r:
                row += f"{'—':>22}{'':>9}{'':>9}{'':>6}"
            elif "error" in r:
                row += f"{'failed':>22}{'':>9}{'':>9}{'':>6}"
            else:
                row += f"{r['rps']:>22.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['errors']:>6}"
        for n in names:
            if not n.startswith("yagona"):
                continue
            mine, theirs = servers[n]["scenarios"].get(s), peer.get(s)
            ok = mine and theirs and "rps" in mine and "rps" in theirs and theirs["rps"] > 0
            row += f"{(mine['rps'] / theirs['rps']) if ok else float('nan'):>12.2f}x"
        print(row)
    print()
    for n in names:
        v = servers[n]
        print(f"{n:<18} start {v['startup_ms']:7.0f} ms   RSS idle {v['rss_idle_kib'] / 1024:6.1f} MiB   peak {v['rss_peak_kib'] / 1024:6.1f} MiB")
    cc = servers.get("yagona-sqlite", {}).get("scenarios", {}).get("client_credentials", {})
    if "rps" in cc:
        print(f"\nclient_credentials on SQLite at {100 * cc['rps'] / results['signing']['rs256_per_s']:.0f}% of the RS256 signing bound")


if __name__ == "__main__":
    main()
