"""Runtime detection from cgroup names (pure logic)."""

import pytest
from hypothesis import given, settings, strategies as st

from ctrace.cgroups import parse_cgroup

ID = "0123456789abcdef" * 4


@pytest.mark.parametrize("leaf,parent,expected", [
    (ID, "docker", ("docker", ID)),                                   # cgroupfs driver
    ("docker-%s.scope" % ID, "system.slice", ("docker", ID)),         # systemd driver
    ("cri-containerd-%s.scope" % ID, "kubepods-besteffort-pod1.slice", ("containerd", ID)),
    ("kubepods-besteffort-pod1.slice:cri-containerd:%s" % ID, "", ("containerd", ID)),
    (ID, "pod1b2c3d4e-0000-1111-2222-333344445555", ("containerd", ID)),  # kubepods, cgroupfs
    ("crio-%s.scope" % ID, "kubepods.slice", ("cri-o", ID)),
    ("libpod-%s.scope" % ID, "machine.slice", ("podman", ID)),
    ("libpod-%s" % ID, "libpod_parent", ("podman", ID)),
    ("lxc.payload.web1", "", ("lxc", "web1")),
    ("init.scope", "lxc.payload.web1", ("lxc", "web1")),               # nested cgroup inside LXC
    ("machine-db\\x2d1.scope", "machine.slice", ("nspawn", "db-1")),
    (ID, "somewhere", ("unknown", ID)),
    ("", "", (None, None)),
    ("user@0.service", "user-0.slice", (None, None)),
    ("crio-conmon-%s.scope" % ID, "kubepods.slice", (None, None)),    # the monitor, not the container
    ("libpod-conmon-%s.scope" % ID, "machine.slice", (None, None)),
    ("docker-%s.scope" % ID[:-1], "system.slice", (None, None)),      # not a 64-hex id
])
def test_parse_cgroup(leaf, parent, expected):
    assert parse_cgroup(leaf, parent) == expected


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=120), st.text(max_size=120))
def test_parse_cgroup_never_raises(leaf, parent):
    runtime, cid = parse_cgroup(leaf, parent)
    assert (runtime is None) == (cid is None)
