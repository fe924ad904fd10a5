#!/usr/bin/env bash
# MailPanel installer for a bare Debian 12 / Ubuntu 24.04 host (README: "Install").
#
#   sudo ./install.sh [--binary PATH] [--listen ADDR:PORT]   install or upgrade
#   sudo ./install.sh --uninstall                            remove the service and binary, keep data
#   sudo ./install.sh --purge [--yes]                        also remove config, database and maildirs
#
# Re-running upgrades the binary and keeps config.env, the database, the maildirs and the API key.
# Every step says what it does; a failure names the step and a re-run picks up from there.
set -Eeuo pipefail

readonly CONFIG_DIR=/etc/backendside-mailpanel
readonly CONFIG=$CONFIG_DIR/config.env
readonly INSTALLED_MARK=$CONFIG_DIR/.installed
readonly BIN=/usr/local/bin/mailpanel
readonly UNIT=/etc/systemd/system/mailpanel.service
readonly DATA_DIR=/var/lib/backendside-mailpanel
readonly VMAIL_DIR=/var/vmail
readonly LOG_FILE=/var/log/mailpanel.log # used only without systemd (with it: journalctl -u mailpanel)
readonly PID_FILE=/run/mailpanel.pid     # used only without systemd
readonly APT_LOG=/var/log/mailpanel-install-apt.log
# spamd: the content filter (the daemon's milter) asks it on 127.0.0.1:783. ClamAV is left to the
# operator (its signatures are a large download): install clamav-daemon and the milter uses
# /run/clamav/clamd.ctl as soon as it is there.
# dbconfig-no-thanks: opendmarc depends on "dbconfig-mysql | dbconfig-no-thanks"; without it apt
# picks the MySQL variant and its database prompts.
readonly PACKAGES=(
  postfix postfix-lmdb
  dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd dovecot-sieve
  opendkim opendkim-tools opendmarc dbconfig-no-thanks
  spamassassin spamd
  certbot curl ca-certificates
)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STEP="start"
MODE=install
BINARY=""
LISTEN_ARG=""
ASSUME_YES=no
NEW_PASSWORD=""

step() {
  STEP=$1
  printf '==> %s\n' "$1"
}
info() { printf '    %s\n' "$*"; }
warn() { printf '    warning: %s\n' "$*" >&2; }
die() {
  printf 'mailpanel install: %s\n' "$*" >&2
  if [ "$STEP" != start ]; then
    printf 'mailpanel install: FAILED at step "%s". Fix the cause and run the same command again.\n' "$STEP" >&2
  fi
  exit 1
}
on_error() {
  local code=$1 line=$2
  [ "$BASH_SUBSHELL" -eq 0 ] || exit "$code" # the parent reports it once
  trap - ERR
  printf '\nmailpanel install: FAILED at step "%s" (exit %s, install.sh line %s).\n' "$STEP" "$code" "$line" >&2
  printf 'Nothing else was changed after that step; fix the cause above and run the same command again.\n' >&2
  exit "$code"
}
trap 'on_error $? $LINENO' ERR

usage() {
  sed -n '3,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

parse_args() {
  while [ $# -gt 0 ]; do
    case $1 in
      --binary) [ $# -ge 2 ] || die "--binary needs a path"; BINARY=$2; shift 2 ;;
      --listen) [ $# -ge 2 ] || die "--listen needs ADDR:PORT"; LISTEN_ARG=$2; shift 2 ;;
      --uninstall) MODE=uninstall; shift ;;
      --purge) MODE=purge; shift ;;
      --yes | -y) ASSUME_YES=yes; shift ;;
      --list-packages) MODE=list-packages; shift ;;
      -h | --help) usage; exit 0 ;;
      *) usage >&2; die "unknown argument: $1" ;;
    esac
  done
}

has_systemd() { [ -d /run/systemd/system ]; }

# ---------------------------------------------------------------------------------------------
check_system() {
  step "checking the system (root, Debian 12 / Ubuntu 24.04)"
  [ "$(id -u)" -eq 0 ] || die "run as root (sudo ./install.sh)"
  local id="" version="" pretty=""
  if [ -r /etc/os-release ]; then
    # shellcheck disable=SC1091
    id=$(. /etc/os-release && printf '%s' "${ID:-}")
    # shellcheck disable=SC1091
    version=$(. /etc/os-release && printf '%s' "${VERSION_ID:-}")
    # shellcheck disable=SC1091
    pretty=$(. /etc/os-release && printf '%s' "${PRETTY_NAME:-}")
  fi
  case "$id:$version" in
    debian:12 | ubuntu:24.04) info "$pretty" ;;
    *) die "unsupported system '${pretty:-unknown}': MailPanel installs on Debian 12 or Ubuntu 24.04 only" ;;
  esac
  if has_systemd; then
    info "systemd is PID 1: the services are enabled and started as systemd units"
  else
    info "systemd is not running (container or chroot): the daemons are started directly, without units,"
    info "and do not come back after a reboot"
  fi
}

install_packages() {
  step "installing the mail stack with apt (${PACKAGES[*]})"
  export DEBIAN_FRONTEND=noninteractive
  # "No configuration": MailPanel renders main.cf itself; the Debian wizard must not write one.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq || warn "apt-get update failed; using the package lists already on this host"
  if ! apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" </dev/null >"$APT_LOG" 2>&1; then
    tail -n 30 "$APT_LOG" >&2
    die "apt-get install failed (full output in $APT_LOG)"
  fi
  info "installed (apt output in $APT_LOG)"
}

create_users_and_dirs() {
  step "creating the vmail user and the folders (owners and modes)"
  if ! getent group vmail >/dev/null || ! getent passwd vmail >/dev/null; then
    useradd --system --user-group --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin vmail
    info "created system user vmail ($(id -u vmail):$(id -g vmail))"
  else
    info "user vmail exists ($(id -u vmail):$(id -g vmail))"
  fi
  install -d -o root -g root -m 0700 "$CONFIG_DIR" "$DATA_DIR"
  install -d -o root -g root -m 0755 /etc/postfix /etc/dovecot
  install -d -o root -g root -m 0755 /var/spool/postfix                 # queue_directory: root-owned
  install -d -o postfix -g root -m 0700 /var/spool/postfix/private      # Dovecot puts its LMTP/auth sockets here
  install -d -o postfix -g postfix -m 0700 /var/lib/postfix             # data_directory
  install -d -o root -g root -m 0755 /var/lib/dovecot /run/dovecot
  install -d -o vmail -g vmail -m 0700 "$VMAIL_DIR"
  # OpenDKIM runs on the rendered /etc/opendkim/opendkim.conf; its milter socket in /run/opendkim
  # (0750 opendkim:opendkim) is reached by Postfix through the opendkim group, as Debian documents.
  install -d -o root -g root -m 0755 /etc/opendkim /etc/opendkim/keys # before the daemon starts: its ReadWritePaths= binds it
  install -d -o opendkim -g opendkim -m 0750 /run/opendkim
  usermod -a -G opendkim postfix
  # OpenDMARC likewise, on the rendered /etc/opendmarc/opendmarc.conf (Debian's /etc/opendmarc.conf is left alone).
  install -d -o root -g root -m 0755 /etc/opendmarc
  install -d -o opendmarc -g opendmarc -m 0750 /run/opendmarc
  usermod -a -G opendmarc postfix
  if has_systemd; then
    install -d -m 0755 /etc/systemd/system/opendkim.service.d /etc/systemd/system/opendmarc.service.d
    printf '[Service]\nExecStart=\nExecStart=/usr/sbin/opendkim -x /etc/opendkim/opendkim.conf\n' \
      >/etc/systemd/system/opendkim.service.d/mailpanel.conf
    printf '[Service]\nExecStart=\nExecStart=/usr/sbin/opendmarc -c /etc/opendmarc/opendmarc.conf\n' \
      >/etc/systemd/system/opendmarc.service.d/mailpanel.conf
    systemctl daemon-reload
  fi
}

# ---------------------------------------------------------------------------------------------
find_binary() {
  if [ -n "$BINARY" ]; then
    [ -x "$BINARY" ] || die "--binary $BINARY is not an executable file"
  elif [ -x "$HERE/OUT/mailpanel" ]; then
    BINARY=$HERE/OUT/mailpanel
  elif command -v dotnet >/dev/null && [ -f "$HERE/mailpanel.csproj" ]; then
    step "publishing the binary with the .NET SDK (no OUT/mailpanel next to install.sh)"
    apt-get install -y -qq --no-install-recommends clang zlib1g-dev libsqlite3-dev </dev/null
    dotnet publish "$HERE/mailpanel.csproj" -c Release -o "$HERE/OUT"
    BINARY=$HERE/OUT/mailpanel
  else
    die "no binary: pass --binary PATH, put the published OUT/mailpanel next to install.sh, or install the .NET 10 SDK"
  fi
  BINARY=$(cd "$(dirname "$BINARY")" && pwd)/$(basename "$BINARY")
}

install_binary() {
  step "installing the binary to $BIN"
  find_binary
  "$BINARY" --version >/dev/null || die "$BINARY does not run on this host"
  if [ -e "$BIN" ] && cmp -s "$BINARY" "$BIN"; then
    info "$BIN is already this build ($("$BIN" --version))"
  else
    install -m 0755 "$BINARY" "$BIN.new"
    mv -f "$BIN.new" "$BIN" # atomic: a running daemon keeps its old inode until the restart below
    info "installed $("$BIN" --version) from $BINARY"
  fi
}

# Letters and digits only, so `grep ^API_KEY= config.env | cut -d= -f2` reads a key whole.
secret() {
  local s=""
  while [ "${#s}" -lt "$1" ]; do
    s+=$(head -c 512 /dev/urandom | tr -dc 'A-Za-z0-9')
  done
  printf '%s' "${s:0:$1}"
}

write_config() {
  step "writing $CONFIG (mode 0600)"
  umask 077
  if [ -f "$CONFIG" ] && [ -f "$INSTALLED_MARK" ]; then
    info "kept (the API key, JWT secret and admin password are unchanged)"
  elif [ -f "$CONFIG" ]; then
    # A previous run wrote config.env but stopped before it showed the admin password: replace only
    # the password hash, so the new password can be shown at the end of this run.
    NEW_PASSWORD=$(secret 20)
    local hash tmp
    hash=$(printf '%s' "$NEW_PASSWORD" | "$BIN" hash-password)
    tmp=$(mktemp "$CONFIG_DIR/.config.env.XXXXXX")
    grep -v '^ADMIN_PASSWORD_HASH=' "$CONFIG" >"$tmp"
    printf 'ADMIN_PASSWORD_HASH=%s\n' "$hash" >>"$tmp"
    chmod 0600 "$tmp"
    mv -f "$tmp" "$CONFIG"
    info "kept; a new admin password was generated because the previous run never showed one"
  else
    NEW_PASSWORD=$(secret 20)
    local hash tmp
    hash=$(printf '%s' "$NEW_PASSWORD" | "$BIN" hash-password)
    tmp=$(mktemp "$CONFIG_DIR/.config.env.XXXXXX")
    cat >"$tmp" <<EOF
# MailPanel configuration (runtime-contract.md). Written by install.sh; kept on re-runs.
LISTEN=${LISTEN_ARG:-0.0.0.0:8080}
API_KEY=$(secret 40)
ADMIN_USER=admin
ADMIN_PASSWORD_HASH=$hash
JWT_SECRET=$(secret 48)
DATA_DIR=$DATA_DIR
VMAIL_DIR=$VMAIL_DIR
SYSROOT=/
# The mail stack's listeners (Postfix smtpd/submission, Dovecot imap/pop3).
SMTP_LISTEN=0.0.0.0:25
SUBMISSION_LISTEN=0.0.0.0:587
IMAP_LISTEN=0.0.0.0:143
POP3_LISTEN=0.0.0.0:110
EOF
    # Postfix myhostname / Dovecot hostname: the FQDN when the host has one, else the daemon's default.
    local fqdn
    fqdn=$(hostname -f 2>/dev/null || true)
    if [[ $fqdn =~ ^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$ ]]; then
      printf 'MAIL_HOSTNAME=%s\n' "${fqdn,,}" >>"$tmp"
    fi
    chmod 0600 "$tmp"
    mv -f "$tmp" "$CONFIG"
    info "new random API key, JWT secret and admin password"
  fi
  chmod 0600 "$CONFIG"
  chown root:root "$CONFIG"
  if [ -n "$LISTEN_ARG" ] && ! grep -qx "LISTEN=$LISTEN_ARG" "$CONFIG"; then
    warn "--listen ignored: $CONFIG already exists (edit its LISTEN line instead)"
  fi
}

config_value() { sed -n "s/^$1=//p" "$CONFIG" | tail -n 1; }

# The API as seen from this host: 0.0.0.0 / [::] listeners are reached over loopback.
local_api() {
  local listen port host
  listen=$(config_value LISTEN)
  listen=${listen:-0.0.0.0:8080}
  port=${listen##*:}
  host=${listen%:*}
  case $host in
    0.0.0.0 | "") host=127.0.0.1 ;;
    "[::]") host="[::1]" ;;
  esac
  printf 'http://%s:%s' "$host" "$port"
}

# ---------------------------------------------------------------------------------------------
direct_pid() {
  local pid
  [ -f "$PID_FILE" ] || return 1
  pid=$(cat "$PID_FILE")
  [ -n "$pid" ] && [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = mailpanel ] || return 1
  printf '%s' "$pid"
}

stop_direct() {
  local pid
  pid=$(direct_pid) || { rm -f "$PID_FILE"; return 0; }
  kill -TERM "$pid"
  for _ in $(seq 1 150); do
    [ -d "/proc/$pid" ] || break
    sleep 0.1
  done
  [ ! -d "/proc/$pid" ] || die "mailpanel (pid $pid) did not stop within 15 s"
  rm -f "$PID_FILE"
}

# The reference's "self-signed (created by the installer)" certificate, so STARTTLS and 993/995 work
# from the first minute; an upload or POST /tls/issue for MAIL_HOSTNAME takes precedence later.
self_signed_cert() {
  step "creating a self-signed TLS certificate for the mail host name (if none is registered)"
  local said
  said=$("$BIN" --config "$CONFIG" self-signed-cert) || die "mailpanel self-signed-cert failed"
  info "$said"
}

start_daemon() {
  step "starting the MailPanel daemon"
  stop_direct # one started directly by an earlier run without systemd
  if has_systemd; then
    [ -f "$HERE/mailpanel.service" ] || die "mailpanel.service must sit next to install.sh"
    install -m 0644 "$HERE/mailpanel.service" "$UNIT.new"
    mv -f "$UNIT.new" "$UNIT"
    systemctl daemon-reload
    systemctl enable mailpanel.service >/dev/null
    systemctl restart mailpanel.service # Type=notify: returns once the daemon sent READY=1
    info "systemd unit mailpanel.service enabled and (re)started"
  else
    touch "$LOG_FILE"
    chmod 0640 "$LOG_FILE"
    setsid "$BIN" --config "$CONFIG" </dev/null >>"$LOG_FILE" 2>&1 &
    echo $! >"$PID_FILE"
    info "started directly (pid $(cat "$PID_FILE")), logging to $LOG_FILE"
  fi
  wait_health 30 || die "the daemon did not answer $(local_api)/health within 30 s (see $(log_hint))"
  # An answer from some other process on the port does not count: ours must still be running.
  if has_systemd; then
    systemctl is-active --quiet mailpanel.service || die "mailpanel.service is not active (see $(log_hint))"
  else
    direct_pid >/dev/null || die "the daemon exited right after starting (see $LOG_FILE)"
  fi
}

log_hint() { if has_systemd; then echo "journalctl -u mailpanel"; else echo "$LOG_FILE"; fi; }

# Succeeds once /health answers at all (200 healthy, 503 a critical daemon is down).
wait_health() {
  local code
  for _ in $(seq 1 $(($1 * 10))); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$(local_api)/health" || true)
    if [ "$code" = 200 ] || [ "$code" = 503 ]; then return 0; fi
    sleep 0.1
  done
  return 1
}

reconcile() {
  step "reconcile: rendering the Postfix and Dovecot configuration from the database (before Postfix starts)"
  local body code
  body=$(mktemp)
  code=$(curl -s -o "$body" -w '%{http_code}' --max-time 120 -X POST \
    -H "X-API-Key: $(config_value API_KEY)" "$(local_api)/api/v1/system/reconcile" || true)
  if [ "$code" != 200 ]; then
    cat "$body" >&2
    echo >&2
    rm -f "$body"
    die "POST /api/v1/system/reconcile answered ${code:-nothing} (see $(log_hint))"
  fi
  info "$(tr -d '\n' <"$body" | cut -c1-300)"
  rm -f "$body"
  [ -f /etc/postfix/main.cf ] || die "reconcile did not write /etc/postfix/main.cf"
}

postfix_running() { postfix status >/dev/null 2>&1; }
dovecot_running() { pid_file_alive /run/dovecot/master.pid; }

# Runs a daemon-control command with its output in a file, not a pipe: the daemons it forks keep
# their standard streams, and a pipe would never reach end-of-file.
control() {
  local out rc=0
  out=$(mktemp)
  "$@" </dev/null >"$out" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    cat "$out" >&2
    rm -f "$out"
    die "'$*' failed (exit $rc)"
  fi
  rm -f "$out"
}

start_mail_stack() {
  step "starting Dovecot, Postfix, OpenDKIM and OpenDMARC"
  postfix check </dev/null || die "postfix check failed on the rendered configuration"
  if has_systemd; then
    systemctl enable dovecot.service postfix.service opendkim.service opendmarc.service >/dev/null 2>&1
    # restart, not reload: on a first install the units run the Debian defaults, not the rendered files.
    systemctl restart dovecot.service postfix.service
    systemctl restart opendkim.service opendmarc.service || warn "OpenDKIM/OpenDMARC did not start (systemctl status opendkim opendmarc)"
    info "dovecot, postfix, opendkim, opendmarc: enabled and started"
    # spamd: mail is never held for it (a dead spamd means delivered, marked unchecked).
    if systemctl enable --now spamd.service >/dev/null 2>&1; then info "spamd: enabled and started"; else warn "spamd did not start (systemctl status spamd)"; fi
    return
  fi
  # Dovecot first: it creates the LMTP and auth sockets under /var/spool/postfix/private.
  if dovecot_running; then
    control doveadm reload
    info "dovecot: was running, reloaded"
  else
    control dovecot
    info "dovecot: started"
  fi
  if postfix_running; then
    control postfix reload
    info "postfix: was running, reloaded"
  else
    control postfix start
    info "postfix: started"
  fi
  # Judged by the pid files: the init scripts' own "status"/"start" checks go by process name,
  # which can see same-named processes outside a chroot and miss the one inside.
  local name
  for name in opendkim opendmarc; do
    [ -x "/etc/init.d/$name" ] || continue
    if pid_file_alive "/run/$name/$name.pid"; then
      info "$name: running (pid $(cat "/run/$name/$name.pid"))"
      continue
    fi
    # On the rendered configs, not Debian's /etc/opendkim.conf and /etc/opendmarc.conf.
    if [ "$name" = opendkim ]; then
      /usr/sbin/opendkim -x /etc/opendkim/opendkim.conf </dev/null >/dev/null 2>&1 || true
    else
      /usr/sbin/opendmarc -c /etc/opendmarc/opendmarc.conf </dev/null >/dev/null 2>&1 || true
    fi
    for _ in $(seq 1 20); do # the daemon writes its pid file just after it forks
      pid_file_alive "/run/$name/$name.pid" && break
      sleep 0.1
    done
    if pid_file_alive "/run/$name/$name.pid"; then
      info "$name: started (pid $(cat "/run/$name/$name.pid"))"
    else
      warn "$name did not start (/etc/init.d/$name start); nothing uses it until DKIM/DMARC are configured"
    fi
  done
  if [ -x /etc/init.d/spamd ]; then
    /etc/init.d/spamd start </dev/null >/dev/null 2>&1 || warn "spamd did not start (/etc/init.d/spamd start); inbound mail is delivered unchecked until it runs"
  fi
}

pid_file_alive() {
  local pid
  pid=$(cat "$1" 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

final_check() {
  step "checking /health"
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$(local_api)/health" || true)
  case $code in
    200) info "healthy" ;;
    503) warn "/health answers 503: a critical daemon is down (curl $(local_api)/health shows which)" ;;
    *) die "/health answered '${code:-nothing}' (see $(log_hint))" ;;
  esac
}

summary() {
  touch "$INSTALLED_MARK"
  chmod 0600 "$INSTALLED_MARK"
  local port addr
  port=$(config_value LISTEN)
  port=${port##*:}
  addr=$(hostname -I 2>/dev/null | awk '{print $1}' || true)
  cat <<EOF

MailPanel is installed.
  API base URL:  http://${addr:-127.0.0.1}:$port/api/v1   (from this host: $(local_api)/api/v1)
  API key:       in $CONFIG (API_KEY=, root only)
  config:        $CONFIG      data: $DATA_DIR      maildirs: $VMAIL_DIR
  logs:          $(log_hint)
EOF
  if [ -n "$NEW_PASSWORD" ]; then
    cat <<EOF
  admin login:   admin / $NEW_PASSWORD
                 (shown once: only its hash is stored; POST /auth/login)
EOF
  else
    echo "  admin login:   unchanged (the password was shown by the first install)"
  fi
  cat <<EOF

Try it:
  KEY=\$(grep ^API_KEY= $CONFIG | cut -d= -f2)
  curl -s -H "X-API-Key: \$KEY" $(local_api)/api/v1/domains
EOF
}

# ---------------------------------------------------------------------------------------------
stop_and_remove_service() {
  step "stopping and removing the MailPanel service"
  [ "$(id -u)" -eq 0 ] || die "run as root"
  if has_systemd && [ -f "$UNIT" ]; then
    systemctl disable --now mailpanel.service >/dev/null 2>&1 || true
    rm -f "$UNIT"
    systemctl daemon-reload
    info "removed $UNIT"
  fi
  stop_direct
  rm -f "$BIN" "$BIN.new"
  info "removed $BIN"
}

uninstall() {
  stop_and_remove_service
  cat <<EOF

MailPanel's service and binary are removed. Kept: $CONFIG_DIR, $DATA_DIR, $VMAIL_DIR,
the rendered /etc/postfix and /etc/dovecot, and the mail packages (Postfix and Dovecot keep running).
Reinstall with ./install.sh (the same API key and data come back), or remove the data with --purge.
EOF
}

purge() {
  if [ "$ASSUME_YES" != yes ]; then
    printf 'This deletes %s, %s and every mailbox under %s. Type "yes" to continue: ' "$CONFIG_DIR" "$DATA_DIR" "$VMAIL_DIR"
    local answer=""
    read -r answer || true
    [ "$answer" = yes ] || die "purge cancelled; nothing was removed"
  fi
  stop_and_remove_service
  step "removing config, database and maildirs"
  rm -rf "$CONFIG_DIR" "$DATA_DIR" "$VMAIL_DIR" "$LOG_FILE"
  info "removed $CONFIG_DIR $DATA_DIR $VMAIL_DIR"
  echo
  echo "MailPanel is purged. The mail packages (Postfix, Dovecot, OpenDKIM, OpenDMARC, certbot) stay installed;"
  echo "remove them with apt-get purge if nothing else uses them."
}

main() {
  parse_args "$@"
  case $MODE in
    list-packages) printf '%s\n' "${PACKAGES[@]}"; return ;;
    uninstall) uninstall; return ;;
    purge) purge; return ;;
  esac
  check_system
  install_packages
  create_users_and_dirs
  install_binary
  write_config
  self_signed_cert
  start_daemon
  reconcile
  start_mail_stack
  final_check
  summary
}

main "$@"
