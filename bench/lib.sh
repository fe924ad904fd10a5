#!/usr/bin/env bash
# Shared by bench/core.sh and bench/reconcile.sh: a sandbox config.env and the sandbox's own
# Postfix + Dovecot (started directly: no systemd needed). Source it; it defines functions only.

# bench_config FILE WORK SYSROOT API_PORT SMTP SUBMISSION IMAP POP3 KEY HASH
# Writes the daemon's config.env for a sandbox under WORK with every mail port on loopback.
bench_config() {
  cat > "$1" <<CFG
LISTEN=127.0.0.1:$4
API_KEY=$9
ADMIN_PASSWORD_HASH=${10}
JWT_SECRET=bench-secret-0123456789abcdef0123456789
DATA_DIR=$2/data
VMAIL_DIR=$2/vmail
SYSROOT=$3
RATE_LIMIT_API_PER_MIN=100000000
MAIL_HOSTNAME=mail.bench.test
SMTP_LISTEN=127.0.0.1:$5
SUBMISSION_LISTEN=127.0.0.1:$6
IMAP_LISTEN=127.0.0.1:$7
POP3_LISTEN=127.0.0.1:$8
CFG
}

# stack_start SYSROOT: Dovecot and Postfix on the config the daemon rendered there.
stack_start() {
  dovecot -c "$1/etc/dovecot/dovecot.conf" && postfix -c "$1/etc/postfix" start >/dev/null 2>&1
}

# stack_stop SYSROOT: whatever was started, even if the other daemon failed.
stack_stop() {
  postfix -c "$1/etc/postfix" stop >/dev/null 2>&1 || true
  if [ -f "$1/run/dovecot/master.pid" ]; then kill "$(cat "$1/run/dovecot/master.pid")" 2>/dev/null || true; fi
}
