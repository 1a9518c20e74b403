"""The one collection of what the runtimes told of their containers, changed
by one thread only.

Watcher threads (ctrace.runtimes' DockerWatcher, StateWatcher) never
touch it: they put what they learn on a queue (put, queued), and the
tool's thread applies it (apply_pending) before it resolves anything and
between two polls.  So its lookups (by runtime and id, by mount
namespace) need no lock.  Whoever must know of a change subscribes
(subscribe): -c following, --wait, pods, the addresses of containernet's
peers.
"""

import os
import queue
import time
from collections import OrderedDict, namedtuple

from ctrace.cgroups import pod_uid_of_path

# How long a container that has gone away keeps its name, and how many.
RETAIN_SECONDS = 600
RETAIN_MAX = 4096


class Change(namedtuple("Change", "info action mntns")):
    """What a subscriber hears: INFO, the collection's own ContainerInfo
    (the object events hold); ACTION, the Docker event that told ("" for a
    listing, a lookup or a state file); MNTNS, the mount namespaces that
    joined it (added, changed: it runs) or left it (removed)."""


def merge_info(known, info):
    """What INFO tells, over what KNOWN held (a rename included): KNOWN is
    the object events already hold."""
    known.name = info.name or known.name
    known.image = info.image or known.image
    known.pid = info.pid or known.pid
    if info.pod is not None and (info.pod.named or known.pod is None):
        if not info.pod.uid and known.pod is not None:
            info.pod.uid = known.pod.uid
        known.pod = info.pod
    known.cgroup = info.cgroup or known.cgroup
    known.dirs = info.dirs or known.dirs


class Subscription:
    """Callbacks of one subscriber, each called with a Change: ADDED, a
    container first told of; CHANGED, one told of again (renamed, started,
    its pod or cgroup learnt); REMOVED, one that died or was removed (its
    ContainerInfo still names what it did, until it expires)."""

    def __init__(self, added=None, changed=None, removed=None):
        self.added, self.changed, self.removed = added, changed, removed


class Collection:
    """(runtime, id) -> ContainerInfo, the running ones also by mount
    namespace.  REPORT(text): says a failure once (a subscriber's bug
    costs neither the others nor the tool)."""

    def __init__(self, report):
        self.report = report
        self._pending = queue.SimpleQueue()   # (function, args) the watchers learnt
        # Called (from the watcher's thread) when something is queued: wakes
        # the tool's thread to apply it (ctrace.bpf.Runner.wake_up).
        self.on_news = None
        self._infos = OrderedDict()
        self._by_mntns = {}                   # mntns inum -> ContainerInfo
        self._subscriptions = []

    # -- from the watcher threads ------------------------------------------
    def put(self, info, action=""):
        """Thread-safe: INFO (ACTION: see Change) is learnt when the tool's
        thread next applies what is pending."""
        self._queue(self.learn, (info, action))

    def queued(self, function, *bound):
        """A callback for a watcher thread: it queues the call of FUNCTION
        (with BOUND and its own arguments) for apply_pending()."""
        return lambda *args: self._queue(function, bound + args)

    def _queue(self, function, args):
        self._pending.put((function, args))
        if self.on_news is not None:
            self.on_news()

    def apply_pending(self):
        """Make the changes the watcher threads queued, in their order."""
        while not self._pending.empty():
            function, args = self._pending.get_nowait()
            try:
                function(*args)
            except Exception as exc:        # a bug: said once, the tool goes on
                self.report("applying what a runtime told failed: %s: %s"
                            % (type(exc).__name__, exc))

    # -- lookups -------------------------------------------------------------
    def get(self, runtime, cid):
        return self._infos.get((runtime, cid))

    def __contains__(self, key):
        return key in self._infos

    def values(self):
        return list(self._infos.values())

    def by_mntns(self, inum):
        """The running container whose mount namespace is INUM, or None."""
        return self._by_mntns.get(inum)

    def subscribe(self, added=None, changed=None, removed=None):
        """Call ADDED, CHANGED, REMOVED (see Subscription) from now on;
        returns the Subscription, for unsubscribe."""
        subscription = Subscription(added, changed, removed)
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription):
        self._subscriptions.remove(subscription)

    # -- the one place it changes ----------------------------------------------
    def learn(self, info, action=""):
        """INFO learnt from a runtime; ACTION is the Docker event that told
        (start, die, destroy), or "" for a listing, lookup or state file.
        Returns the collection's ContainerInfo of that container."""
        key = (info.runtime, info.id)
        known = self._infos.get(key)
        kind = "changed"
        if known is None:
            known, kind = info, "added"
            self._infos[key] = info
        else:
            merge_info(known, info)
        if known.pod is not None and not known.pod.uid:
            known.pod.uid = pod_uid_of_path(known.cgroup)
        self._infos.move_to_end(key)
        if action == "destroy":
            known.exited_at = time.monotonic()
        if action in ("die", "destroy"):
            # Namespace inums are reused once freed: a dead container's
            # must not name (or, under -c, select) the next owner.
            known.pid = 0
            left = [n for n, owner in self._by_mntns.items() if owner is known]
            for inum in left:
                del self._by_mntns[inum]
            kind, mntns = "removed", left
        else:
            inum = self._note_mntns(known) if info.pid else None
            mntns = [inum] if inum else []
        self._expire()
        self._tell(kind, Change(known, action, mntns))
        return known

    def _note_mntns(self, info):
        try:
            inum = os.stat("/proc/%d/ns/mnt" % info.pid).st_ino
        except OSError:
            return None
        self._by_mntns[inum] = info
        return inum

    def _tell(self, kind, change):
        for subscription in list(self._subscriptions):
            callback = getattr(subscription, kind)
            if callback is None:
                continue
            try:
                callback(change)
            except Exception as exc:        # a bug: said once, the others hear
                self.report("telling of container %s failed: %s: %s"
                            % (change.info.id[:12], type(exc).__name__, exc))

    def _expire(self):
        now = time.monotonic()
        while len(self._infos) > RETAIN_MAX:
            self._infos.popitem(last=False)
        for key, info in list(self._infos.items())[:16]:
            if info.exited_at and now - info.exited_at > RETAIN_SECONDS:
                del self._infos[key]
