// What altoctl says about a verb it does not know: "unknown command 'lst'; did you mean 'list'?",
// the closest verbs by edit distance (as git and virsh's own completion do for typos).
//
// Threading: stateless functions; safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace altoctl {

// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
// neighbouring letters ("lsit" -> "list") each cost 1.
size_t edit_distance(std::string_view a, std::string_view b);

// The verbs closest to `word`, best first (ties in `verbs` order); empty when none is close enough
// to be a typo (distance at most 1 for words up to 4 letters, 2 up to 8, else 3). A verb that starts
// with `word` ("dom" -> "domstate") counts as close.
std::vector<std::string> suggest_verbs(std::string_view word, const std::vector<std::string>& verbs);

// The first argument that is a verb position, skipping the global options (those in
// `options_with_value` take the next argument unless written --opt=value). nullopt when there is none
// or it is a known verb, or an option comes first that is not global (CLI11 reports that itself).
std::optional<std::string> unknown_verb(const std::vector<std::string>& args, const std::vector<std::string>& verbs,
                                        const std::vector<std::string>& options_with_value);

// "unknown command 'lst'; did you mean 'list'?" (or "'a' or 'b'", or "; see `altoctl --help`").
std::string unknown_verb_message(std::string_view word, const std::vector<std::string>& verbs);

}  // namespace altoctl
