"""io_uring operations as the tools name them (bpf_c/ct_uring.h captures
them): IORING_OP_OPENAT is "OPENAT", shown as "io_uring:OPENAT"."""

from ctrace.btf import KernelBTF
from ctrace.errors import SetupError

PREFIX = "IORING_OP_"
_names = None


def op_names():
    """{opcode: name} of this kernel's io_uring operations (its BTF)."""
    global _names
    if _names is None:
        try:
            btf = KernelBTF()
        except SetupError:
            return {}
        try:
            _names = {v: n[len(PREFIX):] for v, n in btf.enum("io_uring_op").items()
                      if n.startswith(PREFIX) and n != PREFIX + "LAST"}
        finally:
            btf.close()
    return _names


def op_name(opcode):
    return op_names().get(opcode) or "OP_%d" % opcode


def label(opcode):
    """How a table shows an operation: io_uring:OPENAT."""
    return "io_uring:" + op_name(opcode)
