#!/usr/bin/env bash
# Policy-service figures for README (issue 11). Needs root, Postfix and Dovecot for part 2.
#   1. load: bench/policy-load (a client that speaks Postfix's policy protocol) with 32 connections
#      against the native binary's socket, 1,000 domains / 10,000 mailboxes seeded, greylisting on:
#      req/s, p50/p99 per request, and the daemon's RSS before and under the load (VmRSS, VmHWM).
#      RUNS runs; each run's line, then the min and median.
#   2. restart: real Postfix asks the daemon on every RCPT of a stream of SMTP sessions (one every
#      ~20 ms from outside relay_networks) while the daemon is restarted (SIGTERM, start again);
#      per restart, how long Postfix answered 4xx and the slowest RCPT.
# Usage: bench/policy.sh [path/to/mailpanel] [RUNS] [SECONDS] [RESTARTS]   (default binary: OUT/mailpanel)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bin=${1:-OUT/mailpanel}
runs=${2:-3}
seconds=${3:-10}
restarts=${4:-5}
if [ ! -x "$bin" ]; then dotnet publish mailpanel.csproj -c Release -o OUT >/dev/null; bin=OUT/mailpanel; fi
work=$(mktemp -d /tmp/mailpanel-pbench.XXXXXX); chmod 0755 "$work"
root=/tmp/mppb.$$ # short: unix socket paths live under SYSROOT
pid=
cleanup() {
  stack_stop "$root"
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
  sleep 1; rm -rf "$work" "$root"
}
trap cleanup EXIT
port=18951; smtp=18935; sub=18997; imap=18953; pop3=18920
key=bench-key-$RANDOM$RANDOM
hash=$(printf 'bench-pass' | "$bin" hash-password)
bench_config "$work/config.env" "$work" "$root" "$port" "$smtp" "$sub" "$imap" "$pop3" "$key" "$hash"
url=http://127.0.0.1:$port
socket=$root/var/spool/postfix/private/mailpanel-policy
start() {
  "$bin" --config "$work/config.env" >>"$work/daemon.log" 2>&1 & pid=$!
  until curl -s -o /dev/null "$url/health"; do sleep 0.05; done
}
api() { curl -sf -X "$1" -H "X-API-Key: $key" -H 'Content-Type: application/json' ${3:+--data-binary "$3"} "$url$2"; }
start

echo "building the load client"
dotnet build bench/policy-load/PolicyLoad.csproj -c Release -o "$work/load" >/dev/null
load=$work/load/policy-load

# Seed through restore (one transaction), as bench/reconcile.sh does: 1,000 domains x 10 mailboxes,
# 100 whitelist entries (the load's whitelisted sender domain is the last).
python3 - "$url" "$key" "$work/seed.json" "$hash" <<'PY'
import sys, json, urllib.request
url, key, path, hash_ = sys.argv[1:5]
doc = json.load(urllib.request.urlopen(urllib.request.Request(url + "/api/v1/backup", headers={"X-API-Key": key})))
t = "2026-05-02T03:11:42Z"
doc["domains"] = [{"id": i + 1, "name": f"big{i:05d}.example", "active": True, "outgoing_ip": "", "created_at": t} for i in range(1000)]
doc["mailboxes"] = [{"id": i + 1, "domain_id": i // 10 + 1, "username": f"user{i % 10}", "password_hash": hash_, "quota": 0, "active": True, "created_at": t} for i in range(10000)]
wl = [("ip", f"203.0.113.{i}") for i in range(30)] + [("cidr", f"10.{i}.0.0/16") for i in range(30)] \
   + [("email", f"partner{i}@partners.example") for i in range(20)] + [("domain", f"trusted{i}.example") for i in range(19)] + [("domain", "friends.example")]
doc["antispam_whitelist"] = [{"id": i + 1, "entry_type": k, "value": v, "note": "", "created_at": t} for i, (k, v) in enumerate(wl)]
for k in ("aliases", "domain_overrides", "mailbox_overrides"): doc[k] = []
json.dump(doc, open(path, "w"))
PY
api POST /api/v1/backup/restore @"$work/seed.json" >/dev/null
# Greylisting on everywhere (1 s delay, so the load's triplets pass after its warm-up); every
# mailbox has a daily cap and a recipient cap, so the submission path reads its count.
python3 - "$url" "$key" <<'PY'
import sys, json, urllib.request
url, key = sys.argv[1:3]
def call(method, path, body=None):
    req = urllib.request.Request(url + path, data=None if body is None else json.dumps(body).encode(), method=method,
                                 headers={"X-API-Key": key, "Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))
a = call("GET", "/api/v1/config/antispam"); a.update(greylist_enabled=True, greylist_delay_seconds=1); call("PUT", "/api/v1/config/antispam", a)
d = call("GET", "/api/v1/config/domain-defaults"); d["greylisting_enabled"] = True; call("PUT", "/api/v1/config/domain-defaults", d)
m = call("GET", "/api/v1/config/mailbox-defaults"); m.update(max_send_per_day=10000000, max_recipients_per_message=100); call("PUT", "/api/v1/config/mailbox-defaults", m)
g = call("GET", "/api/v1/config/global"); g.update(relay_networks="127.0.0.1/32", max_smtpd_rate_per_min=1000000); call("PUT", "/api/v1/config/global", g)
PY
api POST /api/v1/system/reconcile >/dev/null
until [ -S "$socket" ]; do sleep 0.1; done

cpu() { awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) / t}' "/proc/$1/stat"; }
kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
mb() { awk -v v="$1" 'BEGIN {printf "%.1f", v / 1024}'; }
# measure RATE LABEL: one load run against the running daemon, its line and its figures (to $work/LABEL.txt).
measure() {
  local before peak now loadpid hwm line cpu0 cpu1 n
  before=$(kb "$pid" VmRSS)
  cpu0=$(cpu "$pid")
  "$load" "$socket" 32 "$seconds" 1000 1.2 "$1" > "$work/run.txt" &
  loadpid=$!
  peak=$before
  while kill -0 "$loadpid" 2>/dev/null; do
    now=$(kb "$pid" VmRSS); [ "$now" -gt "$peak" ] && peak=$now
    sleep 0.2
  done
  wait "$loadpid" || { cat "$work/run.txt"; echo "load client failed"; exit 1; }
  cpu1=$(cpu "$pid")
  hwm=$(kb "$pid" VmHWM)
  line=$(cat "$work/run.txt")
  # CPU per request: the daemon's user+system time over the run (includes the warm-up's few hundred requests).
  n=$(sed -E 's/^[^:]*: ([0-9]+) requests.*/\1/' "$work/run.txt")
  line="$line; daemon CPU $(awk -v a="$cpu0" -v b="$cpu1" -v n="$n" 'BEGIN {printf "%.0f", (b - a) / n * 1e6}') us/request"
  echo "  $line; RSS before $(mb "$before") MB, under load up to $(mb "$peak") MB (+$(mb $((peak - before))) MB), VmHWM $(mb "$hwm") MB"
  python3 - "$line" "$before" "$peak" >> "$work/$2.txt" <<'PY'
import sys, re
line, before, peak = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
g = lambda p: float(re.search(p, line).group(1))
print(g(r"s: ([\d.]+) req/s"), g(r"p50 ([\d.]+) ms"), g(r"p99 ([\d.]+) ms"), (peak - before) / 1024)
PY
}
for r in $(seq 1 "$runs"); do
  # A fresh daemon per run: the first load (paced at 10,000 req/s) starts from its idle RSS.
  kill "$pid"; wait "$pid" 2>/dev/null || true; start
  until [ -S "$socket" ]; do sleep 0.05; done
  sleep 1
  echo "run $r:"
  measure 10000 paced
  measure 0 unpaced
done
python3 - "$work" <<'PY'
import sys, statistics
for label, title in (("paced", "paced at 10,000 req/s"), ("unpaced", "unpaced (as fast as answers come)")):
    rows = [list(map(float, l.split())) for l in open(f"{sys.argv[1]}/{label}.txt")]
    cols = list(zip(*rows))
    def f(i, d): return f"min {min(cols[i]):.{d}f} / median {statistics.median(cols[i]):.{d}f} / max {max(cols[i]):.{d}f}"
    print(f"{title}, {len(rows)} runs: req/s {f(0, 0)}; p50 {f(1, 2)} ms; p99 {f(2, 2)} ms; RSS added {f(3, 1)} MB")
PY

# 2. Restart with real Postfix asking on every RCPT.
if [ "$(id -u)" != 0 ] || ! command -v postfix >/dev/null || ! command -v dovecot >/dev/null; then
  echo "restart figure skipped: needs root, postfix and dovecot"; exit 0
fi
stack_start "$root"
until (exec 3<>"/dev/tcp/127.0.0.1/$smtp") 2>/dev/null; do sleep 0.1; done
echo "restart: Postfix on 127.0.0.1:$smtp, RCPT from 127.0.0.5 (outside relay_networks) to user0@big00000.example every ~20 ms"
python3 - "$smtp" "$restarts" "$work/restart.txt" <<'PY' &
import sys, smtplib, time, os
port, restarts, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
# Runs until the parent removes the flag file; one SMTP session per probe, so each RCPT is one policy request.
flag = out + ".run"; open(flag, "w").close()
with open(out, "w") as f:
    while os.path.exists(flag):
        t0 = time.time()
        try:
            s = smtplib.SMTP("127.0.0.1", port, source_address=("127.0.0.5", 0), timeout=30)
            s.ehlo("probe.bench.test"); s.mail("probe@sender.example")
            code, _ = s.rcpt("user0@big00000.example"); s.quit()
        except Exception as e:
            code = 0
        t1 = time.time()
        f.write(f"{t0:.4f} {t1:.4f} {code}\n"); f.flush()
        time.sleep(0.02)
PY
probepid=$!
# The probe's triplet passes greylisting first (1 s delay): from then on every RCPT should be 250.
until [ -s "$work/restart.txt" ] && [ "$(tail -n 1 "$work/restart.txt" | cut -d' ' -f3)" = 250 ]; do sleep 0.2; done
sleep 1
: > "$work/restarts.txt"
for r in $(seq 1 "$restarts"); do
  t0=$(date +%s.%N)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  te=$(date +%s.%N)
  "$bin" --config "$work/config.env" >>"$work/daemon.log" 2>&1 & pid=$!
  until [ -S "$socket" ]; do sleep 0.005; done
  t1=$(date +%s.%N)
  echo "$t0 $t1 $te" >> "$work/restarts.txt"
  sleep 4
done
rm -f "$work/restart.txt.run"; wait "$probepid" || true
python3 - "$work/restart.txt" "$work/restarts.txt" <<'PY'
import sys, statistics
probes = [tuple(float(x) for x in l.split()) for l in open(sys.argv[1]) if l.strip()]
restarts = [tuple(float(x) for x in l.split()) for l in open(sys.argv[2])]
gaps, slow, down = [], [], []
for i, (t0, t1, te) in enumerate(restarts):
    near = [p for p in probes if t0 - 1 <= p[0] <= t1 + 3]
    bad = [p for p in near if not 200 <= p[2] < 300]
    # 4xx window: from the first probe answered 4xx to the end of the last one.
    gap = (max(p[1] for p in bad) - min(p[0] for p in bad)) if bad else 0.0
    gaps.append(gap); slow.append(max(p[1] - p[0] for p in near)); down.append(t1 - t0)
    print(f"restart {i + 1}: socket gone {1000 * (t1 - t0):.0f} ms (SIGTERM -> exit {1000 * (te - t0):.0f} ms, start -> new socket {1000 * (t1 - te):.0f} ms), probes {len(near)}, answered 4xx {len(bad)}"
          f" ({sorted(set(int(p[2]) for p in bad))}), 4xx window {1000 * gap:.0f} ms, slowest RCPT session {1000 * slow[-1]:.0f} ms")
print(f"restart, {len(restarts)} restarts: socket gone min {1000 * min(down):.0f} / median {1000 * statistics.median(down):.0f} ms;"
      f" 4xx window min {1000 * min(gaps):.0f} / median {1000 * statistics.median(gaps):.0f} / max {1000 * max(gaps):.0f} ms;"
      f" slowest RCPT session median {1000 * statistics.median(slow):.0f} ms")
PY
