"""BPF ring buffers read in batches.

libbpf's ring_buffer__consume(), which BCC calls, calls back into Python
through ctypes for every record and stores the consumer position after
each one; every store moves a cache line that the producing CPU then reads
back at its next reserve.  RingReader maps the buffer's pages as libbpf
does, walks the records in Python, calls a handler with each record's
address and size (or the mapping and the record's offset in it), and
stores the consumer position once per batch, after the handlers have
run: the kernel never reuses a record being read.

The layout and protocol are the kernel's (kernel/bpf/ringbuf.c): a
consumer page (writable), a producer page, then the data pages mapped
twice in a row, so that a record that wraps around is contiguous.  Each
record has an 8-byte header whose length word carries BUSY (still being
written: the walk stops there) and DISCARD (skipped) bits.  The walk reads
the producer position, then each header, then the record: x86 keeps loads
in that order (TSO), so plain loads are what libbpf's acquire loads are.
Other architectures keep BCC's reader (RINGS_READ_HERE; CTRACE_LIBBPF_RINGS=1
chooses it here too)."""

import ctypes
import functools
import mmap
import os
import platform
import struct

from ctrace import libc

RINGS_READ_HERE = (platform.machine() == "x86_64"
                   and os.environ.get("CTRACE_LIBBPF_RINGS") != "1")

BUSY = 1 << 31
DISCARD = 1 << 30
LENGTH = DISCARD - 1
HEADER = 8
_HEADER = struct.Struct("<I")      # a record header's length word

_MAP_FAILED = ctypes.c_void_p(-1).value


def _map(fd, length, prot, offset):
    address = libc.mmap(None, length, prot, mmap.MAP_SHARED, fd, offset)
    if address in (None, _MAP_FAILED):
        err = ctypes.get_errno()
        raise OSError(err, "mmap of a ring buffer failed")
    return address


class RingWalk:
    """The records between a consumer and a producer position, over DATA
    (an address) and VIEW (a buffer of the same bytes, twice the ring's
    SIZE); CONSUMER and PRODUCER are ctypes u64 (their .value)."""

    def __init__(self, consumer, producer, data, view, size):
        self._consumer = consumer
        self._producer = producer
        self._data = data
        self._view = view
        self._mask = size - 1
        # A long batch hands back what it read each quarter of the ring, so
        # that a small ring (containerexec's) is not full while it is read.
        self._quarter = size // 4

    def consume(self, handler, limit=None, in_place=False):
        """HANDLER(address, size) for each record written, up to LIMIT;
        returns how many.  IN_PLACE: HANDLER(buffer, offset, size) instead,
        reading the record where it is in the ring's mapping (no ctypes
        call or copy of it: a fifth of a printed line's time).  The consumer
        position is stored at the end (or when HANDLER raises: the record it
        had is consumed), and in a long batch each time a quarter of the
        ring has been read."""
        view, mask, data, consumer = self._view, self._mask, self._data, self._consumer
        unpack, quarter = _HEADER.unpack_from, self._quarter
        if in_place:
            handler, data = functools.partial(handler, view), 0
        if limit is None:
            limit = 1 << 62
        cons = stored = consumer.value
        prod = self._producer.value
        done = 0
        try:
            while cons < prod and done < limit:
                at = cons & mask
                word = unpack(view, at)[0]
                if word & BUSY:
                    break
                length = word & LENGTH
                cons += (length + HEADER + 7) & ~7
                if not word & DISCARD:
                    done += 1
                    handler(data + at + HEADER, length)
                if cons - stored >= quarter:
                    consumer.value = stored = cons  # room for the producer
                if cons >= prod:
                    prod = self._producer.value
        finally:
            consumer.value = cons
        return done

    def consume_fixed(self, record, length, handler, limit=None):
        """HANDLER(fields) for each record written, up to LIMIT, where every
        record holds an event of LENGTH bytes and RECORD (a struct.Struct)
        unpacks one with its header: the length word, 4 bytes of padding,
        the event's fields, padding to the next record.  The records in a
        row are unpacked a batch at a time (struct.iter_unpack), with no
        call or copy of each before the handler's: 0.55 us an event to 0.14
        in a micro-benchmark.  FIELDS start with the length word.  A record
        being written ends the walk; a discarded one is skipped, and so
        would be one of another length, unread (a ring of one event type
        has none), and nothing after it is trusted to be in step.  The
        consumer position is stored as consume() stores it.  Returns how
        many were handled."""
        view, mask, consumer = self._view, self._mask, self._consumer
        stride = record.size
        per_batch = max(1, self._quarter // stride)
        if limit is None:
            limit = 1 << 62
        cons = consumer.value
        done = 0
        try:
            while done < limit:
                prod = self._producer.value
                if cons >= prod:
                    break
                at = cons & mask
                count = min((prod - cons) // stride, limit - done, per_batch)
                odd = None
                for fields in record.iter_unpack(view[at:at + count * stride]):
                    if fields[0] != length:
                        odd = fields[0]
                        break
                    cons += stride
                    done += 1
                    handler(fields)
                if odd is None and count == 0:
                    odd = _HEADER.unpack_from(view, at)[0]
                if odd is not None:
                    if odd & BUSY:
                        break
                    cons += ((odd & LENGTH) + HEADER + 7) & ~7
                consumer.value = cons           # room for the producer
        finally:
            consumer.value = cons
        return done


class RingReader(RingWalk):
    """Ring buffer map FD (SIZE bytes of data, a power of two), mapped."""

    def __init__(self, fd, size):
        page = mmap.PAGESIZE
        self._maps = []
        consumer = self._add(fd, page, mmap.PROT_READ | mmap.PROT_WRITE, 0)
        producer = self._add(fd, page + 2 * size, mmap.PROT_READ, page)
        data = producer + page
        view = memoryview((ctypes.c_char * (2 * size)).from_address(data)).cast("B")
        super().__init__(ctypes.c_uint64.from_address(consumer),
                         ctypes.c_uint64.from_address(producer), data, view, size)

    def _add(self, fd, length, prot, offset):
        address = _map(fd, length, prot, offset)
        self._maps.append((address, length))
        return address

    def close(self):
        self._view.release()
        self._view = None
        for address, length in self._maps:
            libc.munmap(address, length)
        self._maps = []
