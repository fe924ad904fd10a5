using Microsoft.Data.Sqlite;

namespace MailPanel.Store;

/// <summary>
/// The SQLite database: WAL, foreign keys on, synchronous=FULL (an acknowledged write survives a
/// power cut). Reads use pooled connections freely; writes go one at a time through
/// <see cref="BeginWrite"/>, which holds an in-process lock and a BEGIN IMMEDIATE transaction, so
/// concurrent writers queue instead of failing with SQLITE_BUSY.
/// </summary>
internal sealed class Db : IDisposable
{
    readonly string connectionString;
    readonly SemaphoreSlim writeLock = new(1, 1);

    public Db(string path)
    {
        connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            ForeignKeys = true,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
    }

    public string Path => new SqliteConnectionStringBuilder(connectionString).DataSource;

    long generation;

    /// <summary>
    /// Counts the commits of <see cref="BeginWrite"/> (every data and config change; all of them go
    /// through this process): a cache of store rows is current while this has not moved.
    /// </summary>
    public long Generation => Interlocked.Read(ref generation);

    public SqliteConnection Open()
    {
        var connection = new SqliteConnection(connectionString);
        connection.Open();
        return connection;
    }

    /// <summary>Opens the one write transaction. Dispose without <see cref="Write.Commit"/> rolls back.</summary>
    public Task<Write> BeginWrite(CancellationToken cancel = default) => Begin(runtime: false, cancel);

    /// <summary>
    /// A write of runtime state (the policy service's counters and greylisting triplets), in the same
    /// queue as every other write but with synchronous=NORMAL: under WAL a commit survives a crash of
    /// the process, and only a power cut may lose the last ones (a few counts), which is worth not
    /// waiting for an fsync per message. It does not move <see cref="Generation"/>.
    /// </summary>
    public Task<Write> BeginRuntimeWrite(CancellationToken cancel = default) => Begin(runtime: true, cancel);

    async Task<Write> Begin(bool runtime, CancellationToken cancel)
    {
        await writeLock.WaitAsync(cancel);
        SqliteConnection? connection = null;
        try
        {
            connection = Open();
            // synchronous is per connection; FULL makes a committed write survive a power cut under WAL.
            connection.Command(runtime ? "PRAGMA synchronous=NORMAL;" : "PRAGMA synchronous=FULL;").ExecuteNonQuery();
            var tx = connection.BeginTransaction(deferred: false); // BEGIN IMMEDIATE
            return new Write(connection, tx, writeLock, runtime ? null : () => Interlocked.Increment(ref generation));
        }
        catch
        {
            connection?.Dispose();
            writeLock.Release();
            throw;
        }
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        writeLock.Dispose();
    }

    internal sealed class Write(SqliteConnection connection, SqliteTransaction transaction, SemaphoreSlim writeLock, Action? committed) : IDisposable
    {
        bool done;

        public SqliteConnection Connection => connection;

        public SqliteCommand Command(string sql, params (string Name, object? Value)[] parameters)
        {
            var command = connection.Command(sql, parameters);
            command.Transaction = transaction;
            return command;
        }

        public void Commit()
        {
            transaction.Commit();
            done = true;
            committed?.Invoke();
        }

        public void Dispose()
        {
            try
            {
                if (!done) transaction.Rollback();
            }
            finally
            {
                transaction.Dispose();
                connection.Dispose();
                writeLock.Release();
            }
        }
    }
}

internal static class SqliteExtensions
{
    public static SqliteCommand Command(this SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return command;
    }

    public static long Scalar(this SqliteCommand command) => Convert.ToInt64(command.ExecuteScalar() ?? 0L, System.Globalization.CultureInfo.InvariantCulture);

    public static string? NullableString(this SqliteDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    public static long? NullableInt64(this SqliteDataReader r, int i) => r.IsDBNull(i) ? null : r.GetInt64(i);

    public static double? NullableDouble(this SqliteDataReader r, int i) => r.IsDBNull(i) ? null : r.GetDouble(i);

    public static bool? NullableBool(this SqliteDataReader r, int i) => r.IsDBNull(i) ? null : r.GetInt64(i) != 0;

    public static bool Bool(this SqliteDataReader r, int i) => r.GetInt64(i) != 0;

    public static List<T> ReadAll<T>(this SqliteCommand command, Func<SqliteDataReader, T> map)
    {
        var list = new List<T>();
        using var reader = command.ExecuteReader();
        while (reader.Read()) list.Add(map(reader));
        return list;
    }

    public static T? ReadOne<T>(this SqliteCommand command, Func<SqliteDataReader, T> map) where T : class
    {
        using var reader = command.ExecuteReader();
        return reader.Read() ? map(reader) : null;
    }
}
