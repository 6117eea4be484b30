#!/usr/bin/env python3
"""Checks the floors of docs/ARCHITECTURE.md: every `#include "folder/..."` in a library folder must name a folder
that folder may depend on. Prints each violation (file:line: include) and exits 1 when there is one."""
import os
import re
import sys

# Who may include whom ("reval/" is the generated version header, allowed everywhere).
ALLOWED = {
    "base": {"base"},
    "sandbox": {"base", "sandbox"},
    "kernels": {"base", "kernels"},
    "graders": {"base", "sandbox", "graders"},
    "model": {"base", "kernels", "model"},
    "results": {"base", "results"},
    "tasks": {"base", "tasks"},
    "harness": {"base", "sandbox", "graders", "model", "results", "tasks", "harness"},
    "python": {"base", "sandbox", "graders", "python"},
    "server": {"base", "sandbox", "graders", "server"},
    "cli": {"base", "sandbox", "kernels", "graders", "model", "results", "tasks", "harness", "server", "cli"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_0-9]+)/')


def main(root):
    bad = []
    for folder, allowed in ALLOWED.items():
        top = os.path.join(root, folder)
        for dirpath, _, files in os.walk(top):
            for name in files:
                if not name.endswith((".cpp", ".hpp", ".cu", ".cuh", ".h")):
                    continue
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8") as f:
                    for lineno, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if m and m.group(1) != "reval" and m.group(1) not in allowed:
                            bad.append(f"{os.path.relpath(path, root)}:{lineno}: {line.strip()} "
                                       f"({folder}/ may include only {', '.join(sorted(allowed))})")
    for b in bad:
        print(b)
    print(f"{len(bad)} include(s) across floors")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")))
