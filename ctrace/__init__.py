"""ctrace: small eBPF tools that each answer one question about the
containers on a Linux host."""

# The one place the version lives: setup.py reads it from here, and every
# tool's --version prints it (ctrace.cli.add_common_args).
__version__ = "0.1.0"
