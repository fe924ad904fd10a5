using MailPanel.Core;

namespace MailPanel.Store;

/// <summary>
/// Schema and migrations, versioned by PRAGMA user_version. Each entry upgrades from version i to
/// i+1 inside one BEGIN IMMEDIATE transaction; a failure stops start-up with a non-zero exit.
/// </summary>
internal static class Schema
{
    // The three tier tables and their override tables are made from Core/TierFields.cs, the defaults
    // rows seeded with the reference's example values (sections 5-7); a field added there later is
    // added to existing databases by AddTierColumns.
    static readonly string[] Migrations =
    [
        $"""
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

        {TierSql.Create(TierFields.Global)}
        {TierSql.Create(TierFields.Domain)}
        {TierSql.Create(TierFields.Mailbox)}
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
            AddTierColumns(connection);
            PolicyStore.Create(connection); // runtime state of the policy service, outside the versioned schema
            QuarantineStore.Create(connection); // the milter's withheld messages, likewise
        }
    }

    static void AddTierColumns(Microsoft.Data.Sqlite.SqliteConnection connection)
    {
        using var tx = connection.BeginTransaction(deferred: false);
        foreach (var tier in TierFields.All)
            foreach (var sql in TierSql.AddMissingColumns(connection, tx, tier))
            {
                using var command = connection.Command(sql);
                command.Transaction = tx;
                command.ExecuteNonQuery();
            }
        tx.Commit();
    }
}
