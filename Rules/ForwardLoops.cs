using MailPanel.Store;

namespace MailPanel.Rules;

/// <summary>
/// Forwarding loops (a -> b -> a through forward_to and aliases): Postfix would expand them until
/// virtual_alias_recursion_limit and bounce every message, so a change that closes one is refused.
/// Checked inside the write that makes the change, before it commits: the graph is what the store
/// would hold. An address that maps to itself (forward_keep_copy) is a delivery, not a loop.
/// </summary>
internal static class ForwardLoops
{
    /// <summary>The first loop found, as "a@x -> b@y -> a@x"; null when there is none.</summary>
    public static string? Find(Db.Write write)
    {
        var next = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var (from, targets) in ConfigStore.ForwardEdges(write))
        {
            if (!next.TryGetValue(from, out var list)) next[from] = list = [];
            foreach (var t in targets.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                if (!string.Equals(t, from, StringComparison.OrdinalIgnoreCase)) list.Add(t.ToLowerInvariant());
        }
        // Iterative depth-first search: 0 = unseen, 1 = on the current path, 2 = done.
        var state = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var start in next.Keys.Order(StringComparer.Ordinal))
        {
            if (state.GetValueOrDefault(start) != 0) continue;
            var path = new List<string> { start };
            var stack = new Stack<IEnumerator<string>>();
            state[start] = 1;
            stack.Push(next[start].GetEnumerator());
            while (stack.Count > 0)
            {
                if (!stack.Peek().MoveNext())
                {
                    stack.Pop();
                    state[path[^1]] = 2;
                    path.RemoveAt(path.Count - 1);
                    continue;
                }
                var to = stack.Peek().Current;
                switch (state.GetValueOrDefault(to))
                {
                    case 1:
                        return string.Join(" -> ", path[path.IndexOf(to)..].Append(to));
                    case 0 when next.TryGetValue(to, out var onward):
                        state[to] = 1;
                        path.Add(to);
                        stack.Push(onward.GetEnumerator());
                        break;
                }
            }
        }
        return null;
    }
}
