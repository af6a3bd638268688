#!/usr/bin/env python3
"""Declares the libraries' current public API after a deliberate change.

Builds the solution, then for each library adds the members the PublicApiAnalyzers report as
undeclared (RS0016) to its PublicAPI.Unshipped.txt and drops the declared members that no longer
exist (RS0017) from its PublicAPI.*.txt (before 1.0 nothing is kept as *REMOVED*). Review the diff.
"""
import collections, os, re, subprocess, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pattern = re.compile(r"(?:error|warning) (RS001[67]): Symbol '(.*)' is (?:not )?part of the declared.*\[(.*\.csproj)\]$")

build = subprocess.run(["dotnet", "build", "ConvVizGpu.sln", "-c", "Release", "--no-incremental", "-p:TreatWarningsAsErrors=false"],
                       cwd=root, capture_output=True, text=True)
added, removed = collections.defaultdict(set), collections.defaultdict(set)
for line in build.stdout.splitlines():
    match = pattern.search(line)
    if match:
        rule, symbol, project = match.groups()
        (added if rule == "RS0016" else removed)[os.path.dirname(project)].add(symbol)

for folder in sorted(set(added) | set(removed)):
    for name in ("PublicAPI.Shipped.txt", "PublicAPI.Unshipped.txt"):
        path = os.path.join(folder, name)
        lines = open(path).read().splitlines()
        kept = [l for l in lines if l not in removed[folder]]
        if name == "PublicAPI.Unshipped.txt":
            header = [l for l in kept if l.startswith("#")]
            kept = header + sorted(set(l for l in kept if not l.startswith("#")) | added[folder])
        open(path, "w").write("\n".join(kept) + "\n")
    print(f"{os.path.relpath(folder, root)}: {len(added[folder])} declared, {len(removed[folder])} dropped")
sys.exit(0)
