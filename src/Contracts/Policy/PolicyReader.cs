using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Text.RegularExpressions;

namespace Hoop.Contracts.Policy;

/// <summary>
/// Reads policy JSON into the validated records, collecting every problem (with its key path)
/// before throwing one <see cref="PolicyException"/>.
/// </summary>
internal sealed partial class PolicyReader
{
    private const int MaxIncludeBytes = 1024 * 1024;
    private static readonly TimeSpan MaxTimeout = TimeSpan.FromDays(1);

    private readonly List<PolicyProblem> _problems = [];
    private readonly HashSet<string> _declaredRules = new(StringComparer.Ordinal);
    private readonly string _baseDirectory;

    private PolicyReader(string baseDirectory) => _baseDirectory = baseDirectory;

    public static PolicyDocument Read(string json, string sourceName, string baseDirectory)
    {
        var reader = new PolicyReader(baseDirectory);
        PolicyDocument? document = null;
        if (reader.TryDeserialize(json, PolicyJsonContext.Default.PolicyFileModel, pathPrefix: "", suffix: "", out var model))
        {
            if (model is null)
                reader.Add("(root)", "expected a JSON object, found null");
            else
                document = reader.Build(model, sourceName);
        }

        if (reader._problems.Count > 0 || document is null)
            throw new PolicyException(sourceName, reader._problems);
        return document;
    }

    private void Add(string path, string message) => _problems.Add(new PolicyProblem(path, message));

    private bool TryDeserialize<T>(string json, JsonTypeInfo<T> typeInfo, string pathPrefix, string suffix, out T? value)
        where T : class
    {
        try
        {
            value = JsonSerializer.Deserialize(json, typeInfo);
            return true;
        }
        catch (JsonException e)
        {
            var path = JsonPath(e.Path, pathPrefix);
            var where = e.LineNumber is { } line
                ? $" (line {line + 1}, position {(e.BytePositionInLine ?? 0) + 1})"
                : "";
            var hint = path.EndsWith(".timeout", StringComparison.Ordinal) ? "; write the timeout as \"hh:mm:ss\", e.g. \"00:02:00\"" : "";
            Add(path, $"invalid JSON: {JsonMessage(e)}{hint}{where}{suffix}");
            value = null;
            return false;
        }
    }

    private PolicyDocument Build(PolicyFileModel model, string sourceName)
    {
        CheckUnknown(model.Unknown, "", "connections, rules, approverGroups, slack, identityControls");

        // Approver groups and rules first, so references to them can be checked.
        var groups = ReadApproverGroups(model.ApproverGroups);
        var rules = ReadRules(model.Rules, groups);
        var connections = ReadConnections(model.Connections);
        var slack = model.Slack is null ? null : ReadSlack(model.Slack, "slack", _baseDirectory, allowInclude: true, suffix: "");
        var controls = model.IdentityControls is null ? null : ReadIdentityControls(model.IdentityControls, "identityControls", groups);

        return new PolicyDocument(sourceName, connections, rules.Values.ToArray(), groups.Values.ToArray(), slack, controls);
    }

    // ---- approver groups ----

    private Dictionary<string, ApproverGroup> ReadApproverGroups(List<ApproverGroupModel?>? models)
    {
        var groups = new Dictionary<string, ApproverGroup>(StringComparer.Ordinal);
        if (models is null)
            return groups;

        var firstIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < models.Count; i++)
        {
            var path = $"approverGroups[{i}]";
            if (models[i] is not { } model)
            {
                Add(path, "expected an object");
                continue;
            }

            CheckUnknown(model.Unknown, path, "name, identityGroups, approvalsRequired");
            var name = RequireName(model.Name, $"{path}.name", "approver group");
            var identityGroups = ReadStrings(model.IdentityGroups, $"{path}.identityGroups", required: true,
                "list the identity groups (JWT 'groups' claim) whose members may approve");
            var approvals = model.ApprovalsRequired ?? 1;
            if (approvals < 1)
                Add($"{path}.approvalsRequired", $"must be at least 1; it is {approvals}");

            if (name is null)
                continue;
            if (!firstIndex.TryAdd(name, i))
            {
                Add($"{path}.name", $"duplicate approver group '{name}' (also approverGroups[{firstIndex[name]}])");
                continue;
            }

            groups[name] = new ApproverGroup(name, identityGroups, approvals);
        }

        return groups;
    }

    // ---- rules ----

    private Dictionary<string, PolicyRule> ReadRules(List<RuleModel?>? models, Dictionary<string, ApproverGroup> groups)
    {
        var rules = new Dictionary<string, PolicyRule>(StringComparer.Ordinal);
        if (models is null)
            return rules;

        var firstIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < models.Count; i++)
        {
            var path = $"rules[{i}]";
            if (models[i] is not { } model)
            {
                Add(path, "expected an object");
                continue;
            }

            CheckUnknown(model.Unknown, path, "id, description, match, action, approverGroup, timeout");
            var id = RequireName(model.Id, $"{path}.id", "rule");
            if (id is not null && !RuleId().IsMatch(id))
            {
                Add($"{path}.id", $"'{id}' is not a valid rule id: use letters, digits, '-', '_' or '.'");
                id = null;
            }

            if (PolicyRuleIds.IsReserved(id ?? ""))
            {
                Add($"{path}.id", $"'{id}' is reserved for decisions Hoop makes itself; choose another id");
                id = null;
            }

            var match = ReadMatch(model.Match, $"{path}.match");
            var action = ReadAction(model.Action, $"{path}.action");
            string? approverGroup = null;
            TimeSpan? timeout = null;
            if (action == RuleAction.Approve)
            {
                approverGroup = ReadApproverGroupReference(model.ApproverGroup, $"{path}.approverGroup", groups);
                timeout = ReadTimeout(model.Timeout, $"{path}.timeout");
            }
            else if (action == RuleAction.Block)
            {
                if (model.ApproverGroup is not null)
                    Add($"{path}.approverGroup", "only allowed when action is \"approve\"");
                if (model.Timeout is not null)
                    Add($"{path}.timeout", "only allowed when action is \"approve\"");
            }

            if (model.Description is { Length: 0 })
                Add($"{path}.description", "empty; leave it out or describe the rule");

            if (id is null)
                continue;
            if (!firstIndex.TryAdd(id, i))
            {
                Add($"{path}.id", $"duplicate rule id '{id}' (also rules[{firstIndex[id]}])");
                continue;
            }

            // A rule with problems is still declared, so that references to it are not reported too.
            _declaredRules.Add(id);
            if (match is not null && action is not null)
                rules[id] = new PolicyRule(id, match, action.Value, approverGroup, timeout, model.Description);
        }

        return rules;
    }

    private RuleMatch? ReadMatch(MatchModel? model, string path)
    {
        if (model is null)
        {
            Add(path, "missing; give at least one of regex, keywords, path, method");
            return null;
        }

        CheckUnknown(model.Unknown, path, "regex, keywords, path, method");
        var ok = true;
        if (model.Regex is not null)
            ok &= CheckPattern(model.Regex, $"{path}.regex", PolicyPatterns.Text);
        if (model.Path is not null)
            ok &= CheckPattern(model.Path, $"{path}.path", PolicyPatterns.Path);

        IReadOnlyList<string>? keywords = null;
        if (model.Keywords is not null)
        {
            var count = _problems.Count;
            keywords = ReadStrings(model.Keywords, $"{path}.keywords", required: true, "list at least one keyword or leave keywords out");
            ok &= _problems.Count == count;
        }

        IReadOnlyList<string>? methods = null;
        if (model.Method is not null)
        {
            var count = _problems.Count;
            var raw = ReadStrings(model.Method, $"{path}.method", required: true, "list at least one HTTP method or leave method out");
            for (var i = 0; i < raw.Count; i++)
            {
                if (!HttpToken().IsMatch(raw[i]))
                    Add($"{path}.method[{i}]", $"'{raw[i]}' is not an HTTP method");
            }

            methods = raw.Select(m => m.ToUpperInvariant()).Distinct(StringComparer.Ordinal).ToArray();
            ok &= _problems.Count == count;
        }

        if (model.Regex is null && model.Path is null && model.Keywords is null && model.Method is null)
        {
            Add(path, "empty; give at least one of regex, keywords, path, method");
            return null;
        }

        return ok ? new RuleMatch(model.Regex, keywords, model.Path, methods) : null;
    }

    private bool CheckPattern(string pattern, string path, Func<string, Regex> create)
    {
        if (pattern.Length == 0)
        {
            Add(path, "empty; leave it out or give a regular expression");
            return false;
        }

        try
        {
            create(pattern);
            return true;
        }
        catch (ArgumentException e)
        {
            Add(path, $"invalid regular expression: {e.Message}");
            return false;
        }
    }

    private RuleAction? ReadAction(string? value, string path)
    {
        switch (value)
        {
            case "block":
                return RuleAction.Block;
            case "approve":
                return RuleAction.Approve;
            case null:
                Add(path, "missing; use \"block\" or \"approve\"");
                return null;
            default:
                Add(path, $"must be \"block\" or \"approve\"; it is \"{value}\"");
                return null;
        }
    }

    private string? ReadApproverGroupReference(string? value, string path, Dictionary<string, ApproverGroup> groups)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            Add(path, "missing; an approve rule names the approver group (approverGroups[].name) that decides");
            return null;
        }

        if (!groups.ContainsKey(value))
        {
            Add(path, $"unknown approver group '{value}'");
            return null;
        }

        return value;
    }

    private TimeSpan? ReadTimeout(string? value, string path)
    {
        if (value is null)
        {
            Add(path, "missing; an approve rule needs a timeout as \"hh:mm:ss\", e.g. \"00:02:00\"");
            return null;
        }

        if (!TimeoutFormat().IsMatch(value)
            || !TimeSpan.TryParseExact(value, "c", CultureInfo.InvariantCulture, out var timeout))
        {
            Add(path, $"\"{value}\" is not a duration; write \"hh:mm:ss\", e.g. \"00:02:00\" for two minutes");
            return null;
        }

        if (timeout <= TimeSpan.Zero)
        {
            Add(path, $"must be greater than zero; it is \"{value}\"");
            return null;
        }

        if (timeout > MaxTimeout)
        {
            Add(path, $"must be at most \"1.00:00:00\" (one day); it is \"{value}\"");
            return null;
        }

        return timeout;
    }

    // ---- connections ----

    private ConnectionPolicy[] ReadConnections(List<ConnectionModel?>? models)
    {
        if (models is null || models.Count == 0)
        {
            Add("connections", models is null ? "missing; list at least one connection" : "empty; list at least one connection");
            return [];
        }

        var connections = new List<ConnectionPolicy>(models.Count);
        var firstIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < models.Count; i++)
        {
            var path = $"connections[{i}]";
            if (models[i] is not { } model)
            {
                Add(path, "expected an object");
                continue;
            }

            var count = _problems.Count;
            CheckUnknown(model.Unknown, path, "name, upstream, upstreams, streamRelease, idleTimeout, api, credential, allowedGroups, mask, rules, content, retention");
            var name = RequireName(model.Name, $"{path}.name", "connection");
            if (name is not null && !ConnectionName().IsMatch(name))
            {
                Add($"{path}.name", $"'{name}' is not a valid connection name: it is the first URL path segment, so use lower-case letters, digits, '-', '_' or '.'");
                name = null;
            }

            var upstreams = ReadUpstreams(model, path);
            var upstream = upstreams?[0];
            var streamRelease = ReadStreamRelease(model.StreamRelease, $"{path}.streamRelease");
            var idleTimeout = model.IdleTimeout is null ? ConnectionPolicy.DefaultIdleTimeout : ReadTimeout(model.IdleTimeout, $"{path}.idleTimeout");
            var api = ReadApi(model.Api, $"{path}.api");
            var content = ReadContentRecording(model.Content, $"{path}.content");
            var retention = model.Retention is null ? RetentionPolicy.Forever : ReadRetention(model.Retention, $"{path}.retention");
            var credential = model.Credential is null ? null : ReadCredential(model.Credential, $"{path}.credential");
            var allowedGroups = ReadStrings(model.AllowedGroups, $"{path}.allowedGroups", required: true,
                "list the identity groups (JWT 'groups' claim) allowed to use this connection");
            var mask = model.Mask is null ? MaskOptions.Default : ReadMask(model.Mask, $"{path}.mask");
            var ruleIds = ReadStrings(model.Rules, $"{path}.rules", required: false, "");
            var seenRules = new HashSet<string>(StringComparer.Ordinal);
            for (var r = 0; r < ruleIds.Count; r++)
            {
                if (!_declaredRules.Contains(ruleIds[r]))
                    Add($"{path}.rules[{r}]", $"unknown rule id '{ruleIds[r]}'");
                else if (!seenRules.Add(ruleIds[r]))
                    Add($"{path}.rules[{r}]", $"rule '{ruleIds[r]}' is listed twice");
            }

            if (name is not null && !firstIndex.TryAdd(name, i))
                Add($"{path}.name", $"duplicate connection '{name}' (also connections[{firstIndex[name]}])");

            if (_problems.Count == count && name is not null && upstream is not null)
                connections.Add(new ConnectionPolicy(name, upstream, credential, allowedGroups, mask, ruleIds, api)
                {
                    Upstreams = upstreams!,
                    StreamRelease = streamRelease,
                    IdleTimeout = idleTimeout ?? ConnectionPolicy.DefaultIdleTimeout,
                    Content = content,
                    Retention = retention,
                });
        }

        return connections.ToArray();
    }

    // "upstream" (one destination) or "upstreams" (several, at least one, no duplicates), not both.
    private Uri[]? ReadUpstreams(ConnectionModel model, string path)
    {
        if (model.Upstreams is null)
            return ReadUpstream(model.Upstream, $"{path}.upstream") is { } single ? [single] : null;
        if (model.Upstream is not null)
        {
            Add($"{path}.upstream", "give either \"upstream\" or \"upstreams\", not both");
            return null;
        }

        if (model.Upstreams.Count == 0)
        {
            Add($"{path}.upstreams", "empty; list at least one upstream base URL");
            return null;
        }

        var upstreams = new List<Uri>(model.Upstreams.Count);
        for (var i = 0; i < model.Upstreams.Count; i++)
        {
            if (ReadUpstream(model.Upstreams[i], $"{path}.upstreams[{i}]") is not { } uri)
                continue;
            if (upstreams.Contains(uri))
                Add($"{path}.upstreams[{i}]", $"'{uri}' is listed twice");
            else
                upstreams.Add(uri);
        }

        return upstreams.Count == model.Upstreams.Count ? upstreams.ToArray() : null;
    }

    private ContentRecording ReadContentRecording(string? value, string path)
    {
        switch (value)
        {
            case null or "full":
                return ContentRecording.Full;
            case "metadata":
                return ContentRecording.Metadata;
            default:
                Add(path, $"'{value}' is not a content recording; use \"full\" (the default: text stored encrypted) or \"metadata\" (no prompt or answer text stored)");
                return ContentRecording.Full;
        }
    }

    private RetentionPolicy ReadRetention(RetentionModel model, string path)
    {
        CheckUnknown(model.Unknown, path, "content, metadata");
        var content = ReadRetentionPeriod(model.Content, $"{path}.content");
        var metadata = ReadRetentionPeriod(model.Metadata, $"{path}.metadata");
        if (content is { } c && metadata is { } m && c > m)
            Add($"{path}.content", $"must not be longer than {path}.metadata (content cannot outlive the session's metadata); it is \"{model.Content}\", metadata \"{model.Metadata}\"");
        return new RetentionPolicy(content, metadata);
    }

    private TimeSpan? ReadRetentionPeriod(string? value, string path)
    {
        if (value is null)
            return null;
        if (!TimeoutFormat().IsMatch(value) || !TimeSpan.TryParseExact(value, "c", CultureInfo.InvariantCulture, out var period))
        {
            Add(path, $"\"{value}\" is not a duration; write \"d.hh:mm:ss\", e.g. \"30.00:00:00\" for thirty days");
            return null;
        }

        if (period <= TimeSpan.Zero)
        {
            Add(path, $"must be greater than zero; it is \"{value}\" (leave it out to keep forever)");
            return null;
        }

        return period;
    }

    private StreamRelease ReadStreamRelease(string? value, string path)
    {
        switch (value)
        {
            case null or "after-record":
                return StreamRelease.AfterRecord;
            case "immediate":
                return StreamRelease.Immediate;
            default:
                Add(path, $"'{value}' is not a stream release; use \"after-record\" (the default) or \"immediate\"");
                return StreamRelease.AfterRecord;
        }
    }

    private Uri? ReadUpstream(string? value, string path)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            Add(path, "missing; give the upstream base URL, e.g. \"https://api.anthropic.com\"");
            return null;
        }

        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            Add(path, $"must be an absolute http or https URL; it is \"{value}\"");
            return null;
        }

        if (uri.Query.Length > 0 || uri.Fragment.Length > 0 || uri.UserInfo.Length > 0)
        {
            Add(path, "must not have a query, fragment or user info; put credentials in \"credential\"");
            return null;
        }

        return uri;
    }

    private UpstreamApi ReadApi(string? value, string path)
    {
        switch (value)
        {
            case null or "anthropic":
                return UpstreamApi.Anthropic;
            case "openai":
                return UpstreamApi.OpenAi;
            default:
                Add(path, $"'{value}' is not a known upstream API; use \"anthropic\" (the default) or \"openai\"");
                return UpstreamApi.Anthropic;
        }
    }

    private UpstreamCredential? ReadCredential(CredentialModel model, string path)
    {
        CheckUnknown(model.Unknown, path, "header, prefix, env, file, value");
        string? header = null;
        if (string.IsNullOrWhiteSpace(model.Header))
            Add($"{path}.header", "missing; name the header the upstream expects, e.g. \"x-api-key\"");
        else if (!HttpToken().IsMatch(model.Header))
            Add($"{path}.header", $"'{model.Header}' is not a valid HTTP header name");
        else
            header = model.Header;

        if (model.Prefix is not null && model.Prefix.AsSpan().IndexOfAny('\r', '\n') >= 0)
            Add($"{path}.prefix", "must not contain line breaks");

        var source = ReadSecret(model.Env, model.File, model.Value, path, _baseDirectory, suffix: "");
        return header is null || source is null ? null : new UpstreamCredential(header, source, model.Prefix ?? "");
    }

    private MaskOptions ReadMask(MaskModel model, string path)
    {
        CheckUnknown(model.Unknown, path, "request, response, detectors, keepLast4, custom, maxHoldChars, budgetMs");
        var custom = new List<CustomMaskRule>();
        var known = new HashSet<string>(MaskOptions.BuiltInDetectors, StringComparer.Ordinal);
        for (var i = 0; i < (model.Custom?.Count ?? 0); i++)
        {
            var rulePath = $"{path}.custom[{i}]";
            if (model.Custom![i] is not { } rule)
            {
                Add(rulePath, "must be an object with name and regex");
                continue;
            }

            CheckUnknown(rule.Unknown, rulePath, "name, regex, maxLength");
            var ok = true;
            if (string.IsNullOrEmpty(rule.Name))
                ok = Fail($"{rulePath}.name", "missing; name the rule (it appears as [MASKED:name])");
            else if (!MaskName().IsMatch(rule.Name))
                ok = Fail($"{rulePath}.name", $"'{rule.Name}' is not a valid name: use 1 to 40 lower-case letters, digits or '-'");
            else if (!known.Add(rule.Name))
                ok = Fail($"{rulePath}.name", $"'{rule.Name}' is already a detector name");
            if (rule.Regex is null)
                ok = Fail($"{rulePath}.regex", "missing; give the regular expression to mask");
            else
                ok &= CheckPattern(rule.Regex, $"{rulePath}.regex", p => new Regex(p, RegexOptions.CultureInvariant, PolicyPatterns.MatchTimeout));
            var maxLength = rule.MaxLength ?? CustomMaskRule.DefaultMaxLength;
            if (maxLength is < 1 or > CustomMaskRule.MaxMaxLength)
                ok = Fail($"{rulePath}.maxLength", $"must be from 1 to {CustomMaskRule.MaxMaxLength}; it is {maxLength}");
            if (ok)
                custom.Add(new CustomMaskRule(rule.Name!, rule.Regex!, maxLength));
        }

        var detectors = model.Detectors is null ? null : ReadNames(model.Detectors, $"{path}.detectors", known);
        var keepLast4 = model.KeepLast4 is null ? null : ReadNames(model.KeepLast4, $"{path}.keepLast4", known);
        var maxHold = model.MaxHoldChars ?? MaskOptions.DefaultMaxHoldChars;
        if (maxHold is < 1024 or > 1024 * 1024)
            Add($"{path}.maxHoldChars", $"must be from 1024 to 1048576; it is {maxHold}");
        var budget = model.BudgetMs ?? MaskOptions.DefaultBudgetMs;
        if (budget is < 1 or > 60_000)
            Add($"{path}.budgetMs", $"must be from 1 to 60000; it is {budget}");

        return new MaskOptions(model.Request ?? false, model.Response ?? true, detectors, keepLast4, custom, maxHold, budget);
    }

    private IReadOnlyList<string> ReadNames(List<string?> values, string path, HashSet<string> known)
    {
        var names = ReadStrings(values, path, required: false, "");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < names.Count; i++)
        {
            if (!known.Contains(names[i]))
                Add($"{path}[{i}]", $"unknown detector '{names[i]}'; known: {string.Join(", ", known)}");
            else if (!seen.Add(names[i]))
                Add($"{path}[{i}]", $"detector '{names[i]}' is listed twice");
        }

        return names;
    }

    private bool Fail(string path, string message)
    {
        Add(path, message);
        return false;
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,39}$")]
    private static partial Regex MaskName();

    // ---- slack ----

    private SlackSettings? ReadSlack(SlackModel model, string path, string baseDirectory, bool allowInclude, string suffix)
    {
        if (model.File is not null)
            return ReadSlackInclude(model, path, baseDirectory, allowInclude, suffix);

        var count = _problems.Count;
        CheckUnknown(model.Unknown, path, allowInclude
            ? "file, channel, apiBaseUrl, botToken, signingSecret, users"
            : "channel, apiBaseUrl, botToken, signingSecret, users", suffix);

        if (string.IsNullOrWhiteSpace(model.Channel))
            Add($"{path}.channel", "missing; give the Slack channel id approval requests are posted to, e.g. \"C0APPROVALS\"" + suffix);

        var apiBaseUrl = SlackSettings.DefaultApiBaseUrl;
        if (model.ApiBaseUrl is not null)
        {
            if (!Uri.TryCreate(model.ApiBaseUrl, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
                Add($"{path}.apiBaseUrl", $"must be an absolute http or https URL; it is \"{model.ApiBaseUrl}\"{suffix}");
            else
                apiBaseUrl = uri.AbsoluteUri.EndsWith('/') ? uri : new Uri(uri.AbsoluteUri + "/");
        }

        var botToken = ReadSlackSecret(model.BotToken, $"{path}.botToken", baseDirectory, suffix);
        var signingSecret = ReadSlackSecret(model.SigningSecret, $"{path}.signingSecret", baseDirectory, suffix);

        var users = new Dictionary<string, SlackUser>(StringComparer.Ordinal);
        foreach (var (slackUserId, user) in model.Users ?? [])
        {
            var userPath = $"{path}.users.{slackUserId}";
            if (!SlackUserId().IsMatch(slackUserId))
            {
                Add(userPath, $"'{slackUserId}' is not a Slack user id (like \"U0123ABCD\"){suffix}");
                continue;
            }

            if (user is null)
            {
                Add(userPath, "expected an object with identity and groups" + suffix);
                continue;
            }

            CheckUnknown(user.Unknown, userPath, "identity, groups", suffix);
            var userCount = _problems.Count;
            if (string.IsNullOrWhiteSpace(user.Identity))
                Add($"{userPath}.identity", "missing; give the Hoop identity (JWT sub) this Slack user acts as" + suffix);
            var groups = ReadStrings(user.Groups, $"{userPath}.groups", required: false, "", suffix);
            if (_problems.Count == userCount)
                users[slackUserId] = new SlackUser(user.Identity!, groups);
        }

        return _problems.Count == count && botToken is not null && signingSecret is not null
            ? new SlackSettings(model.Channel!, botToken, signingSecret, users, apiBaseUrl)
            : null;
    }

    private SlackSettings? ReadSlackInclude(SlackModel model, string path, string baseDirectory, bool allowInclude, string suffix)
    {
        var filePath = $"{path}.file";
        if (!allowInclude)
        {
            Add(filePath, "an included Slack file cannot include another" + suffix);
            return null;
        }

        if (model.Channel is not null || model.ApiBaseUrl is not null || model.BotToken is not null
            || model.SigningSecret is not null || model.Users is not null || model.Unknown is { Count: > 0 })
        {
            Add(path, "\"file\" cannot be combined with other keys: put the whole Slack section in the file, or leave \"file\" out");
            return null;
        }

        if (model.File!.Length == 0)
        {
            Add(filePath, "empty; give the path of a JSON file holding the Slack section");
            return null;
        }

        var fullPath = Path.GetFullPath(model.File, baseDirectory);
        string json;
        try
        {
            var info = new FileInfo(fullPath);
            if (info.Exists && info.Length > MaxIncludeBytes)
            {
                Add(filePath, $"'{fullPath}' is larger than {MaxIncludeBytes} bytes");
                return null;
            }

            json = File.ReadAllText(fullPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Add(filePath, $"cannot read '{fullPath}': {e.Message}");
            return null;
        }

        var includeSuffix = $" (in {fullPath})";
        if (!TryDeserialize(json, PolicyJsonContext.Default.SlackModel, path, includeSuffix, out var included))
            return null;
        if (included is null)
        {
            Add(filePath, $"'{fullPath}' holds null; expected a JSON object");
            return null;
        }

        return ReadSlack(included, path, Path.GetDirectoryName(fullPath)!, allowInclude: false, includeSuffix);
    }

    private SecretSource? ReadSlackSecret(SecretModel? model, string path, string baseDirectory, string suffix)
    {
        if (model is null)
        {
            Add(path, "missing; give one of { \"env\": NAME }, { \"file\": PATH } or { \"value\": SECRET }" + suffix);
            return null;
        }

        CheckUnknown(model.Unknown, path, "env, file, value", suffix);
        return ReadSecret(model.Env, model.File, model.Value, path, baseDirectory, suffix);
    }

    private SecretSource? ReadSecret(string? env, string? file, string? value, string path, string baseDirectory, string suffix)
    {
        var given = (env is null ? 0 : 1) + (file is null ? 0 : 1) + (value is null ? 0 : 1);
        if (given != 1)
        {
            Add(path, (given == 0 ? "no secret source" : "more than one secret source")
                + "; give exactly one of \"env\" (environment variable), \"file\" (path) or \"value\" (development only)" + suffix);
            return null;
        }

        if (env is not null)
        {
            if (!EnvironmentVariableName().IsMatch(env))
            {
                Add($"{path}.env", $"'{env}' is not an environment variable name{suffix}");
                return null;
            }

            return SecretSource.FromEnvironment(env);
        }

        if (file is not null)
        {
            if (file.Length == 0)
            {
                Add($"{path}.file", "empty; give the path of the file holding the secret" + suffix);
                return null;
            }

            return SecretSource.FromFile(Path.GetFullPath(file, baseDirectory));
        }

        if (value!.Length == 0)
        {
            Add($"{path}.value", "empty" + suffix);
            return null;
        }

        return SecretSource.FromValue(value);
    }

    // ---- shared ----

    private string? RequireName(string? value, string path, string what)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            Add(path, $"missing; every {what} needs one");
            return null;
        }

        if (value.Trim().Length != value.Length)
        {
            Add(path, $"'{value}' has leading or trailing whitespace");
            return null;
        }

        return value;
    }

    private IReadOnlyList<string> ReadStrings(List<string?>? values, string path, bool required, string hint, string suffix = "")
    {
        if (values is null || values.Count == 0)
        {
            if (required)
                Add(path, (values is null ? "missing; " : "empty; ") + hint + suffix);
            return [];
        }

        var result = new List<string>(values.Count);
        for (var i = 0; i < values.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(values[i]))
                Add($"{path}[{i}]", "empty" + suffix);
            else
                result.Add(values[i]!);
        }

        return result.ToArray();
    }

    private void CheckUnknown(Dictionary<string, JsonElement>? unknown, string path, string known, string suffix = "")
    {
        if (unknown is null)
            return;
        foreach (var key in unknown.Keys)
            Add(path.Length == 0 ? key : $"{path}.{key}", $"unknown key (expected one of: {known}){suffix}");
    }

    /// <summary>"$.rules[1].timeout" → "rules[1].timeout", under <paramref name="prefix"/> for included files.</summary>
    private static string JsonPath(string? path, string prefix)
    {
        var relative = path is null or "$" ? "" : path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');
        if (prefix.Length == 0)
            return relative.Length == 0 ? "(root)" : relative;
        return relative.Length == 0 ? prefix : relative.StartsWith('[') ? prefix + relative : $"{prefix}.{relative}";
    }

    /// <summary>System.Text.Json's message without its own "Path: … | LineNumber: …" tail, and without CLR type names.</summary>
    private static string JsonMessage(JsonException e)
    {
        // A scalar of the wrong type: the inner exception says what was found and what was wanted.
        if (e.InnerException is InvalidOperationException inner && TokenTypeMessage().Match(inner.Message) is { Success: true } token)
            return $"wrong type: expected {Article(token.Groups[2].Value)}, found {TokenName(token.Groups[1].Value)}";

        var message = e.Message;
        var tail = message.IndexOf(" Path: ", StringComparison.Ordinal);
        if (tail >= 0)
            message = message[..tail];
        message = message.TrimEnd('.', ' ');

        if (ConversionMessage().Match(message) is { Success: true } conversion)
        {
            var expected = conversion.Groups[1].Value switch
            {
                "System.String" => "a string",
                "System.Int32" or "System.Nullable`1[System.Int32]" => "an integer",
                "System.Boolean" or "System.Nullable`1[System.Boolean]" => "true or false",
                var type when type.Contains("List`1", StringComparison.Ordinal) => "an array",
                _ => "an object",
            };
            return $"wrong type: expected {expected}";
        }

        if (DuplicateMessage().Match(message) is { Success: true } duplicate)
            return $"duplicate key '{duplicate.Groups[1].Value}'";
        if (message.StartsWith("The input does not contain any JSON tokens", StringComparison.Ordinal))
            return "the document is empty";
        return message;
    }

    private static string Article(string type) => type switch
    {
        "boolean" => "true or false",
        "string" => "a string",
        _ => "a " + type,
    };

    private static string TokenName(string tokenType) => tokenType switch
    {
        "Number" => "a number",
        "String" => "a string",
        "True" or "False" => tokenType.ToLowerInvariant(),
        "StartArray" => "an array",
        "StartObject" => "an object",
        "Null" => "null",
        _ => tokenType,
    };

    [GeneratedRegex(@"^Cannot get the value of a token type '(\w+)' as an? (\w+)")]
    private static partial Regex TokenTypeMessage();

    [GeneratedRegex(@"^The JSON value could not be converted to ([^ ]+)$")]
    private static partial Regex ConversionMessage();

    [GeneratedRegex(@"^Duplicate property '([^']*)'")]
    private static partial Regex DuplicateMessage();

    [GeneratedRegex(@"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")]
    private static partial Regex HttpToken();

    [GeneratedRegex(@"^[a-z0-9][a-z0-9._-]*$")]
    private static partial Regex ConnectionName();

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    private static partial Regex RuleId();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_.]*$")]
    private static partial Regex EnvironmentVariableName();

    [GeneratedRegex(@"^[UW][A-Z0-9]{2,}$")]
    private static partial Regex SlackUserId();

    // [d.]hh:mm:ss[.fffffff]: always with colons, so "2" is not silently two days.
    [GeneratedRegex(@"^(\d+\.)?\d{1,2}:\d{2}:\d{2}(\.\d{1,7})?$")]
    private static partial Regex TimeoutFormat();
}
