#!/usr/bin/env bash
# Core figures for README (issue: speed and size). Prints one line per figure.
#   cold start -> first /health answer (median of 11), idle RSS, binary size,
#   GET /api/v1/domains?limit=50 with 10,000 domains under wrk -t2 -c32 (req/s, p99, RSS),
#   backup / restore of 100,000 mailboxes, bcrypt cost and mailbox-create latency.
# Usage: bench/core.sh [path/to/mailpanel]   (default: publishes to OUT/)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
command -v wrk >/dev/null || { echo "installing wrk"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

bin=${1:-OUT/mailpanel}
if [ ! -x "$bin" ]; then dotnet publish mailpanel.csproj -c Release -o OUT >/dev/null; bin=OUT/mailpanel; fi
work=$(mktemp -d /tmp/mailpanel-bench.XXXXXX)
chmod 0755 "$work" # Postfix and Dovecot run parts of themselves as their own users: they must reach SYSROOT
port=18931
key=bench-key-$RANDOM$RANDOM
hash=$(printf 'bench-pass' | "$bin" hash-password)
bench_config "$work/config.env" "$work" "$work/root" "$port" 18825 18887 18843 18810 "$key" "$hash"
url=http://127.0.0.1:$port
sysroot=$work/root

# A running mail stack for this sandbox, so /health can answer 200: the daemon renders the
# config (first reconcile), then Dovecot and Postfix start on the bench's own loopback ports.
stack_up=0
trap 'stack_stop "$sysroot"; kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin" --config "$work/config.env" >/dev/null 2>&1 &
pid=$!
until curl -s -o /dev/null "$url/health"; do sleep 0.05; done
if [ "$(id -u)" = 0 ] && command -v postfix >/dev/null && command -v dovecot >/dev/null \
   && curl -sf -X POST -H "X-API-Key: $key" "$url/api/v1/system/reconcile" >/dev/null; then
  if stack_start "$sysroot"; then stack_up=1; fi
  sleep 1
fi
echo "mail stack for the sandbox: $([ "$stack_up" = 1 ] && echo running || echo 'not running (needs root, postfix, dovecot)')"
kill $pid; wait $pid 2>/dev/null || true

rss_mb() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

echo "binary size: $(du -m "$bin" | cut -f1) MB ($(stat -c %s "$bin") bytes)"

# Cold start: fresh process (database already migrated after the first run) until /health answers.
python3 - "$bin" "$work/config.env" "$url" <<'PY'
import subprocess, sys, time, urllib.request, urllib.error, statistics
binary, config, url = sys.argv[1:4]
times = []; codes = set()
for i in range(11):
    t0 = time.perf_counter()
    p = subprocess.Popen([binary, "--config", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            code = urllib.request.urlopen(url + "/health", timeout=1).status
            break
        except urllib.error.HTTPError as e:
            code = e.code; break
        except Exception:
            time.sleep(0.001)
    times.append((time.perf_counter() - t0) * 1000); codes.add(code)
    p.terminate(); p.wait()
print(f"cold start to first /health answer: median {statistics.median(times):.0f} ms (min {min(times):.0f}, max {max(times):.0f}; status {sorted(codes)})")
PY

"$bin" --config "$work/config.env" >/dev/null 2>&1 &
pid=$!
until curl -s -o /dev/null "$url/health"; do sleep 0.05; done
sleep 1
echo "idle RSS: $(rss_mb $pid) MB"

# 10,000 domains, inserted through the API (the write path the operator uses).
python3 - "$url" "$key" <<'PY'
import sys, json, http.client, urllib.parse
url, key = sys.argv[1:3]
u = urllib.parse.urlparse(url)
c = http.client.HTTPConnection(u.hostname, u.port)
for i in range(10000):
    c.request("POST", "/api/v1/domains", json.dumps({"name": f"d{i:05d}.example"}), {"X-API-Key": key, "Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    if r.status != 201: sys.exit(f"create failed: {r.status}")
PY
echo "seeded 10,000 domains"
wrk -t2 -c32 -d3s -H "X-API-Key: $key" "$url/api/v1/domains?limit=50" >/dev/null # warm-up
wrk -t2 -c32 -d10s --latency -H "X-API-Key: $key" "$url/api/v1/domains?limit=50" > "$work/wrk.txt" &
wrkpid=$!
sleep 5; load_rss=$(rss_mb $pid); wait $wrkpid
echo "GET /api/v1/domains?limit=50, 10,000 domains, wrk -t2 -c32 10s: $(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt") req/s, p99 $(awk '$1=="99%" {print $2}' "$work/wrk.txt"), non-2xx: $(awk '/Non-2xx/ {print $NF}' "$work/wrk.txt" | grep . || echo 0), RSS under load $load_rss MB"

# bcrypt: mailbox create latency (hash + insert + maildir), median of 20.
python3 - "$url" "$key" <<'PY'
import sys, json, time, http.client, urllib.parse, statistics
url, key = sys.argv[1:3]
u = urllib.parse.urlparse(url)
c = http.client.HTTPConnection(u.hostname, u.port)
h = {"X-API-Key": key, "Content-Type": "application/json"}
c.request("POST", "/api/v1/domains", json.dumps({"name": "bcrypt.example"}), h); d = json.loads(c.getresponse().read())
times = []
for i in range(20):
    t0 = time.perf_counter()
    c.request("POST", "/api/v1/mailboxes", json.dumps({"domain_id": d["id"], "username": f"u{i}", "password": "S3cret-pass"}), h)
    r = c.getresponse(); r.read()
    times.append((time.perf_counter() - t0) * 1000)
    assert r.status == 201, r.status
print(f"bcrypt cost 10 ($2b$): mailbox create latency median {statistics.median(times):.0f} ms (min {min(times):.0f}, max {max(times):.0f})")
PY

# DKIM: POST /api/v1/dkim/generate (2048-bit RSA + 0600 key file + row). Keys come from a pool that
# two workers fill from the first request on (Rules/DkimKeyPool.cs): 40 calls back to back (a
# burst: bound by how fast two cores find primes), then 20 calls one second apart (an operator).
python3 - "$url" "$key" <<'PY'
import sys, json, time, http.client, urllib.parse, statistics
url, key = sys.argv[1:3]
u = urllib.parse.urlparse(url)
c = http.client.HTTPConnection(u.hostname, u.port)
h = {"X-API-Key": key, "Content-Type": "application/json"}
def run(label, count, pause, offset):
    times = []
    for i in range(count):
        t0 = time.perf_counter()
        c.request("POST", "/api/v1/dkim/generate", json.dumps({"domain": f"dkim{offset + i}.example", "selector": "default"}), h)
        r = c.getresponse(); r.read()
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status == 201, r.status
        time.sleep(pause)
    q = statistics.quantiles(times, n=20)
    print(f"dkim/generate (2048-bit RSA), {label}: p50 {statistics.median(times):.0f} ms, p95 {q[18]:.0f} ms, max {max(times):.0f} ms")
run("40 back to back from a cold pool", 40, 0, 0)
run("20 one second apart", 20, 1, 100)
PY

# 100,000 mailboxes: build a backup document, restore it, then time a backup of it.
python3 - "$url" "$key" "$work/big.json" "$hash" <<'PY'
import sys, json, urllib.request
url, key, path, hash_ = sys.argv[1:5]
doc = json.load(urllib.request.urlopen(urllib.request.Request(url + "/api/v1/backup", headers={"X-API-Key": key})))
doc["domains"] = [{"id": i + 1, "name": f"big{i:05d}.example", "active": True, "outgoing_ip": "", "created_at": "2026-05-02T03:11:42Z"} for i in range(10000)]
doc["mailboxes"] = [{"id": i + 1, "domain_id": i // 10 + 1, "username": f"user{i % 10}", "password_hash": hash_, "quota": 0, "active": True, "created_at": "2026-05-02T03:11:42Z"} for i in range(100000)]
doc["aliases"] = [{"id": i + 1, "domain_id": i // 5 + 1, "source": f"alias{i % 5}@big{i // 5:05d}.example", "destination": f"user0@big{i // 5:05d}.example", "created_at": "2026-05-02T03:11:42Z"} for i in range(50000)]
for k in ("domain_overrides", "mailbox_overrides"): doc[k] = []
json.dump(doc, open(path, "w"))
PY
echo "restore document: $(du -m "$work/big.json" | cut -f1) MB (10,000 domains, 100,000 mailboxes, 50,000 aliases)"
t0=$(date +%s.%N)
code=$(curl -s -o "$work/restore.out" -w '%{http_code}' -H "X-API-Key: $key" -H 'Content-Type: application/json' --data-binary @"$work/big.json" "$url/api/v1/backup/restore")
t1=$(date +%s.%N)
echo "restore of 100,000 mailboxes: $(echo "$t1 - $t0" | bc) s (HTTP $code: $(cat "$work/restore.out"))"
t0=$(date +%s.%N)
curl -s -o "$work/backup.out" -H "X-API-Key: $key" "$url/api/v1/backup"
t1=$(date +%s.%N)
echo "backup of 100,000 mailboxes: $(echo "$t1 - $t0" | bc) s ($(du -m "$work/backup.out" | cut -f1) MB), RSS after $(rss_mb $pid) MB"
kill $pid; wait $pid 2>/dev/null || true
