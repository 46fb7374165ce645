#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine with the .NET 10 SDK: installs what the tests
# need, builds the solution, runs every test project, and prints "N passed, N failed".
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# Servers the end-to-end tests start for real: PostgreSQL for the data tier; and a browser.
need=()
command -v curl >/dev/null 2>&1 || need+=(curl)
# openssl makes certificates the way users do (CA:TRUE by default) in the TLS tests.
command -v openssl >/dev/null 2>&1 || need+=(openssl)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
# The power-cut durability test puts the control plane's data on ext4 on a loop device (needs root).
command -v losetup >/dev/null 2>&1 && command -v mount >/dev/null 2>&1 || need+=(mount)
command -v mkfs.ext4 >/dev/null 2>&1 && command -v e2fsck >/dev/null 2>&1 || need+=(e2fsprogs)
# promtool (Debian's prometheus package) checks deploy/observability's alert rules.
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
# fish and zsh run the scripts of lbctl completion in its tests (bash is there already).
command -v fish >/dev/null 2>&1 || need+=(fish)
command -v zsh >/dev/null 2>&1 || need+=(zsh)
# Debian's Chromium for the dashboard's browser test (Playwright drives it; it downloads no browser).
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
configuration=Release
results="$root/artifacts/test-results"
rm -rf "$results"
mkdir -p "$results"

echo "== build"
if ! dotnet build ControlPlane.sln -c "$configuration" -nologo -v quiet; then
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi

status=0
for project in tests/*/*.Tests.csproj; do
  name=$(basename "$project" .csproj)
  echo "== $name"
  dotnet test "$project" -c "$configuration" --no-build -nologo \
    --logger "trx;LogFileName=$name.trx" --logger "console;verbosity=minimal" \
    --results-directory "$results" || status=1
done

passed=0; failed=0; skipped=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  c=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$c"); f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$c")
  n=$(sed -n 's/.* notExecuted="\([0-9]*\)".*/\1/p' <<<"$c")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${n:-0}))
done
# The figures the end-to-end tests measure (requests sent and failed, writes acknowledged and
# present, times to take a backend out, ...), which dotnet test prints only for failed tests.
echo "== figures reported by the end-to-end tests"
python3 - "$results/EndToEnd.Tests.trx" <<'PY' 2>/dev/null || echo "(no end-to-end results to read)"
import sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
for r in sorted(ET.parse(sys.argv[1]).getroot().iterfind(".//t:UnitTestResult", ns), key=lambda r: r.get("testName")):
    lines = [l.rstrip() for l in r.findtext(".//t:StdOut", default="", namespaces=ns).splitlines() if l.strip()]
    if r.get("outcome") != "Passed" or not lines:
        continue
    print(r.get("testName").rsplit(".", 1)[-1][:100])
    for line in lines[:4]:
        print("    " + line[:160])
PY
# CI shows only the tail of the output: name every failed test (with the first lines of its
# message) just above the closing count.
if [ "$failed" -gt 0 ]; then
  echo "== failed tests"
  python3 - "$results" <<'PY' 2>/dev/null || grep -ho 'testName="[^"]*" [^>]*outcome="Failed"' "$results"/*.trx
import glob, sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
for path in sorted(glob.glob(sys.argv[1] + "/*.trx")):
    for r in ET.parse(path).getroot().iterfind(".//t:UnitTestResult", ns):
        if r.get("outcome") != "Failed":
            continue
        message = [l.strip() for l in r.findtext(".//t:Message", default="", namespaces=ns).strip().splitlines() if l.strip()]
        print(f"FAILED {r.get('testName')} ({r.get('duration')}): {message[0][:300] if message else ''}")
        # Assert.Equal's Expected/Actual lines say more than its first line.
        for line in message[1:4]:
            print(f"    {line[:200]}")
PY
fi
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
  status=1
fi
[ "$status" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
echo "$passed passed, $failed failed, $skipped skipped"
exit "$status"
