"""The frame every ctrace tool runs in, so tools/ stay thin: a tool
declares its program, header, event handlers, periodic work and summary
(Tool); the frame checks, loads, attaches, says it is ready, runs the loop
and handles errors; Context gives the common event fields."""

import collections
import ctypes
import os
import socket
import sys

from ctrace.bpf import Runner, c_string, check_root, header_constants
from ctrace.cli import check_common_args
from ctrace.cgroups import CGROUP2_ROOTS
from ctrace.hostns import host_namespaces, host_pid_level
from ctrace.registry import Registry
from ctrace.errors import SetupError, UsageError
from ctrace.output import Clock, Memo, Output, escape, fit, json_text


FOLLOW = header_constants("ctrace.h", "CT_FOLLOW_")
FOLLOWED_CONTAINERS = 16        # per pod, of ct_follow_cgroup's 64 entries
ONE = ctypes.c_ubyte(1)


_full_maps = set()


def map_put(bpf, table, key, value=ONE):
    """TABLE[KEY] = VALUE; a full map (bpf_c/ct_follow.h sizes them; man
    OVERHEAD, "Limits") costs this entry, and the user is told once per map."""
    try:
        bpf[table][key] = value
    except Exception:       # BCC: "Could not update table" (E2BIG: full)
        if table not in _full_maps:
            _full_maps.add(table)
            sys.stderr.write("ctrace: kernel map %s is full (%d entries): -c follows no "
                             "more containers or cgroups there\n"
                             % (table, bpf[table].max_entries))
            sys.stderr.flush()


def apply_selection(bpf, sel):
    """Put what -c selected into the kernel's filter maps (bpf_c/ctrace.h)."""
    for cg in sel.cgroups:
        map_put(bpf, "ct_filter_cgroup", ctypes.c_ulonglong(cg))
    for ns in sel.mntns:
        map_put(bpf, "ct_filter_mntns", ctypes.c_uint(ns))
    for path in sel.paths:
        follow_cgroup(bpf, path, FOLLOW.SELF)
    for path in sel.pod_dirs:
        follow_cgroup(bpf, path, FOLLOW.CHILDREN)


def cgroup2_dir(path):
    for root in CGROUP2_ROOTS:
        if os.path.isdir(root + path) and os.path.exists(root + "/cgroup.controllers"):
            return root + path
    return None


def _path_key(follow, path):
    raw = path.encode()
    if len(raw) >= follow.Key.path.size:    # longer: never matched, not followed
        return None
    key = follow.Key()
    key.path = raw
    return key


def follow_cgroup(bpf, path, how):
    """Follow cgroup v2 PATH in the kernel (HOW: FOLLOW.SELF, its own id
    whenever it is created; FOLLOW.CHILDREN, its children's), then take the
    ids that exist already: a cgroup made in between is caught by both.
    A full map costs this path its following (said once), never the tool."""
    try:
        key = _path_key(bpf["ct_follow_cgroup"], path)
        if key is not None:
            map_put(bpf, "ct_follow_cgroup", key, ctypes.c_ubyte(how))
        where = cgroup2_dir(path)
        if where is None:
            return
        if how == FOLLOW.SELF:
            map_put(bpf, "ct_filter_cgroup", ctypes.c_ulonglong(os.stat(where).st_ino))
            return
        map_put(bpf, "ct_follow_children", ctypes.c_ulonglong(os.stat(where).st_ino))
        for entry in os.scandir(where):
            if entry.is_dir(follow_symlinks=False):
                map_put(bpf, "ct_filter_cgroup", ctypes.c_ulonglong(entry.inode()))
    except OSError:
        pass                # gone meanwhile: its next creation is caught


def unfollow_cgroup(bpf, path):
    try:
        key = _path_key(bpf["ct_follow_cgroup"], path)
        if key is not None:
            del bpf["ct_follow_cgroup"][key]
    except KeyError:
        pass


def pod_follower(ctx, bpf, sel):
    """-c NAMESPACE/POD[/CONTAINER]: each container of the pod the Registry
    learns of (Registry.follow_pod) joins the filter, by its cgroup path,
    and its pod's cgroup is followed for the containers to come."""
    seen = set()
    followed = collections.deque()      # containers' paths, oldest first

    def on_member(info):
        dirs = set(sel.pod_dirs)
        path = sel.add_member(info)
        if path is None:
            return
        for new in sel.pod_dirs - dirs:
            follow_cgroup(bpf, new, FOLLOW.CHILDREN)
        if path not in followed:
            followed.append(path)
            follow_cgroup(bpf, path, FOLLOW.SELF)
            # A crash loop's old containers are not created again.
            while len(followed) > FOLLOWED_CONTAINERS:
                old = followed.popleft()
                sel.paths.discard(old)
                unfollow_cgroup(bpf, old)
        if info.id not in seen:
            if len(seen) > 4096:
                seen.clear()
            seen.add(info.id)
            sys.stderr.write("%s: pod %s: following container %s\n"
                             % (ctx.tool, escape(sel.ref), escape(info.id)))
            sys.stderr.flush()
    return on_member


def selection_follower(ctx, bpf, sel):
    """-c's mount namespace filter follows the container (Registry.follow):
    a stopped container's namespace leaves it (its inum may be reused by
    another), a restarted one's joins it.  Its cgroup is followed in the
    kernel (ct_follow_cgroup)."""
    filter_mntns = bpf["ct_filter_mntns"]

    def on_change(inum, present, action):
        if present:
            map_put(bpf, "ct_filter_mntns", ctypes.c_uint(inum))
        else:
            try:
                del filter_mntns[ctypes.c_uint(inum)]
            except KeyError:
                pass
        if action == "die":
            sys.stderr.write("%s: container %s stopped\n" % (ctx.tool, escape(sel.ref)))
        elif action == "start":
            sys.stderr.write("%s: container %s restarted: following it\n"
                             % (ctx.tool, escape(sel.ref)))
        sys.stderr.flush()
    return on_change


def scope_defines(args):
    """The in-kernel filters (bpf_c/ctrace.h) for the shared options."""
    defines = {"CT_INCLUDE_HOST": int(bool(getattr(args, "host", False))),
               "CT_FILTER_CONTAINERS": int(bool(getattr(args, "container", None)))}
    if getattr(args, "pid", None):
        defines["CT_FILTER_PID"] = "%du" % args.pid
    if getattr(args, "uid", None) is not None:
        defines["CT_FILTER_UID"] = "%du" % args.uid
    if getattr(args, "name", None):
        defines["CT_FILTER_COMM"] = c_string(args.name)
    return defines


def _fitted_name(key):
    """Context.fitted's value for KEY, (name, width, pad): a name from the
    kernel ends at its first NUL."""
    name, width, pad = key
    text = name.split(b"\0", 1)[0] if isinstance(name, bytes) else name
    return fit(text, width, pad=pad)


class Context:
    """Per-run state shared by a tool's event handlers."""

    def __init__(self, tool, args):
        self.tool = tool
        self.args = args
        self.clock = Clock()
        # Every JSON object names the node, so that many nodes' events can
        # be merged: Kubernetes' downward API where set (a pod's hostname
        # is the pod's), else this host's name.
        self.node = os.environ.get("NODE_NAME") or socket.gethostname()
        self.output = Output(getattr(args, "json", False), node=self.node)
        self._fitted = Memo(_fitted_name, 8192)
        self.registry = None
        self.runner = None

    # -- common event fields ----------------------------------------------
    def container(self, ev):
        return self.registry.resolve(ev)

    def json_fields(self, ev, container, kind):
        """The fields every ctrace JSON event has (each man page, FIELDS)."""
        obj = {"timestamp": round(self.clock.wall(ev.ts_ns), 6), "event": kind}
        obj.update(container.fields())
        obj.update({"pid": ev.pid, "tid": ev.tid, "vpid": ev.vpid, "ppid": ev.ppid,
                    "uid": ev.uid, "comm": json_text(ev.comm),
                    "cgroup_id": ev.cgroup_id, "mntns": ev.mntns,
                    "pidns": ev.pidns, "netns": ev.netns})
        return obj

    def time_column(self, ev):
        return self.clock.hms(ev.ts_ns) + " " if getattr(self.args, "timestamp", False) else ""

    def fitted(self, name, width, pad=True):
        """NAME (a container label, a command) in a column of WIDTH: see
        ctrace.output.fit; cached, an event stream repeats a few names."""
        return self._fitted[name, width, pad]

    def label(self, container, width=16):
        """The CONTAINER column (-w: a Kubernetes container's namespace too)."""
        wide = getattr(self.args, "wide", False)
        return self.fitted(container.wide_label if wide else container.label, width)

    def lost_line(self, new, total):
        """Lost events: a JSON record in -j mode, a stderr line otherwise."""
        if self.output.json_mode:
            self.output.json({"event": "lost", "lost": new, "lost_total": total})
        else:
            sys.stderr.write("%s: %d events lost (%d in all)\n" % (self.tool, new, total))


class OwnerColumns(dict):
    """A table line's columns that name a container (its owner's CONTAINER
    with the PID and COMM beside it; containernet's other end), by the
    event values they are made of, formatted once per combination: a stream
    of events repeats a few, and naming and fitting them took a fifth of a
    line's time.  MAKE(key) -> (value, final): a value is kept only when
    final (a container whose runtime has not named it yet is asked again
    at its next event), and all are dropped whenever the Registry learns
    anything (a name, a pod: a label may change).  Look up as
    columns[key]."""

    LIMIT = 4096

    def __init__(self, registry, make):
        super().__init__()
        self._make = make
        registry.subscribe(self._forget, self._forget, self._forget)

    def _forget(self, change):
        self.clear()

    def __missing__(self, key):
        value, final = self._make(key)
        if final:
            if len(self) >= self.LIMIT:
                self.clear()
            self[key] = value
        return value


def scope(args):
    """What a tool traces, for its ready line: one wording for every tool."""
    return "containers and on the host" if getattr(args, "host", False) else "containers"


class Tool:
    """A tool's question, declared; run() is the frame around it: it loads
    and attaches PROGRAM, prints the header, says it is ready, runs the loop
    (-d, signals, a closed stdout) and has the summary printed.

    Before the program is loaded (__init__): PROGRAM (a Program) and
    TRACEPOINTS.  After (attached(), which may read the program's maps as
    self.bpf):
      what        the ready line's subject ("exec() in containers")
      header()    the table's header line, or None; never in -j mode
      handlers()  {ring buffer: handler(data, size)}
      every()     periodic work: [(seconds, function)]
      summary()   the final report, after the loop has drained the buffers
    """

    def __init__(self, ctx):
        self.ctx = ctx
        self.args = ctx.args
        self.program = None
        self.tracepoints = []
        self.what = None

    @property
    def bpf(self):
        return self.ctx.runner.bpf

    def attached(self):
        pass

    def header(self):
        return None

    def handlers(self):
        return {}

    def every(self):
        return []

    def summary(self):
        pass


def trace(ctx, tool):
    """The loop every tool runs, from its attached program to its summary."""
    runner = ctx.runner
    tool.attached()
    for table, handler in tool.handlers().items():
        runner.on_events(table, handler)
    header = None if ctx.output.json_mode else tool.header()
    if header is not None:
        ctx.output.line(header)
    ctx.output.flush()
    runner.ready(tool.what)
    runner.loop(ctx.output, duration=ctx.args.duration, every=tool.every(),
                on_lost=ctx.lost_line)
    tool.summary()


def filter_full_watch(bpf):
    """Said once: the kernel had no room in -c's maps for a new cgroup of a
    followed container or pod (bpf_c/ct_follow.h, ct_filter_full).  The
    frame runs it every FILTER_FULL_SECONDS."""
    told = []

    def check():
        if not told and bpf["ct_filter_full"][ctypes.c_int(0)].value:
            told.append(True)
            sys.stderr.write("ctrace: kernel map ct_filter_cgroup or ct_follow_children is "
                             "full: a new cgroup of a -c container or pod is not followed\n")
            sys.stderr.flush()
    return check


# A map read a second, not one every wake of the loop.
FILTER_FULL_SECONDS = 1.0


def follow_selections(ctx, bpf, selections):
    """-c's containers and pods into the kernel's filters, and followed as
    the Registry learns of them."""
    if selections:
        ctx.runner.periodic.append((FILTER_FULL_SECONDS, filter_full_watch(bpf)))
    for sel in selections:
        apply_selection(bpf, sel)
        if sel.pod is not None:
            ctx.registry.follow_pod(sel, pod_follower(ctx, bpf, sel))
            if not sel.paths:
                sys.stderr.write("%s: waiting for pod %s\n" % (ctx.tool, escape(sel.ref)))
        else:
            ctx.registry.follow(sel, selection_follower(ctx, bpf, sel))


def load(ctx, tool):
    """Load and attach TOOL's program, the Registry watching: the loaded BPF."""
    args = ctx.args
    ctx.registry = Registry()
    host_ns = ctx.registry.host_ns
    tool.program.host_ns = dict(host_ns, pid_level=host_pid_level(host_ns))
    selections = [ctx.registry.find(ref) for ref in getattr(args, "container", None) or []]
    ctx.runner = Runner(ctx.tool, tool.program, tool.tracepoints, ctx.output)
    # The runtimes are listed and watched while BCC compiles; what they
    # told is applied once -c's followers have subscribed.
    bpf = ctx.runner.load(meanwhile=ctx.registry.start)
    ctx.registry.attach(bpf)
    follow_selections(ctx, bpf, selections)
    ctx.registry.apply_pending()
    ctx.runner.each_wake.append(ctx.registry.apply_pending)
    ctx.registry.containers.on_news = ctx.runner.wake_up
    return bpf


def run(name, parser, make_tool, argv=None):
    """Parse, check, load, trace; exit 0, 1 (machine) or 2 (usage).

    MAKE_TOOL(ctx) returns the Tool (checking its arguments)."""
    args = parser.parse_args(argv)
    ctx = Context(name, args)
    try:
        check_common_args(args)
        tool = make_tool(ctx)
        tool.program.defines.update(scope_defines(args))
        if getattr(args, "ebpf", False):
            host_ns = host_namespaces()
            tool.program.host_ns = dict(host_ns, pid_level=host_pid_level(host_ns))
            sys.stdout.write(tool.program.text())
            return 0
        check_root()
        load(ctx, tool)
        trace(ctx, tool)
        return 0
    except UsageError as exc:
        sys.stderr.write("%s: error: %s\n" % (name, exc))
        return 2
    except SetupError as exc:
        sys.stderr.write("%s: %s\n" % (name, exc))
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        if ctx.registry is not None:
            ctx.registry.stop()
        if ctx.runner is not None:
            ctx.runner.close()
        ctx.output.flush()


def main(name, parser, make_tool):
    """Entry point for tools/: exits with run()'s status; a closed stdout is
    a normal end (`| head`)."""
    status = run(name, parser, make_tool)
    sys.stdout.flush() if not sys.stdout.closed else None
    sys.exit(status)
