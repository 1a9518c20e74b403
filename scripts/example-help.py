#!/usr/bin/python3
"""Replace the -h text that ends each tools/<tool>_example.txt with the
tool's current one (BCC's habit; tests/test_docs.py checks it)."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(ROOT, "tools")

for name in sys.argv[1:] or sorted(f for f in os.listdir(TOOLS) if f.startswith("container")
                                   and not f.endswith(".txt")):
    help_text = subprocess.run(["/usr/bin/python3", os.path.join(TOOLS, name), "-h"],
                               capture_output=True, text=True, check=True,
                               env=dict(os.environ, COLUMNS="80")).stdout
    path = os.path.join(TOOLS, name + "_example.txt")
    text = open(path).read()
    cut = text.rfind("usage: %s " % name)
    if cut < 0:
        sys.exit("%s: no 'usage: %s' line to replace" % (path, name))
    with open(path, "w") as f:
        f.write(text[:cut] + help_text)
