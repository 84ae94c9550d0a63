#include "altovirt/qmp/json_splitter.h"

namespace altovirt::qmp {
namespace {

// RFC 8259 section 2: insignificant white space.
bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

void JsonSplitter::feed(std::string_view data) {
  // Drop what was already handed out before growing the buffer, so that a long session of small
  // commands does not keep every byte it ever received.
  if (consumed_ > 0) {
    buf_.erase(0, consumed_);
    pos_ -= consumed_;
    if (start_ != std::string::npos) start_ -= consumed_;
    consumed_ = 0;
  }
  buf_.append(data);
}

JsonSplitter::Status JsonSplitter::emit(size_t end, std::string& out) {
  out.assign(buf_, start_, end - start_);
  pos_ = end;
  consumed_ = end;
  start_ = std::string::npos;
  open_.clear();
  in_string_ = escape_ = bare_ = false;
  return Status::text;
}

JsonSplitter::Status JsonSplitter::next(std::string& out) {
  while (pos_ < buf_.size()) {
    char c = buf_[pos_];
    if (start_ == std::string::npos) {  // between texts
      if (is_json_space(c)) {
        consumed_ = ++pos_;
        continue;
      }
      start_ = pos_++;
      if (c == '{') open_.push_back('}');
      else if (c == '[') open_.push_back(']');
      else if (c == '"') in_string_ = true;
      else if (c == '}' || c == ']') return emit(pos_, out);  // a stray closer: garbage on its own
      else bare_ = true;
      continue;
    }
    if (in_string_) {
      if (escape_) escape_ = false;
      else if (c == '\\') escape_ = true;
      else if (c == '"') {
        in_string_ = false;
        if (open_.empty()) return emit(pos_ + 1, out);  // a top-level string
      }
      ++pos_;
      continue;
    }
    if (bare_) {
      // A number or literal ends at white space or at the start of something else.
      if (is_json_space(c) || c == '{' || c == '[' || c == '}' || c == ']' || c == '"') return emit(pos_, out);
      ++pos_;
      continue;
    }
    if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      if (open_.size() >= max_depth_) return Status::too_deep;
      open_.push_back(c == '{' ? '}' : ']');
    } else if (c == '}' || c == ']') {
      // A closer that does not match ends the (malformed) text here, so that parsing resumes after it.
      bool matches = c == open_.back();
      open_.pop_back();
      if (open_.empty() || !matches) return emit(pos_ + 1, out);
    }
    ++pos_;
  }
  if (buffered() > max_bytes_) return Status::too_large;
  return Status::need_more;
}

}  // namespace altovirt::qmp
