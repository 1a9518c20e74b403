"""Installs the ctrace package, the tools, the BPF C sources and the man pages
for /usr/bin/python3 (see `make install`)."""

import glob
import os
import re

from setuptools import setup


def version():
    """ctrace/__init__.py's __version__ (read, not imported: setup.py runs
    before the package is installed)."""
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "ctrace", "__init__.py")) as f:
        return re.search(r'^__version__ = "([^"]+)"$', f.read(), re.M).group(1)


def kbuild_files():
    """bpf_c/kbuild, the kernel tree BCC compiles against (ctrace.bpf.kernel_tree),
    directory by directory."""
    found = []
    for root, _dirs, files in sorted(os.walk("bpf_c/kbuild")):
        if files:
            found.append(("share/ctrace/" + root, sorted(os.path.join(root, f) for f in files)))
    return found


setup(
    name="ctrace",
    version=version(),
    description="Small eBPF tools that answer one question each about the "
                "containers on a Linux host",
    license="Apache-2.0",
    packages=["ctrace", "ctrace.runtimes"],
    # The JSON Schema of each tool's output (ctrace/schema.py).
    package_data={"ctrace": ["schemas/*.schema.json"]},
    scripts=sorted(p for p in glob.glob("tools/container*") if "." not in p.split("/")[-1]),
    data_files=[
        ("share/ctrace/bpf_c", sorted(glob.glob("bpf_c/*.h") + glob.glob("bpf_c/*.c"))),
        ("share/man/man8", sorted(glob.glob("man/man8/*.8"))),
    ] + kbuild_files(),
    python_requires=">=3.9",
)
