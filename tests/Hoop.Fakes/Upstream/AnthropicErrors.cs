namespace Hoop.Fakes.Upstream;

/// <summary>Anthropic's error types, their HTTP statuses and default messages.</summary>
internal static class AnthropicErrors
{
    public const string InvalidRequest = "invalid_request_error";
    public const string Authentication = "authentication_error";
    public const string NotFound = "not_found_error";
    public const string RequestTooLarge = "request_too_large";

    public static string TypeOf(int status) => status switch
    {
        400 => InvalidRequest,
        401 => Authentication,
        403 => "permission_error",
        404 => NotFound,
        413 => RequestTooLarge,
        429 => "rate_limit_error",
        529 => "overloaded_error",
        >= 500 => "api_error",
        _ => InvalidRequest,
    };

    public static int StatusOf(string type) => type switch
    {
        Authentication => 401,
        "permission_error" => 403,
        NotFound => 404,
        RequestTooLarge => 413,
        "rate_limit_error" => 429,
        "api_error" => 500,
        "overloaded_error" => 529,
        _ => 400,
    };

    public static string MessageOf(string type) => type switch
    {
        Authentication => "invalid x-api-key",
        "permission_error" => "Your API key does not have permission to use the specified resource.",
        NotFound => "The requested resource could not be found.",
        RequestTooLarge => "Request exceeds the maximum allowed number of bytes.",
        "rate_limit_error" => "Number of requests has exceeded your rate limit.",
        "api_error" => "Internal server error",
        "overloaded_error" => "Overloaded",
        _ => "There was an issue with the format or content of your request.",
    };
}
