"""Container: what an event is labelled with (its kind, runtime, id and the
runtime's ContainerInfo), its columns and JSON fields; and what a -c or
--wait reference names.  The Registry (ctrace.registry) makes them."""

from ctrace.runtimes import NAMED_BY_CGROUP
from ctrace.runtimes.model import Pod


class Container:
    """What an event is labelled with. HOST is the one for host processes."""

    __slots__ = ("kind", "runtime", "id", "info")

    def __init__(self, kind, runtime="", cid="", info=None):
        self.kind = kind            # "host", "runtime" or "namespace"
        self.runtime = runtime
        self.id = cid
        self.info = info            # ContainerInfo, for runtime containers

    @property
    def name(self):
        if self.info is not None and self.info.name:
            return self.info.name
        if self.kind == "runtime" and self.runtime in NAMED_BY_CGROUP:
            return self.id          # these runtimes name the cgroup after the container
        return ""

    @property
    def image(self):
        return self.info.image if self.info is not None else ""

    @property
    def pod(self):
        """Its Kubernetes identity (ctrace.runtimes.model.Pod), or None."""
        return self.info.pod if self.info is not None else None

    def _pod_label(self, wide):
        pod = self.pod
        if pod is None or not pod.named:
            return ""
        label = "%s/%s" % (pod.name, "(sandbox)" if pod.sandbox else
                           pod.container or self.id[:12])
        return "%s/%s" % (pod.namespace, label) if wide else label

    @property
    def label(self):
        """The CONTAINER column: POD/CONTAINER for a Kubernetes container
        (POD/(sandbox) for its pod's pause container), else its name, else
        short id, else mntns:INUM / host."""
        if self.kind == "host":
            return "host"
        if self.kind == "namespace":
            return self.id
        return self._pod_label(False) or self.name or self.id[:12]

    @property
    def wide_label(self):
        """The label with a Kubernetes container's namespace:
        NAMESPACE/POD/CONTAINER (-w, and JSON's container field)."""
        return self._pod_label(True) or self.label

    @property
    def final(self):
        """Nothing more can be learnt about it (else: a runtime container
        whose name its runtime has not given yet)."""
        return self.kind != "runtime" or bool(self.name)

    def fields(self):
        """The container fields of every ctrace JSON event (CONTAINER_FIELDS)."""
        pod = self.pod or NO_POD
        return {
            "container": self.wide_label,
            "container_id": self.id if self.kind != "host" else None,
            "container_name": self.name or None,
            "container_image": self.image or None,
            "container_runtime": self.runtime or None,
            "host": self.kind == "host",
            "k8s_namespace": pod.namespace or None,
            "k8s_pod": pod.name or None,
            "k8s_pod_uid": pod.uid or None,
            "k8s_container": pod.container or None,
            "k8s_sandbox": pod.sandbox if pod.named else None,
        }


NO_POD = Pod()
# The keys of Container.fields(), in order: summary rows carry them too.
CONTAINER_FIELDS = ("container", "container_id", "container_name", "container_image",
                    "container_runtime", "host", "k8s_namespace", "k8s_pod", "k8s_pod_uid",
                    "k8s_container", "k8s_sandbox")


HOST = Container("host")


def pod_ref(ref):
    """-c NAMESPACE/POD[/CONTAINER] -> (namespace, pod, container or None),
    or None for a reference of another kind (runtimes' names hold no /)."""
    parts = ref.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        return None
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


def ref_matches(ref, container):
    """Does a -c/--wait reference (name, id, id prefix, NAMESPACE/POD,
    NAMESPACE/POD/CONTAINER) name CONTAINER?"""
    if container.kind != "runtime":
        return container.kind == "namespace" and container.id == ref
    pod = pod_ref(ref)
    if pod is not None and container.pod is not None:
        return container.pod.matches(*pod)
    return (container.name == ref or container.id == ref or
            (len(ref) >= 4 and container.id.startswith(ref)))
