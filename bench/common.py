"""What every ctrace benchmark needs: a tool run whose start-up time, peak
memory and lost events are measured, workloads in containers, and results
written to bench/out/<name>.json for bench/run.py's report.

Benchmarks compare ratios measured side by side in one run: the machines are
shared and noisy, absolute times drift."""

import json
import os
import re
import signal
import subprocess
import time

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


def openloop_result(out, count):
    """ns per open+close pair that openloop printed, once it did them all."""
    r = parse_kv(out)
    if r.get("opens") != count:
        raise RuntimeError("openloop did not complete: %r" % out)
    return r["ns_per_open"]


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


class TracerRun:
    """A tracer (a ctrace tool, bpftrace, strace) started, waited for until
    ready, and stopped with SIGINT. stdout goes to a file, as an operator
    would redirect it."""

    def __init__(self, argv, ready_text, out_path):
        self.argv = argv
        self.ready_text = ready_text
        self.out_path = out_path
        self.startup_s = None
        self.peak_rss_kb = 0
        self.stderr = ""

    def __enter__(self):
        os.makedirs(os.path.dirname(self.out_path) or ".", exist_ok=True)
        self.out = open(self.out_path, "wb")
        self.err_path = self.out_path + ".err"
        self.err = open(self.err_path, "wb")
        start = time.monotonic()
        self.proc = subprocess.Popen(self.argv, stdout=self.out, stderr=self.err,
                                     stdin=subprocess.DEVNULL)
        deadline = start + 60
        while time.monotonic() < deadline:
            with open(self.err_path, "rb") as f:
                if self.ready_text.encode() in f.read():
                    break
            with open(self.out_path, "rb") as f:
                if self.ready_text.encode() in f.read():
                    break
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited: %s" % (self.argv[0], open(self.err_path).read()))
            time.sleep(0.01)
        else:
            raise RuntimeError("%s never became ready" % self.argv)
        self.startup_s = time.monotonic() - start
        return self

    def __exit__(self, *exc):
        self.peak_rss_kb = peak_rss_kb(self.proc.pid)
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.out.close()
        self.err.close()
        self.stderr = open(self.err_path, errors="replace").read()
        return False

    def lost(self):
        """The total the tool reports at exit (ctrace.bpf.Runner.close)."""
        m = re.findall(r"(\d+) events lost \(ring buffer full", self.stderr)
        return int(m[-1]) if m else 0

    def lines(self):
        with open(self.out_path, "rb") as f:
            return f.read().count(b"\n")


def tool_argv(name, *args):
    return [PYTHON, os.path.join(ROOT, "tools", name)] + list(args)


def tool_run(name, *args, out=None):
    return TracerRun(tool_argv(name, *args), ": tracing ", out or os.path.join(OUT, name + ".out"))


def bpftrace_run(program, out):
    # bpftrace prints "Attaching N probes..." on stderr once it is attached.
    return TracerRun(["bpftrace", "-e", program], "Attaching", out)


def save(name, result):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
    return result


def ratio(traced, untraced):
    return round(traced / untraced, 3) if untraced else None
