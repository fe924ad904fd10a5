namespace MailPanel.Rules;

/// <summary>Why a rule refused a request; the Api layer turns it into the reference's status and code.</summary>
internal enum Refusal
{
    /// <summary>400 VALIDATION_FAILED.</summary>
    Invalid,
    /// <summary>404 NOT_FOUND.</summary>
    NotFound,
    /// <summary>409 CONFLICT.</summary>
    Conflict,
    /// <summary>500 INTERNAL_ERROR: a step on the host or in the database failed.</summary>
    Failed,
}

/// <summary>
/// What a rule answers: the value, or a refusal with the operator-facing text. Expected failures are
/// values, not exceptions, so the API, a future web UI and the policy service read them the same way.
/// </summary>
internal readonly record struct Outcome<T>(T? Value, Refusal? Refused, string Error, string? Detail)
{
    public bool Ok => Refused is null;

    public static Outcome<T> Done(T value) => new(value, null, "", null);

    public static Outcome<T> Refuse(Refusal why, string error, string? detail = null) => new(default, why, error, detail);

    public static implicit operator Outcome<T>(Refused refused) => new(default, refused.Why, refused.Error, refused.Detail);
}

/// <summary>A refusal without a value type yet: <c>return Refused.NotFound("domain not found");</c> converts to any Outcome.</summary>
internal readonly record struct Refused(Refusal Why, string Error, string? Detail)
{
    public static Refused Invalid(string error, string? detail = null) => new(Refusal.Invalid, error, detail);

    public static Refused NotFound(string error) => new(Refusal.NotFound, error, null);

    public static Refused Conflict(string error) => new(Refusal.Conflict, error, null);

    public static Refused Failed(string error, string? detail = null) => new(Refusal.Failed, error, detail);
}

/// <summary>Outcome of a rule that has no value to return (deletes).</summary>
internal readonly record struct Done;
