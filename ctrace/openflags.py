"""Open flags as the kernel numbers them, for containeropen: decoding
(-e, JSON), the -f FLAG argument and its in-kernel test (pure logic,
unit-tested)."""

import argparse
import os

# Open flags, as the kernel numbers them (include/uapi/asm-generic/fcntl.h,
# with the architectures that differ). User-space headers may say 0 for
# O_LARGEFILE, so Python's os.O_* are not used.
_GENERIC_FLAGS = [
    ("O_CREAT", 0o100), ("O_EXCL", 0o200), ("O_NOCTTY", 0o400),
    ("O_TRUNC", 0o1000), ("O_APPEND", 0o2000), ("O_NONBLOCK", 0o4000),
    ("O_DSYNC", 0o10000), ("O_ASYNC", 0o20000), ("O_DIRECT", 0o40000),
    ("O_LARGEFILE", 0o100000), ("O_DIRECTORY", 0o200000), ("O_NOFOLLOW", 0o400000),
    ("O_NOATIME", 0o1000000), ("O_CLOEXEC", 0o2000000), ("__O_SYNC", 0o4000000),
    ("O_PATH", 0o10000000), ("__O_TMPFILE", 0o20000000),
]
_ARCH_FLAGS = {
    "aarch64": {"O_DIRECTORY": 0o40000, "O_NOFOLLOW": 0o100000,
                "O_DIRECT": 0o200000, "O_LARGEFILE": 0o400000},
}
_ARCH_FLAGS["arm64"] = _ARCH_FLAGS["aarch64"]
for _arm in ("armv7l", "armv6l", "armv8l"):
    _ARCH_FLAGS[_arm] = _ARCH_FLAGS["aarch64"]
ACCMODE = 3
ACCMODES = {"O_RDONLY": 0, "O_WRONLY": 1, "O_RDWR": 2}
ALIASES = {"O_NDELAY": "O_NONBLOCK", "O_FASYNC": "O_ASYNC", "FASYNC": "O_ASYNC",
           "O_RSYNC": "O_SYNC"}


def flag_table(machine=None):
    """{name: value} of the single-bit open flags of MACHINE (uname -m),
    plus the composite O_SYNC and O_TMPFILE."""
    table = dict(_GENERIC_FLAGS)
    table.update(_ARCH_FLAGS.get(machine or os.uname().machine, {}))
    table["O_SYNC"] = table["__O_SYNC"] | table["O_DSYNC"]
    table["O_TMPFILE"] = table["__O_TMPFILE"] | table["O_DIRECTORY"]
    return table


def decode_flags(flags, table=None):
    """0o1101 -> 'O_WRONLY|O_CREAT|O_TRUNC'; unknown bits as hex."""
    table = table or flag_table()
    names = [{0: "O_RDONLY", 1: "O_WRONLY", 2: "O_RDWR", 3: "O_ACCMODE"}[flags & ACCMODE]]
    rest = flags & ~ACCMODE
    for composite in ("O_TMPFILE", "O_SYNC"):
        value = table[composite]
        if rest & value == value:
            names.append(composite)
            rest &= ~value
    for name, value in sorted(table.items(), key=lambda kv: kv[1]):
        if name.startswith("__") or name in ("O_SYNC", "O_TMPFILE"):
            continue
        if rest & value:
            names.append(name)
            rest &= ~value
    if rest:
        names.append("0x%x" % rest)
    return "|".join(names)


def flag_names(table=None):
    table = table or flag_table()
    return list(ACCMODES) + sorted((n for n in table if not n.startswith("__")),
                                   key=lambda n: table[n])


def flag_arg(text):
    """-f FLAG: 'O_CREAT', 'creat', 'o_wronly' -> canonical name."""
    name = text.strip().upper()
    if name and not name.startswith("O_") and name != "FASYNC":
        name = "O_" + name
    name = ALIASES.get(name, name)
    if name not in flag_names():
        raise argparse.ArgumentTypeError(
            "unknown open flag %r (one of %s)" % (text, ", ".join(flag_names())))
    return name


def flags_match_expr(names, table=None):
    """C expression OPEN_FLAGS_MATCH(f): true when the flags F have any of
    NAMES (an access mode is compared whole, other flags need all their bits)."""
    table = table or flag_table()
    terms = []
    for name in sorted(set(names)):
        if name in ACCMODES:
            terms.append("(((f) & %d) == %d)" % (ACCMODE, ACCMODES[name]))
        else:
            terms.append("(((f) & 0%o) == 0%o)" % (table[name], table[name]))
    return "(" + " || ".join(terms) + ")"


def mode_text(flags, mode, table=None):
    """The MODE column: octal when the open can create (O_CREAT, O_TMPFILE)."""
    table = table or flag_table()
    if flags & table["O_CREAT"] or flags & table["O_TMPFILE"] == table["O_TMPFILE"]:
        return "%04o" % mode
    return "-"
