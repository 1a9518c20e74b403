#!/usr/bin/python3
"""containernet overhead: TCP connect/accept/close loops in one container.

A container runs tcpserver and tcpclient over loopback (127.0.0.1) for a
fixed number of connections, both on one CPU (LOOP_CPUS, the container's
cpuset), so that the loop is bound by the work of a connection: on two,
each connection waits for the other CPU to wake, and on this VM the
untraced loop took 43 to 75 us a connection from round to round (20 us
on one), the ratios' intervals +-0.1 to 0.2 wide.  The client's own time
per connection (its loop's, without docker exec's start) is measured in
ROUNDS
interleaved rounds (common.Rounds): untraced, with containernet printing
every connection (stdout to a file), with the floor (programs that only
return, on its hooks), and with bpftrace printing the same lines (BPFTRACE).
Events the tool lost are read from its stderr.  Checks: the tool within
+0.05 of the floor and not behind bpftrace doing the same job.

Run as root: /usr/bin/python3 bench/containernet.py [--count N] [--rounds R]
Writes bench/out/containernet.json.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (Floor, OUT, bpftrace_run, container_cgroup, docker,  # noqa: E402
                    parse_kv, rounds_in_container, save, tool_figures, tool_run)

PORT = 7700
# The loop's CPU: the last (the tool's reader and the rest of the machine
# run on the others); none on a machine of one.
LOOP_CPUS = str(os.cpu_count() - 1) if (os.cpu_count() or 1) > 1 else None


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise SystemExit("timed out waiting for %s" % what)


def one_run(name, count, port):
    """Start a server for COUNT connections, run the client loop; the
    client's own ns per connection (docker exec's start is not in it)."""
    log = "/tmp/server-%d.log" % port
    docker("exec", "-d", name, "sh", "-c", "tcpserver %d %d > %s" % (port, count, log))
    wait_for(lambda: "listening" in docker("exec", name, "cat", log, check=False),
             30, "tcpserver")
    out = docker("exec", name, "tcpclient", "127.0.0.1", str(port), str(count))
    if "connected=%d " % count not in out:
        raise SystemExit("client: %s" % out)
    return parse_kv(out)["ns_per_connection"]


HOOKS = ["sock:inet_sock_set_state", "tcp:tcp_receive_reset", "syscalls:sys_exit_accept4",
         "syscalls:sys_exit_accept", "io_uring:io_uring_submit_req", "io_uring:io_uring_complete"]
RATIOS = [("ratio_tool", "containernet, every connection printed", "tool", "base"),
          ("ratio_noop_floor", "floor: empty programs on its hooks", "floor", "base"),
          ("ratio_bpftrace", "bpftrace, the same lines (owner, addresses, bytes)",
           "bpftrace", "base")]
CHECKS = [("tool - floor <= +0.05", "ratio_tool", "ratio_noop_floor", 0.05),
          ("tool - bpftrace <= 0", "ratio_tool", "ratio_bpftrace", 0.0)]

# bpftrace doing containernet's job for the bench's container (CGROUP_PATH):
# a line at each connect, accept and close, naming the process that owns
# the socket (taken where the task is the owner: connect(), accept()), its
# cgroup and the addresses, and at a close the bytes and the duration.
# One map entry per socket, as containernet keeps.  (containernet also
# names the container at the other end; this does not.)
BPFTRACE = r'''
tracepoint:sock:inet_sock_set_state /args->protocol == 6/ {
  $sk = (uint64)args->skaddr;
  if (args->oldstate == 7 && args->newstate == 2 && cgroup == cgroupid("CGROUP_PATH")) {
    @owner[$sk] = (pid, comm, cgroup, nsecs);
  } else if (args->oldstate == 2 && args->newstate == 1) {
    $c = @owner[$sk];
    if ($c.3) {
      printf("connect %d %s %d %s:%d %s:%d\n", $c.0, $c.1, $c.2,
             ntop(args->saddr), args->sport, ntop(args->daddr), args->dport);
    }
  } else if (args->newstate == 7) {
    $o = @owner[$sk];
    if ($o.3) {
      $tp = (struct tcp_sock *)args->skaddr;
      printf("close %d %s %d %s:%d %s:%d %d %d %d\n", $o.0, $o.1, $o.2,
             ntop(args->saddr), args->sport, ntop(args->daddr), args->dport,
             $tp->bytes_acked, $tp->bytes_received, (nsecs - $o.3) / 1000000);
      delete(@owner[$sk]);
    }
  }
}
tracepoint:syscalls:sys_exit_accept, tracepoint:syscalls:sys_exit_accept4
/args->ret >= 0 && cgroup == cgroupid("CGROUP_PATH")/ {
  $sk = ((struct socket *)(*(curtask->files->fdt->fd + args->ret))->private_data)->sk;
  @owner[(uint64)$sk] = (pid, comm, cgroup, nsecs);
  $dport = $sk->__sk_common.skc_dport;
  printf("accept %d %s %d %s:%d %s:%d\n", pid, comm, cgroup,
         ntop($sk->__sk_common.skc_rcv_saddr), $sk->__sk_common.skc_num,
         ntop($sk->__sk_common.skc_daddr), ($dport >> 8) | (($dport & 0xff) << 8));
}
END { clear(@owner); }
'''
BPFTRACE_LINES = (b"connect ", b"accept ", b"close ")



def configs(name, count, tally):
    port = [PORT + 1]
    floor = Floor(HOOKS)

    def loop():
        port[0] += 1
        return one_run(name, count, port[0])

    def tool(label, *targs):
        def run():
            with tool_run("containernet", *targs,
                          out=os.path.join(OUT, "containernet-%s.out" % label)) as t:
                seconds = loop()
            tally["lines"][label] += t.lines() - 1
            tally["lost"] += t.lost()
            tally["runs"].append(t)
            return {label: seconds}
        return run

    def with_floor():
        with floor:
            return {"floor": loop()}

    bpftrace_program = BPFTRACE.replace("CGROUP_PATH", container_cgroup(name))

    def bpftrace():
        out = os.path.join(OUT, "bpftrace-net.out")
        with bpftrace_run(bpftrace_program, out):
            seconds = loop()
        with open(out, "rb") as f:
            tally["lines"]["bpftrace"] += sum(1 for line in f if line.startswith(BPFTRACE_LINES))
        return {"bpftrace": seconds}

    return {"base": lambda: {"base": loop()}, "tool": tool("tool"), "floor": with_floor,
            "bpftrace": bpftrace}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=int(os.environ.get("BENCH_CONNECTIONS", "9000")),
                   help="connections per run")
    p.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "16")))
    args = p.parse_args([] if argv is None else argv)   # main(): the defaults
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    tally = {"lines": {"tool": 0, "bpftrace": 0}, "lost": 0, "runs": []}

    def prepare(name):
        one_run(name, 200, PORT)            # warm up
    rounds = rounds_in_container("ctbench", args.rounds,
                                 lambda name: configs(name, args.count, tally), prepare,
                                 ("--cpuset-cpus", LOOP_CPUS) if LOOP_CPUS else ())
    result = rounds.summary(RATIOS, CHECKS)
    result.update(tool_figures(tally["runs"]))
    result.update({
        "tool": "containernet",
        "workload": "TCP connect/accept/close loop over loopback in one container "
                    "(tcpserver + tcpclient), %d connections%s"
                    % (args.count, ", both on CPU %s" % LOOP_CPUS if LOOP_CPUS else ""),
        "events_printed": tally["lines"]["tool"], "events_lost": tally["lost"],
        "events_expected": 4 * args.count * args.rounds,
        "events_per_s": round(4e9 / sorted(rounds.raw["tool"])[args.rounds // 2]),
        "notes": "4 events per connection (connect, accept, two closes) printed to a "
                 "file; the client's own ns per connection; bpftrace printed %d of %d "
                 "lines" % (tally["lines"]["bpftrace"], 4 * args.count * args.rounds)})
    save("containernet", result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
