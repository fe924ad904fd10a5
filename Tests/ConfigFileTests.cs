namespace MailPanel.Tests;

public class ConfigFileTests
{
    static readonly string Hash = Passwords.Hash("x");

    static string Minimal(string extra = "") =>
        $"API_KEY=k\nADMIN_PASSWORD_HASH={Hash}\nJWT_SECRET=0123456789abcdef0123456789abcdef\n{extra}";

    [Fact]
    public void DefaultsMatchTheRuntimeContract()
    {
        var c = AppConfig.Parse(Minimal());
        Assert.Equal("0.0.0.0:8080", c.Listen);
        Assert.Equal("admin", c.AdminUser);
        Assert.Equal("/var/lib/backendside-mailpanel", c.DataDir);
        Assert.Equal("/var/vmail", c.VmailDir);
        Assert.Equal("/", c.SysRoot);
        Assert.Equal(5, c.RateLimitLoginPerMin);
        Assert.Equal(60, c.RateLimitApiPerMin);
        Assert.Empty(c.AdminLoginWhitelist);
        Assert.Empty(c.ApiKeyWhitelist);
        Assert.Equal(("0.0.0.0:25", "0.0.0.0:587", "0.0.0.0:143", "0.0.0.0:110"), (c.SmtpListen, c.SubmissionListen, c.ImapListen, c.Pop3Listen));
        Assert.True(Validate.IsHostName(c.MailHostname), c.MailHostname);
    }

    [Fact]
    public void MailStackKeysAreRead()
    {
        var c = AppConfig.Parse(Minimal("""
            MAIL_HOSTNAME=Mail.Example.COM
            SMTP_LISTEN=127.0.0.1:2525
            SUBMISSION_LISTEN=127.0.0.1:2587
            IMAP_LISTEN=[::1]:2143
            POP3_LISTEN=127.0.0.2:2110
            """));
        Assert.Equal("mail.example.com", c.MailHostname);
        Assert.Equal(("127.0.0.1:2525", "127.0.0.1:2587", "[::1]:2143", "127.0.0.2:2110"), (c.SmtpListen, c.SubmissionListen, c.ImapListen, c.Pop3Listen));
    }

    [Fact]
    public void CommentsBlankLinesAndAllKeysAreRead()
    {
        var c = AppConfig.Parse(Minimal("""
            # comment

            LISTEN=127.0.0.1:9090
            ADMIN_USER=root
            DATA_DIR=/d
            VMAIL_DIR=/v
            SYSROOT=/s
            RATE_LIMIT_LOGIN_PER_MIN=3
            RATE_LIMIT_API_PER_MIN=100
            ADMIN_LOGIN_WHITELIST=10.0.0.0/8 192.0.2.1
            API_KEY_WHITELIST=[::1]/128
            """));
        Assert.Equal("127.0.0.1:9090", c.Listen);
        Assert.Equal("root", c.AdminUser);
        Assert.Equal(("/d", "/v", "/s"), (c.DataDir, c.VmailDir, c.SysRoot));
        Assert.Equal((3, 100), (c.RateLimitLoginPerMin, c.RateLimitApiPerMin));
        Assert.Equal(["10.0.0.0/8", "192.0.2.1"], c.AdminLoginWhitelist);
        Assert.Equal("/s/etc/postfix", c.HostPath("/etc/postfix"));
    }

    [Theory]
    [InlineData("LISTN=1.2.3.4:80", "unknown key")]
    [InlineData("garbage", "KEY=VALUE")]
    [InlineData("RATE_LIMIT_API_PER_MIN=0", "positive")]
    [InlineData("RATE_LIMIT_API_PER_MIN=ten", "positive")]
    [InlineData("API_KEY_WHITELIST=10.0.0.0/99", "CIDR")]
    [InlineData("LISTEN=nowhere", "LISTEN")]
    [InlineData("DATA_DIR=relative/path", "absolute")]
    [InlineData("API_KEY=again", "twice")]
    [InlineData("MAIL_HOSTNAME=bad_host!", "MAIL_HOSTNAME")]
    [InlineData("SMTP_LISTEN=25", "SMTP_LISTEN")]
    [InlineData("SUBMISSION_LISTEN=0.0.0.0:0", "SUBMISSION_LISTEN")]
    [InlineData("IMAP_LISTEN=0.0.0.0:70000", "IMAP_LISTEN")]
    [InlineData("POP3_LISTEN=host:110", "POP3_LISTEN")]
    public void BadConfigIsRejectedWithOneClearLine(string extra, string expected)
    {
        var e = Assert.Throws<ConfigException>(() => AppConfig.Parse(Minimal(extra)));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void RequiredKeysAndSecretStrengthAreChecked()
    {
        Assert.Contains("API_KEY", Assert.Throws<ConfigException>(() => AppConfig.Parse($"ADMIN_PASSWORD_HASH={Hash}\nJWT_SECRET=0123456789abcdef0123456789abcdef")).Message, StringComparison.Ordinal);
        Assert.Contains("JWT_SECRET", Assert.Throws<ConfigException>(() => AppConfig.Parse($"API_KEY=k\nADMIN_PASSWORD_HASH={Hash}\nJWT_SECRET=short")).Message, StringComparison.Ordinal);
        Assert.Contains("ADMIN_PASSWORD_HASH", Assert.Throws<ConfigException>(() => AppConfig.Parse("API_KEY=k\nADMIN_PASSWORD_HASH=plain\nJWT_SECRET=0123456789abcdef0123456789abcdef")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PasswordHashesAreDovecotBcrypt()
    {
        var h = Passwords.Hash("S3cret-pass");
        Assert.StartsWith("{BLF-CRYPT}$2b$10$", h, StringComparison.Ordinal);
        Assert.Equal(11 + 60, h.Length);
        Assert.True(Passwords.Verify("S3cret-pass", h));
        Assert.False(Passwords.Verify("S3cret-pasS", h));
        // $2y$ (PHP / Dovecot's own doveadm) verifies too.
        Assert.True(Passwords.Verify("S3cret-pass", "{BLF-CRYPT}$2y$" + h[15..]));
        Assert.NotNull(Passwords.Validate(new string('a', 73)));
        Assert.Null(Passwords.Validate(new string('a', 72)));
        Assert.NotNull(Passwords.Validate(""));
    }
}
