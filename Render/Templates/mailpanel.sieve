# MailPanel's Sieve script, run before each mailbox's own (Pigeonhole sieve_before): edits here are overwritten.
# auto_junk_threshold: mail whose X-Spam-Score (the spam filter's header, one decimal, e.g. 8.3)
# is above the mailbox's threshold is filed into Junk. The threshold comes in tenths from the
# setting sieve_env_mailpanel_junk (dovecot.conf: the mailbox defaults; the users dict: a mailbox
# override), so one script serves every mailbox. "8.3" -> "83"; a negative score never matches.
require ["fileinto", "mailbox", "variables", "relational", "comparator-i;ascii-numeric", "regex", "vnd.dovecot.environment"];

if header :regex "X-Spam-Score" "^([0-9]+)\\.([0-9])$" {
  if string :value "gt" :comparator "i;ascii-numeric" "${1}${2}" "${env.vnd.dovecot.config.mailpanel_junk}" {
    fileinto :create "Junk";
    stop;
  }
}
