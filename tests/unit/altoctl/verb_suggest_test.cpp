#include "verb_suggest.h"

#include <gtest/gtest.h>

namespace altoctl {
namespace {

const std::vector<std::string> kVerbs = {"list", "start", "shutdown", "destroy", "dominfo", "domid", "domname",
                                         "domstate", "reboot", "reset", "resume", "suspend", "nodedev-list"};

TEST(EditDistanceTest, CountsEditsAndSwapsOfNeighbours) {
  EXPECT_EQ(edit_distance("list", "list"), 0u);
  EXPECT_EQ(edit_distance("lst", "list"), 1u);     // a letter missing
  EXPECT_EQ(edit_distance("lisst", "list"), 1u);   // one too many
  EXPECT_EQ(edit_distance("lsit", "list"), 1u);    // two swapped
  EXPECT_EQ(edit_distance("lust", "list"), 1u);    // one wrong
  EXPECT_EQ(edit_distance("", "list"), 4u);
  EXPECT_EQ(edit_distance("reboot", "reset"), 3u);
}

TEST(SuggestTest, TheClosestVerbForATypo) {
  EXPECT_EQ(suggest_verbs("lst", kVerbs), std::vector<std::string>{"list"});
  EXPECT_EQ(suggest_verbs("shutdwon", kVerbs), std::vector<std::string>{"shutdown"});
  EXPECT_EQ(suggest_verbs("suspned", kVerbs), std::vector<std::string>{"suspend"});
  EXPECT_EQ(suggest_verbs("dominf", kVerbs), std::vector<std::string>{"dominfo"});
}

TEST(SuggestTest, TiesAreAllNamedInOrder) {
  // "resme" is one edit from resume and two from reset: only the best.
  EXPECT_EQ(suggest_verbs("resme", kVerbs), std::vector<std::string>{"resume"});
  // "dom" starts several verbs: all of them, as close as one typo each.
  EXPECT_EQ(suggest_verbs("dom", kVerbs), (std::vector<std::string>{"dominfo", "domid", "domname", "domstate"}));
}

TEST(SuggestTest, NothingForAWordFarFromEveryVerb) {
  EXPECT_TRUE(suggest_verbs("frobnicate", kVerbs).empty());
  EXPECT_TRUE(suggest_verbs("xy", kVerbs).empty());
  EXPECT_TRUE(suggest_verbs("", kVerbs).empty());
}

TEST(UnknownVerbTest, FindsTheVerbPositionPastGlobalOptions) {
  const std::vector<std::string> globals = {"--state-dir", "--config-dir"};
  using Args = std::vector<std::string>;
  EXPECT_EQ(unknown_verb(Args{"lst"}, kVerbs, globals), "lst");
  EXPECT_EQ(unknown_verb(Args{"--state-dir", "/x", "lst", "--all"}, kVerbs, globals), "lst");
  EXPECT_EQ(unknown_verb(Args{"--state-dir=/x", "lst"}, kVerbs, globals), "lst");
  // A known verb, no verb, or an option CLI11 must judge first: not ours to report.
  EXPECT_EQ(unknown_verb(Args{"list", "--all"}, kVerbs, globals), std::nullopt);
  EXPECT_EQ(unknown_verb(Args{"--state-dir", "list"}, kVerbs, globals), std::nullopt);  // "list" is the value
  EXPECT_EQ(unknown_verb(Args{}, kVerbs, globals), std::nullopt);
  EXPECT_EQ(unknown_verb(Args{"--help", "lst"}, kVerbs, globals), std::nullopt);
}

TEST(UnknownVerbTest, TheMessage) {
  EXPECT_EQ(unknown_verb_message("lst", kVerbs), "unknown command 'lst'; did you mean 'list'?");
  EXPECT_EQ(unknown_verb_message("domi", kVerbs), "unknown command 'domi'; did you mean 'dominfo' or 'domid'?");
  EXPECT_EQ(unknown_verb_message("frobnicate", kVerbs),
            "unknown command 'frobnicate'; see `altoctl --help` for the list");
}

}  // namespace
}  // namespace altoctl
