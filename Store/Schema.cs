namespace MailPanel.Store;

/// <summary>
/// Schema and migrations, versioned by PRAGMA user_version. Each entry upgrades from version i to
/// i+1 inside one BEGIN IMMEDIATE transaction; a failure stops start-up with a non-zero exit.
/// </summary>
internal static class Schema
{
    // The three tier rows are seeded with the reference's example values (sections 5-7).
    static readonly string[] Migrations =
    [
        """
        CREATE TABLE domains(
            id           INTEGER PRIMARY KEY,
            name         TEXT NOT NULL UNIQUE,
            active       INTEGER NOT NULL DEFAULT 1,
            outgoing_ip  TEXT NOT NULL DEFAULT '',
            created_at   TEXT NOT NULL);

        CREATE TABLE mailboxes(
            id            INTEGER PRIMARY KEY,
            domain_id     INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
            username      TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            quota         INTEGER NOT NULL DEFAULT 0,
            active        INTEGER NOT NULL DEFAULT 1,
            created_at    TEXT NOT NULL,
            UNIQUE(domain_id, username));

        CREATE TABLE aliases(
            id          INTEGER PRIMARY KEY,
            domain_id   INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
            source      TEXT NOT NULL UNIQUE,
            destination TEXT NOT NULL,
            created_at  TEXT NOT NULL);
        CREATE INDEX aliases_domain ON aliases(domain_id);

        CREATE TABLE global_config(
            id                     INTEGER PRIMARY KEY CHECK (id = 1),
            message_size_limit     INTEGER NOT NULL,
            max_smtpd_connections  INTEGER NOT NULL,
            max_smtpd_rate_per_min INTEGER NOT NULL,
            relay_networks         TEXT NOT NULL,
            tls_min_version        TEXT NOT NULL,
            cipher_policy          TEXT NOT NULL,
            spam_remote_host       TEXT NOT NULL,
            spam_remote_port       INTEGER NOT NULL,
            spam_remote_network    TEXT NOT NULL,
            dnsbl_enabled          INTEGER NOT NULL,
            dnsbl_zones            TEXT NOT NULL,
            greylist_enabled       INTEGER NOT NULL,
            greylist_delay_seconds INTEGER NOT NULL,
            greylist_max_age_days  INTEGER NOT NULL,
            updated_at             TEXT NOT NULL);
        INSERT INTO global_config VALUES(1, 26214400, 100, 600, '127.0.0.0/8 [::1]/128', 'TLSv1.2', 'high',
            '', 783, '', 0, '', 0, 300, 35, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));

        CREATE TABLE domain_defaults(
            id                  INTEGER PRIMARY KEY CHECK (id = 1),
            quota_total_bytes   INTEGER NOT NULL,
            max_mailboxes       INTEGER NOT NULL,
            max_aliases         INTEGER NOT NULL,
            message_size_limit  INTEGER,
            dkim_enabled        INTEGER NOT NULL,
            spf_policy          TEXT NOT NULL,
            dmarc_policy        TEXT NOT NULL,
            spam_threshold      REAL NOT NULL,
            spam_action         TEXT NOT NULL,
            clamav_action       TEXT NOT NULL,
            greylisting_enabled INTEGER NOT NULL,
            require_tls_inbound INTEGER NOT NULL,
            updated_at          TEXT NOT NULL);
        INSERT INTO domain_defaults VALUES(1, 10737418240, 100, 100, NULL, 1, '~all', 'none', 5.0, 'tag',
            'quarantine', 0, 0, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));

        CREATE TABLE mailbox_defaults(
            id                         INTEGER PRIMARY KEY CHECK (id = 1),
            quota_bytes                INTEGER NOT NULL,
            enabled_smtp               INTEGER NOT NULL,
            enabled_imap               INTEGER NOT NULL,
            enabled_pop3               INTEGER NOT NULL,
            max_send_per_day           INTEGER NOT NULL,
            max_recipients_per_message INTEGER NOT NULL,
            message_size_limit         INTEGER,
            spam_threshold             REAL,
            spam_action                TEXT,
            auto_junk_threshold        REAL NOT NULL,
            vacation_enabled           INTEGER NOT NULL,
            vacation_message           TEXT NOT NULL,
            forward_to                 TEXT NOT NULL,
            forward_keep_copy          INTEGER NOT NULL,
            require_tls_client         INTEGER NOT NULL,
            updated_at                 TEXT NOT NULL);
        INSERT INTO mailbox_defaults VALUES(1, 1073741824, 1, 1, 0, 1000, 100, NULL, NULL, NULL, 7.0, 0, '', '',
            1, 0, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));

        CREATE TABLE domain_overrides(
            domain_id           INTEGER PRIMARY KEY REFERENCES domains(id) ON DELETE CASCADE,
            quota_total_bytes   INTEGER,
            max_mailboxes       INTEGER,
            max_aliases         INTEGER,
            message_size_limit  INTEGER,
            dkim_enabled        INTEGER,
            spf_policy          TEXT,
            dmarc_policy        TEXT,
            spam_threshold      REAL,
            spam_action         TEXT,
            clamav_action       TEXT,
            greylisting_enabled INTEGER,
            require_tls_inbound INTEGER);

        CREATE TABLE mailbox_overrides(
            mailbox_id                 INTEGER PRIMARY KEY REFERENCES mailboxes(id) ON DELETE CASCADE,
            enabled_smtp               INTEGER,
            enabled_imap               INTEGER,
            enabled_pop3               INTEGER,
            max_send_per_day           INTEGER,
            max_recipients_per_message INTEGER,
            message_size_limit         INTEGER,
            spam_threshold             REAL,
            spam_action                TEXT,
            auto_junk_threshold        REAL,
            vacation_enabled           INTEGER,
            vacation_message           TEXT,
            forward_to                 TEXT,
            forward_keep_copy          INTEGER,
            require_tls_client         INTEGER);

        CREATE TABLE antispam_whitelist(
            id         INTEGER PRIMARY KEY,
            entry_type TEXT NOT NULL CHECK (entry_type IN ('ip', 'cidr', 'domain', 'email')),
            value      TEXT NOT NULL,
            note       TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            UNIQUE(entry_type, value));

        CREATE TABLE tls_certs(
            id         INTEGER PRIMARY KEY,
            hostname   TEXT NOT NULL,
            cert_path  TEXT NOT NULL,
            key_path   TEXT NOT NULL,
            issuer     TEXT NOT NULL CHECK (issuer IN ('self', 'letsencrypt', 'uploaded')),
            expires_at TEXT,
            created_at TEXT NOT NULL,
            UNIQUE(hostname, issuer));

        CREATE TABLE dkim_keys(
            id               INTEGER PRIMARY KEY,
            domain           TEXT NOT NULL,
            selector         TEXT NOT NULL,
            private_key_path TEXT NOT NULL,
            dns_record       TEXT NOT NULL,
            created_at       TEXT NOT NULL,
            UNIQUE(domain, selector));

        CREATE TABLE api_tokens(
            id           INTEGER PRIMARY KEY,
            name         TEXT NOT NULL UNIQUE,
            token_hash   BLOB NOT NULL,
            created_at   TEXT NOT NULL,
            last_used_at TEXT);

        CREATE TABLE security_settings(
            id                       INTEGER PRIMARY KEY CHECK (id = 1),
            rate_limit_login_per_min INTEGER NOT NULL,
            rate_limit_api_per_min   INTEGER NOT NULL,
            admin_login_whitelist    TEXT NOT NULL,
            api_key_whitelist        TEXT NOT NULL,
            updated_at               TEXT NOT NULL);
        """,
    ];

    public static int Version => Migrations.Length;

    /// <summary>Brings the database to the current version; throws on any failure (start-up exits non-zero).</summary>
    public static void Migrate(Db db)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(db.Path)!);
        using (var connection = db.Open())
        {
            // WAL is a property of the file: set once, it sticks for every later connection.
            connection.Command("PRAGMA journal_mode=WAL;").ExecuteNonQuery();
            var current = (int)connection.Command("PRAGMA user_version;").Scalar();
            if (current > Migrations.Length)
                throw new InvalidOperationException($"database schema version {current} is newer than this binary ({Migrations.Length})");
            for (var version = current; version < Migrations.Length; version++)
            {
                using var tx = connection.BeginTransaction(deferred: false);
                using (var command = connection.Command(Migrations[version])) { command.Transaction = tx; command.ExecuteNonQuery(); }
                using (var command = connection.Command($"PRAGMA user_version = {version + 1};")) { command.Transaction = tx; command.ExecuteNonQuery(); }
                tx.Commit();
            }
        }
    }
}
