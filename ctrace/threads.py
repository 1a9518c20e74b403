"""ctrace's own threads, beside the tool's main thread: the runtimes'
watchers, and the helpers of the start-up (Beside).

SIGINT, SIGTERM and SIGHUP end a tool, and Python runs their handlers in
its main thread only.  Every thread of ours blocks them, so that the kernel
delivers them to the main thread and interrupts what it waits in (a write
to a stdout nobody reads): else a signal taken by another thread could
leave the main thread waiting, its handler unrun."""

import signal
import threading

STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


def leave_stop_signals_to_main_thread():
    """Called first in the run() of every thread of ours."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


class Beside(threading.Thread):
    """FUNCTION() run now on a thread of its own, beside what the main thread
    does meanwhile; worth it where one of the two spends its time in C that
    releases the GIL (ctypes calls: dlopen, BTF parsing, BCC's compile).
    result() waits for it: what it returned, or what it raised, raised."""

    def __init__(self, function, name):
        super().__init__(name=name, daemon=True)
        self._function = function
        self._value = None
        self._error = None
        self.start()

    def run(self):
        leave_stop_signals_to_main_thread()
        try:
            self._value = self._function()
        except BaseException as exc:        # raised again in result()
            self._error = exc

    def result(self):
        self.join()
        if self._error is not None:
            raise self._error
        return self._value
