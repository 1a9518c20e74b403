"""What every ctrace benchmark needs: a tool run whose start-up time, peak
memory and lost events are measured, workloads in containers, and results
written to bench/out/<name>.json for bench/run.py's report.

Benchmarks compare ratios measured side by side in one run: the machines are
shared and noisy, absolute times drift."""

import compileall
import functools
import json
import math
import os
import random
import re
import signal
import subprocess
import time
import uuid

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
OUT = os.path.join(BENCH, "out")
PYTHON = "/usr/bin/python3"
DOCKER = "/usr/bin/docker"
IMAGE = os.environ.get("CTRACE_TEST_IMAGE", "ctrace-test:latest")


def docker(*args, check=True, timeout=600):
    r = subprocess.run([DOCKER] + list(args), capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("docker %s: %s" % (" ".join(args), r.stderr.strip()))
    return r.stdout


def parse_kv(text):
    """'opens=10 ns_per_open=35' -> {'opens': 10, 'ns_per_open': 35}"""
    return {k: float(v) for k, v in re.findall(r"(\w+)=([0-9.]+)", text)}


def openloop_result(out, count, key="ns_per_open"):
    """ns per open+close pair that openloop printed, once it did them all:
    its wall time, or (KEY cpu_ns_per_open) its CPU time."""
    r = parse_kv(out)
    if r.get("opens") != count:
        raise RuntimeError("openloop did not complete: %r" % out)
    return r[key]


def container_cgroup(name):
    """The cgroup v2 directory of Docker container NAME (bpftrace's cgroupid())."""
    cid = docker("inspect", "-f", "{{.Id}}", name).strip()
    for root in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        for path in ("%s/docker/%s" % (root, cid), "%s/system.slice/docker-%s.scope" % (root, cid)):
            if os.path.isdir(path):
                return path
    raise RuntimeError("no cgroup v2 directory for container %s" % name)


def openloop_container(count, prefix, path="/etc/passwd"):
    """openloop in a new container (its start-up is not in the figure)."""
    name = prefix + os.urandom(3).hex()
    try:
        out = docker("run", "--name", name, IMAGE, "openloop", path, str(count))
    finally:
        docker("rm", "-f", name, check=False)
    return openloop_result(out, count)


def build_host_openloop():
    """openloop for the host, from the test image's source."""
    exe = os.path.join(OUT, "openloop")
    subprocess.run(["gcc", "-O2", "-static", "-o", exe,
                    os.path.join(ROOT, "tests", "image", "src", "openloop.c")], check=True)
    return exe


def openloop_host(exe, count, path="/etc/passwd"):
    out = subprocess.run([exe, path, str(count)], capture_output=True, text=True,
                         check=True).stdout
    return openloop_result(out, count)


def peak_rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory_kb(pid):
    """Private memory of PID once tracing: /proc/PID/smaps_rollup's
    Anonymous and Private_Clean/Private_Dirty, Rss; VmHWM (peak RSS)."""
    mem = {"peak_rss": peak_rss_kb(pid)}
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("Rss", "Anonymous", "Private_Clean", "Private_Dirty"):
                    mem[key.lower()] = int(rest.split()[0])
    except OSError:
        pass
    return mem


def cpu_seconds(pid):
    """utime + stime of PID (all its threads) so far."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def parse_timings(stderr, launched):
    """The phases of a tool's start-up, in seconds, from the line
    ctrace.bpf prints under CTRACE_TIMINGS=1 (LAUNCHED: the launcher's
    time.monotonic() at Popen; the same clock)."""
    if not re.search(r": timings ", stderr):
        return None
    # With the line after "tracing" that times the compiler's memory handed
    # back (ctrace.bpf.Runner.ready).
    t = {k: float(v) for line in re.findall(r": timings(?:-trim)? (.*)", stderr)
         for k, v in re.findall(r"(\w+)=([0-9.]+)", line)}
    build = t["loaded"] - t["compiled"] - t["verifier_s"] - t["attach_s"]
    return {"start": t["load"] - launched,           # interpreter, imports, options, Registry()
            "import_bcc": t["bcc"] - t["load"],
            "text": t["text"] - t["bcc"],             # C composed, offsets from BTF
            "compile": t["compiled"] - t["text"] + build,
            "verifier": t["verifier_s"],
            "attach": t["attach_s"],
            # the registry's first listing runs beside the compile (meanwhile_s):
            # what is left is waiting for it, maps, header
            "listing": t["ready"] - t["loaded"],
            "listing_beside": t.get("meanwhile_s"),
            "total": t["ready"] - launched,
            "anon_before_trim_kb": t.get("anon_kb_before_trim"),
            "anon_after_trim_kb": t.get("anon_kb_after_trim"),
            "trim_after_ready": t.get("trim_s")}


# -- statistics -----------------------------------------------------------
# Every ratio is a median over interleaved rounds, with a distribution-free
# confidence interval of the median from order statistics: the k-th smallest
# and k-th largest of n values, k the largest with P(Binomial(n, 1/2) < k)
# <= 2.5% (n = 16: the 4th and 13th, 97.9% coverage).

def median_ci(values, level=0.95):
    xs = sorted(v for v in values if v is not None)
    n = len(xs)
    if not n:
        return None
    mid = (xs[(n - 1) // 2] + xs[n // 2]) / 2
    k, cumulative = 0, 0.0
    for j in range(n + 1):
        cumulative += math.comb(n, j) / 2 ** n
        if cumulative > (1 - level) / 2:
            break
        k = j + 1
    stats = {"median": round(mid, 4), "n": n}
    if k:
        stats.update(lo=round(xs[k - 1], 4), hi=round(xs[n - k], 4),
                     coverage=round(1 - 2 * sum(math.comb(n, j) for j in range(k)) / 2 ** n, 3))
    return stats


def verdict(diff, limit):
    """'met' when the whole interval of DIFF is at or under LIMIT, 'missed'
    when it is all above, 'undecided' when it straddles the limit."""
    if not diff or "lo" not in diff:
        return "undecided"
    if diff["hi"] <= limit:
        return "met"
    return "missed" if diff["lo"] > limit else "undecided"


def fmt_ci(stats, suffix="x"):
    if not stats:
        return "-"
    if "lo" not in stats:
        return "%.3f%s" % (stats["median"], suffix)
    return "%.3f%s [%.3f, %.3f]" % (stats["median"], suffix, stats["lo"], stats["hi"])


class Rounds:
    """ROUNDS interleaved rounds: each runs every configuration once, in an
    order shuffled per round (seeded), so that drift of a shared machine
    falls on all alike.  A configuration is a function returning
    {measurement: ns}; ratios are taken within a round."""

    def __init__(self, rounds, seed=20):
        self.rounds = rounds
        self.seed = seed
        self.raw = {}

    def run(self, configs, between=None):
        for i in range(self.rounds):
            order = list(configs)
            random.Random(self.seed * 1000 + i).shuffle(order)
            row = {}
            for name in order:
                row.update(configs[name]())
            for key, value in row.items():
                self.raw.setdefault(key, []).append(value)
            if between:
                between(i)
        return self

    def ratios(self, key, base):
        return [t / b for t, b in zip(self.raw[key], self.raw[base])]

    def summary(self, ratios, checks):
        """RATIOS: [(name, label, key, base)]; CHECKS: [(label, a, b, limit)]:
        the per-round difference of ratio a and ratio b, against LIMIT."""
        per_round = {name: self.ratios(key, base) for name, _, key, base in ratios}
        out = {"rounds": self.rounds,
               "ratios": {name: dict(median_ci(per_round[name]), label=label)
                          for name, label, _, _ in ratios},
               "checks": []}
        for label, a, b, limit in checks:
            diff = median_ci([x - y for x, y in zip(per_round[a], per_round[b])])
            out["checks"].append(dict(diff, label=label, a=a, b=b, limit=limit,
                                      verdict=verdict(diff, limit)))
        out["raw"] = self.raw
        for name, _, _, _ in ratios:        # run.py's flat keys
            out[name] = out["ratios"][name]["median"]
        return out


def rounds_in_container(prefix, rounds, configs_of, prepare=None, run_args=()):
    """ROUNDS interleaved rounds (Rounds) of the configurations CONFIGS_OF(NAME)
    returns, run in one idle test container NAME made for them (docker run
    with RUN_ARGS; PREPARE(NAME) first) and removed afterwards."""
    name = "%s-%s" % (prefix, uuid.uuid4().hex[:6])
    docker("run", "-d", "--name", name, *run_args, IMAGE, "sleep", "3600")
    try:
        if prepare is not None:
            prepare(name)
        return Rounds(rounds).run(configs_of(name))
    finally:
        docker("rm", "-f", name, check=False)


class Floor:
    """Programs that only return, on the given hooks (TRACEPOINT_PROBE
    category:name, or raw:name), compiled once in this process and attached
    only inside `with`: the floor any tool on those hooks pays."""

    def __init__(self, hooks, extra=""):
        from bcc import BPF
        text = []
        for hook in hooks:
            cat, name = hook.split(":")
            text.append("RAW_TRACEPOINT_PROBE(%s) { return 0; }" % name if cat == "raw"
                        else "TRACEPOINT_PROBE(%s, %s) { return 0; }" % (cat, name))
        self.bpf = BPF(text="\n".join(text) + "\n" + extra)
        self.tps = list(self.bpf.tracepoint_fds)
        self.raws = list(self.bpf.raw_tracepoint_fds)
        self._detach()

    def _detach(self):
        for tp in list(self.bpf.tracepoint_fds):
            self.bpf.detach_tracepoint(tp)
        for tp in list(self.bpf.raw_tracepoint_fds):
            self.bpf.detach_raw_tracepoint(tp)

    def __enter__(self):
        for tp in self.tps:
            self.bpf.attach_tracepoint(tp=tp, fn_name=b"tracepoint__" + tp.replace(b":", b"__"))
        for tp in self.raws:
            self.bpf.attach_raw_tracepoint(tp=tp, fn_name=b"raw_tracepoint__" + tp)
        return self

    def __exit__(self, *exc):
        self._detach()
        return False


class TracerRun:
    """A tracer (a ctrace tool, bpftrace, strace) started, waited for until
    ready, and stopped with SIGINT. stdout goes to a file, as an operator
    would redirect it."""

    def __init__(self, argv, ready_text, out_path, settled_text=None):
        """SETTLED_TEXT: a later line of stderr to wait for before the
        memory is measured (a ctrace tool's hand-back of the compiler's
        memory, just after "tracing")."""
        self.argv = argv
        self.ready_text = ready_text
        self.settled_text = settled_text
        self.out_path = out_path
        self.startup_s = None
        self.peak_rss_kb = 0
        self.memory = {}
        self.cpu_s = None
        self.timings = None
        self.stderr = ""

    def __enter__(self):
        os.makedirs(os.path.dirname(self.out_path) or ".", exist_ok=True)
        self.out = open(self.out_path, "wb")
        self.err_path = self.out_path + ".err"
        self.err = open(self.err_path, "wb")
        start = self.launched = time.monotonic()
        self.proc = subprocess.Popen(self.argv, stdout=self.out, stderr=self.err,
                                     stdin=subprocess.DEVNULL,
                                     env=dict(os.environ, CTRACE_TIMINGS="1"))
        deadline = start + 60
        while time.monotonic() < deadline:
            if self._said(self.ready_text, self.err_path, self.out_path):
                break
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited: %s" % (self.argv[0], open(self.err_path).read()))
            time.sleep(0.01)
        else:
            raise RuntimeError("%s never became ready" % self.argv)
        self.startup_s = time.monotonic() - start
        return self

    @staticmethod
    def _said(text, *paths):
        """Whether one of the files at PATHS holds TEXT so far."""
        for path in paths:
            with open(path, "rb") as f:
                if text.encode() in f.read():
                    return True
        return False

    def __exit__(self, *exc):
        deadline = time.monotonic() + 5
        while self.settled_text and time.monotonic() < deadline and self.proc.poll() is None:
            if self._said(self.settled_text, self.err_path):
                break
            time.sleep(0.01)
        self.memory = memory_kb(self.proc.pid)
        self.peak_rss_kb = self.memory["peak_rss"]
        self.cpu_s = cpu_seconds(self.proc.pid)
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.out.close()
        self.err.close()
        self.stderr = open(self.err_path, errors="replace").read()
        self.timings = parse_timings(self.stderr, self.launched)
        return False

    def lost(self):
        """The total the tool reports at exit (ctrace.bpf.Runner.close)."""
        m = re.findall(r"(\d+) events lost \(ring buffer full", self.stderr)
        return int(m[-1]) if m else 0

    def lines(self):
        with open(self.out_path, "rb") as f:
            return f.read().count(b"\n")


@functools.lru_cache(maxsize=None)
def byte_compiled():
    """This tree's ctrace package compiled to bytecode, as `make install`
    (pip) leaves the installed one and Debian leaves BCC's: the tools then
    start as a user's do.  Python writes no bytecode of its own where
    PYTHONDONTWRITEBYTECODE is set, and each start compiled the package's
    source again (0.03 s more to "tracing", measured)."""
    compileall.compile_dir(os.path.join(ROOT, "ctrace"), quiet=1)


def tool_argv(name, *args):
    """A tool of this tree, as the benchmarks start it."""
    byte_compiled()
    return [PYTHON, os.path.join(ROOT, "tools", name)] + list(args)


def tool_run(name, *args, out=None):
    return TracerRun(tool_argv(name, *args), ": tracing ", out or os.path.join(OUT, name + ".out"),
                     settled_text=": timings-trim ")


def bpftrace_run(program, out):
    # bpftrace prints "Attaching N probes..." on stderr once it is attached.
    return TracerRun(["bpftrace", "-e", program], "Attaching", out)


def tool_figures(runs):
    """Start-up, memory and CPU of a bench's tool runs (TracerRun list)."""
    def med(values):
        values = [v for v in values if v is not None]
        return round(sorted(values)[len(values) // 2], 3) if values else None
    mems = [r.memory for r in runs if r.memory]
    return {"tool_startup_s": med([r.startup_s for r in runs]),
            "tool_peak_rss_kb": max((m.get("peak_rss", 0) for m in mems), default=0),
            "tool_anon_kb": med([m.get("anonymous") for m in mems]),
            "tool_private_kb": med([m.get("private_clean", 0) + m.get("private_dirty", 0)
                                    for m in mems]),
            "tool_cpu_s": med([r.cpu_s for r in runs]),
            # run.py's start-up table for the default options
            "startup_runs": [dict(r.timings or {}, total=r.startup_s, memory=r.memory)
                             for r in runs]}


def save(name, result):
    """Write a benchmark's RESULT to OUT/NAME.json and print its ratios and
    checks, one a line."""
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
    rows = [(s["label"], fmt_ci(s)) for s in result["ratios"].values()]
    rows += [(c["label"], "%s: %s" % (fmt_ci(c, ""), c["verdict"])) for c in result["checks"]]
    width = max(len(label) for label, _ in rows)
    for label, figures in rows:
        print("%-*s %s" % (width, label, figures))
    return result


def ratio(traced, untraced):
    return round(traced / untraced, 3) if untraced else None
