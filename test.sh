#!/usr/bin/env bash
# Runs every test: unit, HTTP against real loopback servers, the published native binary, the
# real mail stack and the installer proof (those two need root and the packages .ci/run installs).
# Ends with a plain "N passed, N failed" line.
set -uo pipefail
cd "$(dirname "$0")"
log=$(mktemp)
dotnet test Tests/Tests.csproj -c Debug --logger "console;verbosity=normal" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# vstest's closing block: "Total tests: N" then "Passed: N" / "Failed: N" / "Skipped: N" lines.
count() { sed -nE "s/^ *$1: *([0-9]+) *$/\\1/p" "$log" | tail -n 1; }
passed=$(count Passed); failed=$(count Failed); skipped=$(count Skipped)
rm -f "$log"
echo "tests: ${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
if [ "$status" -eq 0 ] && [ "${passed:-0}" -eq 0 ]; then
  echo "no test ran" >&2
  exit 1
fi
exit "$status"
