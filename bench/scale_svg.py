"""The table and the plot of `make bench-scale` (bench/scale.py), from scale.json, in plain Python.

The plot: per scenario, two small panels side by side, requests/s and p99 against the number of
people (sizes spaced evenly, as categories), one line per backend, each with a dashed line at its
target (90% of the baseline's requests/s; 1.5x its p99).
"""
import statistics
from html import escape

COLOURS = {"sqlite": "#1f77b4", "postgres": "#d62728"}
RPS_TARGET, P99_TARGET = 0.9, 1.5


def people_label(n):
    if n >= 1_000_000:
        return f"{n / 1_000_000:g} M"
    if n >= 1_000:
        return f"{n / 1_000:g} k"
    return str(n)


def series(results):
    """{scenario: {backend: [(people, result)]}} in run order, and the sizes."""
    out, sizes = {}, []
    for entry in results["runs"]:
        if entry["people"] not in sizes:
            sizes.append(entry["people"])
        for scenario, r in entry["scenarios"].items():
            out.setdefault(scenario, {}).setdefault(entry["backend"], []).append((entry["people"], r))
    return out, sorted(sizes)


def ratio(value, base):
    return value / base if base else float("nan")


def requests_per_second(r):
    return r.get("rps")


def requests_per_cpu_second(r):
    """Requests per second of the server's own CPU time (loadgen --server-pid): the rate the
    server's CPU alone would allow; the host's steal is not in it. None before it was measured."""
    cpu = r.get("server_cpu_us_per_request")
    return 1e6 / cpu if cpu else None


def paired_ratio(results, backend, scenario, base, n, rate=requests_per_second):
    """The median over rounds of size n's rate over the baseline's in the same round: the two ran
    one after the other, so a slow spell of the shared machine falls on both, where the best
    rounds (the table's other ratio) may come from different spells. None without rounds."""
    rounds = {e["people"]: e.get("rounds", {}).get(scenario, []) for e in results["runs"] if e["backend"] == backend}
    pairs = [ratio(rate(r), rate(b)) for b, r in zip(rounds.get(base, []), rounds.get(n, []))
             if rate(b) and rate(r)]
    return statistics.median(pairs) if pairs else None


def markdown_table(results):
    data, sizes = series(results)
    base, rest = sizes[0], sizes[1:]
    head = ["scenario", "backend"]
    for n in sizes:
        head += [f"req/s {people_label(n)}", "p50 ms", "p99 ms"]
    for n in rest:
        head += [f"req/s {people_label(n)}/{people_label(base)}", "paired median",
                 f"p99 {people_label(n)}/{people_label(base)}", "CPU paired"]
    # What the largest size read from the disk during its window: pages its cache could not hold.
    head.append(f"disk MiB {people_label(sizes[-1])}")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 2 + "---:|" * (len(head) - 2)]
    for scenario, backends in data.items():
        for backend, points in backends.items():
            found = dict(points)
            cells = [scenario, backend]
            for n in sizes:
                r = found.get(n)
                if r is None:
                    cells += ["—", "", ""]
                elif "rps" not in r:
                    cells += ["failed", "", ""]
                else:
                    errors = f" ({r['errors']} err)" if r["errors"] else ""
                    cells += [f"{r['rps']:.0f}{errors}", f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}"]
            b = found.get(base)
            for n in rest:
                r = found.get(n)
                if not (b and r and "rps" in b and "rps" in r):
                    cells += ["—", "—", "—", "—"]
                    continue
                rps, p99 = ratio(r["rps"], b["rps"]), ratio(r["p99_ms"], b["p99_ms"])
                cells.append(f"**{rps:.2f}×**" if rps < RPS_TARGET else f"{rps:.2f}×")
                paired = paired_ratio(results, backend, scenario, base, n)
                cells.append("—" if paired is None else f"**{paired:.2f}×**" if paired < RPS_TARGET else f"{paired:.2f}×")
                cells.append(f"**{p99:.2f}×**" if p99 > P99_TARGET else f"{p99:.2f}×")
                cpu = paired_ratio(results, backend, scenario, base, n, requests_per_cpu_second)
                cells.append("—" if cpu is None else f"{cpu:.2f}×")
            largest = found.get(sizes[-1]) or {}
            cells.append(f"{largest['disk_read_mib']:.0f}" if "disk_read_mib" in largest else "—")
            lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    # The peak counts the pages of a memory-mapped SQLite file the server has read; at the end the
    # RSS is split into the server's own memory and those file pages (runs before the split: —).
    lines.append("| backend | people | seeding s | database MiB | RSS idle MiB | RSS peak MiB | at the end: own MiB | mapped file MiB |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for e in results["runs"]:
        split = [f"{e[k] / 1024:.1f}" if k in e else "—" for k in ("rss_anon_kib", "rss_file_kib")]
        lines.append(f"| {e['backend']} | {e['people']:,} | {e['seed_s']:.0f} | {e['db_bytes'] / 2**20:.0f} | "
                     f"{e['rss_idle_kib'] / 1024:.1f} | {e['rss_peak_kib'] / 1024:.1f} | {' | '.join(split)} |")
    return "\n".join(lines) + "\n"


def panel(x0, y0, w, h, title, sizes, lines, targets, unit):
    """One small chart: `lines` is {backend: [(people, value)]}, `targets` {backend: value}."""
    values = [v for pts in lines.values() for _, v in pts] + list(targets.values())
    top = max(values) * 1.1 if values else 1.0
    px = lambda n: x0 + 8 + (w - 16) * (sizes.index(n) / max(len(sizes) - 1, 1))  # noqa: E731
    py = lambda v: y0 + h - (h - 4) * (v / top)  # noqa: E731
    out = [f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="#fafafa" stroke="#bbb"/>',
           f'<text x="{x0 + w / 2}" y="{y0 - 5}" text-anchor="middle" font-size="11">{escape(title)}</text>',
           f'<text x="{x0 - 3}" y="{y0 + 9}" text-anchor="end" font-size="9">{f"{top:.0f}" if top >= 10 else f"{top:.2f}"}</text>',
           f'<text x="{x0 - 3}" y="{y0 + h}" text-anchor="end" font-size="9">0</text>',
           f'<text x="{x0 + w}" y="{y0 + h + 22}" text-anchor="end" font-size="9" fill="#666">{unit}</text>']
    for n in sizes:
        out.append(f'<text x="{px(n):.1f}" y="{y0 + h + 11}" text-anchor="middle" font-size="9">{people_label(n)}</text>')
    for backend, value in targets.items():
        out.append(f'<line x1="{x0}" x2="{x0 + w}" y1="{py(value):.1f}" y2="{py(value):.1f}" '
                   f'stroke="{COLOURS.get(backend, "#555")}" stroke-dasharray="3,3" stroke-width="0.8"/>')
    for backend, pts in lines.items():
        colour = COLOURS.get(backend, "#555")
        path = " ".join(f"{px(n):.1f},{py(v):.1f}" for n, v in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.8"/>')
        out += [f'<circle cx="{px(n):.1f}" cy="{py(v):.1f}" r="2.5" fill="{colour}"/>' for n, v in pts]
    return out


def draw(results):
    data, sizes = series(results)
    per_row, w, h, gap_x, gap_y = 3, 130, 80, 46, 58
    pair_w = 2 * w + gap_x
    rows = (len(data) + per_row - 1) // per_row
    width = 40 + per_row * (pair_w + gap_x + 20)
    height = 70 + rows * (h + gap_y) + 20
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" viewBox="0 0 {width} {height}">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           '<text x="20" y="22" font-size="14" font-weight="bold">Cost as data grows: requests/s and p99 '
           'against the number of people (make bench-scale)</text>',
           '<text x="20" y="40" font-size="11">Per scenario: requests/s (left) and p99 in ms (right); dashed: the '
           'target (90% of the smallest size\'s requests/s, 1.5× its p99).</text>']
    legend_x = 20
    for backend in sorted({b for s in data.values() for b in s}):
        colour = COLOURS.get(backend, "#555")
        out.append(f'<line x1="{legend_x}" x2="{legend_x + 20}" y1="54" y2="54" stroke="{colour}" stroke-width="2"/>')
        out.append(f'<text x="{legend_x + 24}" y="58" font-size="11">{backend}</text>')
        legend_x += 100
    for k, (scenario, backends) in enumerate(data.items()):
        col, row = k % per_row, k // per_row
        x0 = 50 + col * (pair_w + gap_x + 20)
        y0 = 90 + row * (h + gap_y)
        rps_lines, p99_lines, rps_targets, p99_targets = {}, {}, {}, {}
        for backend, points in backends.items():
            ok = [(n, r) for n, r in points if "rps" in r]
            if not ok:
                continue
            rps_lines[backend] = [(n, r["rps"]) for n, r in ok]
            p99_lines[backend] = [(n, r["p99_ms"]) for n, r in ok]
            rps_targets[backend] = ok[0][1]["rps"] * RPS_TARGET
            p99_targets[backend] = ok[0][1]["p99_ms"] * P99_TARGET
        used = sorted({n for pts in rps_lines.values() for n, _ in pts}) or sizes
        out += panel(x0, y0, w, h, f"{scenario}: req/s", used, rps_lines, rps_targets, "people")
        out += panel(x0 + w + gap_x, y0, w, h, "p99 ms", used, p99_lines, p99_targets, "people")
    out.append("</svg>")
    return "\n".join(out) + "\n"
