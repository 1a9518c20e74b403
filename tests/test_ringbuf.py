"""ctrace.ringbuf's walk of a ring buffer's records, over a ring laid out
as the kernel lays it out (kernel/bpf/ringbuf.c), and the size of a busy
tool's ring (ctrace.bpf): pure logic, no BPF."""

import ctypes
import mmap
import struct

import pytest

from ctrace.bpf import RecordsInPlace, ring_buffer_defines
from ctrace.ringbuf import BUSY, DISCARD, HEADER, RingWalk

SIZE = 64           # a tiny ring: records wrap around quickly


class FakeRing:
    """SIZE bytes of data mapped twice in a row (as the kernel maps them),
    a producer that writes records, and the consumer position."""

    def __init__(self):
        self.buf = ctypes.create_string_buffer(2 * SIZE)
        self.consumer = ctypes.c_uint64(0)
        self.producer = ctypes.c_uint64(0)

    def _put(self, pos, raw):
        for i, byte in enumerate(raw):
            at = (pos + i) % SIZE
            self.buf[at] = self.buf[at + SIZE] = byte

    def write(self, payload, flags=0):
        pos = self.producer.value
        self._put(pos, struct.pack("<II", len(payload) | flags, 0) + payload)
        self.producer.value = pos + ((len(payload) + HEADER + 7) & ~7)
        return pos

    def finish(self, pos, payload):
        """Clear the BUSY bit of the record at POS (its commit)."""
        self._put(pos, struct.pack("<I", len(payload)))

    def walk(self):
        view = memoryview(self.buf).cast("B")
        return RingWalk(self.consumer, self.producer, ctypes.addressof(self.buf), view, SIZE)


def read_all(ring, limit=None):
    got = []
    n = ring.walk().consume(lambda at, size: got.append(ctypes.string_at(at, size)), limit)
    assert n == len(got)
    return got


def read_in_place(ring, limit=None):
    """consume()'s walk IN_PLACE: each record read at its offset in the
    mapping's view, where it is."""
    got = []
    n = ring.walk().consume(lambda buf, at, size: got.append(bytes(buf[at:at + size])),
                            limit, in_place=True)
    assert n == len(got)
    return got


def read_fixed(ring, limit=None):
    """consume_fixed()'s walk of a ring of 8-byte events (RECORD)."""
    got = []
    n = ring.walk().consume_fixed(RECORD, 8, got.append, limit)
    assert n == len(got) and all(fields[0] == 8 for fields in got)
    return [fields[1] for fields in got]


RECORD = struct.Struct("<I4x8s")          # the length word, padding, 8 bytes


@pytest.mark.parametrize("read", [read_all, read_in_place, read_fixed])
def test_records_in_order_across_the_wrap(read):
    ring = FakeRing()
    seen = []
    for round_ in range(5):                 # 5 x 3 records of 16 bytes: wraps
        sent = [("r%d-%d" % (round_, i)).encode().ljust(8, b".") for i in range(3)]
        for payload in sent:
            ring.write(payload)
        seen += read(ring)
        assert seen[-3:] == sent
    assert ring.consumer.value == ring.producer.value == 5 * 3 * 16


@pytest.mark.parametrize("read", [read_all, read_in_place])
def test_a_busy_record_stops_the_walk_until_committed(read):
    ring = FakeRing()
    ring.write(b"first")
    busy = ring.write(b"second", BUSY)
    ring.write(b"third")
    assert read(ring) == [b"first"]
    assert ring.consumer.value == busy       # nothing past it consumed
    ring.finish(busy, b"second")
    assert read(ring) == [b"second", b"third"]


@pytest.mark.parametrize("read", [read_all, read_in_place])
def test_discarded_records_are_skipped_and_consumed(read):
    ring = FakeRing()
    ring.write(b"kept")
    ring.write(b"dropped", DISCARD)
    ring.write(b"also")
    assert read(ring) == [b"kept", b"also"]
    assert ring.consumer.value == ring.producer.value


@pytest.mark.parametrize("read", [read_all, read_in_place, read_fixed])
def test_limit_leaves_the_rest_for_the_next_read(read):
    ring = FakeRing()
    for payload in (b"a.......", b"b.......", b"c......."):
        ring.write(payload)
    assert read(ring, limit=2) == [b"a.......", b"b......."]
    assert read(ring) == [b"c......."]


@pytest.mark.parametrize("read", [read_all, read_in_place, read_fixed])
def test_a_handler_that_raises_has_its_record_consumed(read):
    ring = FakeRing()
    ring.write(b"boom....")
    ring.write(b"next....")

    def handler(*_):
        raise BrokenPipeError
    with pytest.raises(BrokenPipeError):
        if read is read_fixed:
            ring.walk().consume_fixed(RECORD, 8, handler)
        else:
            ring.walk().consume(handler, in_place=read is read_in_place)
    assert read(ring) == [b"next...."]


@pytest.mark.parametrize("fixed", [False, True])
def test_a_long_batch_hands_back_room_as_it_reads(fixed):
    """The producer sees the space of what was read at least each quarter
    of the ring, not only at the end of a batch."""
    ring = FakeRing()
    seen = []
    for payload in (b"a.......", b"b.......", b"c......."):
        ring.write(payload)                  # 16 bytes each: a quarter is 16

    def handler(*_):
        seen.append(ring.consumer.value)     # as the producer would see it
    if fixed:
        ring.walk().consume_fixed(RECORD, 8, handler)
    else:
        ring.walk().consume(handler)
    assert seen == [0, 16, 32]
    assert ring.consumer.value == 48


def test_fixed_records_busy_stops_discarded_and_other_lengths_are_skipped():
    ring = FakeRing()
    ring.write(b"first...")
    ring.write(b"dropped.", DISCARD)
    ring.write(b"short")                     # not this ring's length: stepped over
    busy = ring.write(b"second..", BUSY)   # the ring (4 records) is full
    assert read_fixed(ring) == [b"first..."]
    assert ring.consumer.value == busy
    ring.finish(busy, b"second..")
    ring.write(b"third...")
    assert read_fixed(ring) == [b"second..", b"third..."]
    assert ring.consumer.value == ring.producer.value


@pytest.mark.parametrize("cpus,pages", [(1, 256), (2, 256), (3, 512), (8, 1024), (32, 4096),
                                        (256, 4096)])
def test_a_busy_tools_ring_is_sized_by_cpus_and_wakes_before_half_is_full(cpus, pages):
    d = ring_buffer_defines(cpus)
    assert d["CT_RING_PAGES"] == pages
    assert pages & (pages - 1) == 0                 # the kernel wants a power of two
    # every CPU just short of its wakeup: still under half the ring
    assert cpus * d["CT_RING_WAKE_BYTES"] <= pages * mmap.PAGESIZE // 2


def test_records_in_place_under_bccs_reader_get_a_copy():
    """Where BCC reads the ring (not x86), a RecordsInPlace handler gets a
    copy of the event, at offset 0."""
    event = b"header..path\0"
    raw = ctypes.create_string_buffer(event, len(event))
    got = []
    handler = RecordsInPlace(lambda buf, at, size: got.append((bytes(buf[at:at + size]), at)))
    handler(ctypes.addressof(raw), len(event))
    assert got == [(event, 0)]
