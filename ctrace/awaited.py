"""--wait and --seccomp's end: a container named before it runs, or one
that runs now and whose end is awaited, for every runtime.  It hears of
the containers the runtimes tell of (Registry.subscribe); the APIs that
keep stopped containers say how one ended (a failed start), and for the
others the processes left tell."""

import time

from ctrace.containers import pod_ref, ref_matches
from ctrace.runtimes.http import Unreachable


class Awaited:
    """A container named before it runs (containersyscall --wait): which
    containers match, whether it has run, and whether it has ended; for
    every runtime.  Docker and podman say so through their APIs; for the
    others, a container has ended when none of its processes is left."""

    POLL_SECONDS = 0.5

    def __init__(self, registry, ref, running=False):
        self.registry = registry
        self.ref = ref
        self.ids = set()                # runtime ids that matched
        self.started = running
        self._stale = {}                # runtime name -> (id, FinishedAt) of a stopped namesake
        self._errors = {}               # runtime name -> its Error then (a failed start sets one)
        self._last_scan = 0.0
        self._died = False              # a runtime told of its end
        pod = pod_ref(ref)
        if pod is not None and running:
            # -c NAMESPACE/POD: its containers now; it may not run yet.
            self.ids = {info.id for info in registry.pod_members(pod)}
            self.started = bool(self.ids)
        for runtime in self._apis():
            st = self._state(runtime)
            if not st or not st[0]:
                continue
            if running:
                self.ids.add(st[0])
            elif not st[1].get("Running"):
                self._stale[runtime.name] = (st[0], st[1].get("FinishedAt"))
                self._errors[runtime.name] = st[1].get("Error")
        if running and not self.ids and pod is None:
            self.ids.update(cid for _, _, cid in registry.scan_processes()
                            if cid == ref or (len(ref) >= 4 and cid.startswith(ref)))
        registry.subscribe(added=self._heard, changed=self._heard, removed=self._gone)

    def _heard(self, change):
        """A container the runtimes told of runs: is it the awaited one?"""
        if change.mntns:
            info = change.info
            self.matches(self.registry.runtime_container(info.runtime, info.id, info))

    def _gone(self, change):
        """One of the awaited containers died (a pod's: when all are gone,
        which the processes tell)."""
        if change.info.id in self.ids and self.started and pod_ref(self.ref) is None:
            self._died = True

    def _apis(self):
        """The runtimes whose API may say how REF is."""
        if pod_ref(self.ref) is not None:
            return []                   # a pod is no runtime's container name
        return [r for r in self.registry.runtimes.values() if r.has_socket()]

    def _state(self, runtime):
        try:
            return runtime.state(self.ref)
        except Unreachable:
            return None

    def matches(self, container):
        if container.kind == "runtime" and container.id in self.ids:
            return True
        if ref_matches(self.ref, container):
            self.ids.add(container.id)
            self.started = True
            return True
        return False

    def ended(self):
        """True once the awaited container has run and stopped."""
        self.registry.apply_pending()
        if self._died:
            return True
        for runtime in self._apis():
            st = self._state(runtime)
            if st is None or not st[0]:
                continue
            cid, state = st
            if state.get("Error") and state.get("Error") != self._errors.get(runtime.name):
                self.ids.add(cid)
                return True             # it failed to start (no FinishedAt then)
            if (cid, state.get("FinishedAt")) == self._stale.get(runtime.name):
                return False            # the old stopped one: not ours yet
            self.ids.add(cid)
            if state.get("Running") or state.get("Pid"):
                self.started = True
                return False
            return self.started or state.get("Status") in ("exited", "dead")
        # Not known to an API (gone with --rm, or another runtime): ended
        # once it has run and no process of it is left.
        if not self.started:
            return False
        now = time.monotonic()
        if now - self._last_scan < self.POLL_SECONDS:
            return False
        self._last_scan = now
        return not any(cid in self.ids for _, _, cid in self.registry.scan_processes())
