"""Hostile input: what the kernel hands us from a container never reaches the
terminal raw, and JSON is always valid."""

import json

from hypothesis import given, settings, strategies as st

from ctrace.output import errno_name, escape, json_text, quote_arg, signal_name


def printable_only(text):
    return all(0x20 <= ord(c) < 0x7f or ord(c) >= 0xa0 for c in text) and \
        not any(0x202a <= ord(c) <= 0x202e or 0x2066 <= ord(c) <= 0x2069 for c in text)


def test_escape_examples():
    assert escape(b"plain/path") == "plain/path"
    assert escape(b"evil\x1b[31mred") == "evil\\x1b[31mred"
    assert escape(b"a\nb\tc") == "a\\nb\\tc"
    assert escape(b"bad\xffutf8") == "bad\\xffutf8"
    assert escape(b"back\\slash") == "back\\\\slash"
    assert escape("rtl\u202eexe.txt") == "rtl\\u202eexe.txt"
    assert escape(b"\xc2\x9b31m") == "\\x9b31m"          # C1 CSI, valid UTF-8
    assert escape("caf\u00e9") == "caf\u00e9"


def test_escapes_cannot_be_forged():
    # The literal text "\x1b" and a real ESC byte must print differently.
    assert escape(b"\\x1b") != escape(b"\x1b")


def test_quote_arg():
    assert quote_arg(b"ls") == "ls"
    assert quote_arg(b"two words") == "'two words'"
    assert quote_arg(b"") == "''"
    assert quote_arg(b"it's") == "'it'\\''s'"


def test_names():
    assert errno_name(-2) == "ENOENT"
    assert errno_name(13) == "EACCES"
    assert errno_name(-9999) == "E9999"
    assert signal_name(9) == "SIGKILL"
    assert signal_name(200) == "SIG200"


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_escape_never_leaks_control_bytes(data):
    out = escape(data)
    assert printable_only(out)
    assert "\x1b" not in out


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_escape_text_never_leaks_control_chars(text):
    assert printable_only(escape(text))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=50), max_size=10))
def test_quoted_argv_is_printable(args):
    line = " ".join(quote_arg(a) for a in args)
    assert printable_only(line)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_json_text_always_valid_json(data):
    encoded = json.dumps({"path": json_text(data)}, ensure_ascii=True)
    assert all(32 <= ord(c) < 127 for c in encoded)
    assert json.loads(encoded)["path"] == json_text(data)
