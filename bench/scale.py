#!/usr/bin/env python3
"""`make bench-scale`: the cost as data grows (issue 16; docs/performance.md, "Cost as data grows").

For each backend, every size gets a fresh database seeded with `yagona bench seed` (the release
binary built with the `bench-seed` feature), the bench clients and account, and its own release
server (pinned to core 0, with a development CA trusted for EDS), all kept running; then every
scenario of `make bench` plus the per-person ones (crates/loadgen/src/seeded.rs: userinfo,
introspection, password and EDS logins of random seeded people, and the registration wizard)
runs for a short fixed window (load pinned to core 1) at each size in turn, SCALE_ROUNDS times
(default 2), and each cell keeps its best round: on a shared machine the background load then
falls on every size alike. Recorded per size: requests/s, p50, p99, the database size,
the server's resident memory (idle after start, peak after the scenarios), and the seeding time.
Then `bench/purge.py` (issue 16 item 3), if present, on each non-empty database.

Writes target/bench/scale.json, target/bench/scale.md (the table) and target/bench/scale.svg
(requests/s and p99 against size, per scenario); `--copy-svg` copies the SVG to
docs/images/scale.svg. `--svg-only` redraws the SVG and table from an existing scale.json.

Environment: SCALE_SIZES (people, comma-separated; default 1000,1000000: the first is the
baseline, "empty" but for the pool the per-person scenarios draw from; 0 skips those scenarios),
SCALE_BACKENDS (sqlite,postgres), SCALE_PG (the PostgreSQL database name prefix: one database
`<name>_<people>` per size, made anew and dropped at the end), SCALE_ROUNDS, SCALE_WARMUP and SCALE_DURATION (seconds, default 1 and 4), SCALE_SQLITE_MAX
(the largest SQLite size, default 1000000: the issue asks 10 M on PostgreSQL only),
SCALE_KEEP=1 (keep the seeded databases at the end, and use a kept one again instead of seeding
it anew: a 10 M seeding is most of an hour; the seeding time is then the one recorded when it
was made, in target/bench/scale/seeded.json; a kept database has had its expired rows purged
unless SCALE_PURGE=0 was set), SCALE_PURGE=0 (skip bench/purge.py), SCALE_PREWARM=1 (before the scenarios, read the
per-person lookups' tables and indexes into memory, as a server whose memory holds them: on
PostgreSQL into shared_buffers when they are large enough, else into the page cache; scale.json
records which, the server's settings and this VM's page-out state), SCALE_SCENARIOS (a comma-separated subset of the rows, for
a probe). `--seed-only` seeds (or
finds) every size and stops. SCALE_NAME (default scale) names the output files, so that a
probe does not overwrite the run.
The bench reports; it never fails on speed.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the servers' setup and measures of `make bench`)
import scale_svg  # noqa: E402

ROOT, OUT = run.ROOT, run.OUT
YAGONA, LOADGEN = run.YAGONA, run.LOADGEN
SIZES = [int(s) for s in os.environ.get("SCALE_SIZES", "1000,1000000").split(",") if s.strip()]
BACKENDS = [b for b in os.environ.get("SCALE_BACKENDS", "sqlite,postgres").split(",") if b.strip()]
PG = os.environ.get("SCALE_PG", "postgres://postgres@127.0.0.1:5432/yagona_seed_bench")
PG_ADMIN = PG.rsplit("/", 1)[0] + "/test"
WARMUP = float(os.environ.get("SCALE_WARMUP", "1"))
DURATION = float(os.environ.get("SCALE_DURATION", "4"))
SQLITE_MAX = int(os.environ.get("SCALE_SQLITE_MAX", "1000000"))
CONCURRENCY = 16
ROUNDS = int(os.environ.get("SCALE_ROUNDS", "2"))
KEEP = os.environ.get("SCALE_KEEP") == "1"
PURGE = os.environ.get("SCALE_PURGE", "1") != "0"
PREWARM = os.environ.get("SCALE_PREWARM") == "1"
NAME = os.environ.get("SCALE_NAME", "scale")  # target/bench/NAME.{json,md,svg}: a probe beside the run
# What a per-person userinfo or introspection reads: these tables and their primary keys (and
# the memberships' indexes, for a grant acting for a company).
HOT_TABLES = ["opaque_access_tokens", "grants", "accounts", "memberships", "revoked_access_tokens", "clients"]
SEEDED = os.path.join(OUT, "scale", "seeded.json")
SEED_ONLY = "--seed-only" in sys.argv
TOKEN_SEED = "yagona-bench"
# The seeder's row layout (yagona_store::seed::SeedClock): 2 = live tokens written last, in issue
# order. A kept database of another layout is seeded anew.
SEED_LAYOUT = 2
# How many times SCALE_PREWARM reads the hot set into shared_buffers until it is resident.
PREWARM_PASSES = 5
# Every scenario of `make bench` (Yagona's rows), then the per-person ones of the scale bench.
EXISTING = ["discovery", "jwks", "client_credentials", "introspection", "userinfo", "refresh_token",
            "refresh_token/opaque", "code_exchange", "code_exchange/opaque", "login_flow"]
PER_PERSON = ["seeded_userinfo", "seeded_introspection", "seeded_login", "seeded_eds_login"]
SCENARIOS = EXISTING + PER_PERSON + ["registration"]
if os.environ.get("SCALE_SCENARIOS"):  # a subset, for a probe (the full table needs all)
    SCENARIOS = [r for r in SCENARIOS if r in os.environ["SCALE_SCENARIOS"].split(",")]


class ScaleServer:
    """The release server on a seeded database of `people` people."""

    def __init__(self, backend, people, sqlite_path=None):
        """`sqlite_path`: a copy of a kept SQLite seeding to serve instead (bench/layout_probe.py),
        with the seeding record of the original."""
        self.backend, self.people, self.sqlite_path = backend, people, sqlite_path
        self.dir = tempfile.mkdtemp(prefix="yagona-scale-")
        port = run.free_port()
        self.base = f"http://127.0.0.1:{port}"
        os.makedirs(os.path.join(OUT, "scale"), exist_ok=True)
        if backend == "postgres":
            # One database per size, all kept until the backend's rounds are done.
            self.pg_name = f"{PG.rsplit('/', 1)[1]}_{people}"
            self.url = PG.rsplit("/", 1)[0] + "/" + self.pg_name
        else:
            kept = os.path.join(OUT, "scale", f"seed-{people}.db")
            self.db = sqlite_path or kept
            self.url = f"sqlite://{self.db}"
        # A record of an older layout (before keys in issue order, before live tokens written
        # last) holds tokens the load generator would no longer derive: seed anew. A probe's
        # copy has its original's record.
        record = seeded_record().get(f"sqlite://{kept}" if sqlite_path else self.url)
        self.reused = KEEP and people and isinstance(record, dict) and record.get("layout") == SEED_LAYOUT
        if sqlite_path and not self.reused:
            # Seeding here would replace the probe's changed copy with a plain seeding.
            raise RuntimeError(f"no kept seeding of {people} people of layout {SEED_LAYOUT} for {sqlite_path}")
        if not self.reused:
            if backend == "postgres":
                psql(PG_ADMIN, f"DROP DATABASE IF EXISTS {self.pg_name} WITH (FORCE)")
                psql(PG_ADMIN, f"CREATE DATABASE {self.pg_name}")
            else:
                remove_sqlite(self.db)
        ca = os.path.join(self.dir, "ca")
        self.ca = ca
        self.env = dict(os.environ, YAGONA_ISSUER=self.base, YAGONA_HTTP__LISTEN=f"127.0.0.1:{port}",
                        YAGONA_DATABASE__URL=self.url, YAGONA_LOG__LEVEL="warn", YAGONA_HTTP__SHUTDOWN_GRACE="0",
                        YAGONA_METRICS__LISTEN=f"127.0.0.1:{run.free_port()}",
                        YAGONA_KEYS__ENCRYPTION_KEY="MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
                        YAGONA_EDS__TRUST_ANCHORS=json.dumps([os.path.join(ca, "ca.pem")]),
                        YAGONA_EDS__CRLS=json.dumps([os.path.join(ca, "crl.der")]),
                        # The wizard's checks are throttled per address; all the load comes from one.
                        YAGONA_REGISTRATION__MAX_CHECKS_PER_ADDRESS="1000000000",
                        # A password login reserves a failure slot before it checks (given back on
                        # success): 16 concurrent logins of the one bench account exceed the
                        # account's 5 and are refused 429. The reservations still run.
                        YAGONA_LOGIN__MAX_FAILURES_PER_ACCOUNT="1000000000",
                        YAGONA_LOGIN__MAX_FAILURES_PER_ADDRESS="1000000000",
                        # No purge inside the server: ten minutes after its start it would purge
                        # millions of expired rows during the scenarios (the first 10 M run's last
                        # rows did), where bench/purge.py measures a purge on its own.
                        YAGONA_PURGE__INTERVAL="0")
        self.seed_s, self.proc = 0.0, None
        # The seeding clock: the live tokens' issue times, part of each token, count from it.
        self.seeded_at = int(time.time())
        if self.reused:
            self.seed_s, self.seeded_at = record["seconds"], record["seeded_at"]
            print(f"  kept from an earlier run (seeded in {self.seed_s:.0f} s)", flush=True)
            self.cli("migrate")
        elif people:
            started = time.monotonic()
            self.cli("bench", "seed", "--accounts", str(people), "--database", self.url, "--token-seed", TOKEN_SEED,
                     "--seeded-at", str(self.seeded_at))
            self.seed_s = time.monotonic() - started
            record_seeding(self.url, {"seconds": self.seed_s, "seeded_at": self.seeded_at, "layout": SEED_LAYOUT})
        else:
            self.cli("migrate")

    def start(self):
        """The bench's clients, account and CA (again on a kept database), and the server."""
        if self.reused:
            # Made by the run that kept the database: drop them, so the settings below hold.
            for client in ("bench", "bench-opaque"):
                subprocess.run([YAGONA, "client", "remove", "--id", client], env=self.env, capture_output=True)
        self.cli("pki", "dev-ca", "init", "--out", self.ca)
        self.cli("client", "add", "--id", "bench", "--secret", run.SECRET, "--redirect-uri",
                 "http://127.0.0.1:9/bench/callback", "--first-party", "--grant-type", "authorization_code",
                 "--grant-type", "refresh_token", "--grant-type", "client_credentials")
        self.cli("client", "add", "--id", "bench-opaque", "--secret", run.SECRET, "--redirect-uri",
                 "http://127.0.0.1:9/bench/callback", "--first-party", "--grant-type", "authorization_code",
                 "--grant-type", "refresh_token", "--access-token-format", "opaque")
        # A kept database has the account already (the same password).
        if not (self.reused and "bench" in self.cli("account", "show", "bench", check=False)):
            self.cli("account", "add", "--login", "bench", "--password-stdin", "--pinfl", "31205900260011",
                     "--surname", "Benchmark", "--first-name", "Bench", "--birth-date", "1990-05-12",
                     stdin=run.PASSWORD + "\n")
        # The server's warnings and errors (a 503's pool wait, a failed request) stay beside the
        # results, for the diagnosis of a round that failed; the eighth session's had none to read.
        os.makedirs(os.path.dirname(SEEDED), exist_ok=True)
        self.log_path = os.path.join(os.path.dirname(SEEDED), f"server-{self.backend}-{self.people}"
                                     f"{'-' + os.path.basename(self.sqlite_path) if self.sqlite_path else ''}.log")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(run.SERVER_CPU + [YAGONA, "serve"], env=self.env, stdout=log, stderr=log)
        run.wait_for(self.base + "/.well-known/openid-configuration", deadline_s=120)

    def prewarm(self):
        """Reads the per-person lookups' tables and the indexes they use once (SCALE_PREWARM=1), as a server
        that has run for a while and whose memory holds them has them cached. On PostgreSQL into
        shared_buffers (pg_prewarm's 'buffer' mode) when they hold the hot set, as a production
        server's are sized to: those pages are PostgreSQL's own memory, which no page-cache reclaim
        (this VM's page-out, docs/performance.md) takes; else into the OS page cache ('read'). SQLite's
        file is read through. The MiB read; `self.prewarm_mode` says where to.

        Into shared_buffers the hot set is read again until it is resident (pg_buffercache), at most
        PREWARM_PASSES times: after a seeding the pool is full of the seeder's pages, and one pass
        of 10 GiB into a 12 GiB pool evicts part of what it read itself (the clock sweep meets the
        pass's own pages, used once, before the seeder's). The eighth session's first 10 M run
        prewarmed once and its per-person lookups read 24 to 203 MiB from the disk per window;
        `self.prewarm_passes` and `self.prewarm_resident_mib` say what the passes achieved."""
        if self.backend == "postgres":
            psql(self.url, "CREATE EXTENSION IF NOT EXISTS pg_prewarm")
            names = ", ".join(f"'{t}'" for t in HOT_TABLES)
            hot = ("FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND "
                   f"(c.relname IN ({names}) OR c.oid IN (SELECT indexrelid FROM pg_index i JOIN pg_class t ON "
                   f"t.oid = i.indrelid WHERE t.relname IN ({names}) AND (i.indisprimary OR "
                   "t.relname = 'memberships')))")
            hot_bytes = int(psql(self.url, f"SELECT coalesce(sum(pg_relation_size(c.oid)), 0) {hot}").strip())
            shared_bytes = int(psql(self.url, "SELECT setting::bigint * 8192 FROM pg_settings "
                                              "WHERE name = 'shared_buffers'").strip())
            # A tenth kept free for what the scenarios write (new tokens, sessions, login events).
            self.prewarm_mode = "buffer" if hot_bytes < 0.9 * shared_bytes else "read"
            if self.prewarm_mode == "read":
                # The bench does not reconfigure the operator's server; it says what the figures need.
                print(f"  note: shared_buffers ({shared_bytes / 2**30:.1f} GiB) do not hold the hot set "
                      f"({hot_bytes / 2**30:.1f} GiB); the lookups go through the page cache. "
                      "docs/performance.md gives the settings of the 10 M figures.", flush=True)
            self.prewarm_passes, self.prewarm_resident_mib, blocks = 0, None, 0
            while self.prewarm_passes < PREWARM_PASSES:
                self.prewarm_passes += 1
                read = psql(self.url, f"SELECT sum(pg_prewarm(c.oid, '{self.prewarm_mode}')) {hot}").strip()
                blocks = max(blocks, int(read or 0))
                if self.prewarm_mode != "buffer":
                    break
                self.prewarm_resident_mib = self.resident_mib(hot)
                if self.prewarm_resident_mib is None or self.prewarm_resident_mib >= 0.99 * hot_bytes / 2**20:
                    break
            return blocks * 8192 / 2**20
        self.prewarm_mode, self.prewarm_passes, self.prewarm_resident_mib = "read", 1, None
        read = 0
        with open(self.db, "rb") as f:
            while chunk := f.read(1 << 20):
                read += len(chunk)
        return read / 2**20

    def resident_mib(self, hot):
        """How much of the relations `hot` selects is in shared_buffers, or None without the
        pg_buffercache extension (PostgreSQL's contrib, beside pg_prewarm)."""
        try:
            psql(self.url, "CREATE EXTENSION IF NOT EXISTS pg_buffercache")
        except subprocess.CalledProcessError:
            return None
        buffers = psql(self.url, "SELECT count(*) FROM pg_buffercache b WHERE b.reldatabase = (SELECT oid FROM "
                                 "pg_database WHERE datname = current_database()) AND b.relfilenode IN "
                                 f"(SELECT pg_relation_filenode(c.oid) {hot})").strip()
        return int(buffers) * 8192 / 2**20

    def cli(self, *args, stdin=None, check=True):
        return subprocess.run([YAGONA, *args], env=self.env, input=stdin, text=True, check=check,
                              capture_output=True).stdout

    def db_bytes(self):
        if self.backend == "postgres":
            return int(psql(PG_ADMIN, f"SELECT pg_database_size('{self.pg_name}')").strip())
        return sum(os.path.getsize(p) for p in sqlite_files(self.db) if os.path.exists(p))

    def relations(self):
        """The largest tables and indexes (PostgreSQL), for the extrapolation to 37 M people."""
        if self.backend != "postgres":
            return {}
        rows = psql(self.url, "SELECT c.relname, c.relkind, pg_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n "
                        "ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i') "
                        "ORDER BY 3 DESC LIMIT 40")
        return {name: {"kind": "table" if kind == "r" else "index", "bytes": int(size)}
                for name, kind, size in (line.split("|") for line in rows.splitlines() if line)}

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)

    def close(self):
        if KEEP and self.people:
            shutil.rmtree(self.dir, ignore_errors=True)
            return
        record_seeding(self.url, None)
        if self.backend == "postgres":
            psql(PG_ADMIN, f"DROP DATABASE IF EXISTS {self.pg_name} WITH (FORCE)")
        else:
            remove_sqlite(self.db)
        shutil.rmtree(self.dir, ignore_errors=True)


def memory_kib():
    with open("/proc/meminfo") as f:
        return int(next(line for line in f if line.startswith("MemTotal:")).split()[1])


def page_out_state():
    """This VM's DAMON page-out scheme ('on' or 'off'; None where the kernel has none): on, it evicts
    page-cache pages idle for a minute while memory is free (docs/performance.md)."""
    try:
        with open("/sys/kernel/mm/damon/admin/kdamonds/0/state") as f:
            return f.read().strip()
    except OSError:
        return None


def seeded_record():
    """The kept seeded databases (SCALE_KEEP): URL to the seeding's seconds and clock."""
    try:
        with open(SEEDED) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def record_seeding(url, seeding):
    """Notes a kept database's seeding (seconds and clock); `None` forgets the database."""
    record = seeded_record()
    if seeding is None:
        record.pop(url, None)
    else:
        record[url] = seeding
    with open(SEEDED, "w") as f:
        json.dump(record, f, indent=2)


def psql(url, sql):
    return subprocess.run(["psql", url, "-qtAc", sql], check=True, capture_output=True, text=True).stdout


def sqlite_files(db):
    return [db, db + "-wal", db + "-shm"]


def remove_sqlite(db):
    for p in sqlite_files(db):
        if os.path.exists(p):
            os.remove(p)


def disk_read_bytes():
    """Bytes read from the block devices so far (/proc/diskstats, 512-byte sectors): a
    scenario that reads the disk is waiting on pages the page cache could not hold."""
    total = 0
    try:
        with open("/proc/diskstats") as f:
            for line in f:
                fields = line.split()
                name = fields[2]
                # Whole devices only (vda, sda, nvme0n1), not their partitions or zram.
                if name.startswith(("vd", "sd", "xvd")) and not name[-1].isdigit() or \
                        name.startswith("nvme") and "p" not in name[4:]:
                    total += int(fields[5]) * 512
    except OSError:
        return 0
    return total


def pg_blocks(server):
    """PostgreSQL's buffer reads of the size's database: (found in shared buffers, read from
    outside them: the OS page cache or the disk)."""
    if server.backend != "postgres":
        return (0, 0)
    hit, read = psql(PG_ADMIN, "SELECT blks_hit, blks_read FROM pg_stat_database WHERE datname = "
                               f"'{server.pg_name}'").strip().split("|")
    return int(hit), int(read)


def load(server, row):
    disk, blocks = disk_read_bytes(), pg_blocks(server)
    result = run_load(server, row)
    if "rps" in result:
        result["disk_read_mib"] = round((disk_read_bytes() - disk) / 2**20, 1)
        if server.backend == "postgres":
            hit, read = (after - before for after, before in zip(pg_blocks(server), blocks))
            result["pg_blocks_hit"], result["pg_blocks_read"] = hit, read
    return result


def run_load(server, row):
    scenario = row.partition("/")[0]
    extra = list(run.YAGONA_EXTRA.get(row, ()))
    if scenario == "code_exchange":
        # `make bench`'s 400 codes in rounds of 80 suit the peer's 1000-entry store; alone here,
        # Yagona gets 1200 in rounds of 400 (each code a password login to make: 30 s a round): its
        # window of 400 was about a second and noisy.
        extra += ["--codes", "1200", "--batch", "400"]
    if scenario.startswith("seeded_"):
        extra += ["--people", str(server.people), "--token-seed", TOKEN_SEED, "--seeded-at", str(server.seeded_at),
                  "--eds-ca", server.ca]
    # The server's CPU time per request beside the rate: the host's steal is not in it.
    extra += ["--server-pid", str(server.proc.pid)]
    args = run.LOAD_CPU + [LOADGEN, "--base", server.base, "--scenario", scenario, "--concurrency", str(CONCURRENCY),
                           "--warmup", str(WARMUP), "--duration", str(DURATION), *extra]
    done = subprocess.run(args, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        return {"scenario": scenario, "error": done.stderr.strip()[-300:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def purge(server, run_entry):
    script = os.path.join(ROOT, "bench", "purge.py")
    if not os.path.exists(script):
        print("  bench/purge.py is not here (issue 16 item 3): the purge is skipped", flush=True)
        return
    out = os.path.join(server.dir, "purge.json")
    done = subprocess.run([sys.executable, script, "--database", server.url, "--json-out", out],
                          capture_output=True, text=True)
    if done.returncode != 0 or not os.path.exists(out):
        run_entry["purge"] = {"error": (done.stderr or done.stdout).strip()[-300:]}
    else:
        with open(out) as f:
            run_entry["purge"] = json.load(f)
    print(f"  purge: {json.dumps(run_entry['purge'])[:200]}", flush=True)


def best(rounds):
    """The round with the highest rate: the one the shared machine disturbed least."""
    ok = [r for r in rounds if "rps" in r]
    return dict(max(ok, key=lambda r: r["rps"]), rounds=len(rounds)) if ok else rounds[-1]


def bench_backend(backend, sizes):
    """All sizes of one backend seeded and served at once, then each scenario run at each size in
    turn, ROUNDS times: the machine's background load then falls on every size alike, and the
    ratios compare like with like. Each cell keeps its best round (all rounds are in the JSON)."""
    servers, entries = [], []
    try:
        for people in sizes:
            print(f"{backend}, {people} people: seeding and starting", flush=True)
            server = ScaleServer(backend, people)
            servers.append(server)
            if SEED_ONLY:
                continue
            server.start()
            entries.append({"backend": backend, "people": people, "seed_s": server.seed_s,
                            "rss_idle_kib": run.rss_kib(server.proc.pid)[0], "scenarios": {}, "rounds": {}})
            print(f"  seeded in {server.seed_s:.0f} s; {server.db_bytes() / 2**20:.0f} MiB", flush=True)
        if SEED_ONLY:
            return entries
        if PREWARM:
            for server, entry in zip(servers, entries):
                started = time.monotonic()
                entry["prewarm_mib"] = round(server.prewarm(), 1)
                entry["prewarm_mode"] = server.prewarm_mode
                entry["prewarm_passes"] = server.prewarm_passes
                entry["prewarm_resident_mib"] = server.prewarm_resident_mib
                print(f"  {server.people} prewarmed ({server.prewarm_mode}): {entry['prewarm_mib']:.0f} MiB in "
                      f"{time.monotonic() - started:.0f} s, {server.prewarm_passes} pass(es)"
                      + ("" if server.prewarm_resident_mib is None else
                         f", {server.prewarm_resident_mib:.0f} MiB of it resident in shared_buffers"), flush=True)
        for row in SCENARIOS:
            for k in range(ROUNDS):
                for server, entry in zip(servers, entries):
                    if row in PER_PERSON and not server.people:
                        continue
                    result = load(server, row)
                    # The server's resident memory after this scenario: which one made the peak.
                    result["rss_after_kib"] = run.rss_kib(server.proc.pid)[0]
                    entry["rounds"].setdefault(row, []).append(result)
                    shown = f"{result['rps']:.0f} req/s, p99 {result['p99_ms']:.2f} ms, {result['errors']} errors, " \
                        f"{result['disk_read_mib']} MiB read from disk, server CPU " \
                        f"{result.get('server_cpu_us_per_request', float('nan')):.1f} µs/request" \
                        if "rps" in result else f"failed: {result['error']}"
                    print(f"  {row:<22} {server.people:>9} round {k + 1}: {shown}", flush=True)
            for entry in entries:
                if row in entry["rounds"]:
                    entry["scenarios"][row] = best(entry["rounds"][row])
        for server, entry in zip(servers, entries):
            entry["rss_peak_kib"] = run.rss_kib(server.proc.pid)[1]
            split = run.rss_split_kib(server.proc.pid)
            entry["rss_anon_kib"], entry["rss_file_kib"] = split["anon"], split["file"]
            entry["db_bytes"] = server.db_bytes()
            entry["relations"] = server.relations()
            server.stop()
            if server.people and PURGE:
                purge(server, entry)
        return entries
    finally:
        for server in servers:
            if server.proc is not None and server.proc.poll() is None:
                server.stop()
            server.close()


def main():
    path = os.path.join(OUT, NAME + ".json")
    if SEED_ONLY and not KEEP:
        sys.exit("--seed-only keeps what it seeds: set SCALE_KEEP=1")
    if "--svg-only" in sys.argv:
        with open(path) as f:
            results = json.load(f)
    else:
        os.makedirs(OUT, exist_ok=True)
        started = time.monotonic()
        results = {"machine": {"cpus": os.cpu_count(), "pinned": bool(run.PINNED), "memory_kib": memory_kib(),
                               "page_out": page_out_state()},
                   "window": {"warmup_s": WARMUP, "duration_s": DURATION, "concurrency": CONCURRENCY,
                              "rounds": ROUNDS},
                   "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": []}
        if "postgres" in BACKENDS:
            # The server's memory settings decide how much of a large database stays cached.
            results["postgres_settings"] = dict(line.split("|") for line in psql(
                PG_ADMIN, "SELECT name, current_setting(name) FROM pg_settings WHERE name IN "
                "('shared_buffers', 'effective_cache_size', 'work_mem', 'max_wal_size', 'random_page_cost', "
                "'huge_pages', 'huge_pages_status', 'server_version')").splitlines() if line)
        for backend in BACKENDS:
            sizes = [n for n in SIZES if backend != "sqlite" or n <= SQLITE_MAX]
            if sizes != SIZES:
                print(f"sqlite: sizes above SCALE_SQLITE_MAX={SQLITE_MAX} skipped")
            if SEED_ONLY:
                bench_backend(backend, sizes)
                continue
            results["runs"] += bench_backend(backend, sizes)
            with open(path, "w") as f:
                json.dump(results, f, indent=2)
        if SEED_ONLY:
            print(f"seeded (or found) in {time.monotonic() - started:.0f} s: {SEEDED}")
            return
        results["duration_s"] = time.monotonic() - started
        with open(path, "w") as f:
            json.dump(results, f, indent=2)
    table = scale_svg.markdown_table(results)
    with open(os.path.join(OUT, NAME + ".md"), "w") as f:
        f.write(table)
    print("\n" + table)
    svg = scale_svg.draw(results)
    with open(os.path.join(OUT, NAME + ".svg"), "w") as f:
        f.write(svg)
    if "--copy-svg" in sys.argv:
        shutil.copy(os.path.join(OUT, NAME + ".svg"), os.path.join(ROOT, "docs", "images", "scale.svg"))
    if "duration_s" in results:
        print(f"bench-scale took {results['duration_s'] / 60:.1f} min (building excluded)")


if __name__ == "__main__":
    main()
