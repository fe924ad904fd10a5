#!/usr/bin/env bash
# Proof of the one-line install (issue 4), driven by Tests/InstallerTests.cs:
#   proof.sh BINARY REPO_ROOT
# A fresh Debian 12 root (debootstrap, cached under /var/cache/mailpanel-tests), the published
# binary and install.sh copied in, README's line run with chroot inside a network namespace of our
# own (so ports 25/143/8080 inside cannot collide with anything on this host), then checks over
# the API, SMTP and IMAP from inside that root, a second run, --uninstall and --purge.
# Everything is unmounted and removed on exit, failed or not; the cached tarball stays.
# shellcheck disable=SC2015 # `check && check || fail` is meant: fail runs when any check fails
set -Eeuo pipefail
exec 2>&1 # one stream, in order, for the test log
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

BINARY=$1
REPO=$2
CACHE=${MAILPANEL_TEST_CACHE:-/var/cache/mailpanel-tests}
BASE_TAR=$CACHE/debian12-minbase.tar
DEBS=$CACHE/debs
MIRROR=http://deb.debian.org/debian
NS=mailpanel-proof-$$
WORK=$(mktemp -d /var/tmp/mailpanel-proof.XXXXXX)
ROOT=$WORK/root
T0=$(date +%s)
STEP=start

say() { printf '[proof %4ss] %s\n' "$(($(date +%s) - T0))" "$*"; }
step() {
  STEP=$1
  say "== $1"
}
fail() {
  say "FAIL ($STEP): $*"
  exit 1
}

processes_in_root() {
  local p link
  for p in /proc/[0-9]*; do
    link=$(readlink "$p/root" 2>/dev/null) || continue
    [ "$link" = "$ROOT" ] && printf '%s\n' "${p#/proc/}"
  done
  if [ -e "/run/netns/$NS" ]; then ip netns pids "$NS" 2>/dev/null || true; fi
}

cleanup() {
  local rc=$?
  trap - EXIT ERR
  set +e
  say "cleanup (exit $rc)"
  local pids round
  for round in TERM TERM KILL; do
    pids=$(processes_in_root | sort -u)
    [ -n "$pids" ] || break
    # shellcheck disable=SC2086 # one pid per word
    kill -"$round" $pids 2>/dev/null
    sleep 1
  done
  say "cleanup: processes stopped"
  local m
  for m in $(findmnt -rn -o TARGET | grep -F "$ROOT/" | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m"
  done
  if findmnt -rn -o TARGET | grep -qF "$ROOT/"; then
    say "still mounted under $ROOT; leaving $WORK in place"
  else
    say "cleanup: unmounted"
    rm -rf --one-file-system "$WORK"
  fi
  [ -e "/run/netns/$NS" ] && ip netns del "$NS"
  say "done in $(($(date +%s) - T0)) s"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM INT
on_err() {
  [ "$BASH_SUBSHELL" -eq 0 ] || exit 1 # reported once, by the parent
  fail "command failed at proof.sh line $1"
}
trap 'on_err $LINENO' ERR

# Runs a command in the root: the isolated network namespace, a clean environment.
in_root() {
  nsenter --net="/run/netns/$NS" chroot "$ROOT" /usr/bin/env -i \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb "$@"
}

# ---------------------------------------------------------------------------------------------
step "base root (debootstrap minbase bookworm, cached as $BASE_TAR)"
unpack_base_root

step "mounts and the network namespace $NS"
ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
mount -t proc proc "$ROOT/proc"
mount --bind /dev "$ROOT/dev"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$ROOT/dev/pts" 2>/dev/null || true
# sysfs mounted from inside the namespace shows its interfaces (lo only), not the host's.
nsenter --net="/run/netns/$NS" mount -t sysfs -o ro sysfs "$ROOT/sys"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# As on a real host, the host name resolves (sudo and Postfix look it up).
printf '127.0.1.1\t%s\n' "$(hostname)" >>"$ROOT/etc/hosts"

step "test tools and the installer's packages, downloaded with the host's network"
cp -n "$DEBS"/*.deb "$ROOT/var/cache/apt/archives/" 2>/dev/null || true
in_root_online apt-get update -qq
# sudo: README's line is "sudo ./install.sh"; swaks/curl: the checks below; systemd: systemd-analyze.
in_root_online apt-get install -y -qq --no-install-recommends sudo swaks curl systemd >/dev/null
mapfile -t PACKAGES < <(bash "$REPO/install.sh" --list-packages)
in_root_online apt-get install -y -qq --no-install-recommends --download-only "${PACKAGES[@]}" >/dev/null
cp -n "$ROOT"/var/cache/apt/archives/*.deb "$DEBS/" 2>/dev/null || true
say "cached $(find "$DEBS" -name '*.deb' | wc -l) packages in $DEBS"
rm -f "$ROOT/etc/resolv.conf" # from here on the root has no network at all

step "copying the bundle (install.sh, mailpanel.service, OUT/mailpanel) to /root/mailpanel"
install -d "$ROOT/root/mailpanel/OUT"
install -m 0755 "$REPO/install.sh" "$ROOT/root/mailpanel/install.sh"
install -m 0644 "$REPO/mailpanel.service" "$ROOT/root/mailpanel/mailpanel.service"
install -m 0755 "$BINARY" "$ROOT/root/mailpanel/OUT/mailpanel"

step "refuses a system that is not Debian 12 / Ubuntu 24.04"
cp -a "$ROOT/etc/os-release" "$WORK/os-release"
rm -f "$ROOT/etc/os-release"
printf 'ID=fedora\nVERSION_ID=40\nPRETTY_NAME="Fedora Linux 40"\n' >"$ROOT/etc/os-release"
rc=0
in_root /bin/bash -c 'cd /root/mailpanel && sudo ./install.sh' >"$WORK/refused.log" 2>&1 || rc=$?
cat "$WORK/refused.log"
rm -f "$ROOT/etc/os-release"
cp -a "$WORK/os-release" "$ROOT/etc/os-release"
[ "$rc" -ne 0 ] || fail "install.sh accepted Fedora"
grep -q "unsupported system 'Fedora Linux 40'" "$WORK/refused.log" || fail "no clear refusal message"
[ ! -e "$ROOT/usr/local/bin/mailpanel" ] || fail "a refused install still installed the binary"

step "README's line, run with chroot: cd /root/mailpanel && sudo ./install.sh"
t=$(date +%s)
if ! in_root /bin/bash -c 'cd /root/mailpanel && sudo ./install.sh' 2>&1 | tee "$WORK/install1.log"; then
  fail "install.sh failed"
fi
say "first install took $(($(date +%s) - t)) s"
PASSWORD=$(sed -n 's|^ *admin login: *admin / \([A-Za-z0-9]*\)$|\1|p' "$WORK/install1.log")
[ -n "$PASSWORD" ] || fail "install.sh did not print the admin password"
grep -q "systemd is not running" "$WORK/install1.log" || fail "install.sh did not say it runs without systemd"
grep -q "curl -s -H \"X-API-Key: \$KEY\" http://127.0.0.1:8080/api/v1/domains" "$WORK/install1.log" || fail "no curl to try"
CONFIG=$ROOT/etc/backendside-mailpanel/config.env
[ "$(stat -c '%a %U' "$CONFIG")" = "600 root" ] || fail "config.env is $(stat -c '%a %U' "$CONFIG")"
KEY=$(grep ^API_KEY= "$CONFIG" | cut -d= -f2)
[[ $KEY =~ ^[A-Za-z0-9]{40}$ ]] || fail "API_KEY is not 40 letters and digits: '$KEY'"
grep -qF "$PASSWORD" "$CONFIG" && fail "the plain admin password is stored in config.env"
grep -q '^ADMIN_PASSWORD_HASH={BLF-CRYPT}' "$CONFIG" || fail "no password hash in config.env"
vmail=$(in_root stat -c '%U:%G %a' /var/vmail) # owner names from the root's own /etc/passwd
[ "$vmail" = "vmail:vmail 700" ] || fail "/var/vmail is $vmail"

step "from inside the root: /health, admin login, domain + mailbox through the API"
api() { # METHOD PATH [JSON] -> body; fails unless 2xx
  local out
  out=$(in_root curl -sS --fail-with-body -X "$1" -H "X-API-Key: $KEY" -H 'Content-Type: application/json' \
    ${3:+--data "$3"} "http://127.0.0.1:8080$2") || fail "$1 $2 -> $out"
  printf '%s' "$out"
}
code=$(in_root curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/health)
[ "$code" = 200 ] || fail "/health answered $code: $(in_root curl -s http://127.0.0.1:8080/health)"
login=$(in_root curl -sS --fail-with-body -H 'Content-Type: application/json' \
  --data "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}" http://127.0.0.1:8080/auth/login) || fail "login: $login"
[[ $login == *'"token"'* ]] || fail "login gave no token: $login"
say "admin logged in with the printed password"
domain=$(api POST /api/v1/domains '{"name":"proof.example"}')
domain_id=$(sed -n 's/.*"id":\([0-9]*\).*/\1/p' <<<"$domain" | head -n 1)
api POST /api/v1/mailboxes "{\"domain_id\":$domain_id,\"username\":\"alice\",\"password\":\"Proof-pass-123\"}" >/dev/null
api POST /api/v1/system/reconcile >/dev/null

step "mail over SMTP (swaks to 127.0.0.1:25), read back over IMAP (curl imap://)"
in_root swaks --silent 2 --server 127.0.0.1:25 --from someone@elsewhere.example --to alice@proof.example \
  --header 'Subject: installer-proof-1' --body 'delivered through the installed stack' ||
  fail "SMTP delivery refused"
read_back() { # SUBJECT: waits up to 15 s for it in alice's INBOX
  local found=""
  for _ in $(seq 1 150); do
    found=$(in_root curl -s --user 'alice@proof.example:Proof-pass-123' \
      'imap://127.0.0.1/INBOX' -X "SEARCH HEADER SUBJECT $1" || true)
    [[ $found =~ SEARCH\ [0-9] ]] && break
    sleep 0.1
  done
  [[ $found =~ SEARCH\ [0-9] ]] || fail "'$1' not found over IMAP (got: $found)"
  say "IMAP: '$1' is in alice's INBOX ($found)"
}
read_back installer-proof-1
in_root curl -s --user 'alice@proof.example:Proof-pass-123' 'imap://127.0.0.1/INBOX;UID=1' | grep -q 'delivered through the installed stack' ||
  fail "message body not read back over IMAP"

step "second run with a new build: upgrades the binary, changes nothing else, keeps the API key"
snapshot() { # content hashes of everything the installer or the reconcile owns, minus the binary
  (cd "$ROOT" && find etc/backendside-mailpanel etc/postfix etc/dovecot etc/systemd/system var/vmail \
    -type f -not -path '*/dovecot.index*' -not -name 'dovecot-uidlist' -print0 2>/dev/null |
    sort -z | xargs -0 sha256sum)
  (cd "$ROOT" && find var/vmail -printf '%P %U:%G %m\n' | sort)
  stat -c '%n %u:%g %a' "$ROOT/var/vmail" "$CONFIG" "$ROOT/var/lib/backendside-mailpanel"
}
snapshot >"$WORK/before.txt"
domains_before=$(api GET /api/v1/domains)
pid_before=$(cat "$ROOT/run/mailpanel.pid")
# A new build to upgrade to: the same binary with trailing bytes (ELF ignores them), published to
# the same OUT/mailpanel, so the second run is README's line again.
printf 'next-build' >>"$ROOT/root/mailpanel/OUT/mailpanel"
t=$(date +%s)
if ! in_root /bin/bash -c 'cd /root/mailpanel && sudo ./install.sh' 2>&1 | tee "$WORK/install2.log"; then
  fail "second install.sh run failed"
fi
say "second run took $(($(date +%s) - t)) s"
snapshot >"$WORK/after.txt"
diff -u "$WORK/before.txt" "$WORK/after.txt" || fail "the second run changed files (diff above)"
cmp -s "$ROOT/root/mailpanel/OUT/mailpanel" "$ROOT/usr/local/bin/mailpanel" || fail "the binary was not upgraded"
[ "$(cat "$ROOT/run/mailpanel.pid")" != "$pid_before" ] || fail "the daemon was not restarted on the new binary"
[ "$(grep ^API_KEY= "$CONFIG" | cut -d= -f2)" = "$KEY" ] || fail "the API key changed"
grep -q 'admin login: *unchanged' "$WORK/install2.log" || fail "the second run printed a new password"
for running in 'dovecot: was running' 'postfix: was running' 'opendkim: running' 'opendmarc: running'; do
  grep -q "$running" "$WORK/install2.log" || fail "the second run did not find '$running'"
done
[ "$(api GET /api/v1/domains)" = "$domains_before" ] || fail "the domains changed across the re-run"
in_root swaks --silent 2 --server 127.0.0.1:25 --from someone@elsewhere.example --to alice@proof.example \
  --header 'Subject: installer-proof-2' --body 'after the second run' || fail "SMTP refused after the re-run"
read_back installer-proof-2

step "systemd-analyze verify mailpanel.service (in the root, binary installed)"
if ! in_root systemd-analyze verify /root/mailpanel/mailpanel.service >"$WORK/verify.log" 2>&1; then
  cat "$WORK/verify.log"
  fail "systemd-analyze verify failed"
fi
[ ! -s "$WORK/verify.log" ] || { cat "$WORK/verify.log"; fail "systemd-analyze verify printed warnings"; }

step "--uninstall keeps the data (a reinstall finds it); --purge --yes removes it"
in_root /bin/bash -c 'cd /root/mailpanel && sudo ./install.sh --uninstall'
[ ! -e "$ROOT/usr/local/bin/mailpanel" ] || fail "--uninstall left the binary"
[ -f "$CONFIG" ] && [ -f "$ROOT/var/lib/backendside-mailpanel/mailpanel.db" ] && [ -d "$ROOT/var/vmail/proof.example" ] ||
  fail "--uninstall removed data"
code=$(in_root curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/health || true)
[ "$code" = 000 ] || fail "the daemon still answers after --uninstall ($code)"
if ! in_root /bin/bash -c 'cd /root/mailpanel && sudo ./install.sh' >"$WORK/install3.log" 2>&1; then
  cat "$WORK/install3.log"
  fail "reinstall after --uninstall failed"
fi
[ "$(grep ^API_KEY= "$CONFIG" | cut -d= -f2)" = "$KEY" ] || fail "the API key changed across --uninstall + install"
grep -q 'admin login: *unchanged' "$WORK/install3.log" || fail "the reinstall printed a new admin password"
[ "$(api GET /api/v1/domains)" = "$domains_before" ] || fail "the domains changed across --uninstall + install"
say "reinstall after --uninstall: same API key, password and data"
in_root /bin/bash -c 'cd /root/mailpanel && sudo ./install.sh --uninstall' >/dev/null
rc=0
in_root /bin/bash -c 'cd /root/mailpanel && echo no | sudo ./install.sh --purge' || rc=$?
[ "$rc" -ne 0 ] && [ -f "$CONFIG" ] || fail "--purge without confirmation removed data"
in_root /bin/bash -c 'cd /root/mailpanel && sudo ./install.sh --purge --yes'
[ ! -e "$CONFIG" ] && [ ! -e "$ROOT/var/lib/backendside-mailpanel" ] && [ ! -e "$ROOT/var/vmail" ] || fail "--purge kept data"

say "PROOF PASSED"
