"""LXC and systemd-nspawn: no state is read and no API asked.  Each names
its container's cgroup after the container (lxc.payload.NAME,
machine-NAME.scope: ctrace.cgroups), so the cgroup the kernel captured
already names it."""

from ctrace.runtimes.model import Runtime


class LXC(Runtime):
    name = "lxc"
    named_by_cgroup = True


class Nspawn(Runtime):
    name = "nspawn"
    named_by_cgroup = True
