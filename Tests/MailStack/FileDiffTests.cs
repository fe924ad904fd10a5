namespace MailPanel.Tests.MailStack;

/// <summary>Sys/FileDiff: the streaming comparisons behind incremental map updates and the users-dict phases.</summary>
public sealed class FileDiffTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("mailpanel-diff-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    string Write(string name, string text)
    {
        var path = Path.Combine(dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void SameContentComparesBytesAndMissingFilesDiffer()
    {
        var big = new string('x', 200_000);
        Assert.True(FileDiff.SameContent(Write("a", big), Write("b", big)));
        Assert.False(FileDiff.SameContent(Write("c", big), Write("d", big[..^1] + "y")));
        Assert.False(FileDiff.SameContent(Write("e", "x"), Path.Combine(dir, "missing")));
    }

    [Fact]
    public void DiffMapFindsPutsChangesAndDeletesAndIgnoresComments()
    {
        var old = Write("old", "# header\na@x.test x.test/a/\nb@x.test x.test/b/\nc@x.test x.test/c/\n");
        var now = Write("new", "# another header\na@x.test x.test/a/\nb@x.test x.test/B/\nd@x.test x.test/d/\n");
        var delta = FileDiff.DiffMap(old, now, 100)!;
        Assert.Equal(["b@x.test x.test/B/", "d@x.test x.test/d/"], delta.Put);
        Assert.Equal(["c@x.test"], delta.Delete);
        Assert.Equal(0, FileDiff.DiffMap(old, old, 100)!.Count);
    }

    [Fact]
    public void DiffMapWalksTheFilesInTheirKeyOrder()
    {
        // Mailbox maps are in AddressOrder (domain, then local part), not ordinal order.
        var old = Write("old", "z@a.test a\nb@b.test b\n");
        var now = Write("new", "z@a.test a\na@b.test a2\nb@b.test b\n");
        Assert.Null(FileDiff.DiffMap(old, now, 10)); // ordinally "z@a" > "b@b": out of order
        var delta = FileDiff.DiffMap(old, now, 10, AddressOrder.Instance)!;
        Assert.Equal(["a@b.test a2"], delta.Put);
        Assert.Empty(delta.Delete);
    }

    [Fact]
    public void DiffMapAsksForARebuildWhenTooLargeOrUnsorted()
    {
        var old = Write("old", "a OK\n");
        Assert.Null(FileDiff.DiffMap(old, Write("many", string.Concat(Enumerable.Range(0, 20).Select(i => $"k{i:00} OK\n"))), 10));
        Assert.Null(FileDiff.DiffMap(old, Write("unsorted", "b OK\na OK\n"), 10));
    }

    static string User(string address, string hash = "h") =>
        $"shared/passdb/{address}\n{{\"password\":\"{hash}\"}}\nshared/userdb/{address}\n{{}}\n";

    [Fact]
    public void CompareUsersTellsAdditionsAndRemovals()
    {
        var old = Write("old", User("a@x") + User("b@x"));
        Assert.Equal(new UsersChange(true, false), FileDiff.CompareUsers(old, Write("add", User("a@x") + User("b@x") + User("c@x"))));
        Assert.Equal(new UsersChange(true, false), FileDiff.CompareUsers(old, Write("change", User("a@x", "h2") + User("b@x"))));
        Assert.Equal(new UsersChange(false, true), FileDiff.CompareUsers(old, Write("remove", User("b@x"))));
        Assert.Equal(new UsersChange(true, false), FileDiff.CompareUsers(Path.Combine(dir, "missing"), old));
        Assert.Equal(new UsersChange(true, true), FileDiff.CompareUsers(old, Write("both", User("b@x") + User("c@x"))));
    }

    [Theory]
    [InlineData("same")]
    [InlineData("middle")]
    [InlineData("shorter")]
    [InlineData("longer")]
    [InlineData("missing")]
    public void RenderWritesATempFileOnlyWhenTheContentDiffers(string kind)
    {
        var old = string.Concat(Enumerable.Range(0, 30_000).Select(i => $"line {i}\n")); // several 64 KiB chunks
        var now = kind switch
        {
            "middle" => old.Replace("line 20000\n", "line 2000X\n", StringComparison.Ordinal),
            "shorter" => old[..^7],
            "longer" => old + "one more\n",
            _ => old,
        };
        var live = Path.Combine(dir, "live");
        if (kind != "missing") File.WriteAllText(live, old);
        var temp = Path.Combine(dir, "temp");
        var bytes = System.Text.Encoding.UTF8.GetBytes(now);
        // Written in odd-sized pieces, as a StreamWriter would not.
        var file = new RenderedFile(live, FileRole.Table, stream =>
        {
            for (var at = 0; at < bytes.Length; at += 10_007) stream.Write(bytes, at, Math.Min(10_007, bytes.Length - at));
        });
        var changed = CompareWriteStream.Render(file.Path, temp, file.Write);
        Assert.Equal(kind != "same", changed);
        Assert.Equal(kind != "same", File.Exists(temp));
        if (changed) Assert.Equal(now, File.ReadAllText(temp));
    }
}
