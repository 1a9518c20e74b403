"""Files a tool writes (--dot FILE, --seccomp FILE, ...): checked when the
arguments are read, written atomically, and never anything but a regular file.

The tools run as root: a path naming /dev/null, a fifo, a directory or a
symlink planted by someone else must not be replaced or followed.  The rules,
the same for every tool (README, each man page's OPTIONS):

- FILE must be missing or a regular file.  A symlink (even to a regular
  file), a device node, a fifo, a socket or a directory at FILE is refused.
- FILE's directory must exist and a file must be creatable in it: this is
  tried (a temporary file is made and removed) when the arguments are read,
  so a path that cannot be written is refused before tracing starts.
- Writing goes to a temporary file with a random name created in that
  directory (O_CREAT|O_EXCL|O_NOFOLLOW, by tempfile.mkstemp), mode 0644 (or
  the mode of the regular file it replaces), written, fsync'd, and renamed
  onto FILE only if FILE is still missing or a regular file: rename replaces
  a directory entry and never follows a symlink.  A reader sees the old file
  or the new one, never half of one.

Use:
    parser.add_argument("--dot", type=outfile.output_path, metavar="FILE")
    ...
    with outfile.replacing(args.dot) as f:      # a text file object
        write_dot(f, rows)
or outfile.write_file(args.dot, text_or_bytes).  Both raise OutputFileError
(an OSError: .strerror says why, .filename is the path) when FILE cannot be
written or is no longer a regular file; nothing is left behind then.
"""

import argparse
import contextlib
import errno
import os
import stat
import tempfile

from ctrace.output import escape

FILE_MODE = 0o644
_KINDS = [(stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a fifo"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")]


class OutputFileError(OSError):
    """FILE cannot be (or may not be) written; str() is one line."""

    def __init__(self, path, reason, errnum=errno.EPERM):
        super().__init__(errnum, reason, path)

    def __str__(self):
        return "cannot write %s: %s" % (escape(self.filename or "") or "''", self.strerror)


def _kind(mode):
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def _existing(path):
    """lstat(PATH) (the final component is not followed), None if missing."""
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OutputFileError(path, exc.strerror or str(exc), exc.errno or errno.EPERM)


def _refuse_unless_regular(path, st):
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise OutputFileError(path, "it is %s; only a regular file is replaced"
                              % _kind(st.st_mode), errno.EEXIST)


def _temporary(directory, path):
    """A new file with a random name in DIRECTORY: (fd, name)."""
    base = os.path.basename(path)[:64]
    try:
        return tempfile.mkstemp(prefix=".%s." % base, suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OutputFileError(path, "cannot create a file in %s: %s"
                              % (escape(directory), exc.strerror or exc),
                              exc.errno or errno.EPERM)


def check(path):
    """Whether PATH can be written under the rules above; raises
    OutputFileError if not.  Returns PATH."""
    if not path or "\0" in path:
        raise OutputFileError(path, "not a file name", errno.EINVAL)
    if path.endswith("/"):
        raise OutputFileError(path, "a directory name, not a file name", errno.EISDIR)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise OutputFileError(path, "directory %s does not exist" % escape(directory),
                              errno.ENOENT)
    _refuse_unless_regular(path, _existing(path))
    fd, tmp = _temporary(directory, path)      # creatable: the real test
    os.close(fd)
    os.unlink(tmp)
    return path


def output_path(text):
    """argparse type= for an output FILE option: check(), as a usage error
    (one line, exit 2) before tracing starts."""
    try:
        return check(text)
    except OutputFileError as exc:
        raise argparse.ArgumentTypeError(str(exc))


@contextlib.contextmanager
def replacing(path, binary=False):
    """Write PATH atomically: yields a file object on a new temporary file
    in PATH's directory; at the end of the with-block (no exception) it is
    flushed, fsync'd and renamed onto PATH if PATH is still missing or a
    regular file.  On refusal or a write error the temporary file is removed
    and OutputFileError is raised (any other exception of the block passes
    through, the temporary file removed all the same)."""
    directory = os.path.dirname(os.path.abspath(path))
    before = _existing(path)
    _refuse_unless_regular(path, before)
    fd, tmp = _temporary(directory, path)
    try:
        os.fchmod(fd, stat.S_IMODE(before.st_mode) & 0o777 if before else FILE_MODE)
        with os.fdopen(fd, "wb" if binary else "w", closefd=True) as f:
            fd = None
            yield f
            f.flush()
            os.fsync(f.fileno())
        # Just before the rename: what is at PATH now?  (A symlink or device
        # planted since is refused; rename itself never follows a symlink.)
        _refuse_unless_regular(path, _existing(path))
        os.rename(tmp, path)
        tmp = None
    except OutputFileError:
        raise
    except OSError as exc:
        raise OutputFileError(path, exc.strerror or str(exc), exc.errno or errno.EIO) from exc
    finally:
        if fd is not None:
            os.close(fd)
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    _sync_directory(directory)


def write_file(path, data):
    """Write DATA (str or bytes) to PATH as replacing() does."""
    with replacing(path, binary=isinstance(data, (bytes, bytearray))) as f:
        f.write(data)


def _sync_directory(directory):
    """Make the rename durable (best effort: some filesystems refuse)."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
