// run_command: runs a shell command line (the tests append `2>&1`) and returns its exit status and
// output, for tests that drive the altoctl binary itself.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace altovirt::testing {

struct CliRun {
  int status;          // the exit status; -1 when the command did not exit normally
  std::string output;  // what it printed
};

inline CliRun run_command(const std::string& cmd) {
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return {-1, "popen failed: " + cmd};
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = ::pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

}  // namespace altovirt::testing
