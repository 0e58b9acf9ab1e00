"""Compares one client suite's results directly and through the router
(bench/client-suites.sh): prints a Markdown table row and writes the tests
whose outcome differs to a file."""
import json
import sys


def go_results(path):
    out = {}
    with open(path) as f:
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("Test") and e.get("Action") in ("pass", "fail", "skip"):
                out[e["Test"]] = e["Action"]
    return out


def node_results(path):
    out = {}
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return out
    for suite in data.get("testResults", []):
        for t in suite.get("assertionResults", []):
            status = {"passed": "pass", "failed": "fail"}.get(t.get("status"), "skip")
            out[suite.get("name", "").split("/test/")[-1] + " > " + t.get("fullName", t.get("title", ""))] = status
    return out


suite, direct_path, router_path, direct_s, router_s, name, diff_path = sys.argv[1:8]
read = go_results if suite == "go" else node_results
direct, router = read(direct_path), read(router_path)
names = sorted(set(direct) | set(router))
differ = [n for n in names if direct.get(n) != router.get(n)]
with open(diff_path, "w") as f:
    for n in differ:
        f.write(f"{n}: direct {direct.get(n, 'absent')}, router {router.get(n, 'absent')}\n")
passed = lambda r: sum(1 for v in r.values() if v == "pass")
ratio = float(router_s) / float(direct_s) if float(direct_s) else 0
print(f"| {name} | {len(names)} | {passed(direct)} | {passed(router)} | {len(differ)} | {direct_s} s | {router_s} s | {ratio:.2f} × |")
