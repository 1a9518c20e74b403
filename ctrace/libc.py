"""The C library's calls ctrace makes through ctypes, looked up once, at
import: ctrace.preload imports this before it starts libbcc's dlopen, and a
dlopen or dlsym of the main thread while that runs would wait for it to
end (glibc's loader lock; ctypes looks a function up at its first use)."""

import ctypes

_c = ctypes.CDLL(None, use_errno=True)


def check(result, what):
    """RESULT of a call that returns 0, or -1 with errno set: OSError then."""
    if result != 0:
        raise OSError(ctypes.get_errno(), what)


def _declare(name, restype, *argtypes):
    function = getattr(_c, name)
    function.restype = restype
    function.argtypes = list(argtypes)
    return function


void_p, size_t, c_int, c_long, c_char_p = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                                            ctypes.c_long, ctypes.c_char_p)
dlopen = _declare("dlopen", void_p, c_char_p, c_int)
mmap = _declare("mmap", void_p, void_p, size_t, c_int, c_int, c_int, c_long)
munmap = _declare("munmap", c_int, void_p, size_t)
madvise = _declare("madvise", c_int, void_p, size_t, c_int)
mount = _declare("mount", c_int, c_char_p, c_char_p, c_char_p, ctypes.c_ulong, void_p)
umount2 = _declare("umount2", c_int, c_char_p, c_int)
unshare = _declare("unshare", c_int, c_int)
setns = _declare("setns", c_int, c_int, c_int)
inotify_init1 = _declare("inotify_init1", c_int, c_int)
inotify_add_watch = _declare("inotify_add_watch", c_int, c_int, c_char_p, ctypes.c_uint32)
try:
    malloc_trim = _declare("malloc_trim", c_int, size_t)
except AttributeError:
    malloc_trim = None          # not glibc: nothing to hand back
