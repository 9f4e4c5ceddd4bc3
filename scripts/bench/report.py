#!/usr/bin/env python3
"""Turns the JSON lines of scripts/bench/run.sh into a Markdown report and a PNG chart.

  report.py --results R.jsonl --pbkdf2 P.txt --machine M.txt --markdown OUT.md --chart OUT.png

The chart needs matplotlib; the Markdown does not (without matplotlib the chart is
skipped with a note).
"""

import argparse
import json
import re
import sys

SERVERS = ["pgscram", "postgres", "pgbouncer"]


def idle_slope(records):
    """KiB of RSS per connection between serve's two idle runs, or None."""
    few, many = records.get("pgscram/idle"), records.get("pgscram/idle-many")
    try:
        return ((many["rss_delta_kib"] - few["rss_delta_kib"])
                / (many["opened"] - few["opened"]))
    except (TypeError, KeyError, ZeroDivisionError):
        return None
NAMES = {
    "pgscram": "pgscram serve",
    "postgres": "PostgreSQL 15",
    "pgbouncer": "PgBouncer -> PostgreSQL 15",
    "proxy": "pgscram proxy -> PostgreSQL 15",
}


def load(path):
    records = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                r = json.loads(line)
                records[r["label"]] = r
    return records


def fmt(value, digits=1):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def ms(us):
    return None if us is None else us / 1000.0


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def pbkdf2_rows(path):
    """(name, µs, x-floor) rows of the PBKDF2 bench's Markdown table."""
    rows = []
    try:
        text = open(path).read()
    except OSError:
        return rows, ""
    for line in text.splitlines():
        m = re.match(r"\|\s*(.+?)\s*\|\s*([0-9.]+)\s*\|\s*([0-9.]+)x\s*\|", line)
        if m:
            rows.append((m.group(1), float(m.group(2)), float(m.group(3))))
    header = next((l for l in text.splitlines() if l.startswith("PBKDF2-HMAC")), "")
    return rows, header


def markdown(records, pbkdf2, pbkdf2_header, machine):
    out = []
    w = out.append
    w("# pgscram login benchmarks\n")
    w("Measured by `scripts/bench/run.sh` in one run on one machine; load generator and")
    w("servers share the machine's cores. Raw numbers: the `results-*.jsonl` file beside this one.\n")
    w("## Machine\n")
    w("```text")
    w(machine.strip())
    w("```\n")

    w("## Logins per second: `pgscram bench`\n")
    w("Each login: TCP connect, StartupMessage, SCRAM-SHA-256 (no TLS), ReadyForQuery, Terminate.")
    w("`password`: the client runs PBKDF2 every time (as libpq does); `keys`: the client derived")
    w("ClientKey/ServerKey once and reuses them, so the client's PBKDF2 does not hide the server's")
    w("cost. Server CPU counts every server process (for PgBouncer: PgBouncer plus PostgreSQL).\n")
    w("| server | mode | logins/s | p50 ms | p90 ms | p99 ms | errors | server CPU µs/login | client CPU µs/login |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for mode in ["password", "keys"]:
        for s in SERVERS:
            r = records.get(f"{s}/{mode}")
            if not r:
                continue
            lat = r.get("latency_us") or {}
            w(f"| {NAMES[s]} | {mode} | {fmt(r.get('rate'))} | {fmt(ms(lat.get('p50')), 2)} | "
              f"{fmt(ms(lat.get('p90')), 2)} | {fmt(ms(lat.get('p99')), 2)} | {fmt(r.get('errors'))} | "
              f"{fmt(r.get('server_cpu_us_per_login'))} | {fmt(r.get('client_cpu_us_per_login'))} |")
    w("")

    tls_rows = [(s, kind, records.get(f"{s}/{kind}"))
                for kind in ["keys-tls", "keys-tls-plus"] for s in SERVERS]
    if any(r for _, _, r in tls_rows):
        w("## Logins per second over TLS: `pgscram bench --mode keys`\n")
        w("The same logins inside TLS 1.3 (one ECDSA P-256 certificate for every server):")
        w("`sslmode=require` with SCRAM-SHA-256, then `channel_binding=require` with")
        w("SCRAM-SHA-256-PLUS (tls-server-end-point). PgBouncer 1.18 offers no PLUS.\n")
        w("| server | TLS | logins/s | p50 ms | p99 ms | errors | server CPU µs/login | client CPU µs/login |")
        w("|---|---|---:|---:|---:|---:|---:|---:|")
        for s, kind, r in tls_rows:
            if not r:
                continue
            lat = r.get("latency_us") or {}
            how = "channel_binding=require" if kind.endswith("plus") else "sslmode=require"
            w(f"| {NAMES[s]} | {how} | {fmt(r.get('rate'))} | {fmt(ms(lat.get('p50')), 2)} | "
              f"{fmt(ms(lat.get('p99')), 2)} | {fmt(r.get('errors'))} | "
              f"{fmt(r.get('server_cpu_us_per_login'))} | {fmt(r.get('client_cpu_us_per_login'))} |")
        w("")

    w("## `pgbench -C` (libpq, a new connection per `SELECT 1`)\n")
    w("| server | transactions/s | avg connection ms | server CPU µs/login | client CPU µs/login | failed |")
    w("|---|---:|---:|---:|---:|---:|")
    for s in SERVERS:
        r = records.get(f"{s}/pgbench-C")
        if not r:
            continue
        w(f"| {NAMES[s]} | {fmt(r.get('rate'))} | {fmt(r.get('connect_ms'), 3)} | "
          f"{fmt(r.get('server_cpu_us_per_login'))} | {fmt(r.get('client_cpu_us_per_login'))} | "
          f"{fmt(r.get('errors'))} |")
    w("")

    psql_rows = [(s, records.get(f"{s}/psql")) for s in SERVERS]
    if any(r for _, r in psql_rows):
        w("## psql's own login time (`psql -X -c 'SELECT 1'`, one run after another)\n")
        w("The wall time of a whole psql process: start, connect, SCRAM (libpq's PBKDF2),")
        w("one query, exit.\n")
        w("| server | runs | p50 ms | p90 ms | mean ms | server CPU µs/login | client CPU µs/login | failed |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|")
        for s, r in psql_rows:
            if not r:
                continue
            w(f"| {NAMES[s]} | {fmt(r.get('logins'))} | {fmt(r.get('p50_ms'), 2)} | "
              f"{fmt(r.get('p90_ms'), 2)} | {fmt(r.get('mean_ms'), 2)} | "
              f"{fmt(r.get('server_cpu_us_per_login'))} | {fmt(r.get('client_cpu_us_per_login'))} | "
              f"{fmt(r.get('errors'))} |")
        w("")

    w("## Memory per idle authenticated connection\n")
    w("K connections logged in and left idle; the change in the server's memory divided by K.")
    w("RSS counts shared pages once per process (PostgreSQL's forked backends), PSS shares them out.\n")
    w("| server | connections | RSS KiB/conn | PSS KiB/conn |")
    w("|---|---:|---:|---:|")
    for s in SERVERS:
        r = records.get(f"{s}/idle")
        if not r:
            continue
        w(f"| {NAMES[s]} | {fmt(r.get('opened'))} | {fmt(r.get('rss_kib_per_conn'))} | "
          f"{fmt(r.get('pss_kib_per_conn'))} |")
    many = records.get("pgscram/idle-many")
    if many:
        w(f"| {NAMES['pgscram']} | {fmt(many.get('opened'))} | {fmt(many.get('rss_kib_per_conn'))} | "
          f"{fmt(many.get('pss_kib_per_conn'))} |")
    w("")
    slope = idle_slope(records)
    if slope is not None:
        w(f"Each connection past the first {fmt(records['pgscram/idle'].get('opened'))} costs "
          f"pgscram serve {slope:.1f} KiB (RSS, the slope between the two runs; each run "
          "starts a fresh process, whose allocator also sets up per-thread pages once).\n")

    proxy_rows = [(n, m, records.get(f"latency/{n}/{m}"))
                  for m in ["keys", "password"] for n in ["proxy", "postgres"]]
    if any(r for _, _, r in proxy_rows):
        w("## Login latency through `pgscram proxy` vs direct\n")
        w("One login at a time (`--workers 1`).\n")
        w("| path | mode | logins | p50 ms | p90 ms | p99 ms | mean ms |")
        w("|---|---|---:|---:|---:|---:|---:|")
        for n, m, r in proxy_rows:
            if not r:
                continue
            lat = r.get("latency_us") or {}
            w(f"| {NAMES[n]} | {m} | {fmt(r.get('logins'))} | {fmt(ms(lat.get('p50')), 3)} | "
              f"{fmt(ms(lat.get('p90')), 3)} | {fmt(ms(lat.get('p99')), 3)} | "
              f"{fmt(ms(lat.get('mean')), 3)} |")
        w("")

    if pbkdf2:
        w("## PBKDF2-HMAC-SHA-256\n")
        if pbkdf2_header:
            w(pbkdf2_header + "\n")
        w("| implementation | µs per derivation | vs floor |")
        w("|---|---:|---:|")
        for name, us, x in pbkdf2:
            w(f"| {name} | {us:.1f} | {x:.3f}x |")
        w("")

    w("## Against the targets (issues #7 and #12)\n")
    w("| target | goal | measured | met |")
    w("|---|---|---:|---|")
    for row in targets(records, pbkdf2):
        w("| " + " | ".join(row) + " |")
    w("")
    return "\n".join(out)


def targets(records, pbkdf2):
    rate = lambda label: (records.get(label) or {}).get("rate")
    rows = []

    def row(name, goal, value, ok, unit="x"):
        shown = "-" if value is None else (f"{value:.2f}{unit}" if unit == "x" else f"{value:.1f} {unit}")
        met = "-" if value is None or ok is None else ("yes" if ok(value) else "no")
        rows.append((name, goal, shown, met))

    row("logins/s, cached keys: pgscram / PostgreSQL 15", ">= 20x",
        ratio(rate("pgscram/keys"), rate("postgres/keys")), lambda v: v >= 20)
    row("logins/s, cached keys: pgscram / PgBouncer", ">= 2x",
        ratio(rate("pgscram/keys"), rate("pgbouncer/keys")), lambda v: v >= 2)
    row("logins/s, password: pgscram / PostgreSQL 15", "(no goal)",
        ratio(rate("pgscram/password"), rate("postgres/password")), None)
    row("logins/s over TLS (sslmode=require): pgscram / PgBouncer", "(no goal)",
        ratio(rate("pgscram/keys-tls"), rate("pgbouncer/keys-tls")), None)
    psql = lambda label: (records.get(label) or {}).get("p50_ms")
    row("psql's own login p50: pgscram / PostgreSQL 15", "(no goal)",
        ratio(psql("pgscram/psql"), psql("postgres/psql")), None)
    cpu = (records.get("pgscram/keys") or {}).get("server_cpu_us_per_login")
    row("server CPU per SCRAM login (pgscram serve, keys)", "<= 30 µs", cpu, lambda v: v <= 30, "µs")
    ours = next((us for n, us, _ in pbkdf2 if n == "pgscram"), None)
    floor = next((us for n, us, _ in pbkdf2 if n.startswith("floor")), None)
    over = None if ours is None or not floor else (ours / floor - 1) * 100
    idle = (records.get("pgscram/idle") or {}).get("rss_kib_per_conn")
    row("memory per idle authenticated connection (pgscram serve, RSS)", "<= 16 KiB", idle,
        lambda v: v <= 16, "KiB")
    row("memory per further idle connection (pgscram serve, RSS slope)", "<= 16 KiB",
        idle_slope(records), lambda v: v <= 16, "KiB")
    row("PBKDF2 over the SHA-256 floor", "<= 5%", over, lambda v: v <= 5, "%")
    p = lambda label: ((records.get(label) or {}).get("latency_us") or {}).get("p50")
    row("proxy login p50 / direct p50 (keys)", "<= 1.2x",
        ratio(p("latency/proxy/keys"), p("latency/postgres/keys")), lambda v: v <= 1.2)
    row("proxy login p50 / direct p50 (password)", "<= 1.2x",
        ratio(p("latency/proxy/password"), p("latency/postgres/password")), lambda v: v <= 1.2)
    return rows


def chart(records, pbkdf2, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    colors = {"password": "#4c72b0", "keys": "#55a868", "pgbench-C": "#c44e52"}

    ax = axes[0][0]
    kinds = ["password", "keys", "pgbench-C"]
    width = 0.27
    for i, kind in enumerate(kinds):
        values = [(records.get(f"{s}/{kind}") or {}).get("rate") or 0 for s in SERVERS]
        xs = [j + (i - 1) * width for j in range(len(SERVERS))]
        bars = ax.bar(xs, values, width, label=kind if kind != "pgbench-C" else "pgbench -C",
                      color=colors[kind])
        ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=7, padding=2)
    ax.set_xticks(range(len(SERVERS)))
    ax.set_xticklabels([NAMES[s].replace(" -> ", "\n-> ") for s in SERVERS], fontsize=8)
    ax.set_ylabel("logins per second")
    ax.set_title("Logins per second (higher is better)")
    ax.legend(fontsize=8)

    ax = axes[0][1]
    for i, kind in enumerate(kinds):
        values = [(records.get(f"{s}/{kind}") or {}).get("server_cpu_us_per_login") or 0
                  for s in SERVERS]
        xs = [j + (i - 1) * width for j in range(len(SERVERS))]
        bars = ax.bar(xs, values, width, color=colors[kind],
                      label=kind if kind != "pgbench-C" else "pgbench -C")
        ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=7, padding=2)
    ax.axhline(30, color="gray", linestyle="--", linewidth=1)
    ax.text(len(SERVERS) - 0.55, 30, "goal 30 µs", fontsize=7, va="bottom", ha="right",
            color="gray")
    ax.set_yscale("log")
    ax.set_xticks(range(len(SERVERS)))
    ax.set_xticklabels([NAMES[s].replace(" -> ", "\n-> ") for s in SERVERS], fontsize=8)
    ax.set_ylabel("server CPU µs per login (log scale)")
    ax.set_title("Server CPU per login (lower is better)")
    ax.legend(fontsize=8)

    ax = axes[1][0]
    rss = [(records.get(f"{s}/idle") or {}).get("rss_kib_per_conn") or 0 for s in SERVERS]
    pss = [(records.get(f"{s}/idle") or {}).get("pss_kib_per_conn") or 0 for s in SERVERS]
    xs = range(len(SERVERS))
    # Log scale: PostgreSQL's backends are orders of magnitude above the others. A
    # bar cannot show zero or less there, so those are drawn at 0.1 and labelled.
    floor = lambda values: [max(v, 0.1) for v in values]
    b1 = ax.bar([x - 0.2 for x in xs], floor(rss), 0.4, label="RSS", color="#8172b2")
    b2 = ax.bar([x + 0.2 for x in xs], floor(pss), 0.4, label="PSS", color="#ccb974")
    ax.bar_label(b1, labels=[f"{v:,.1f}" for v in rss], fontsize=7, padding=2)
    ax.bar_label(b2, labels=[f"{v:,.1f}" for v in pss], fontsize=7, padding=2)
    ax.set_yscale("log")
    ax.set_xticks(list(xs))
    ax.set_xticklabels([NAMES[s].replace(" -> ", "\n-> ") for s in SERVERS], fontsize=8)
    ax.set_ylabel("KiB per idle connection (log scale)")
    ax.set_title("Memory per idle authenticated connection (lower is better)")
    ax.legend(fontsize=8)

    ax = axes[1][1]
    p = lambda label: ((records.get(label) or {}).get("latency_us") or {}).get("p50")
    if p("latency/proxy/keys") or p("latency/proxy/password"):
        modes = ["keys", "password"]
        direct = [(p(f"latency/postgres/{m}") or 0) / 1000 for m in modes]
        proxied = [(p(f"latency/proxy/{m}") or 0) / 1000 for m in modes]
        b1 = ax.bar([x - 0.2 for x in range(2)], direct, 0.4, label="direct to PostgreSQL",
                    color="#4c72b0")
        b2 = ax.bar([x + 0.2 for x in range(2)], proxied, 0.4, label="through pgscram proxy",
                    color="#dd8452")
        ax.bar_label(b1, labels=[f"{v:.2f}" for v in direct], fontsize=7, padding=2)
        ax.bar_label(b2, labels=[f"{v:.2f}" for v in proxied], fontsize=7, padding=2)
        ax.set_xticks(range(2))
        ax.set_xticklabels([f"{m} mode" for m in modes])
        ax.set_ylabel("p50 login latency, ms")
        ax.set_title("One login at a time: proxy vs direct (lower is better)")
        ax.legend(fontsize=8)
    elif pbkdf2:
        names = [n for n, _, _ in pbkdf2]
        values = [us for _, us, _ in pbkdf2]
        bars = ax.barh(range(len(names)), values, color="#64b5cd")
        ax.bar_label(bars, labels=[f"{v:.0f}" for v in values], fontsize=7, padding=2)
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels(names, fontsize=8)
        ax.set_xlabel("µs per 4096-iteration derivation")
        ax.set_title("PBKDF2-HMAC-SHA-256 (lower is better)")

    fig.suptitle("pgscram login benchmarks (one machine, loopback, no TLS)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--pbkdf2", required=True)
    ap.add_argument("--machine", required=True)
    ap.add_argument("--markdown", required=True)
    ap.add_argument("--chart", required=True)
    args = ap.parse_args()
    records = load(args.results)
    pbkdf2, header = pbkdf2_rows(args.pbkdf2)
    try:
        machine = open(args.machine).read()
    except OSError:
        machine = "(unknown)"
    text = markdown(records, pbkdf2, header, machine)
    try:
        chart(records, pbkdf2, args.chart)
        name = args.chart.rsplit("/", 1)[-1]
        text = text.replace("## Machine\n", f"![benchmarks]({name})\n\n## Machine\n", 1)
    except ImportError:
        text += "\n(no chart: matplotlib is not installed)\n"
    with open(args.markdown, "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
