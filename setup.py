"""Installs the ctrace package, the tools, the BPF C sources and the man pages
for /usr/bin/python3 (see `make install`)."""

import glob

from setuptools import setup

setup(
    name="ctrace",
    version="0.1.0",
    description="Small eBPF tools that answer one question each about the "
                "containers on a Linux host",
    license="Apache-2.0",
    packages=["ctrace"],
    scripts=sorted(p for p in glob.glob("tools/container*") if "." not in p.split("/")[-1]),
    data_files=[
        ("share/ctrace/bpf_c", sorted(glob.glob("bpf_c/*.h") + glob.glob("bpf_c/*.c"))),
        ("share/man/man8", sorted(glob.glob("man/man8/*.8"))),
    ],
    python_requires=">=3.9",
)
