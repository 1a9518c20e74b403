"""Shared test machinery: running a real tool, waiting for what it prints,
and real Docker containers from the locally built test image.

Integration tests need root, BCC and dockerd. Without them they skip, unless
CTRACE_REQUIRE_BPF=1 (as in CI), where they fail instead.
"""

import atexit
import contextlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(ROOT, "tools")
PYTHON = "/usr/bin/python3"
IMAGE = os.environ.get("CTRACE_TEST_IMAGE", "ctrace-test:latest")
REQUIRE = os.environ.get("CTRACE_REQUIRE_BPF") == "1"
DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else (shutil.which("docker") or "docker")
READY_TIMEOUT = 60
sys.path.insert(0, ROOT)
# The tools the tests start keep their kernel offsets (ctrace.btfcache) in
# a folder of the test run's, not in the host's /run/ctrace.
if "CTRACE_CACHE_DIR" not in os.environ:
    os.environ["CTRACE_CACHE_DIR"] = tempfile.mkdtemp(prefix="ctrace-kept-")
    atexit.register(shutil.rmtree, os.environ["CTRACE_CACHE_DIR"], True)
from ctrace import btfcache, schema  # noqa: E402


@pytest.fixture(autouse=True)
def kept_offsets(tmp_path, monkeypatch):
    """Kernel offsets that programs loaded in the tests' own process keep
    (ctrace.btfcache) go to a folder of the test's (returned), not to the
    tools' /run/ctrace."""
    folder = tmp_path / "kept-offsets"
    monkeypatch.setattr(btfcache, "CACHE_DIR", str(folder))
    return folder

def bpf_sources(directory, name, text):
    """DIRECTORY as a CTRACE_BPF_DIR: ctrace's headers and kernel tree
    (bpf_c/kbuild), and NAME holding TEXT."""
    bpf_c = os.path.join(ROOT, "bpf_c")
    for header in os.listdir(bpf_c):
        if header.endswith(".h"):
            shutil.copy(os.path.join(bpf_c, header), str(directory))
    shutil.copytree(os.path.join(bpf_c, "kbuild"), os.path.join(str(directory), "kbuild"))
    with open(os.path.join(str(directory), name), "w") as f:
        f.write(text)


# How soon an idle tool must end after SIGINT/SIGTERM: generous for a busy
# 2-core machine, yet far below stop()'s own wait (a loop that never wakes).
PROMPT_EXIT = 5.0


def unavailable(reason):
    """Skip, or fail when CTRACE_REQUIRE_BPF=1 says the real thing must run."""
    if REQUIRE:
        pytest.fail("CTRACE_REQUIRE_BPF=1 but " + reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def bpf_ok():
    if os.geteuid() != 0:
        unavailable("not root: cannot load BPF")
    try:
        __import__("bcc")
    except ImportError:
        unavailable("BCC (python3-bpfcc) is not importable by %s" % sys.executable)
    return True


@pytest.fixture(scope="session")
def docker_ok(bpf_ok):
    try:
        r = subprocess.run([DOCKER, "info", "--format", "{{.ServerVersion}}"],
                           capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        unavailable("docker is not usable: %s" % exc)
    if r.returncode != 0:
        unavailable("dockerd is not reachable: %s" % r.stderr.strip()[:200])
    build = os.path.join(ROOT, "tests", "image", "build.sh")
    r = subprocess.run(["bash", build], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        unavailable("building the test image failed: %s" % (r.stderr or r.stdout)[-500:])
    return IMAGE


# The OCI runtimes Docker runs the test containers with: its default, and
# crun as scripts/start-dockerd.sh registers it (make docker-up).
RUNTIMES = ("runc", "crun")


def docker_runtimes():
    r = docker("info", "--format", "{{json .Runtimes}}", check=False)
    return set(json.loads(r.stdout or "{}")) if r.returncode == 0 else set()


@pytest.fixture(params=RUNTIMES)
def runtime(request, docker_ok):
    """Each runtime of RUNTIMES in turn, registered with dockerd and
    installed for podman (--runtime NAME)."""
    if request.param not in docker_runtimes() or not shutil.which(request.param):
        unavailable("dockerd has no runtime %s (make test-deps docker-up)" % request.param)
    return request.param


def docker(*args, check=True, timeout=120, input=None):
    r = subprocess.run([DOCKER] + list(args), capture_output=True, text=True,
                       timeout=timeout, input=input)
    if check and r.returncode != 0:
        raise AssertionError("docker %s failed (%d): %s" % (" ".join(args), r.returncode, r.stderr))
    return r


def unique(prefix="ct"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


class Containers:
    """Containers a test starts; all removed at the end."""

    def __init__(self):
        self.names = []
        self.networks = []

    def run(self, *cmd, name=None, opts=(), detach=True, image=IMAGE, timeout=120):
        name = name or unique()
        self.names.append(name)
        args = ["run", "--name", name] + list(opts)
        args += ["-d"] if detach else []
        r = docker(*(args + [image] + list(cmd)), timeout=timeout, check=detach)
        return name if detach else r

    def exec(self, name, *cmd, check=True, timeout=60):
        return docker("exec", name, *cmd, check=check, timeout=timeout)

    def network(self, subnet):
        name = unique("ctnet")
        docker("network", "create", "--subnet", subnet, name)
        self.networks.append(name)
        return name

    def cleanup(self):
        if self.names:
            docker("rm", "-f", *self.names, check=False)
        for net in self.networks:
            docker("network", "rm", net, check=False)


CTR_SOCKETS = ("/var/run/docker/containerd/containerd.sock", "/run/containerd/containerd.sock")


def ctr_command(namespace):
    """The `ctr` command line for containerd namespace NAMESPACE, with the
    test image imported there (Docker's containerd or a system one)."""
    exe = shutil.which("ctr")
    if exe is None:
        unavailable("ctr is not installed (Debian package containerd)")
    sock = next((s for s in CTR_SOCKETS if os.path.exists(s)), None)
    if sock is None:
        unavailable("no containerd socket at %s" % " or ".join(CTR_SOCKETS))
    base = [exe, "-a", sock, "-n", namespace]
    save = subprocess.Popen([DOCKER, "save", IMAGE], stdout=subprocess.PIPE)
    try:
        r = subprocess.run(base + ["image", "import", "-"], stdin=save.stdout,
                           capture_output=True, text=True, timeout=300)
    finally:
        save.stdout.close()
        save.wait()
    if r.returncode != 0:
        unavailable("ctr image import failed: %s" % r.stderr.strip()[-300:])
    return base


@pytest.fixture
def containers(docker_ok):
    c = Containers()
    yield c
    c.cleanup()


# -- the output contract: every JSON object a tool prints in a test, and
# every seccomp profile it writes, is checked against its schema
# (ctrace/schemas/).  jsonschema takes about a millisecond an object: past
# SCHEMA_ALL_OBJECTS in one run (an open storm), an object is checked when
# its shape (keys and value types, rows included) is new.
SCHEMA_ALL_OBJECTS = 2000
# One validator per schema and thread: jsonschema's reference resolver keeps
# state while it validates (each Tool checks its lines in its reader thread).
_validators = threading.local()


def schema_validator(name):
    mine = _validators.__dict__.setdefault("by_name", {})
    if name not in mine:
        try:
            mine[name] = schema.validator(name)
        except Exception as exc:        # SetupError: python3-jsonschema missing
            unavailable("cannot check output against its schema: %s" % exc)
    return mine[name]


def _shape(value):
    if isinstance(value, dict):
        return tuple(sorted((k, _shape(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("list", frozenset(_shape(v) for v in value))
    return type(value).__name__


def schema_errors(name, obj):
    """Why OBJ does not follow NAME's schema: [] when it does."""
    return ["%s: %s" % ("/".join(str(p) for p in e.absolute_path) or "(top)", e.message)
            for e in schema_validator(name).iter_errors(obj)]


class OutputContract:
    """Checks what one run of tool NAME (argv ARGS) prints and writes."""

    def __init__(self, name, args):
        schema_validator(name)          # here, not in a reader thread, it may skip
        self.name = name
        self.profile = args[args.index("--seccomp") + 1] if "--seccomp" in args[:-1] else None
        self.profile_before = self._profile_state()
        self.objects = 0
        self.shapes = set()
        self.errors = []
        self._lock = threading.Lock()

    def line(self, line):
        """A stdout line: an object is checked; anything else (a table, a
        cut line) is the test's business."""
        if not line.startswith("{"):
            return
        try:
            obj = json.loads(line)
        except ValueError:
            return
        with self._lock:
            self.objects += 1
            if self.objects > SCHEMA_ALL_OBJECTS:
                shape = _shape(obj)
                if shape in self.shapes:
                    return
                self.shapes.add(shape)
        try:
            problems = schema_errors(self.name, obj)
        except Exception as exc:        # never the reader thread's end
            problems = ["cannot check it: %r" % exc]
        if problems:
            with self._lock:
                self.errors.append("%s\n    %s" % (line[:400], "\n    ".join(problems)))

    def lines(self, text):
        for line in text.splitlines():
            self.line(line)

    def _profile_state(self):
        """The --seccomp path's file, if a regular file (the tool writes a
        new one and renames it into place)."""
        try:
            st = os.lstat(self.profile) if self.profile else None
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns) if st and stat.S_ISREG(st.st_mode) else None

    def finished(self):
        """The run is over: its --seccomp profile, if it wrote one."""
        state = self._profile_state()
        if state is not None and state != self.profile_before:
            try:
                with open(self.profile) as f:
                    profile = json.load(f)
            except ValueError as exc:
                self.errors.append("%s is not JSON: %s" % (self.profile, exc))
                return
            problems = schema_errors(schema.SECCOMP_PROFILE, profile)
            if problems:
                self.errors.append("%s\n    %s" % (self.profile, "\n    ".join(problems)))

    def check(self):
        if self.errors:
            raise AssertionError("%s printed output its schema (ctrace/schemas/%s.schema.json) "
                                 "does not allow:\n%s"
                                 % (self.name, self.name, "\n".join(self.errors[:5])))


class Tool:
    """A tool running for real. Reads stdout and stderr in threads; start()
    returns once the tool says on stderr that it is tracing; stop() returns
    once the tool has exited and both streams were read to their end."""

    def __init__(self, name, *args, env=None, prefix=()):
        """ENV: extra environment variables; PREFIX: a command that runs the
        tool (e.g. unshare -m)."""
        self.argv = list(prefix) + [PYTHON, os.path.join(TOOLS, name)] + [str(a) for a in args]
        self.env = dict(os.environ, **env) if env else None
        self.lines = []
        self.err = []
        self._new = threading.Condition()
        self._readers = []
        self._open_streams = 0
        self.proc = None
        self.contract = OutputContract(name, [str(a) for a in args])

    def start(self, timeout=READY_TIMEOUT):
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, env=self.env)
        self._open_streams = 2
        self._readers = [threading.Thread(target=self._read, args=(stream, sink), daemon=True)
                         for stream, sink in ((self.proc.stdout, self.lines),
                                              (self.proc.stderr, self.err))]
        for reader in self._readers:
            reader.start()
        self.wait_stderr(": tracing ", timeout)
        return self

    def _read(self, stream, sink):
        try:
            for raw in stream:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                if sink is self.lines:
                    self.contract.line(line)
                with self._new:
                    sink.append(line)
                    self._new.notify_all()
        finally:
            with self._new:
                self._open_streams -= 1
                self._new.notify_all()

    @property
    def at_eof(self):
        """Both streams read to their end: nothing more will ever arrive."""
        return self._open_streams == 0

    def wait_stderr(self, text, timeout=30):
        if not self._wait(lambda: any(text in l for l in self.err), timeout):
            self.kill()
            raise AssertionError("tool never printed %r on stderr (rc=%s); stderr:\n%s"
                                 % (text, self.proc.poll(), "\n".join(self.err[-30:])))

    def _wait(self, cond, timeout):
        """Until COND holds (True), TIMEOUT passes or the tool's output has
        ended without it (False)."""
        deadline = time.monotonic() + timeout
        with self._new:
            while not cond():
                left = deadline - time.monotonic()
                if left <= 0 or self.at_eof:
                    return cond()
                self._new.wait(left)
            return True

    def wait_for(self, pred, timeout=30, what="a matching line"):
        """The first stdout line (JSON object if it parses, else text) for
        which PRED is true."""
        found = []

        def cond():
            for line in self.lines:
                item = _parse(line)
                try:
                    if pred(item):
                        found.append(item)
                        return True
                except (KeyError, TypeError, AttributeError):
                    continue
            return False
        if not self._wait(cond, timeout):
            raise AssertionError("timed out waiting for %s (rc=%s); last lines:\n%s\nstderr:\n%s"
                                 % (what, self.proc.poll(), "\n".join(self.lines[-20:]),
                                    "\n".join(self.err[-20:])))
        self.contract.check()
        return found[0]

    def json_events(self):
        self.contract.check()
        return [json.loads(l) for l in self.lines if l.startswith("{")]

    def stop(self, sig=signal.SIGINT, timeout=10):
        """Send SIG, wait for the exit and for the last line of both
        streams; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait(timeout, "%s" % sig)

    def wait(self, timeout=30, what="its end"):
        """Wait for the tool to exit by itself and its output to be read to
        the end; the exit status."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("tool did not exit within %ss of %s; stderr:\n%s"
                                 % (timeout, what, "\n".join(self.err[-20:])))
        for reader in self._readers:
            reader.join(timeout)
            if reader.is_alive():
                raise AssertionError("tool exited but its output did not end within %ss "
                                     "(a child still holds it?)" % timeout)
        self.contract.finished()
        self.contract.check()
        return rc

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@contextlib.contextmanager
def host_script(script, tool_name, *tool_args, argv=()):
    """A Python SCRIPT (with ARGV) run on the host and TOOL_NAME started on
    its PID (TOOL_ARGS, then --host -p PID) before the script acts: it reads
    a line of stdin first.  Yields (the tool, go): go() sends that line and
    returns the script's first line of stdout, once it has acted."""
    proc = subprocess.Popen([sys.executable, "-c", script] + list(argv),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    t = None

    def go():
        proc.stdin.write("go\n")
        proc.stdin.flush()
        return proc.stdout.readline().strip()
    try:
        t = Tool(tool_name, *tool_args, "--host", "-p", proc.pid).start()
        yield t, go
    finally:
        if t is not None:
            t.kill()
        proc.kill()
        proc.wait()


# What a busy machine may make a tool say on stderr without anything being
# wrong with the tool: a runtime's API slow to answer, and answering again.
RUNTIME_NOTICE = re.compile(r"^ctrace: \S+ (at \S+ did not answer \(|answers again: )")


def spawn_tool(argv, stdout=subprocess.PIPE, timeout=60):
    """A tool whose stdout goes to STDOUT unread (a pipe left to fill, or a
    file), started and awaited until it says it is tracing; its stderr is
    read in a thread. Returns (proc, stderr lines so far)."""
    proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE)
    err = []
    ready = threading.Event()

    def read_err():
        for line in proc.stderr:
            err.append(line.decode())
            if b": tracing " in line:
                ready.set()
    threading.Thread(target=read_err, daemon=True).start()
    if not ready.wait(timeout):
        proc.kill()
        proc.wait()
        raise AssertionError("the tool never said it was tracing: %s" % err)
    return proc, err


def opens_accounted(out, err, target):
    """(printed, lost) of an open storm on TARGET: containeropen's lines in
    OUT (bytes) that end with the path, and the total of its final "events
    lost" line in ERR (stderr lines; 0 when there is none)."""
    suffix = (" " + target).encode()
    printed = sum(1 for line in out.splitlines() if line.endswith(suffix))
    final = [l for l in err if "events lost (ring buffer full)" in l]
    lost = int(re.search(r"(\d+) events lost", final[-1]).group(1)) if final else 0
    return printed, lost


def unexpected_stderr(t):
    """T's stderr lines other than its ready line and runtime notices: a
    check that fails on any new warning, whatever its wording."""
    return [l for l in t.err if ": tracing " not in l and not RUNTIME_NOTICE.match(l)]


def _parse(line):
    if line.startswith("{"):
        try:
            return json.loads(line)
        except ValueError:
            return line
    return line


@pytest.fixture
def tool(bpf_ok):
    """tool("containerexec", "-j", ...) -> a started Tool, stopped at the end."""
    started = []

    def start(name, *args, **kw):
        t = Tool(name, *args, **kw).start()
        started.append(t)
        return t
    yield start
    for t in started:
        t.kill()


def header_define(header, name):
    """NAME's value as this machine's installed headers define it (the
    kernel's uapi headers from linux-libc-dev, or the C library's): expected
    values that do not come from the code under test.  Read with gcc -dM -E."""
    try:
        r = subprocess.run(["gcc", "-dM", "-E", "-include", header, "-x", "c", "/dev/null"],
                           capture_output=True, text=True, timeout=60)
    except OSError as exc:
        unavailable("gcc (make test-deps) reads the kernel's headers: %s" % exc)
    if r.returncode != 0:
        unavailable("cannot read <%s> (linux-libc-dev, make test-deps): %s"
                    % (header, r.stderr.strip()[-300:]))
    m = re.search(r"^#define %s (\S+)$" % re.escape(name), r.stdout, re.M)
    if m is None:
        raise AssertionError("<%s> does not define %s" % (header, name))
    text = m.group(1)
    if text.lower().startswith("0x"):
        return int(text, 16)
    return int(text, 8) if text.startswith("0") else int(text)


def run_tool(name, *args, timeout=60):
    """Run a tool to completion (for argument and error checks); its JSON
    output and --seccomp profile are checked against their schemas."""
    args = [str(a) for a in args]
    r = subprocess.run([PYTHON, os.path.join(TOOLS, name)] + args,
                       capture_output=True, text=True, timeout=timeout)
    contract = OutputContract(name, args)
    contract.lines(r.stdout)
    contract.finished()
    contract.check()
    return r


def pipe_into_head(name, lines=3, timeout=60):
    """`NAME | head -n LINES` in a shell: (head's output, the tool's stderr,
    the tool's exit status, not head's)."""
    script = ('"$0" "$1" 2>"$2" | head -n %d; echo "${PIPESTATUS[0]}" >"$3"' % lines)
    with tempfile.TemporaryDirectory() as tmp:
        err, status = os.path.join(tmp, "err"), os.path.join(tmp, "status")
        p = subprocess.run(["bash", "-c", script, PYTHON, os.path.join(TOOLS, name), err, status],
                           capture_output=True, text=True, timeout=timeout)
        with open(err) as f, open(status) as g:
            return p.stdout, f.read(), int(g.read())
