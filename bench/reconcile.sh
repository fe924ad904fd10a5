#!/usr/bin/env bash
# Mail-stack figures for README (issue 3, "Speed"). Needs root, Postfix, postfix-lmdb, Dovecot, the vmail user.
#   1. full reconcile of 10,000 domains / 100,000 mailboxes / 50,000 aliases: time and peak RSS
#      (fresh daemon, rendered files removed, one POST /system/reconcile; VmHWM of that process)
#   2. API 201 for a new mailbox -> it can log in over IMAP and receive mail: p50/p95 over N creates,
#      with Postfix + Dovecot running on the rendered config, and the count of postfix reloads.
# Usage: bench/reconcile.sh [path/to/mailpanel] [creates]   (default binary: OUT/mailpanel)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bin=${1:-OUT/mailpanel}
creates=${2:-40}
if [ ! -x "$bin" ]; then dotnet publish mailpanel.csproj -c Release -o OUT >/dev/null; bin=OUT/mailpanel; fi
work=$(mktemp -d /tmp/mailpanel-rbench.XXXXXX); chmod 0755 "$work" # vmail (Dovecot) must reach VMAIL_DIR inside it
root=/tmp/mprb.$$ # short: unix socket paths live under SYSROOT
pid=
cleanup() {
  stack_stop "$root"
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
  sleep 1; rm -rf "$work" "$root"
}
trap cleanup EXIT
port=18941; smtp=18925; sub=18987; imap=18943; pop3=18910
key=bench-key-$RANDOM$RANDOM
hash=$(printf 'bench-pass' | "$bin" hash-password)
bench_config "$work/config.env" "$work" "$root" "$port" "$smtp" "$sub" "$imap" "$pop3" "$key" "$hash"
url=http://127.0.0.1:$port
start() { "$bin" --config "$work/config.env" >"$work/daemon.log" 2>&1 & pid=$!; until curl -s -o /dev/null "$url/health"; do sleep 0.05; done; }
reconcile() { curl -s -X POST -H "X-API-Key: $key" "$url/api/v1/system/reconcile"; }
start

# API 201 -> works: Postfix + Dovecot on the rendered config, then create mailboxes and time until they work.
latency() { # latency <label> <domain_id> <domain name>
reloads_before=$(reconcile | python3 -c 'import sys,json,re; print([re.search(r"postfix reloads since start: (\d+)", l).group(1) for l in json.load(sys.stdin)["log"] if "postfix reloads" in l][0])')
python3 - "$url" "$key" "$smtp" "$imap" "$creates" "$1" "$2" "$3" <<'PY'
import sys, json, time, http.client, urllib.parse, smtplib, imaplib, statistics
url, key, smtp, imap, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
label, domain_id, domain = sys.argv[6], int(sys.argv[7]), sys.argv[8]
u = urllib.parse.urlparse(url)
c = http.client.HTTPConnection(u.hostname, u.port)
h = {"X-API-Key": key, "Content-Type": "application/json"}
login, mail = [], []
for i in range(n):
    user = f"new{label}{i}"; addr = f"{user}@{domain}"
    c.request("POST", "/api/v1/mailboxes", json.dumps({"domain_id": domain_id, "username": user, "password": "S3cret-pass"}), h)
    r = c.getresponse(); r.read(); t0 = time.perf_counter()
    assert r.status == 201, r.status
    # RCPT from outside relay_networks until the maps know the address (no auth penalty, unlike IMAP).
    while True:
        s = smtplib.SMTP("127.0.0.1", smtp, source_address=("127.0.0.5", 0)); s.ehlo("bench.test"); s.mail("x@outside.test")
        code, _ = s.rcpt(addr); s.quit()
        if code == 250: break
        time.sleep(0.05)
    while True:
        try:
            m = imaplib.IMAP4("127.0.0.1", imap); m.login(addr, "S3cret-pass"); break
        except imaplib.IMAP4.error:
            time.sleep(0.05)
    login.append(time.perf_counter() - t0)
    s = smtplib.SMTP("127.0.0.1", smtp); s.sendmail("x@outside.test", [addr], f"Subject: bench {i}\r\n\r\nhello\r\n"); s.quit()
    while int(m.select("INBOX")[1][0]) == 0: time.sleep(0.01)
    m.logout()
    mail.append(time.perf_counter() - t0)
def p95(v): v = sorted(v); return v[min(len(v) - 1, int(round(0.95 * (len(v) - 1))))]
print(f"[{label}] new mailbox, API 201 -> IMAP login works ({n} creates): p50 {statistics.median(login)*1000:.0f} ms, p95 {p95(login)*1000:.0f} ms, max {max(login)*1000:.0f} ms")
print(f"[{label}] new mailbox, API 201 -> a message sent to it is in its INBOX: p50 {statistics.median(mail)*1000:.0f} ms, p95 {p95(mail)*1000:.0f} ms, max {max(mail)*1000:.0f} ms")
PY
reloads_after=$(reconcile | python3 -c 'import sys,json,re; print([re.search(r"postfix reloads since start: (\d+)", l).group(1) for l in json.load(sys.stdin)["log"] if "postfix reloads" in l][0])')
echo "[$1] postfix reloads during the $creates mailbox creates: $((reloads_after - reloads_before))"
}

# Small install first: one domain. The bench polls RCPT from 127.0.0.5, so lift the per-client rate limit.
curl -s -o /dev/null -X POST -H "X-API-Key: $key" -H 'Content-Type: application/json' -d '{"name":"small.example"}' "$url/api/v1/domains"
python3 - "$url" "$key" <<'PY'
import sys, json, urllib.request
url, key = sys.argv[1:3]
g = json.load(urllib.request.urlopen(urllib.request.Request(url + "/api/v1/config/global", headers={"X-API-Key": key})))
g["relay_networks"] = "127.0.0.1/32"; g["max_smtpd_rate_per_min"] = 1000000
req = urllib.request.Request(url + "/api/v1/config/global", data=json.dumps(g).encode(), method="PUT", headers={"X-API-Key": key, "Content-Type": "application/json"})
urllib.request.urlopen(req).read()
PY
reconcile >/dev/null
stack_start "$root"
until (exec 3<>"/dev/tcp/127.0.0.1/$smtp") 2>/dev/null; do sleep 0.1; done
latency small 1 small.example
stack_stop "$root"; sleep 2

# Seed through restore (one transaction), as bench/core.sh does.
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
curl -s -o /dev/null -H "X-API-Key: $key" -H 'Content-Type: application/json' --data-binary @"$work/big.json" "$url/api/v1/backup/restore"
reconcile >/dev/null # let the background reconcile of the restore finish

# 1. Full reconcile in a fresh process, from nothing on disk.
kill "$pid"; wait "$pid" 2>/dev/null || true
rm -rf "$root/etc/postfix" "$root/etc/dovecot"
start
t0=$(date +%s%N); out=$(reconcile); t1=$(date +%s%N)
hwm=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$pid/status")
echo "$out" | python3 -c 'import sys,json; d=json.load(sys.stdin); [print("   ", l) for l in d["log"]]; sys.exit(0 if d.get("message") else 1)'
echo "full reconcile (10,000 domains / 100,000 mailboxes / 50,000 aliases, nothing on disk): $(( (t1 - t0) / 1000000 )) ms wall, daemon peak RSS (VmHWM since start) $hwm MB"
t0=$(date +%s%N); reconcile >/dev/null; t1=$(date +%s%N)
echo "reconcile with nothing changed (same data): $(( (t1 - t0) / 1000000 )) ms"


stack_start "$root"
until (exec 3<>"/dev/tcp/127.0.0.1/$smtp") 2>/dev/null; do sleep 0.1; done
latency big 2 big00001.example
stack_stop "$root"

# 3. The same full reconcile with a DKIM key for every one of the 10,000 domains (issue: DKIM adds
#    <= 0.5 s). One key made through the API, copied to every domain's key path (the reconcile only
#    needs the files to exist), the rows added through restore.
curl -s -o /dev/null -H "X-API-Key: $key" -H 'Content-Type: application/json' -d '{"domain":"big00000.example"}' "$url/api/v1/dkim/generate"
python3 - "$url" "$key" "$work/big.json" "$root" <<'PY'
import sys, json, os, shutil, urllib.request
url, key, path, root = sys.argv[1:5]
doc = json.load(open(path))
rows = json.load(urllib.request.urlopen(urllib.request.Request(url + "/api/v1/backup", headers={"X-API-Key": key})))["dkim_keys"]
first = rows[0]
keys = os.path.join(root, "etc/opendkim/keys")
doc["dkim_keys"] = []
for i in range(10000):
    name = f"big{i:05d}.example"
    p = os.path.join(keys, name, "default.private")
    os.makedirs(os.path.dirname(p), exist_ok=True)
    if p != first["private_key_path"]: shutil.copyfile(first["private_key_path"], p)
    doc["dkim_keys"].append({"id": i + 1, "domain": name, "selector": "default", "private_key_path": p,
                             "dns_record": first["dns_record"].replace("big00000.example", name), "created_at": first["created_at"]})
json.dump(doc, open(path, "w"))
PY
curl -s -o /dev/null -H "X-API-Key: $key" -H 'Content-Type: application/json' --data-binary @"$work/big.json" "$url/api/v1/backup/restore"
reconcile >/dev/null
kill "$pid"; wait "$pid" 2>/dev/null || true
rm -rf "$root/etc/postfix" "$root/etc/dovecot" "$root/etc/opendkim/opendkim.conf" "$root/etc/opendkim/KeyTable" "$root/etc/opendkim/SigningTable"
start
t0=$(date +%s%N); out=$(reconcile); t1=$(date +%s%N)
echo "$out" | python3 -c 'import sys,json; d=json.load(sys.stdin); [print("   ", l) for l in d["log"] if "rendered" in l or "done" in l]; sys.exit(0 if d.get("message") else 1)'
echo "full reconcile, same data plus a DKIM key per domain (10,000 keys, nothing on disk): $(( (t1 - t0) / 1000000 )) ms wall"
