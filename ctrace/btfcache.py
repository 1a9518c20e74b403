"""The kernel offsets a tool's C needs (Program.kernel_macros), kept from
one start to the next of the same boot.

Reading them means parsing the kernel's BTF (about 0.05 s here) and looking
up each field: a tenth of a tool's start.  They cannot change while the
kernel runs, so the first start of a boot writes them to /run (a tmpfs,
emptied at boot) and later starts read them back.  A file is named by the
boot (its boot_id) and the program (bpf_c/<tool>.bpf.c), and holds the
declarations it answers (the CT_BTF_* lines of the C: answers to other
declarations, a changed ctrace's, are not used).  Only root writes
/run/ctrace; a file or folder that someone else owns or could write is
ignored, and a folder that cannot be written (a read-only /run) only means
that nothing is kept."""

import json
import os

# CTRACE_CACHE_DIR: another folder (the tests' own).
CACHE_DIR = os.environ.get("CTRACE_CACHE_DIR", "/run/ctrace")


def boot_id():
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return None


def _path(boot, program):
    return os.path.join(CACHE_DIR, "btf-%s-%s.json" % (boot, os.path.basename(program)))


def _trusted(st):
    """Owned by root and writable by no one else."""
    return st.st_uid == 0 and not st.st_mode & 0o022


def kept_for(program):
    """Has a start of this boot kept offsets for PROGRAM (bpf_c/'s file
    name)?  Then the preload need not parse the BTF."""
    boot = boot_id()
    return boot is not None and os.path.exists(_path(boot, program))


def forget(program):
    """PROGRAM's next start is a boot's first (the benchmark's)."""
    boot = boot_id()
    try:
        os.unlink(_path(boot, program))
    except OSError:
        pass


def load(program, declarations):
    """The macros kept in this boot for PROGRAM's DECLARATIONS (a list of
    [kind, name, [fields]]), or None."""
    boot = boot_id()
    if boot is None:
        return None
    try:
        if not _trusted(os.stat(CACHE_DIR)):
            return None
        fd = os.open(_path(boot, program), os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd) as f:
            if not _trusted(os.fstat(fd)):
                return None
            kept = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(kept, dict) or kept.get("boot_id") != boot \
            or kept.get("kernel") != _kernel() or kept.get("declarations") != declarations:
        return None
    macros = kept.get("macros")
    if not isinstance(macros, dict) or not all(isinstance(v, int) for v in macros.values()):
        return None
    return macros


def store(program, declarations, macros):
    """Keep MACROS (NAME -> int) for PROGRAM's DECLARATIONS; quietly
    nothing if /run cannot take them."""
    boot = boot_id()
    if boot is None:
        return
    path = _path(boot, program)
    temporary = "%s.%d" % (path, os.getpid())
    try:
        os.makedirs(CACHE_DIR, mode=0o700, exist_ok=True)
        if not _trusted(os.stat(CACHE_DIR)):
            return
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"boot_id": boot, "kernel": _kernel(), "declarations": declarations,
                       "macros": macros}, f)
        os.replace(temporary, path)
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass


def _kernel():
    u = os.uname()
    return "%s %s" % (u.release, u.version)
