#include "verb_suggest.h"

#include <fmt/format.h>

#include <algorithm>

namespace altoctl {

size_t edit_distance(std::string_view a, std::string_view b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i)
    for (size_t j = 1; j <= m; ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[n][m];
}

std::vector<std::string> suggest_verbs(std::string_view word, const std::vector<std::string>& verbs) {
  if (word.empty()) return {};
  size_t limit = word.size() <= 4 ? 1 : word.size() <= 8 ? 2 : 3;
  std::vector<std::pair<size_t, std::string>> close;
  for (const auto& v : verbs) {
    size_t dist = edit_distance(word, v);
    // A prefix of 3+ letters is a verb cut short: as close as one typo.
    if (word.size() >= 3 && v.starts_with(word)) dist = std::min<size_t>(dist, 1);
    if (dist <= limit) close.emplace_back(dist, v);
  }
  std::stable_sort(close.begin(), close.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<std::string> out;
  for (auto& [dist, v] : close)
    if (dist == close.front().first) out.push_back(v);  // only the best ones: "lst" suggests list, not "ls*"
  return out;
}

std::optional<std::string> unknown_verb(const std::vector<std::string>& args, const std::vector<std::string>& verbs,
                                        const std::vector<std::string>& options_with_value) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.starts_with("-")) {
      std::string name = a.substr(0, a.find('='));
      if (std::find(options_with_value.begin(), options_with_value.end(), name) == options_with_value.end())
        return std::nullopt;  // --help, or an option CLI11 will judge
      if (a.find('=') == std::string::npos) ++i;  // its value
      continue;
    }
    if (std::find(verbs.begin(), verbs.end(), a) != verbs.end()) return std::nullopt;
    return a;
  }
  return std::nullopt;
}

std::string unknown_verb_message(std::string_view word, const std::vector<std::string>& verbs) {
  auto s = suggest_verbs(word, verbs);
  if (s.empty()) return fmt::format("unknown command '{}'; see `altoctl --help` for the list", word);
  std::string list;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0) list += i + 1 == s.size() ? " or " : ", ";
    list += "'" + s[i] + "'";
  }
  return fmt::format("unknown command '{}'; did you mean {}?", word, list);
}

}  // namespace altoctl
