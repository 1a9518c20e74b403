"""The JSON Schema documents of the tools' output (ctrace/schemas/, installed
with the package): where they are, and a validator for one of them.

Each tool's <tool>.schema.json refers to common.schema.json beside it by a
relative reference, resolved against the file's own location.  Validating
needs python3-jsonschema (4.x, draft 2020-12), which the tools themselves
do not."""

import json
import os

from ctrace.errors import SetupError

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas")
# containersyscall --seccomp's profile file has a schema of its own.
SECCOMP_PROFILE = "seccomp-profile"


def schema_path(name):
    """The file of NAME's schema (a tool's name, 'common' or SECCOMP_PROFILE)."""
    return os.path.join(SCHEMA_DIR, name + ".schema.json")


def load(name):
    with open(schema_path(name)) as f:
        return json.load(f)


def validator(name):
    """A jsonschema validator for NAME's schema, its references resolved
    from SCHEMA_DIR."""
    try:
        import jsonschema
    except ImportError:
        raise SetupError("validating needs python3-jsonschema (Debian package)")
    path = schema_path(name)
    uri = "file://" + path
    store = {"file://" + schema_path("common"): load("common")}
    schema = load(name)
    resolver = jsonschema.RefResolver(uri, schema, store=store)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, resolver=resolver, format_checker=cls.FORMAT_CHECKER)
