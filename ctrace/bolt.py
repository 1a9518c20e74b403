"""Read one value from a bbolt database file (containerd's meta.db), with
no library: containerd keeps a container's image only there, and a plain
`ctr run` container's bundle does not say it.

bbolt's layout (go.etcd.io/bbolt, page.go, bucket.go, db.go): fixed-size
pages, each with a 16-byte header (id u64, flags u16, count u16, overflow
u32); pages 0 and 1 are meta pages (the valid one with the higher txid is
current: a writer switches between them); buckets are B+trees of branch
and leaf pages, or inline in their parent's leaf value.  Reads only; a
page that changes under the reader gives None, never a wrong answer of
another shape (every offset is checked).
"""

import os
import struct

MAGIC = 0xED0CDAED
BRANCH, LEAF = 0x01, 0x02
BUCKET_LEAF = 0x01
_HEADER = struct.Struct("<QHHI")           # id, flags, count, overflow
_META = struct.Struct("<IIII QQ QQQ Q")    # magic, version, page size, flags,
                                           # root bucket (root, sequence),
                                           # freelist, pgid, txid, checksum
_ELEMENT = struct.Struct("<IIII")          # leaf: flags, pos, ksize, vsize
_BRANCH_ELEMENT = struct.Struct("<IIQ")    # branch: pos, ksize, pgid
_BUCKET = struct.Struct("<QQ")             # root page (0: inline), sequence
MAX_DEPTH = 64                             # of nested pages and buckets


class Corrupt(Exception):
    """The file is not a bbolt database, or changed while read."""


def fnv64a(data):
    h = 0xcbf29ce484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def lookup(path, keys):
    """The value at KEYS (bucket names, then a key: bytes) in the bbolt
    database PATH, or None when it is not there or cannot be read."""
    try:
        with open(path, "rb") as f:
            return _Reader(f.fileno()).get(keys)
    except (OSError, Corrupt, struct.error):
        return None


class _Reader:
    def __init__(self, fd):
        self.fd = fd
        self.page_size, self.root = self._meta()

    def _meta(self):
        best = None
        first = os.pread(self.fd, 4096, 0)
        if len(first) < _HEADER.size + _META.size:
            raise Corrupt("too short")
        size = _META.unpack_from(first, _HEADER.size)[2]
        if size < 512 or size & (size - 1):
            raise Corrupt("page size")
        for pgid in (0, 1):
            raw = os.pread(self.fd, _HEADER.size + _META.size, pgid * size)
            if len(raw) < _HEADER.size + _META.size:
                continue
            meta = _META.unpack_from(raw, _HEADER.size)
            body = raw[_HEADER.size:_HEADER.size + _META.size - 8]
            if meta[0] == MAGIC and meta[9] == fnv64a(body) and \
                    (best is None or meta[8] > best[8]):
                best = meta
        if best is None:
            raise Corrupt("no valid meta page")
        return size, best[4]

    def _page(self, pgid):
        head = os.pread(self.fd, _HEADER.size, pgid * self.page_size)
        if len(head) < _HEADER.size:
            raise Corrupt("page %d past the end" % pgid)
        overflow = _HEADER.unpack(head)[3]
        if overflow > 1 << 16:
            raise Corrupt("page %d overflow" % pgid)
        return os.pread(self.fd, (overflow + 1) * self.page_size, pgid * self.page_size)

    def get(self, keys):
        page = self._page(self.root)
        for depth, key in enumerate(keys):
            found = self._find(page, key, MAX_DEPTH)
            if found is None:
                return None
            flags, value = found
            if depth == len(keys) - 1:
                return None if flags & BUCKET_LEAF else value
            if not flags & BUCKET_LEAF or len(value) < _BUCKET.size:
                return None
            root = _BUCKET.unpack_from(value)[0]
            page = value[_BUCKET.size:] if root == 0 else self._page(root)
        return None

    def _find(self, page, key, depth):
        """(leaf flags, value) of KEY in the B+tree from PAGE, or None."""
        if depth <= 0 or len(page) < _HEADER.size:
            raise Corrupt("tree too deep or page too short")
        _, flags, count, _ = _HEADER.unpack_from(page)
        if flags & BRANCH:
            child = None                # bbolt's too: the first child for a smaller key
            for pos, ksize, pgid in self._elements(page, count, _BRANCH_ELEMENT):
                if child is not None and page[pos:pos + ksize] > key:
                    break
                child = pgid
            return None if child is None else self._find(self._page(child), key, depth - 1)
        if not flags & LEAF:
            raise Corrupt("neither a branch nor a leaf")
        for eflags, pos, ksize, vsize in self._elements(page, count, _ELEMENT):
            if page[pos:pos + ksize] == key:
                return eflags, page[pos + ksize:pos + ksize + vsize]
        return None

    @staticmethod
    def _elements(page, count, shape):
        """The elements of a page; each one's pos made relative to the page."""
        for i in range(count):
            at = _HEADER.size + i * shape.size
            if at + shape.size > len(page):
                raise Corrupt("element past the page")
            fields = list(shape.unpack_from(page, at))
            pos = fields[1] if shape is _ELEMENT else fields[0]
            if shape is _ELEMENT:
                fields[1] = at + pos
                if fields[1] + fields[2] + fields[3] > len(page):
                    raise Corrupt("leaf value past the page")
            else:
                fields[0] = at + pos
            yield fields
