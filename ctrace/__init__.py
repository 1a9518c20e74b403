"""ctrace: small eBPF tools that each answer one question about the
containers on a Linux host."""

# The one place the version lives: setup.py reads it from here, and every
# tool's --version prints it (ctrace.cli.add_common_args).
__version__ = "0.1.0"

# What BCC needs that is done in C (dlopen, BTF) starts now, beside the
# tool's imports: ctrace/preload.py.
from ctrace import preload  # noqa: E402

preload.start()
