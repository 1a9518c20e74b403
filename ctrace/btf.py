"""Kernel struct offsets from the running kernel's BTF.

No headers package matches this kernel, so the BPF C never dereferences a
kernel struct through the installed headers: every field it reads is read at
an offset that comes from /sys/kernel/btf/vmlinux, through libbpf (already a
dependency of BCC) over ctypes, and is passed to the C as a -D style macro.
"""

import ctypes
import functools
import os

from ctrace.errors import SetupError

VMLINUX_BTF = "/sys/kernel/btf/vmlinux"

# BTF kinds (include/uapi/linux/btf.h)
_KIND_PTR, _KIND_ARRAY, _KIND_STRUCT, _KIND_UNION, _KIND_ENUM = 2, 3, 4, 5, 6
_KIND_TYPEDEF, _KIND_VOLATILE, _KIND_CONST, _KIND_RESTRICT = 8, 9, 10, 11
_KIND_FUNC_PROTO = 13
_KIND_TYPE_TAG = 18
_MODIFIERS = (_KIND_TYPEDEF, _KIND_VOLATILE, _KIND_CONST, _KIND_RESTRICT,
              _KIND_TYPE_TAG)


class _BtfType(ctypes.Structure):
    _fields_ = [("name_off", ctypes.c_uint32), ("info", ctypes.c_uint32),
                ("size_or_type", ctypes.c_uint32)]


class _BtfMember(ctypes.Structure):
    _fields_ = [("name_off", ctypes.c_uint32), ("type", ctypes.c_uint32),
                ("offset", ctypes.c_uint32)]


class _BtfEnum(ctypes.Structure):
    _fields_ = [("name_off", ctypes.c_uint32), ("val", ctypes.c_int32)]


class _BtfArray(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint32), ("index_type", ctypes.c_uint32),
                ("nelems", ctypes.c_uint32)]


def _kind(t):
    return (t.info >> 24) & 0x1f


def _vlen(t):
    return t.info & 0xffff


@functools.lru_cache(maxsize=None)
def libbpf():
    """libbpf (a dependency of BCC) over ctypes, the calls ctrace makes
    declared: reading the kernel's BTF; making a BTF and task-storage maps
    (ctrace.bcc_compile)."""
    try:
        lib = ctypes.CDLL("libbpf.so.1")
    except OSError:
        # Imported here only: it imports subprocess, 4 ms of every start.
        from ctypes.util import find_library
        try:
            lib = ctypes.CDLL(find_library("bpf") or "libbpf.so")
        except OSError:
            raise SetupError("libbpf not found: run 'make install' "
                             "(Debian package libbpf1)")
    lib.btf__parse.restype = ctypes.c_void_p
    lib.btf__parse.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    lib.btf__find_by_name_kind.restype = ctypes.c_int
    lib.btf__find_by_name_kind.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                           ctypes.c_uint32]
    lib.btf__type_by_id.restype = ctypes.POINTER(_BtfType)
    lib.btf__type_by_id.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.btf__name_by_offset.restype = ctypes.c_char_p
    lib.btf__name_by_offset.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.btf__resolve_size.restype = ctypes.c_long
    lib.btf__resolve_size.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.btf__free.argtypes = [ctypes.c_void_p]
    lib.btf__new_empty.restype = ctypes.c_void_p
    lib.btf__add_int.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
    lib.btf__add_array.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_uint32]
    lib.btf__load_into_kernel.argtypes = [ctypes.c_void_p]
    lib.btf__fd.argtypes = [ctypes.c_void_p]
    lib.bpf_map_create.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32,
                                   ctypes.c_uint32, ctypes.c_uint32,
                                   ctypes.POINTER(MapCreateOpts)]
    lib.bpf_obj_pin.argtypes = [ctypes.c_int, ctypes.c_char_p]
    return lib


class MapCreateOpts(ctypes.Structure):
    """libbpf's struct bpf_map_create_opts (1.0 onwards; its sz says how
    much of it a newer libbpf may read)."""
    _fields_ = [("sz", ctypes.c_size_t), ("btf_fd", ctypes.c_uint32),
                ("btf_key_type_id", ctypes.c_uint32), ("btf_value_type_id", ctypes.c_uint32),
                ("btf_vmlinux_value_type_id", ctypes.c_uint32),
                ("inner_map_fd", ctypes.c_uint32), ("map_flags", ctypes.c_uint32),
                ("map_extra", ctypes.c_uint64), ("numa_node", ctypes.c_uint32),
                ("map_ifindex", ctypes.c_uint32)]


class KernelBTF:
    """Field offsets and type sizes of the running kernel."""

    def __init__(self, path=VMLINUX_BTF):
        if not os.path.exists(path):
            raise SetupError(
                "kernel BTF not found at %s: this kernel was built without "
                "CONFIG_DEBUG_INFO_BTF=y; ctrace needs a BTF-enabled kernel" % path)
        lib = libbpf()
        self._lib = lib
        btf = lib.btf__parse(path.encode(), None)
        if not btf or btf > (2**64 - 4096):     # libbpf returns NULL or -errno
            raise SetupError("cannot parse kernel BTF at %s" % path)
        self._btf = btf

    def close(self):
        if self._btf:
            self._lib.btf__free(self._btf)
            self._btf = None

    def _type(self, type_id):
        return self._lib.btf__type_by_id(self._btf, type_id).contents

    def _strip(self, type_id):
        t = self._type(type_id)
        while _kind(t) in _MODIFIERS:
            type_id = t.size_or_type
            t = self._type(type_id)
        return type_id, t

    def _struct_id(self, name):
        for kind in (_KIND_STRUCT, _KIND_UNION):
            type_id = self._lib.btf__find_by_name_kind(self._btf, name.encode(), kind)
            if type_id > 0:
                return type_id
        raise SetupError("struct %s not found in kernel BTF" % name)

    def _member(self, type_id, name):
        """(bit offset, member type id) of NAME in a struct/union, looking
        through anonymous struct and union members."""
        type_id, t = self._strip(type_id)
        if _kind(t) not in (_KIND_STRUCT, _KIND_UNION):
            return None
        kflag = t.info >> 31
        members = ctypes.cast(ctypes.addressof(t) + ctypes.sizeof(_BtfType),
                              ctypes.POINTER(_BtfMember))
        for i in range(_vlen(t)):
            m = members[i]
            bits = m.offset & 0xffffff if kflag else m.offset
            mname = self._lib.btf__name_by_offset(self._btf, m.name_off) or b""
            if mname.decode() == name:
                return bits, m.type
            if not mname:
                found = self._member(m.type, name)
                if found:
                    return bits + found[0], found[1]
        return None

    def offsetof(self, path):
        """Byte offset of a dotted field path: 'task_struct.nsproxy',
        'mnt_namespace.ns.inum' (nested members, not pointers)."""
        struct, *fields = path.split(".")
        type_id = self._struct_id(struct)
        bits = 0
        for field in fields:
            found = self._member(type_id, field)
            if found is None:
                raise SetupError("field %s not found in kernel BTF" % path)
            bits += found[0]
            type_id = found[1]
        if bits % 8:
            raise SetupError("field %s is a bit field" % path)
        return bits // 8

    def enum(self, name):
        """{value: name} of the kernel's enum NAME ({} if it has none)."""
        type_id = self._lib.btf__find_by_name_kind(self._btf, name.encode(), _KIND_ENUM)
        if type_id <= 0:
            return {}
        t = self._type(type_id)
        values = ctypes.cast(ctypes.addressof(t) + ctypes.sizeof(_BtfType),
                             ctypes.POINTER(_BtfEnum))
        return {values[i].val: self._lib.btf__name_by_offset(self._btf, values[i].name_off)
                .decode() for i in range(_vlen(t))}

    def tracepoint_args(self, event):
        """How many arguments tracepoint EVENT hands a raw program
        (ctx->args[]): its prototype's, from the btf_trace_EVENT typedef
        the kernel defines for each; 0 if it has no such tracepoint."""
        type_id = self._lib.btf__find_by_name_kind(
            self._btf, ("btf_trace_" + event).encode(), _KIND_TYPEDEF)
        if type_id <= 0:
            return 0
        t = self._type(self._type(type_id).size_or_type)     # a pointer
        if _kind(t) == _KIND_PTR:
            t = self._type(t.size_or_type)
        if _kind(t) != _KIND_FUNC_PROTO:
            return 0
        return _vlen(t) - 1                 # less the probe's void *__data

    def sizeof(self, name):
        return self._lib.btf__resolve_size(self._btf, self._struct_id(name))

    def has_field(self, path):
        try:
            self.offsetof(path)
            return True
        except SetupError:
            return False
