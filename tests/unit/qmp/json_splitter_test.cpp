#include "altovirt/qmp/json_splitter.h"

#include <gtest/gtest.h>

namespace altovirt::qmp {
namespace {

using Status = JsonSplitter::Status;

std::vector<std::string> all_texts(JsonSplitter& s) {
  std::vector<std::string> out;
  std::string text;
  while (s.next(text) == Status::text) out.push_back(text);
  return out;
}

TEST(JsonSplitter, OneObjectPerLine) {
  JsonSplitter s;
  s.feed("{\"execute\": \"qmp_capabilities\"}\r\n{\"execute\": \"quit\"}\n");
  EXPECT_EQ(all_texts(s), (std::vector<std::string>{"{\"execute\": \"qmp_capabilities\"}", "{\"execute\": \"quit\"}"}));
  EXPECT_EQ(s.buffered(), 0u);
}

TEST(JsonSplitter, SeveralObjectsWithoutNewlines) {
  JsonSplitter s;
  s.feed("{\"a\":1}{\"b\":[1,{\"c\":2}]}  [3]");
  EXPECT_EQ(all_texts(s), (std::vector<std::string>{"{\"a\":1}", "{\"b\":[1,{\"c\":2}]}", "[3]"}));
}

TEST(JsonSplitter, ByteByByte) {
  const std::string input = R"({"execute": "echo", "arguments": {"text": "a } ] { [ \" \\"}, "id": 7})";
  JsonSplitter s;
  std::string text;
  for (size_t i = 0; i + 1 < input.size(); ++i) {
    s.feed(input.substr(i, 1));
    ASSERT_EQ(s.next(text), Status::need_more) << "after byte " << i;
  }
  s.feed(input.substr(input.size() - 1));
  ASSERT_EQ(s.next(text), Status::text);
  EXPECT_EQ(text, input);  // braces and quotes inside the string did not end it early
}

TEST(JsonSplitter, TopLevelScalarsAndStrayClosers) {
  JsonSplitter s;
  s.feed("42 true \"a b\" } garbage\n]{\"x\":1}");
  EXPECT_EQ(all_texts(s), (std::vector<std::string>{"42", "true", "\"a b\"", "}", "garbage", "]", "{\"x\":1}"}));
  JsonSplitter t;
  t.feed("123");  // a number may go on
  std::string text;
  EXPECT_EQ(t.next(text), Status::need_more);
  t.feed("\n");
  ASSERT_EQ(t.next(text), Status::text);
  EXPECT_EQ(text, "123");
}

TEST(JsonSplitter, MismatchedCloserEndsTheTextSoTheNextOneParses) {
  JsonSplitter s;
  s.feed("{\"a\": [1}{\"execute\": \"x\"}");
  EXPECT_EQ(all_texts(s), (std::vector<std::string>{"{\"a\": [1}", "{\"execute\": \"x\"}"}));
}

TEST(JsonSplitter, TooLarge) {
  JsonSplitter s(1000);
  s.feed("{\"text\": \"" + std::string(990, 'a'));
  std::string text;
  EXPECT_EQ(s.next(text), Status::need_more);
  s.feed(std::string(20, 'a'));
  EXPECT_EQ(s.next(text), Status::too_large);
}

TEST(JsonSplitter, CompleteTextsDoNotCountTowardsTheLimit) {
  JsonSplitter s(100);
  std::string text;
  for (int i = 0; i < 1000; ++i) {
    s.feed("{\"execute\": \"query-status\"}\n");
    ASSERT_EQ(s.next(text), Status::text);
    ASSERT_EQ(s.next(text), Status::need_more);
  }
  EXPECT_EQ(s.buffered(), 0u);
}

TEST(JsonSplitter, TooDeep) {
  JsonSplitter s(1 << 20, 1024);
  s.feed(std::string(1024, '['));
  std::string text;
  EXPECT_EQ(s.next(text), Status::need_more);
  s.feed("[");
  EXPECT_EQ(s.next(text), Status::too_deep);
}

}  // namespace
}  // namespace altovirt::qmp
