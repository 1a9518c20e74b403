#!/usr/bin/python3
"""containernet overhead: TCP connect/accept/close loops in one container.

A container runs tcpserver and tcpclient over loopback (127.0.0.1) for a
fixed number of connections; the client's wall time is measured untraced,
with containernet printing every connection (stdout to a file), and with
containernet --summary. The variants alternate within each round, the
median round counts. Events the tool lost are read from its stderr.

Run as root: /usr/bin/python3 bench/containernet.py [--count N] [--rounds R]
Writes bench/out/containernet.json.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import IMAGE, OUT, ROOT, docker, save, tool_run  # noqa: E402

PORT = 7700
OVERHEAD = [0.0]


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise SystemExit("timed out waiting for %s" % what)


def exec_overhead(name, n=7):
    """Median time of a `docker exec` that does nothing: subtracted from
    every measurement, so the ratios are those of the connection loop."""
    runs = []
    for _ in range(n):
        start = time.monotonic()
        docker("exec", name, "true")
        runs.append(time.monotonic() - start)
    return statistics.median(runs)


def one_run(name, count, port):
    """Start a server for COUNT connections, run the client loop; seconds."""
    log = "/tmp/server-%d.log" % port
    docker("exec", "-d", name, "sh", "-c", "tcpserver %d %d > %s" % (port, count, log))
    wait_for(lambda: "listening" in docker("exec", name, "cat", log, check=False),
             30, "tcpserver")
    start = time.monotonic()
    out = docker("exec", name, "tcpclient", "127.0.0.1", str(port), str(count))
    elapsed = time.monotonic() - start - OVERHEAD[0]
    if "connected=%d" % count not in out:
        raise SystemExit("client: %s" % out)
    return elapsed


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=20000, help="connections per run")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args([] if argv is None else argv)   # main(): the defaults
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    subprocess.run(["bash", os.path.join(ROOT, "tests", "image", "build.sh")],
                   check=True, capture_output=True)
    name = "ctbench-%s" % uuid.uuid4().hex[:8]
    docker("run", "-d", "--name", name, IMAGE, "sleep", "3600")
    variants = [("untraced", None), ("printing", []), ("summary", ["-s", "3600"])]
    times = {v: [] for v, _ in variants}
    extra = {v: {"lines": 0, "lost": 0, "rss": 0} for v, _ in variants}
    port = PORT
    try:
        one_run(name, 200, port)            # warm up
        port += 1
        OVERHEAD[0] = exec_overhead(name)
        for _ in range(args.rounds):
            for label, targs in variants:
                if targs is None:
                    times[label].append(one_run(name, args.count, port))
                    port += 1
                    continue
                with tool_run("containernet", *targs,
                              out=os.path.join(OUT, "containernet-%s.out" % label)) as traced:
                    try:
                        times[label].append(one_run(name, args.count, port))
                    finally:
                        port += 1
                extra[label]["lines"] += traced.lines()
                extra[label]["lost"] += traced.lost()
                extra[label]["rss"] = max(extra[label]["rss"], traced.peak_rss_kb)
    finally:
        docker("rm", "-f", name, check=False)

    base = statistics.median(times["untraced"])
    result = {"count": args.count, "rounds": args.rounds, "kernel": os.uname().release,
              "cpus": os.cpu_count(), "docker_exec_overhead_s": round(OVERHEAD[0], 4),
              "variants": {}}
    print("containernet: %d TCP connections over loopback in one container, "
          "median of %d rounds (docker exec overhead %.3fs subtracted)"
          % (args.count, args.rounds, OVERHEAD[0]))
    print("%-10s %10s %10s %8s %10s %8s" % ("VARIANT", "SECONDS", "CONN/S", "RATIO",
                                             "LINES", "LOST"))
    for label, _ in variants:
        t = statistics.median(times[label])
        row = {"seconds": round(t, 4), "conn_per_s": round(args.count / t, 1),
               "ratio": round(t / base, 3), "runs": [round(x, 4) for x in times[label]],
               "output_lines": extra[label]["lines"], "lost": extra[label]["lost"]}
        result["variants"][label] = row
        print("%-10s %10.3f %10.0f %7.2fx %10s %8s" % (
            label, t, row["conn_per_s"], row["ratio"],
            row["output_lines"] if label != "untraced" else "-",
            row["lost"] if label != "untraced" else "-"))
    printing = result["variants"]["printing"]
    # The keys bench/run.py's report reads.
    result.update({
        "workload": "TCP connect/accept/close loop over loopback in one container "
                    "(tcpserver + tcpclient), %d connections" % args.count,
        "ratio_tool": printing["ratio"],
        "ratio_summary": result["variants"]["summary"]["ratio"],
        "events_printed": printing["output_lines"] - args.rounds,     # minus headers
        "events_lost": printing["lost"] + result["variants"]["summary"]["lost"],
        "events_per_s": round(4 * args.count / printing["seconds"]),
        "tool_peak_rss_kb": max(extra["printing"]["rss"], extra["summary"]["rss"]),
        "notes": "4 events per connection (connect, accept, two closes) printed to a "
                 "file; -s counts in the kernel and prints nothing per connection; "
                 "docker exec overhead (%.3fs) subtracted from every run"
                 % OVERHEAD[0],
    })
    save("containernet", result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
