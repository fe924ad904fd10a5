#!/usr/bin/env bash
# Proof of the one-line install under systemd (issue 4), driven by Tests/InstallerTests.cs:
#   systemd-proof.sh BINARY REPO_ROOT
# proof.sh runs install.sh with chroot, so it proves the branch without systemd. This script boots
# the same cached Debian 12 root with systemd as PID 1 (systemd-nspawn --boot, in a network
# namespace of its own with only lo), runs README's line inside it, and checks what only a real
# systemd shows: install.sh takes its systemd branch, mailpanel.service (Type=notify) is active,
# so READY=1 arrived, its hardening is in effect on the running daemon, /health, API -> SMTP ->
# IMAP, a re-run keeps the API key, a reboot of the container brings it all back, --uninstall
# removes the unit.
#
# The host needs root and systemd-nspawn (apt-get install systemd-container); its PID 1 need not be
# systemd: --register=no (no machined or D-Bus to register with) and --keep-unit (no scope to ask
# a host systemd for). Without a host systemd, nspawn makes its payload/ and supervisor/ cgroups
# under the cgroup it was started in, so it is started in a cgroup of its own ($CG), removed on exit
# together with the container, the mounts and the work directory. The cached tarball stays.
# shellcheck disable=SC2015 # `check && check || fail` is meant: fail runs when any check fails
set -Eeuo pipefail
exec 2>&1 # one stream, in order, for the test log
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
exec 3>&1 # that stream, for say() and the cleanup even inside a redirected command

BINARY=$1
REPO=$2
CACHE=${MAILPANEL_TEST_CACHE:-/var/cache/mailpanel-tests}
BASE_TAR=$CACHE/debian12-minbase.tar # shared with proof.sh: same lock, same build
DEBS=$CACHE/debs
MIRROR=http://deb.debian.org/debian
WORK=$(mktemp -d /var/tmp/mailpanel-systemd-proof.XXXXXX)
ROOT=$WORK/root
NAME=mpsysproof$$ # machine name, also the container's host name
CG=mailpanel-systemd-proof-$$
CG_DIRS=()      # our cgroup in every hierarchy nspawn writes to
NSPAWN_PID=""   # systemd-nspawn on the host
LEADER=""       # the container's systemd (PID 1 inside), as a host pid
BG=""           # a step run by interruptible()
STEP=start
now_ms() { local t=${EPOCHREALTIME//[!0-9]/}; echo $((t / 1000)); }
T0=$(now_ms)
secs() { local d=$(($(now_ms) - $1)); echo "$((d / 1000)).$((d % 1000 / 100))"; } # since $1, in s

say() { printf '[systemd-proof %5ss] %s\n' "$(secs "$T0")" "$*" >&3; }
step() {
  STEP=$1
  say "== $1"
}
fail() {
  say "FAIL ($STEP): $*"
  exit 1
}

# Runs a command in the booted container: all its namespaces and its root, a clean environment.
in_ct() {
  [ -n "$LEADER" ] || return 1
  nsenter -t "$LEADER" -a -r -w /usr/bin/env -i \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb "$@"
}

stop_container() { # [GRACE]: systemctl poweroff inside; SIGKILL to nspawn and the container after GRACE s
  [ -n "$NSPAWN_PID" ] || return 0
  local t grace=${1:-30}
  t=$(now_ms)
  in_ct systemctl poweroff >/dev/null 2>&1 || kill -TERM "$NSPAWN_PID" 2>/dev/null || true
  for _ in $(seq 1 $((grace * 10))); do
    kill -0 "$NSPAWN_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$NSPAWN_PID" 2>/dev/null; then
    say "the container did not power off within $grace s: SIGKILL"
    kill -KILL "$NSPAWN_PID" 2>/dev/null || true
    [ -z "$LEADER" ] || kill -KILL "$LEADER" 2>/dev/null || true # ends its whole pid namespace
  fi
  wait "$NSPAWN_PID" 2>/dev/null || true
  NSPAWN_PID=""
  LEADER=""
  say "container stopped in $(secs "$t") s"
}

cleanup() {
  local rc=$?
  trap - EXIT ERR
  set +e
  exec >&3 2>&1
  say "cleanup (exit $rc)"
  # An interrupted step's nsenter goes first. Its child inside the container is not in any unit, so
  # systemd-shutdown would SIGSTOP it, and nsenter stops itself when its child stops; stopped, it
  # never reaps that child, and the container's PID 1 waits for the zombie forever.
  local p
  if [ -n "$BG" ]; then
    for p in "$BG" $(pgrep -P "$BG"); do
      [ "$(cat "/proc/$p/comm" 2>/dev/null)" != nsenter ] || kill -KILL "$p"
    done
  fi
  if [ "$rc" = 0 ]; then stop_container; else stop_container 10; fi
  wait
  local d m pids
  for d in "${CG_DIRS[@]}"; do # whatever is still in our cgroups is the container's
    [ -d "$d" ] || continue
    pids=$(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null)
    # shellcheck disable=SC2086 # one pid per word
    [ -z "$pids" ] || kill -KILL $pids 2>/dev/null
  done
  sleep 0.2
  for d in "${CG_DIRS[@]}"; do # nspawn (and the systemd inside) leave empty cgroups behind
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    [ -d "$d" ] && say "cgroup $d is still there"
  done
  # The host's /run is not a tmpfs here, and nspawn refuses to remove this (empty) directory itself.
  rm -rf "/run/systemd/nspawn/propagate/$NAME"
  for m in $(findmnt -rn -o TARGET | grep -F "$ROOT/" | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m"
  done
  if findmnt -rn -o TARGET | grep -qF "$ROOT"; then
    say "still mounted under $ROOT; leaving $WORK in place"
  else
    rm -rf --one-file-system "$WORK"
  fi
  say "done in $(secs "$T0") s"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM INT
on_err() {
  [ "$BASH_SUBSHELL" -eq 0 ] || exit 1 # reported once, by the parent
  fail "command failed at systemd-proof.sh line $1"
}
trap 'on_err $LINENO' ERR

boot() { # boot N: systemd-nspawn --boot in our cgroup, wait for is-system-running=running
  local log=$WORK/boot-$1.log t state d
  t=$(now_ms)
  for d in "${CG_DIRS[@]}"; do mkdir -p "$d"; done
  # The launcher moves itself into our cgroups, then becomes systemd-nspawn.
  # shellcheck disable=SC2016 # expanded by the launcher
  setsid bash -c 'for d in "${@:2:$1}"; do echo $$ >"$d/cgroup.procs"; done; shift "$(($1 + 1))"; exec "$@"' \
    _ "${#CG_DIRS[@]}" "${CG_DIRS[@]}" \
    systemd-nspawn --boot --directory="$ROOT" --machine="$NAME" --private-network \
    --register=no --keep-unit --console=read-only </dev/null >"$log" 2>&1 &
  NSPAWN_PID=$!
  for _ in $(seq 1 300); do # PID 1's private socket answers once the manager is up
    LEADER=$(pgrep -P "$NSPAWN_PID" -x systemd | head -n 1 || true)
    [ -n "$LEADER" ] && in_ct test -S /run/systemd/private 2>/dev/null && break
    kill -0 "$NSPAWN_PID" 2>/dev/null || { cat "$log"; fail "systemd-nspawn exited"; }
    sleep 0.1
  done
  [ -n "$LEADER" ] || { cat "$log"; fail "no systemd inside the container after 30 s"; }
  state=$(in_ct timeout 60 systemctl is-system-running --wait 2>&1 || true)
  say "boot $1: systemd is PID 1 of the container (host pid $LEADER), is-system-running=$state after $(secs "$t") s"
  if [ "$state" != running ]; then
    in_ct systemctl --failed --no-pager || true
    tail -n 30 "$log"
    fail "the container did not reach 'running' ($state)"
  fi
}

api() { # METHOD PATH [JSON] -> body; fails unless 2xx
  local out
  out=$(in_ct curl -sS --fail-with-body -X "$1" -H "X-API-Key: $KEY" -H 'Content-Type: application/json' \
    ${3:+--data "$3"} "http://127.0.0.1:8080$2") || fail "$1 $2 -> $out"
  printf '%s' "$out"
}
health() { in_ct curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/health || true; }
send_mail() { # SUBJECT: swaks to 127.0.0.1:25 inside the container
  in_ct swaks --silent 2 --server 127.0.0.1:25 --from someone@elsewhere.example --to alice@proof.example \
    --header "Subject: $1" --body "delivered under systemd" || fail "SMTP refused '$1'"
}
read_back() { # SUBJECT: waits up to 15 s for it in alice's INBOX, over IMAP
  local found=""
  for _ in $(seq 1 150); do
    found=$(in_ct curl -s --user 'alice@proof.example:Proof-pass-123' \
      'imap://127.0.0.1/INBOX' -X "SEARCH HEADER SUBJECT $1" || true)
    [[ $found =~ SEARCH\ [0-9] ]] && break
    sleep 0.1
  done
  [[ $found =~ SEARCH\ [0-9] ]] || fail "'$1' not found over IMAP (got: $found)"
  say "IMAP: '$1' is in alice's INBOX (${found//$'\r'/})"
}
all_active() { # UNIT...: every one active, or fail with the states
  local states
  states=$(in_ct systemctl is-active "$@" | paste -sd' ' || true)
  say "systemctl is-active $*: $states"
  [ "$states" = "$(printf 'active %.0s' "$@" | sed 's/ $//')" ] || fail "not all active: $states"
}
# Runs a long command in the background and waits for it, so a SIGTERM (the test's timeout) runs
# the cleanup at once instead of after the command.
interruptible() {
  local rc=0
  "$@" &
  BG=$!
  wait "$BG" || rc=$?
  BG=""
  return "$rc"
}
main_pid() { in_ct systemctl show -P MainPID mailpanel.service; }

# ---------------------------------------------------------------------------------------------
step "host: root, systemd-nspawn, the cgroup hierarchies nspawn writes to"
[ "$(id -u)" = 0 ] || fail "needs root"
command -v systemd-nspawn >/dev/null || fail "no systemd-nspawn: apt-get install systemd-container"
if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then # unified
  CG_DIRS=("/sys/fs/cgroup/$CG")
else # hybrid (this CI machine) or legacy: the name=systemd hierarchy, and the v2 one if mounted
  CG_DIRS=("/sys/fs/cgroup/systemd/$CG")
  [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" != cgroup2fs ] || CG_DIRS+=("/sys/fs/cgroup/unified/$CG")
fi
say "PID 1 is $(cat /proc/1/comm); $(systemd-nspawn --version | head -n 1); our cgroups: ${CG_DIRS[*]}"

step "base root (debootstrap minbase bookworm, cached as $BASE_TAR, shared with proof.sh)"
unpack_base_root

step "systemd (as /sbin/init), dbus, sudo, curl, swaks; the installer's packages downloaded only (host network, chroot)"
cp -n "$DEBS"/*.deb "$ROOT/var/cache/apt/archives/" 2>/dev/null || true
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
mount -t proc proc "$ROOT/proc"
mount --bind /dev "$ROOT/dev"
in_root_online apt-get update -qq
in_root_online apt-get install -y -qq --no-install-recommends systemd systemd-sysv dbus sudo curl swaks >"$WORK/apt.log" 2>&1 ||
  { tail -n 30 "$WORK/apt.log"; fail "apt-get install in the root"; }
mapfile -t PACKAGES < <(bash "$REPO/install.sh" --list-packages)
in_root_online apt-get install -y -qq --no-install-recommends --download-only "${PACKAGES[@]}" >>"$WORK/apt.log" 2>&1 ||
  { tail -n 30 "$WORK/apt.log"; fail "apt-get --download-only in the root"; }
cp -n "$ROOT"/var/cache/apt/archives/*.deb "$DEBS/" 2>/dev/null || true
umount "$ROOT/dev" "$ROOT/proc"
rm -f "$ROOT/etc/resolv.conf" # from here on the root has no network but its own lo

step "copying the bundle (install.sh, mailpanel.service, OUT/mailpanel) to /root/mailpanel; host name $NAME"
install -d "$ROOT/root/mailpanel/OUT"
install -m 0755 "$REPO/install.sh" "$ROOT/root/mailpanel/install.sh"
install -m 0644 "$REPO/mailpanel.service" "$ROOT/root/mailpanel/mailpanel.service"
install -m 0755 "$BINARY" "$ROOT/root/mailpanel/OUT/mailpanel"
echo "$NAME" >"$ROOT/etc/hostname"
printf '127.0.1.1\t%s\n' "$NAME" >>"$ROOT/etc/hosts" # as on a real host (sudo and Postfix look it up)

step "first boot: systemd-nspawn --boot --private-network --register=no --keep-unit"
boot 1

step "README's line inside the booted container: cd /root/mailpanel && sudo ./install.sh"
t=$(now_ms)
if ! interruptible in_ct timeout 600 /bin/bash -c 'cd /root/mailpanel && sudo ./install.sh' >"$WORK/install1.log" 2>&1; then
  cat "$WORK/install1.log"
  fail "install.sh failed"
fi
say "install.sh took $(secs "$t") s; its systemd lines:"
grep -E 'systemd|enabled|healthy' "$WORK/install1.log" | cut -c1-160 | sed 's/^/  | /'
grep -q 'systemd is PID 1: the services are enabled and started as systemd units' "$WORK/install1.log" ||
  fail "install.sh did not take its systemd branch"
grep -q 'systemd unit mailpanel.service enabled and (re)started' "$WORK/install1.log" || fail "install.sh started no unit"
CONFIG=$ROOT/etc/backendside-mailpanel/config.env
KEY=$(grep ^API_KEY= "$CONFIG" | cut -d= -f2)
[[ $KEY =~ ^[A-Za-z0-9]{40}$ ]] || fail "API_KEY is not 40 letters and digits: '$KEY'"

step "units: mailpanel postfix dovecot opendkim opendmarc active and enabled; mailpanel is Type=notify"
all_active mailpanel postfix dovecot opendkim opendmarc
enabled=$(in_ct systemctl is-enabled mailpanel postfix dovecot opendkim opendmarc | paste -sd' ' || true)
[ "$enabled" = "enabled enabled enabled enabled enabled" ] || fail "not all enabled: $enabled"
show=$(in_ct systemctl show mailpanel.service -p Type -p NotifyAccess -p ActiveState -p SubState -p NRestarts \
  -p FragmentPath | sort | paste -sd' ')
say "$show"
[ "$show" = "ActiveState=active FragmentPath=/etc/systemd/system/mailpanel.service NRestarts=0 NotifyAccess=main SubState=running Type=notify" ] ||
  fail "mailpanel.service is not an active Type=notify unit from /etc/systemd/system: $show"
state=$(in_ct systemctl is-system-running || true)
[ "$state" = running ] || { in_ct systemctl --failed --no-pager; fail "is-system-running=$state after the install"; }
# A Type=notify start returns only after READY=1, which the daemon sends once it listens: so
# /health answers at once, with no retry.
t=$(now_ms)
in_ct timeout 60 systemctl restart mailpanel.service || fail "systemctl restart mailpanel (READY=1 within 60 s)"
code=$(health)
say "systemctl restart mailpanel returned after $(secs "$t") s; /health right after it: $code"
[ "$code" = 200 ] || fail "/health answered $code right after systemctl restart returned"
in_ct journalctl -u mailpanel.service -o cat --no-pager | grep -q '^Started mailpanel.service' ||
  fail "the journal has no 'Started mailpanel.service'"

step "hardening in effect on the running daemon (its /proc status and its mount namespace)"
PID=$(main_pid)
[ "$PID" -gt 1 ] || fail "no MainPID"
# The capability mask the unit asks for, from its CapabilityBoundingSet= and setpriv's list of
# capability names (numbered in kernel order).
mapfile -t CAPS < <(setpriv --list-caps)
read -ra WANT_CAPS <<<"$(sed -n 's/^CapabilityBoundingSet=//p' "$REPO/mailpanel.service")"
want=0
for c in "${WANT_CAPS[@]}"; do
  c=${c#CAP_}
  for i in "${!CAPS[@]}"; do [ "${CAPS[$i]}" = "${c,,}" ] && want=$((want | 1 << i)); done
done
want=$(printf '%016x' "$want")
status=$(in_ct grep -E '^(CapBnd|CapEff|NoNewPrivs|Seccomp):' "/proc/$PID/status" | tr '\t' ' ' | paste -sd' ')
say "MainPID $PID: $status (unit's capability set: $want)"
grep -q "CapBnd: $want" <<<"$status" || fail "CapBnd is not the unit's CapabilityBoundingSet ($want)"
grep -q "CapEff: $want" <<<"$status" || fail "CapEff is not the unit's CapabilityBoundingSet ($want)"
grep -q 'NoNewPrivs: 1' <<<"$status" || fail "NoNewPrivileges=yes not in effect"
in_daemon_ns() { in_ct nsenter -t "$PID" -m "$@"; } # the daemon's view of the file system
for p in /usr /etc /var/lib; do # ProtectSystem=strict: read-only outside ReadWritePaths=
  if in_daemon_ns sh -c "touch $p/.systemd-proof && rm $p/.systemd-proof" 2>/dev/null; then
    fail "the daemon can write to $p (ProtectSystem=strict not in effect)"
  fi
done
for p in /etc/postfix /var/vmail /var/lib/backendside-mailpanel; do # its ReadWritePaths=
  in_daemon_ns sh -c "touch $p/.systemd-proof && rm $p/.systemd-proof" || fail "the daemon cannot write to $p"
done
in_daemon_ns test ! -e /root/mailpanel/install.sh || fail "the daemon sees /root (ProtectHome=yes not in effect)"
in_ct touch /tmp/systemd-proof-marker
in_daemon_ns test ! -e /tmp/systemd-proof-marker || fail "the daemon shares /tmp (PrivateTmp=yes not in effect)"
in_ct rm /tmp/systemd-proof-marker
say "ProtectSystem=strict: /usr /etc /var/lib read-only, the ReadWritePaths writable; ProtectHome, PrivateTmp in effect"
# Seccomp filters cannot be read back from /proc, so a oneshot unit with the unit's own hardening
# lines tries the address families and namespaces.
cat >"$ROOT/usr/local/bin/systemd-proof-probe" <<'EOF'
#!/bin/sh
for f in INET:2:1 UNIX:1:1 NETLINK:16:3 PACKET:17:3; do
  n=${f%%:*} r=${f#*:}
  perl -e "socket(my \$s, ${r%%:*}, ${r#*:}, 0) or exit 1" && echo "AF_$n allowed" || echo "AF_$n denied"
done
unshare -U true 2>/dev/null && echo "unshare allowed" || echo "unshare denied"
EOF
chmod 0755 "$ROOT/usr/local/bin/systemd-proof-probe"
{
  printf '[Service]\nType=oneshot\nExecStart=/usr/local/bin/systemd-proof-probe\n'
  grep -E '^(CapabilityBoundingSet|NoNewPrivileges|Protect|ReadWritePaths|Private|Restrict|LockPersonality|SystemCall)' \
    "$ROOT/etc/systemd/system/mailpanel.service"
} >"$ROOT/etc/systemd/system/systemd-proof-probe.service"
in_ct systemctl daemon-reload
in_ct systemctl start systemd-proof-probe.service || fail "the probe unit failed"
probe=$(in_ct journalctl -u systemd-proof-probe.service -o cat --no-pager | grep -E '^(AF_|unshare)' | paste -sd',')
say "probe unit with mailpanel.service's hardening lines: $probe"
[ "$probe" = "AF_INET allowed,AF_UNIX allowed,AF_NETLINK allowed,AF_PACKET denied,unshare denied" ] ||
  fail "RestrictAddressFamilies= / RestrictNamespaces= not in effect: $probe"
rm "$ROOT/etc/systemd/system/systemd-proof-probe.service" "$ROOT/usr/local/bin/systemd-proof-probe"
in_ct systemctl daemon-reload

step "/health, then a domain + mailbox through the API; mail over SMTP (swaks), read back over IMAP (curl)"
code=$(health)
[ "$code" = 200 ] || fail "/health answered $code: $(in_ct curl -s http://127.0.0.1:8080/health)"
domain=$(api POST /api/v1/domains '{"name":"proof.example"}')
domain_id=$(sed -n 's/.*"id":\([0-9]*\).*/\1/p' <<<"$domain" | head -n 1)
api POST /api/v1/mailboxes "{\"domain_id\":$domain_id,\"username\":\"alice\",\"password\":\"Proof-pass-123\"}" >/dev/null
api POST /api/v1/system/reconcile >/dev/null
send_mail systemd-proof-1
read_back systemd-proof-1

step "second run with a new build: restarts the unit on it, keeps the API key, the admin password and the data"
domains_before=$(api GET /api/v1/domains)
pid_before=$(main_pid)
printf 'next-build' >>"$ROOT/root/mailpanel/OUT/mailpanel" # ELF ignores trailing bytes
t=$(now_ms)
if ! interruptible in_ct timeout 600 /bin/bash -c 'cd /root/mailpanel && sudo ./install.sh' >"$WORK/install2.log" 2>&1; then
  cat "$WORK/install2.log"
  fail "the second install.sh run failed"
fi
say "second run took $(secs "$t") s"
grep -q 'systemd unit mailpanel.service enabled and (re)started' "$WORK/install2.log" || fail "the second run started no unit"
grep -q 'admin login: *unchanged' "$WORK/install2.log" || fail "the second run printed a new password"
[ "$(grep ^API_KEY= "$CONFIG" | cut -d= -f2)" = "$KEY" ] || fail "the API key changed"
cmp -s "$ROOT/root/mailpanel/OUT/mailpanel" "$ROOT/usr/local/bin/mailpanel" || fail "the binary was not upgraded"
[ "$(main_pid)" != "$pid_before" ] || fail "mailpanel.service was not restarted on the new binary"
all_active mailpanel postfix dovecot
[ "$(api GET /api/v1/domains)" = "$domains_before" ] || fail "the domains changed across the re-run"

step "reboot: poweroff, boot again; the enabled units come back by themselves and mail still flows"
stop_container
boot 2
all_active mailpanel postfix dovecot opendkim opendmarc
code=$(health)
[ "$code" = 200 ] || fail "/health answered $code after the reboot"
[ "$(api GET /api/v1/domains)" = "$domains_before" ] || fail "the domains changed across the reboot"
read_back systemd-proof-1
send_mail systemd-proof-2
read_back systemd-proof-2
say "$(in_ct systemd-analyze | head -n 1)"

step "--uninstall: the unit is stopped, disabled and removed; postfix and dovecot keep running"
in_ct /bin/bash -c 'cd /root/mailpanel && sudo ./install.sh --uninstall' >"$WORK/uninstall.log" 2>&1 ||
  { cat "$WORK/uninstall.log"; fail "--uninstall failed"; }
[ ! -e "$ROOT/etc/systemd/system/mailpanel.service" ] || fail "--uninstall left /etc/systemd/system/mailpanel.service"
[ ! -e "$ROOT/etc/systemd/system/multi-user.target.wants/mailpanel.service" ] || fail "--uninstall left the unit enabled"
load=$(in_ct systemctl show -P LoadState mailpanel.service)
active=$(in_ct systemctl is-active mailpanel.service || true)
[ "$load" = not-found ] && [ "$active" = inactive ] || fail "mailpanel.service after --uninstall: $load, $active"
code=$(health)
[ "$code" = 000 ] || fail "the daemon still answers after --uninstall ($code)"
all_active postfix dovecot
[ -f "$CONFIG" ] || fail "--uninstall removed config.env"

say "PROOF PASSED (systemd as PID 1)"
