"""Arguments every ctrace tool shares, and their checks."""

import argparse
import sys

from ctrace import __version__
from ctrace.errors import UsageError

PID_MAX_FILE = "/proc/sys/kernel/pid_max"
PID_MAX_LIMIT = 4194304         # the kernel's ceiling for pid_max (64-bit)
UID_MAX = 4294967294            # uid_t is 32 bits; (uid_t)-1 means "no uid"


class ArgumentParser(argparse.ArgumentParser):
    """argparse with BCC-style help, whose errors are one line and exit 2."""

    def __init__(self, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(**kwargs)

    def error(self, message):
        sys.stderr.write("%s: error: %s (see -h)\n" % (self.prog, message))
        sys.exit(2)


def non_negative_int(text):
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError("not an integer: %r" % text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative: %r" % text)
    return value


def _integer(text):
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError("not an integer: %r" % text)


def pid_max():
    """The kernel's pid_max: PIDs go from 1 to pid_max - 1."""
    try:
        with open(PID_MAX_FILE) as f:
            value = int(f.read().strip())
        if 1 < value <= PID_MAX_LIMIT:
            return value
    except (OSError, ValueError):
        pass
    return PID_MAX_LIMIT


def pid_number(text):
    """-p: a PID the kernel can give (1 .. pid_max - 1); anything else could
    never match and is refused rather than traced silently."""
    value = _integer(text)
    top = pid_max() - 1
    if not 1 <= value <= top:
        raise argparse.ArgumentTypeError(
            "a PID is 1 to %d (%s - 1): %r" % (top, PID_MAX_FILE, text))
    return value


def uid_number(text):
    """-u: a user id the kernel can give (0 .. 4294967294)."""
    value = _integer(text)
    if not 0 <= value <= UID_MAX:
        raise argparse.ArgumentTypeError("a user id is 0 to %d: %r" % (UID_MAX, text))
    return value


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not a number: %r" % text)
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError("must be a number greater than 0: %r" % text)
    return value


def comm_name(text):
    if not text or len(text.encode()) > 15:
        raise argparse.ArgumentTypeError(
            "a command name is 1 to 15 bytes (the kernel keeps 15): %r" % text)
    if any(c in text for c in "\"\\") or not text.isprintable():
        raise argparse.ArgumentTypeError("unsupported character in command name: %r" % text)
    return text


def container_ref(text):
    if not text or not text.isprintable() or len(text) > 256:
        raise argparse.ArgumentTypeError("not a container name or id: %r" % text)
    return text


def add_common_args(parser, timestamp=True, runtime=False):
    """The scope and filter options every tool has (README: "Options every
    tool shares"); TIMESTAMP: -T, for a tool with a line per event; RUNTIME:
    --runtime, for a tool that tells the runtime's set-up from the workload
    (bpf_c/ct_workload.h, ct_runtime_setup())."""
    g = parser.add_argument_group("scope and filters")
    g.add_argument("-c", "--container", action="append", type=container_ref,
                   metavar="NAME|ID", default=[],
                   help="trace only this container (name, id or id prefix, "
                        "or mntns:INUM) or Kubernetes pod (NAMESPACE/POD, "
                        "NAMESPACE/POD/CONTAINER); repeatable")
    g.add_argument("--host", action="store_true",
                   help="also trace host processes (labelled 'host')")
    g.add_argument("-p", "--pid", type=pid_number, metavar="PID",
                   help="trace only this process (host PID)")
    g.add_argument("-u", "--uid", type=uid_number, metavar="UID",
                   help="trace only this user id (as the host sees it)")
    g.add_argument("-n", "--name", type=comm_name, metavar="COMM",
                   help="trace only processes whose command name is COMM")
    if runtime:
        g.add_argument("--runtime", action="store_true",
                       help="also trace the runtime's set-up of a container "
                            "(runc init, before the entrypoint runs), marked")
    o = parser.add_argument_group("output")
    if timestamp:
        o.add_argument("-T", "--timestamp", action="store_true",
                       help="include a time column (HH:MM:SS)")
    o.add_argument("-j", "--json", action="store_true",
                   help="print one JSON object per line")
    o.add_argument("-d", "--duration", type=positive_float, metavar="SECONDS",
                   help="stop after SECONDS")
    parser.add_argument("--version", action="version",
                        version="%(prog)s (ctrace) " + __version__,
                        help="print the version and exit")
    parser.add_argument("--ebpf", action="store_true", help=argparse.SUPPRESS)
    return parser


def check_common_args(args):
    if args.host and args.container:
        raise UsageError("--host and -c exclude each other: -c already names "
                         "what to trace")
