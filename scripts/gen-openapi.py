#!/usr/bin/env python3
"""Generates src/api/openapi_data.c: the OpenAPI schemas and paths k8c serves.

Run by hand at development time (never by the build, never by k8c):

    python3 scripts/gen-openapi.py /path/to/kubernetes-openapi-v2.json

It reads Kubernetes' OpenAPI v2 document (swagger.json of the release k8c follows) and writes
a C file of string literals holding, for the group-versions k8c serves:
  * every definition reachable from those group-versions' paths and kinds, converted to
    OpenAPI 3 form ($ref "#/definitions/X" -> "#/components/schemas/X"; a $ref with sibling
    keys wrapped in allOf, as kube-apiserver's /openapi/v3 does), sorted by name;
  * per group-version: the names of the definitions its document needs (the closure) and its
    "paths" object as OpenAPI 3 (parameters inlined without their long descriptions, request
    bodies and responses as "content" maps; CBOR and watch paths left out);
  * the (apiVersion, kind) -> definition name table.
Descriptions of schemas are kept (kubectl explain prints them) but cut at MAX_DESCRIPTION.

Edit SERVED below when the API server serves another resource, then re-run and commit the
regenerated file together with the change.
"""
import json
import re
import sys

OUT = "src/api/openapi_data.c"
MAX_DESCRIPTION = 100000
CHUNK = 88

# group-version -> resources (and subresources) served: keep in step with the kinds table
# (src/api/kinds.c; tests/unit/api/test_openapi.c checks that every PATCH matches it). A group-version with no resources
# still gets a document with the schemas named in EXTRA_ROOTS (kinds that only appear as
# subresource bodies of other groups: Scale, Eviction, TokenRequest).
SERVED = {
    ("", "v1"): [
        "namespaces", "namespaces/status", "namespaces/finalize",
        "nodes", "nodes/status",
        "pods", "pods/status", "pods/binding", "pods/log", "pods/exec", "pods/attach",
        "pods/portforward", "pods/eviction",
        "services", "services/status",
        "endpoints", "configmaps", "secrets",
        "serviceaccounts", "serviceaccounts/token",
        "events",
        "replicationcontrollers", "replicationcontrollers/status", "replicationcontrollers/scale",
    ],
    ("apps", "v1"): [
        "deployments", "deployments/status", "deployments/scale",
        "replicasets", "replicasets/status", "replicasets/scale",
        "daemonsets", "daemonsets/status",
        "statefulsets", "statefulsets/status", "statefulsets/scale",
    ],
    ("batch", "v1"): ["jobs", "jobs/status", "cronjobs", "cronjobs/status"],
    ("autoscaling", "v2"): ["horizontalpodautoscalers", "horizontalpodautoscalers/status"],
    ("autoscaling", "v1"): [],
    ("coordination.k8s.io", "v1"): ["leases"],
    ("discovery.k8s.io", "v1"): ["endpointslices"],
    ("events.k8s.io", "v1"): ["events"],
    ("networking.k8s.io", "v1"): ["networkpolicies"],
    ("scheduling.k8s.io", "v1"): ["priorityclasses"],
    ("rbac.authorization.k8s.io", "v1"): ["roles", "rolebindings", "clusterroles",
                                          "clusterrolebindings"],
    ("policy", "v1"): [],
    ("authentication.k8s.io", "v1"): [],
    ("authorization.k8s.io", "v1"): ["selfsubjectaccessreviews"],
}
EXTRA_ROOTS = {
    ("autoscaling", "v1"): ["io.k8s.api.autoscaling.v1.Scale"],
    ("policy", "v1"): ["io.k8s.api.policy.v1.Eviction"],
    ("authentication.k8s.io", "v1"): ["io.k8s.api.authentication.v1.TokenRequest"],
    # Every document carries the meta/v1 types kubectl looks up by name.
    None: ["io.k8s.apimachinery.pkg.apis.meta.v1.Status",
           "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
           "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
           "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList"],
}
DROP_CONTENT = ("application/apply-patch+cbor", "application/cbor",
                "application/cbor-seq")


def gv_prefix(group, version):
    return "api/" + version if group == "" else "apis/%s/%s" % (group, version)


def resource_of(path, prefix):
    """'/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale' -> 'deployments/scale'."""
    rest = path[len(prefix) + 1:].strip("/")
    parts = rest.split("/") if rest else []
    if parts[:2] == ["namespaces", "{namespace}"] and len(parts) > 2:
        parts = parts[2:]
    names = [p for p in parts if not p.startswith("{")]
    if not names:
        return None
    return "/".join(names)


def cut(text):
    if len(text) <= MAX_DESCRIPTION:
        return text
    return text[:MAX_DESCRIPTION].rsplit(" ", 1)[0] + " …"


def convert_schema(s, top=True):
    """v2 schema -> OpenAPI 3 schema, as kube-apiserver's /openapi/v3 writes it."""
    if isinstance(s, list):
        return [convert_schema(x, False) for x in s]
    if not isinstance(s, dict):
        return s
    out = {}
    for k, v in s.items():
        if k == "$ref":
            out[k] = v.replace("#/definitions/", "#/components/schemas/")
        elif k == "description" and isinstance(v, str):
            out[k] = cut(v)
        elif k in ("properties", "patternProperties"):
            out[k] = {name: convert_schema(p, False) for name, p in v.items()}
        else:
            out[k] = convert_schema(v, False)
    if "$ref" in out and len(out) > 1:
        ref = out.pop("$ref")
        out = dict([("allOf", [{"$ref": ref}])] + list(out.items()))
    return out


def refs_in(obj, acc):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "$ref" and isinstance(v, str) and v.startswith("#/definitions/"):
                acc.add(v[len("#/definitions/"):])
            else:
                refs_in(v, acc)
    elif isinstance(obj, list):
        for x in obj:
            refs_in(x, acc)


def closure(defs, roots):
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in seen or name not in defs:
            continue
        seen.add(name)
        acc = set()
        refs_in(defs[name], acc)
        todo.extend(acc - seen)
    return seen


def convert_param(p, params):
    if "$ref" in p:
        p = params[p["$ref"].split("/")[-1]]
    q = {"name": p["name"], "in": p["in"]}
    if p.get("required"):
        q["required"] = True
    schema = {"type": p.get("type", "string")}
    if p.get("uniqueItems"):
        schema["uniqueItems"] = True
    q["schema"] = schema
    return q


def convert_operation(op, params):
    out = {}
    for k in ("description", "operationId", "tags"):
        if k in op:
            out[k] = op[k]
    plist, body = [], None
    for p in op.get("parameters", []):
        real = params[p["$ref"].split("/")[-1]] if "$ref" in p else p
        if real["in"] == "body":
            body = real
        else:
            plist.append(convert_param(p, params))
    if plist:
        out["parameters"] = plist
    if body is not None:
        schema = convert_schema(body["schema"])
        types = [c for c in op.get("consumes", ["application/json"]) if c not in DROP_CONTENT]
        if types == ["*/*"]:
            types = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]
        out["requestBody"] = {"content": {c: {"schema": schema} for c in types},
                              "required": bool(body.get("required"))}
    produces = [c for c in op.get("produces", ["application/json"]) if c not in DROP_CONTENT]
    responses = {}
    for code, r in op.get("responses", {}).items():
        rr = {"description": r.get("description", "")}
        if "schema" in r:
            schema = convert_schema(r["schema"])
            rr["content"] = {c: {"schema": schema} for c in produces}
        responses[code] = rr
    out["responses"] = responses
    for k in ("x-kubernetes-action", "x-kubernetes-group-version-kind"):
        if k in op:
            out[k] = op[k]
    return out


def c_string_lines(text):
    """The text as C string literal lines of about CHUNK characters, escapes never split."""
    toks = []
    for ch in text:
        if ch == "\\":
            toks.append("\\\\")
        elif ch == '"':
            toks.append('\\"')
        elif ch == "?":
            toks.append("\\?")  # never form a trigraph
        elif ch == "\n":
            toks.append("\\n")
        elif ord(ch) < 0x20:
            toks.append("\\%03o" % ord(ch))
        else:
            toks.append(ch)
    lines, cur, n = [], [], 0
    for t in toks:
        cur.append(t)
        n += len(t)
        if n >= CHUNK:
            lines.append('"' + "".join(cur) + '"')
            cur, n = [], 0
    if cur or not lines:
        lines.append('"' + "".join(cur) + '"')
    return lines


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/reference/kubernetes-openapi-v2.json"
    with open(src) as f:
        v2 = json.load(f)
    defs, params = v2["definitions"], v2["parameters"]

    gv_docs = []
    all_defs = set()
    for (group, version), resources in SERVED.items():
        prefix = "/" + gv_prefix(group, version)
        paths = {}
        roots = set(EXTRA_ROOTS.get((group, version), [])) | set(EXTRA_ROOTS[None])
        for path in sorted(v2["paths"]):
            if not path.startswith(prefix + "/") or "/watch/" in path:
                continue
            res = resource_of(path, prefix)
            if res not in resources:
                continue
            item = v2["paths"][path]
            new_item = {}
            for method, op in item.items():
                if method == "parameters":
                    continue
                new_item[method] = convert_operation(op, params)
                refs_in(op, roots_acc := set())
                roots |= roots_acc
                for p in op.get("parameters", []):
                    if "$ref" in p:
                        refs_in(params[p["$ref"].split("/")[-1]], roots)
            if "parameters" in item:
                new_item["parameters"] = [convert_param(p, params) for p in item["parameters"]]
            paths[path] = new_item
        # every PATCH must declare fieldValidation on the operation itself (kubectl ignores
        # path-level parameters)
        for path, item in paths.items():
            if "patch" in item:
                names = [p["name"] for p in item["patch"].get("parameters", [])]
                assert "fieldValidation" in names, path
        names = sorted(closure(defs, roots))
        all_defs |= set(names)
        gv_docs.append((group, version, names, paths))

    gvk = []
    for name in sorted(all_defs):
        for k in defs[name].get("x-kubernetes-group-version-kind", []):
            api_version = k["version"] if k["group"] == "" else "%s/%s" % (k["group"], k["version"])
            gvk.append((api_version, k["kind"], name))
    gvk.sort()

    out = []
    w = out.append
    w("/* The OpenAPI schemas and paths k8c serves. GENERATED by scripts/gen-openapi.py from")
    w(" * Kubernetes' OpenAPI v2 document; do not edit by hand, re-run the script. */")
    w("// clang-format off")
    w('#include "api/openapi_data.h"')
    w("")
    w("const struct api__openapi_def api__openapi_defs[] = {")
    for name in sorted(all_defs):
        text = json.dumps(convert_schema(defs[name]), separators=(",", ":"), ensure_ascii=False,
                          sort_keys=False)
        w('    {"%s",' % name)
        for line in c_string_lines(text):
            w("     " + line)
        w("    },")
    w("};")
    w("const size_t api__openapi_n_defs = sizeof(api__openapi_defs) / sizeof(api__openapi_defs[0]);")
    w("")
    w("const struct api__openapi_gvk api__openapi_gvks[] = {")
    for api_version, kind, name in gvk:
        w('    {"%s", "%s", "%s"},' % (api_version, kind, name))
    w("};")
    w("const size_t api__openapi_n_gvks = sizeof(api__openapi_gvks) / sizeof(api__openapi_gvks[0]);")
    w("")
    for i, (group, version, names, paths) in enumerate(gv_docs):
        w("static const char *const gv%d_defs[] = {" % i)
        for name in names:
            w('    "%s",' % name)
        w("    NULL,")
        w("};")
        w("static const char gv%d_paths[] =" % i)
        text = json.dumps(paths, separators=(",", ":"), ensure_ascii=False)
        lines = c_string_lines(text)
        for line in lines[:-1]:
            w("    " + line)
        w("    " + lines[-1] + ";")
        w("")
    w("const struct api__openapi_gv api__openapi_gvs[] = {")
    for i, (group, version, names, paths) in enumerate(gv_docs):
        w('    {"%s", "%s", "%s", gv%d_defs, gv%d_paths},' % (group, version,
                                                             gv_prefix(group, version), i, i))
    w("};")
    w("const size_t api__openapi_n_gvs = sizeof(api__openapi_gvs) / sizeof(api__openapi_gvs[0]);")
    w("// clang-format on")
    with open(OUT, "w") as f:
        f.write("\n".join(out) + "\n")
    size = sum(len(x) + 1 for x in out)
    print("%s: %d definitions, %d group-versions, %d kinds, %.2f MB" %
          (OUT, len(all_defs), len(gv_docs), len(gvk), size / 1e6))


if __name__ == "__main__":
    main()
