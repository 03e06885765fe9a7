#!/usr/bin/env python3
"""Prints 'N passed, N failed, N skipped' for one or more meson testlog.json files."""
import json
import sys

passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                result = json.loads(line).get("result", "")
                if result in ("OK", "EXPECTEDFAIL"):
                    passed += 1
                elif result == "SKIP":
                    skipped += 1
                else:
                    failed += 1
    except FileNotFoundError:
        failed += 1
        print(f"count-tests: {path} not found (build or test run failed)", file=sys.stderr)
print(f"{passed} passed, {failed} failed, {skipped} skipped")
