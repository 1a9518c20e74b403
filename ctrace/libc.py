"""The C library's calls ctrace makes through ctypes, looked up once, at
import: ctrace.preload imports this before it starts libbcc's dlopen, and a
dlopen or dlsym of the main thread while that runs would wait for it to
end (glibc's loader lock; ctypes looks a function up at its first use)."""

import atexit
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

# exit(3)'s handlers (glibc): FN(ARG, STATUS), registered for a "DSO" handle;
# __cxa_finalize(HANDLE) runs that handle's handlers at once and forgets them.
_EXIT_HANDLER = ctypes.CFUNCTYPE(None, void_p, c_int)
try:
    _cxa_atexit = _declare("__cxa_atexit", c_int, _EXIT_HANDLER, void_p, void_p)
    _cxa_finalize = _declare("__cxa_finalize", None, void_p)
except AttributeError:
    _cxa_atexit = _cxa_finalize = None      # not glibc: no hook


class ExitHook:
    """FUNCTION() if the process calls exit(3), from any thread, before
    cancel(); never after.  For a library that ends the process itself
    (LLVM, on an error of its BPF back end).  The handle that cancel()
    finalizes is this object's own address: no other handler shares it."""

    _armed = set()      # the callbacks glibc holds must outlive any caller

    def __init__(self, function):
        self._function = function
        self._callback = _EXIT_HANDLER(self._run)
        self._handle = ctypes.c_char()
        if _cxa_atexit and _cxa_atexit(self._callback, None,
                                       ctypes.addressof(self._handle)) == 0:
            ExitHook._armed.add(self)

    def _run(self, arg, status):
        function, self._function = self._function, None
        if function is not None:
            try:
                function()
            except Exception:       # the process is ending: nothing to report to
                pass

    def cancel(self):
        """Forget FUNCTION (glibc runs the handler now, to no effect)."""
        self._function = None
        if self in ExitHook._armed:
            ExitHook._armed.discard(self)
            _cxa_finalize(ctypes.addressof(self._handle))


@atexit.register
def _cancel_exit_hooks():
    """Python's own exit: no handler may call into it once it is gone."""
    for hook in list(ExitHook._armed):
        hook.cancel()
