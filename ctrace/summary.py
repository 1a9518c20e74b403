"""Top-style summary output shared by the tools' -s/--summary modes:
counted in the kernel, read and printed every INTERVAL seconds and once at
exit, largest first."""

import time

from ctrace.output import escape, fit


class Column:
    def __init__(self, header, width, left=False):
        self.header = header
        self.width = width
        self.left = left

    def fmt(self, value):
        if isinstance(value, (str, bytes)) and self.left and self.width:
            return fit(value, self.width, pad=True)
        text = escape(value) if isinstance(value, (str, bytes)) else str(value)
        return text.ljust(self.width) if self.left else text.rjust(self.width)


class SummaryPrinter:
    """Prints one refresh: a time line, a header and the rows (each a list of
    values in column order), or one JSON object per refresh in -j mode:
    {"event": "summary", "timestamp": ..., "interval_s": ..., "rows": [ {...} ]}.
    The last column may be wide (a path, a peer); others are padded."""

    def __init__(self, output, columns, keys, title, limit=None):
        self.output = output
        self.columns = columns
        self.keys = keys              # JSON key per column
        self.title = title
        self.limit = limit
        self.last = time.monotonic()

    def print(self, rows, extra=None):
        now = time.monotonic()
        interval = now - self.last
        self.last = now
        if self.limit:
            rows = rows[:self.limit]
        if self.output.json_mode:
            obj = {"event": "summary", "timestamp": round(time.time(), 6),
                   "interval_s": round(interval, 3),
                   "rows": [dict(zip(self.keys, r)) for r in rows]}
            if extra:
                obj.update(extra)
            self.output.json(obj)
        else:
            self.output.line("%s %s" % (time.strftime("%H:%M:%S"), self.title))
            self.output.line(" ".join(c.header.ljust(c.width) if c.left else c.header.rjust(c.width)
                                      for c in self.columns).rstrip())
            for r in rows:
                self.output.line(" ".join(c.fmt(v) for c, v in zip(self.columns, r)).rstrip())
            self.output.line("")
        self.output.flush()
