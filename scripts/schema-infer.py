#!/usr/bin/env python3
"""Regenerates docs/schema/*.json from recorded real outputs and the Rust output types.

    DENYCTL_SCHEMA_RECORD=/tmp/samples ./scripts/test.sh     # every -o json a test produces, by kind
    scripts/schema-infer.py /tmp/samples                     # rewrites docs/schema/*.json
    git diff docs/schema                                      # review: a shape change is a new version

How a schema is made (docs/schema/README.md): the fields and types the samples show; for each
object, the Rust struct that serializes it (found by its field names) says which fields may be
absent (`skip_serializing_if`), which may be null (`Option`), and which exist but no sample
showed (allowed, any shape); objects keyed by data (policy documents, context keys, names) are
free-form; no other field is allowed. Then the refinements below (enums, variants) are applied.
"""

import json
import re
import sys

# Objects under these keys hold data, not denyctl's own shape: policy documents, request
# context, claims, maps keyed by policy name.
FREE = {
    "document", "before", "after", "statements", "statement", "policy", "policies_text", "context", "claims",
    "versions_read", "settings", "tags", "Statement", "condition", "Condition", "evaluated", "values",
    "session_tags", "raw", "cloudtrail", "event", "request_parameters", "template", "attributes",
}
FIELD = re.compile(r"^[a-z][a-z0-9_]*$")


class Node:
    def __init__(self):
        self.types = set()
        self.props = {}
        self.counts = {}
        self.nobj = 0
        self.items = None
        self.free = False

    def add(self, v, key=None):
        if v is None:
            self.types.add("null")
        elif isinstance(v, bool):
            self.types.add("boolean")
        elif isinstance(v, int):
            self.types.add("integer")
        elif isinstance(v, float):
            self.types.add("number")
        elif isinstance(v, str):
            self.types.add("string")
        elif isinstance(v, list):
            self.types.add("array")
            if self.items is None:
                self.items = Node()
            for x in v:
                self.items.add(x, key)
        elif isinstance(v, dict):
            self.types.add("object")
            if key in FREE or any(not FIELD.match(k) for k in v):
                self.free = True
                return
            self.nobj += 1
            for k, x in v.items():
                self.props.setdefault(k, Node()).add(x, k)
                self.counts[k] = self.counts.get(k, 0) + 1

    def schema(self):
        types = sorted(self.types)
        if "integer" in types and "number" in types:
            types.remove("integer")
        out = {}
        if types:
            out["type"] = types[0] if len(types) == 1 else types
        if "object" in self.types and not self.free and self.props:
            out["properties"] = {k: n.schema() for k, n in self.props.items()}
            req = [k for k in self.props if self.counts[k] == self.nobj]
            if req:
                out["required"] = req
            out["additionalProperties"] = False
        if "array" in self.types and self.items is not None and self.items.types:
            out["items"] = self.items.schema()
        return out


import glob

# The Rust structs of the workspace: field name -> skip_serializing_if, Option, flatten.
structs={}
for f in glob.glob("crates/**/*.rs",recursive=True)+glob.glob("plugins/**/*.rs",recursive=True):
    L=open(f).read().split("\n"); i=0
    while i<len(L):
        m=re.match(r"(\s*)(?:pub(?:\([a-z]+\))? )?struct (\w+)(?:<[^>]*>)? \{\s*$",L[i])
        if not m: i+=1; continue
        ind,name=m.group(1),m.group(2); fields={}; attrs=""; i+=1
        while i<len(L) and L[i]!=ind+"}":
            s=L[i].strip()
            if s.startswith("#["): attrs+=s
            elif s.startswith("///") or not s: pass
            else:
                fm=re.match(r"(?:pub(?:\([a-z]+\))? )?(?:r#)?([a-z_][a-z0-9_]*): (.*?),?$",s)
                if fm:
                    rn=re.search(r'rename = "([^"]+)"',attrs)
                    fields[rn.group(1) if rn else fm.group(1)]={"skip":"skip_serializing_if" in attrs,"opt":fm.group(2).startswith("Option<"),"flatten":"flatten" in attrs,"ty":fm.group(2)}
                attrs=""
            i+=1
        structs.setdefault(name,[]).append(fields)
def expand(fields,depth=0):
    out=dict(fields)
    for k,v in fields.items():
        if v["flatten"] and depth<2:
            tn=re.findall(r"(\w+)",v["ty"].replace("Option<","").replace("&'a ",""))
            for t in tn:
                for fs in structs.get(t,[]):
                    out.update(expand(fs,depth+1))
    return out
cands=[expand(fs) for v in structs.values() for fs in v]
names=set(); 
for c in cands: names|=set(c)
stats={"matched":0,"fallback":0}



def fix(n):
    if not isinstance(n,dict): return
    props=n.get("properties",{})
    if props:
        keys=set(props)-{"schema_version"}
        best=[c for c in cands if keys<=set(c)]
        best.sort(key=lambda c:len(c))
        if best:
            stats["matched"]+=1
            info=best[0]
            # Fields of the struct no sample showed: allowed, their shape not pinned by a sample.
            for k, v in info.items():
                if k not in props and not v["flatten"]:
                    props[k] = {}

            def skip(k):
                return info.get(k, {}).get("skip", False)

            def opt(k):
                return info.get(k, {}).get("opt", False)
        else:
            # No single struct has these fields (a tagged enum's variants, merged): all optional.
            stats["fallback"] += 1

            def skip(k):
                return True

            def opt(k):
                return True
            n.pop("additionalProperties", None)
        if "required" in n:
            n["required"]=[r for r in n["required"] if not skip(r)]
            if not n["required"]: del n["required"]
        for k,c in props.items():
            if opt(k) and "type" in c:
                t=c["type"]; t=t if isinstance(t,list) else [t]
                if t==["null"]: c.pop("type")
                elif "null" not in t: c["type"]=t+["null"]
            elif "type" in c and c["type"]=="null":
                c.pop("type")
    for c in props.values(): fix(c)
    if "items" in n: fix(n["items"])
    for v in n.get("$defs",{}).values(): fix(v)


DECISION = {"type": "string", "enum": ["allow", "explicit_deny", "implicit_deny"], "description": "AWS's final answer."}
KINDS = {
    "explain": ("denyctl explain -o json", "One explanation (or, for a CloudTrail file with several events, an array of them), offline: what the message says, field by field."),
    "whoami": ("denyctl whoami -o json", "The principal really calling in this runtime (STS GetCallerIdentity), resolved to its role or user."),
    "diagnose": ("denyctl diagnose -o json", "The verdict (flattened: decision, denied_by, layers...) with the request evaluated, the caller, the calls made, hops and warnings."),
    "snapshot": ("denyctl collect -o json", "Every policy layer read for one request (denyctl-snapshot/1): the input of diagnose --snapshot and fix --snapshot."),
    "plan": ("denyctl fix --dry-run -o json", "A plan file: the changes with their before and after, the checks (verification, no_new_access) and the request to replay."),
    "apply": ("denyctl apply -o json", "What apply wrote, per change, and the backup it wrote first."),
    "replay": ("denyctl replay -o json", "The original request sent again as the caller: allowed, denied (with the new denial: the next hop), or not replayed."),
    "rollback": ("denyctl rollback -o json", "What rollback restored, per change."),
    "simulate": ("denyctl simulate -o json", "A verdict for one scenario; each line of simulate --batch is one, or {schema_version, line, error}."),
    "plugin-list": ("denyctl plugin list -o json", "The service plugins, built in and loaded from the plugin path, and the libraries skipped."),
}


def refine(kind, d):
    """What samples cannot show: closed sets of values, variants."""
    if kind == "diagnose":
        d["properties"]["decision"] = DECISION
    if kind == "simulate":
        d["properties"]["decision"] = DECISION
        err = {"type": "object", "properties": {"schema_version": {"const": "1"}, "line": {"type": "integer"}, "error": {"type": "string"}},
               "required": ["schema_version", "line", "error"], "additionalProperties": False}
        return {"$defs": {"verdict": d, "batch_error": err}, "oneOf": [{"$ref": "#/$defs/verdict"}, {"$ref": "#/$defs/batch_error"}]}
    if kind == "plan":
        d["properties"]["status"] = {"type": "string", "enum": ["ready", "refused", "needs_handoff", "unresolved", "already_allowed"], "description": "Only a ready plan may be applied."}
    if kind == "plugin-list":
        d["properties"]["plugins"]["items"]["properties"]["source"] = {"oneOf": [
            {"type": "object", "properties": {"kind": {"const": "builtin"}}, "required": ["kind"], "additionalProperties": False},
            {"type": "object", "properties": {"kind": {"const": "library"}, "path": {"type": "string"}}, "required": ["kind", "path"], "additionalProperties": False},
        ]}
    return d


def main():
    samples = sys.argv[1]
    for kind, (title, description) in KINDS.items():
        root = Node()
        arrays = False
        with open(f"{samples}/{kind}.jsonl") as f:
            for line in f:
                if not line.strip():
                    continue
                v = json.loads(line)
                if isinstance(v, list):
                    arrays = True
                    for x in v:
                        root.add(x)
                else:
                    root.add(v)
        item = root.schema()
        fix(item)
        item["properties"]["schema_version"] = {"const": "1", "description": "The version of this contract; a change to the shape changes it."}
        item["required"] = ["schema_version"] + [r for r in item.get("required", []) if r != "schema_version"]
        body = refine(kind, item)
        if arrays:
            body = {"$defs": {"item": body}, "oneOf": [{"$ref": "#/$defs/item"}, {"type": "array", "items": {"$ref": "#/$defs/item"}}]}
        doc = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"https://denyctl.dev/schema/v1/{kind}.json",
               "title": title, "description": description, **body}
        with open(f"docs/schema/{kind}.json", "w") as out:
            json.dump(doc, out, indent=2)
            out.write("\n")


main()
