// Like the daemon, the tests run on Linux only (they drive a Linux mail stack).
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
