"""The output contract: the JSON Schema of each tool's output
(ctrace/schemas/) is well formed, versioned with the package, installed
with it, and describes the same fields as the man page's FIELDS.  (Every
JSON object a test makes a tool print is checked against it in conftest.)"""

import glob
import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT, OutputContract, schema_errors
from test_docs import TOOL_NAMES
from ctrace import __version__, schema, seccomp

jsonschema = pytest.importorskip("jsonschema", reason="python3-jsonschema (make test-deps)")
SCHEMA_NAMES = TOOL_NAMES + ["common", schema.SECCOMP_PROFILE]
# A man page's field names: bold (\% keeps them whole), in FIELDS from its
# "JSON (-j)" paragraph on.
MAN_FIELD = re.compile(r"\\fB(?:\\%)?([a-z][a-z0-9_]*)\\fR")


def man_json_fields(name):
    page = open(os.path.join(ROOT, "man", "man8", name + ".8")).read()
    fields = page.split("\n.SH FIELDS\n", 1)[1].split("\n.SH ", 1)[0]
    return fields[fields.index("\nJSON (\\-j)"):]


def property_names(name):
    """Every property NAME's schema defines, following its references into
    common.schema.json (only the definitions it uses)."""
    docs = {name: schema.load(name), "common": schema.load("common")}
    names, seen = set(), set()

    def walk(node, doc):
        if isinstance(node, list):
            for item in node:
                walk(item, doc)
        elif isinstance(node, dict):
            names.update(node.get("properties", {}))
            ref = node.get("$ref")
            if ref and (doc, ref) not in seen:
                seen.add((doc, ref))
                where, _, pointer = ref.partition("#")
                target = "common" if where == "common.schema.json" else doc
                found = docs[target]
                for part in pointer.strip("/").split("/"):
                    found = found[part]
                walk(found, target)
            for key, value in node.items():
                if key not in ("properties", "$ref"):
                    walk(value, doc)
            for value in node.get("properties", {}).values():
                walk(value, doc)
    walk(docs[name], name)
    return names


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schema_is_valid_and_versioned_with_the_package(name):
    doc = schema.load(name)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(doc)
    assert doc["version"] == __version__


@pytest.mark.parametrize("name", TOOL_NAMES)
def test_man_page_fields_match_the_schema(name):
    documented = set(MAN_FIELD.findall(man_json_fields(name)))
    defined = property_names(name)
    assert defined - documented == set(), "fields the man page's FIELDS does not describe"
    assert documented - defined == set(), "man page describes fields the schema lacks"


@pytest.mark.parametrize("name", TOOL_NAMES)
def test_man_page_names_every_event_type(name):
    text = man_json_fields(name)
    for event in schema.load(name)["properties"]["event"]["enum"]:
        assert '"%s"' % event in text, "event %r not in the man page" % event


@pytest.mark.parametrize("name", TOOL_NAMES)
def test_man_page_and_readme_say_where_the_schema_is(name):
    page = open(os.path.join(ROOT, "man", "man8", name + ".8")).read()
    files = page.split("\n.SH FILES\n", 1)[1].split("\n.SH ", 1)[0]
    assert "ctrace/schemas/%s.schema.json" % name in files
    assert os.path.exists(schema.schema_path(name))
    assert "ctrace/schemas/" in open(os.path.join(ROOT, "README.md")).read()


def test_schemas_are_installed_with_the_package(tmp_path):
    """What setup.py installs holds every schema and every module of the
    package, subpackages (ctrace.runtimes) included (pip, from a copy of the
    sources so that its build files stay out of the tree, into a scratch
    directory)."""
    src = tmp_path / "src"
    for part in ("ctrace", "tools", "bpf_c", "man"):
        shutil.copytree(os.path.join(ROOT, part), str(src / part),
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(os.path.join(ROOT, "setup.py"), str(src))
    r = subprocess.run(["/usr/bin/python3", "-m", "pip", "install", "--no-index",
                        "--no-build-isolation", "--no-deps", "--break-system-packages",
                        "--no-cache-dir", "-q", "--target", str(tmp_path / "site"), str(src)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-1000:]
    installed = {os.path.basename(p) for p in
                 glob.glob(str(tmp_path / "site" / "ctrace" / "schemas" / "*.json"))}
    assert installed == {n + ".schema.json" for n in SCHEMA_NAMES}
    modules = {os.path.relpath(p, ROOT) for p in
               glob.glob(os.path.join(ROOT, "ctrace", "**", "*.py"), recursive=True)}
    site = str(tmp_path / "site")
    assert modules and modules <= {os.path.relpath(p, site) for p in
                                   glob.glob(os.path.join(site, "ctrace", "**", "*.py"),
                                             recursive=True)}


# -- the checker conftest applies to every test's output ---------------------

CONTEXT = {"timestamp": 1765000000.25, "node": "node1", "container": "web",
           "container_id": "0123456789ab", "container_name": "web",
           "container_image": "busybox", "container_runtime": "docker", "host": False,
           "k8s_namespace": None, "k8s_pod": None, "k8s_pod_uid": None,
           "k8s_container": None, "k8s_sandbox": None, "pid": 4242, "tid": 4242,
           "vpid": 7, "ppid": 4200, "uid": 0, "comm": "cat", "cgroup_id": 5555,
           "mntns": 4026532000, "pidns": 4026532001, "netns": 4026532002}
EXIT = dict(CONTEXT, event="exit", exit_code=0, signal=None, lifetime_s=0.5)


def test_a_well_formed_object_passes():
    assert schema_errors("containerexec", EXIT) == []
    assert schema_errors("containerexec", {"event": "lost", "lost": 3, "lost_total": 9,
                                           "node": "node1"}) == []


@pytest.mark.parametrize("change", [
    {"lifetime_s": "0.5"},                  # a wrong type
    {"surprise": 1},                        # a field no one documented
    {"pid": -1},                            # out of range
    {"event": "exec"},                      # another event's fields
    {"signal": "KILL"},                     # not a signal's name
])
def test_a_malformed_object_fails(change):
    assert schema_errors("containerexec", dict(EXIT, **change)) != []


def test_a_missing_field_fails():
    obj = dict(EXIT)
    del obj["node"]
    assert schema_errors("containerexec", obj) != []


def test_output_contract_reports_a_bad_line_and_ignores_text():
    contract = OutputContract("containerexec", ["-j"])
    contract.lines("CONTAINER PID\n{not json\n" + json.dumps(EXIT))
    contract.check()
    contract.line(json.dumps(dict(EXIT, exit_code="0")))
    with pytest.raises(AssertionError, match="exit_code"):
        contract.check()


def test_output_contract_checks_the_seccomp_profile_written(tmp_path):
    path = tmp_path / "p.json"
    contract = OutputContract("containersyscall", ["--seccomp", str(path), "--wait", "web"])
    path.write_text(json.dumps(seccomp.build_profile({"read", "write", "clone"}, arch="x86_64")))
    contract.finished()
    contract.check()
    path.write_text(json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{}]}))
    contract.finished()
    with pytest.raises(AssertionError, match="seccomp|names|action"):
        contract.check()


def test_seccomp_profile_schema_takes_a_merged_profile():
    old = {"defaultAction": "SCMP_ACT_ERRNO", "archMap": [],
           "syscalls": [{"name": "read", "action": "SCMP_ACT_ALLOW"}], "flags": []}
    merged = seccomp.build_profile({"write"}, old=old, arch="x86_64")
    assert schema_errors(schema.SECCOMP_PROFILE, merged) == []
