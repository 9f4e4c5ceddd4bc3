#!/usr/bin/env python3
"""Measurement helpers for scripts/bench/run.sh (standard library only).

Server CPU time comes from /proc/<pid>/stat: utime+stime of the server process (all
its threads) plus cutime+cstime (children it has reaped: PostgreSQL's exited
backends), plus the same for every live direct child. Client CPU time comes from
wait4()'s rusage of the load generator. Memory is the sum of RSS and of PSS
(/proc/<pid>/smaps_rollup) over the same process trees.

Subcommands (each appends one JSON object to --out):
  free-port                         print a free loopback TCP port
  wait-port PORT [SECONDS]          wait until 127.0.0.1:PORT accepts connections
  load  --out F --label L --pid P... -- CMD...   run `pgscram bench --json`, add CPU
  pgbench --out F --label L --pid P... -- CMD... run pgbench, parse it, add CPU
  memory --out F --label L --pid P... --idle K -- CMD...
                                    run `pgscram bench --hold K`, measure while held
  repeat --out F --label L --pid P... --times N -- CMD...
                                    run CMD N times, one after another: the wall time
                                    of each (psql's own login time as a user sees it)
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def stat_fields(pid):
    """Fields after the command name of /proc/<pid>/stat, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def children(pid):
    """Live direct children of pid."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = stat_fields(entry)
        if fields and int(fields[1]) == pid:
            out.append(int(entry))
    return out


def tree_ticks(pid):
    """utime+stime+cutime+cstime of pid and of its live direct children, in ticks."""
    total = 0
    for p in [pid] + children(pid):
        fields = stat_fields(p)
        if fields:
            # After "pid (comm) ": state ppid pgrp session tty tpgid flags minflt
            # cminflt majflt cmajflt utime stime cutime cstime ...
            total += sum(int(x) for x in fields[11:15])
    return total


def cpu_seconds(pids):
    return {pid: tree_ticks(pid) / CLK_TCK for pid in pids}


def memory_kib(pid):
    """(RSS, PSS) in KiB summed over pid and its live direct children."""
    rss = pss = 0
    for p in [pid] + children(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


def run_timed(cmd, env=None):
    """Runs cmd to completion; returns (exit code, stdout, stderr, client CPU s)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=env, text=True)
    # communicate() reaps through waitpid; read the pipes first, then wait4 ourselves.
    out, err = [], []

    def drain(stream, sink):
        sink.append(stream.read())

    threads = [threading.Thread(target=drain, args=(proc.stdout, out)),
               threading.Thread(target=drain, args=(proc.stderr, err))]
    for t in threads:
        t.start()
    _, status, usage = os.wait4(proc.pid, 0)
    for t in threads:
        t.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, "".join(out), "".join(err), usage.ru_utime + usage.ru_stime


def load_average():
    """The 1-minute load average: other work on the machine shows up here."""
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def with_cpu(record, pids, cmd):
    return with_cpu_of(record, pids, lambda: run_timed(cmd))


def with_cpu_of(record, pids, run):
    """Calls run() (returning exit code, stdout, stderr, client CPU s) and records the
    servers' CPU over it; returns its stdout."""
    record["loadavg_before"] = load_average()
    before = cpu_seconds(pids)
    start = time.monotonic()
    code, out, err, client_cpu = run()
    wall = time.monotonic() - start
    # Let the server reap the last backends so their time reaches cutime.
    time.sleep(0.5)
    after = cpu_seconds(pids)
    server = {str(p): after[p] - before[p] for p in pids}
    record.update({
        "exit": code,
        "wall_s": round(wall, 3),
        "server_cpu_s": round(sum(server.values()), 3),
        "server_cpu_by_pid": {k: round(v, 3) for k, v in server.items()},
        "client_cpu_s": round(client_cpu, 3),
    })
    if err.strip():
        record["stderr"] = err.strip()[-2000:]
    return out


def per_login(record):
    n = record.get("logins") or 0
    if n > 0:
        record["server_cpu_us_per_login"] = round(record["server_cpu_s"] * 1e6 / n, 1)
        record["client_cpu_us_per_login"] = round(record["client_cpu_s"] * 1e6 / n, 1)


def cmd_load(args):
    record = {"kind": "load", "label": args.label}
    out = with_cpu(record, args.pid, args.cmd)
    try:
        record.update(json.loads(out.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        record["error"] = "no JSON from pgscram bench: " + out[-500:]
    per_login(record)
    return record


def cmd_pgbench(args):
    record = {"kind": "pgbench", "label": args.label}
    out = with_cpu(record, args.pid, args.cmd)
    record["output"] = out[-3000:]
    processed = re.search(r"number of transactions actually processed: (\d+)", out)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    tps = re.search(r"tps = ([0-9.]+)", out)
    latency = re.search(r"latency average = ([0-9.]+) ms", out)
    connect = re.search(r"average connection time = ([0-9.]+) ms", out)
    if processed:
        record["logins"] = int(processed.group(1))
    if tps:
        record["rate"] = float(tps.group(1))
    if latency:
        record["latency_ms"] = float(latency.group(1))
    if connect:
        record["connect_ms"] = float(connect.group(1))
    record["errors"] = int(failed.group(1)) if failed else (0 if record["exit"] == 0 else None)
    per_login(record)
    return record


def percentile(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


def cmd_repeat(args):
    record = {"kind": "repeat", "label": args.label, "times": args.times}
    walls = []

    def run_all():
        code, err, client_cpu = 0, "", 0.0
        failed = 0
        for _ in range(args.times):
            start = time.monotonic()
            one_code, _out, one_err, cpu = run_timed(args.cmd)
            walls.append((time.monotonic() - start) * 1000)
            client_cpu += cpu
            if one_code != 0:
                failed += 1
                code, err = one_code, one_err
        record["errors"] = failed
        return code, "", err, client_cpu

    with_cpu_of(record, args.pid, run_all)
    walls.sort()
    record.update({
        "logins": args.times,
        "p50_ms": round(percentile(walls, 0.5), 2),
        "p90_ms": round(percentile(walls, 0.9), 2),
        "mean_ms": round(sum(walls) / len(walls), 2),
    })
    per_login(record)
    return record


def cmd_memory(args):
    record = {"kind": "memory", "label": args.label, "idle": args.idle}
    time.sleep(0.5)
    before = [memory_kib(p) for p in args.pid]
    log = open(args.scratch, "w+")
    proc = subprocess.Popen(args.cmd, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 120
    held = None
    while time.monotonic() < deadline and proc.poll() is None:
        log.seek(0)
        first = log.readline()
        if first.startswith("{"):
            held = json.loads(first)
            break
        time.sleep(0.2)
    if held is not None:
        time.sleep(1.0)
        during = [memory_kib(p) for p in args.pid]
        rss = sum(d[0] - b[0] for d, b in zip(during, before))
        pss = sum(d[1] - b[1] for d, b in zip(during, before))
        opened = held.get("opened", 0)
        record.update({"opened": opened, "rss_delta_kib": rss, "pss_delta_kib": pss})
        if opened:
            record["rss_kib_per_conn"] = round(rss / opened, 1)
            record["pss_kib_per_conn"] = round(pss / opened, 1)
    else:
        log.seek(0)
        record["error"] = "connections were not opened: " + log.read()[-1000:]
    try:
        proc.wait(timeout=180)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    record["exit"] = proc.returncode
    return record


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "free-port":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            print(s.getsockname()[1])
        return 0
    if len(sys.argv) >= 3 and sys.argv[1] == "wait-port":
        port = int(sys.argv[2])
        limit = float(sys.argv[3]) if len(sys.argv) > 3 else 30.0
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return 0
            except OSError:
                time.sleep(0.1)
        print(f"port {port} did not open within {limit}s", file=sys.stderr)
        return 1

    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["load", "pgbench", "memory", "repeat"])
    parser.add_argument("--out", required=True)
    parser.add_argument("--label", required=True)
    parser.add_argument("--pid", type=int, action="append", required=True)
    parser.add_argument("--idle", type=int, default=0)
    parser.add_argument("--scratch", default="/dev/null")
    parser.add_argument("--times", type=int, default=50)
    parser.add_argument("cmd", nargs="+")
    args = parser.parse_args()
    record = {"load": cmd_load, "pgbench": cmd_pgbench, "memory": cmd_memory,
              "repeat": cmd_repeat}[args.command](args)
    with open(args.out, "a") as f:
        f.write(json.dumps(record) + "\n")
    brief = {k: record.get(k) for k in ("label", "rate", "logins", "errors", "p50_ms",
                                        "server_cpu_us_per_login", "client_cpu_us_per_login",
                                        "rss_kib_per_conn", "pss_kib_per_conn", "error")
             if record.get(k) is not None}
    print("  " + json.dumps(brief), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
