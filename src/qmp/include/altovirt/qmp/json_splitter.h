// JsonSplitter: cuts a byte stream into complete top-level JSON texts, so that a QMP command split
// across several reads, or several commands in one read, are each parsed once whole. It does not
// rely on newlines (QMP clients send one object per line, but RFC 7159 JSON texts need no
// separator): it tracks strings, escapes and bracket nesting, as QEMU's json-streamer does.
//
// A malformed text is still cut out (at the point where its brackets close, or where a closing
// bracket does not match) and left to the JSON parser to reject, so that one bad command does not
// swallow the ones after it.
//
// Threading: not synchronised; one owner (the QMP server thread, one splitter per client).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace altovirt::qmp {

class JsonSplitter {
 public:
  enum class Status {
    text,       // `out` holds the next complete JSON text (possibly malformed)
    need_more,  // no complete text buffered yet
    too_large,  // an incomplete text exceeds max_bytes: the stream cannot be trusted any more
    too_deep,   // nesting exceeds max_depth
  };

  explicit JsonSplitter(size_t max_bytes = 1 << 20, size_t max_depth = 1024)
      : max_bytes_(max_bytes), max_depth_(max_depth) {}

  // Appends bytes read from the stream.
  void feed(std::string_view data);
  // The next complete text. After too_large or too_deep the splitter must be discarded.
  Status next(std::string& out);
  // Bytes held that are not yet part of a returned text.
  size_t buffered() const { return buf_.size() - consumed_; }

 private:
  Status emit(size_t end, std::string& out);

  size_t max_bytes_;
  size_t max_depth_;
  std::string buf_;
  size_t consumed_ = 0;           // bytes of buf_ already returned or skipped
  size_t pos_ = 0;                // scan position in buf_
  size_t start_ = std::string::npos;  // start of the text being scanned
  std::vector<char> open_;        // the closing bracket each open bracket expects
  bool in_string_ = false;
  bool escape_ = false;
  bool bare_ = false;             // a top-level number, literal or garbage
};

}  // namespace altovirt::qmp
