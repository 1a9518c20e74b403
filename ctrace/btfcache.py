"""The kernel offsets a tool's C needs (Program.kernel_macros), kept from
one start to the next of the same boot.

Reading them means parsing the kernel's BTF (about 0.05 s here) and looking
up each field: a tenth of a tool's start.  They cannot change while the
kernel runs, so the first start of a boot writes them to /run (a tmpfs,
emptied at boot) and later starts read them back.  A file is named by the
boot (its boot_id) and by the declarations it answers (CT_BTF_* lines of
the C: another tool, or a changed declaration, has a file of its own), and
it repeats both inside.  Only root writes /run/ctrace; a file or folder that
someone else owns or could write is ignored, and a folder that cannot be
written (a read-only /run) only means that nothing is kept."""

import hashlib
import json
import os

CACHE_DIR = "/run/ctrace"


def boot_id():
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return None


def _path(boot, declarations):
    digest = hashlib.sha256(json.dumps(declarations).encode()).hexdigest()[:16]
    return os.path.join(CACHE_DIR, "btf-%s-%s.json" % (boot, digest))


def _trusted(st):
    """Owned by root and writable by no one else."""
    return st.st_uid == 0 and not st.st_mode & 0o022


def any_for_this_boot():
    """Has a start of this boot kept offsets (then the preload need not
    parse the BTF: most likely the next start wants the same)?"""
    boot = boot_id()
    try:
        return boot is not None and any(n.startswith("btf-%s-" % boot)
                                        for n in os.listdir(CACHE_DIR))
    except OSError:
        return False


def load(declarations):
    """The macros kept for DECLARATIONS (a list of lists of strings) in
    this boot, or None."""
    boot = boot_id()
    if boot is None:
        return None
    try:
        if not _trusted(os.stat(CACHE_DIR)):
            return None
        fd = os.open(_path(boot, declarations), os.O_RDONLY | os.O_NOFOLLOW)
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


def store(declarations, macros):
    """Keep MACROS (NAME -> int) for DECLARATIONS; quietly nothing if /run
    cannot take them."""
    boot = boot_id()
    if boot is None:
        return
    path = _path(boot, declarations)
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
