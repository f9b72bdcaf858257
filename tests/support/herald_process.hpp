#pragma once

// Herald as a separate process, for tests that kill it: runs the built `herald serve`
// ($HERALD_BIN, exported by scripts/test) with the environment running_node's settings
// come from (node_environment: the test servers, the admin token, ...) plus the test's
// overrides, on a port base of its own (HERALD_TEST_HTTP_PORT_BASE2 unless overridden).
//
// start() returns once every service port the roles open answers /health/ready with 200,
// polled with a deadline; it throws naming the port and the last answer otherwise, or the
// exit status and the end of the log when the process died on the way. kill() sends
// SIGKILL and reaps the process: no shutdown code runs, as when a machine loses power or
// the kernel's OOM killer strikes. The destructor stops a running process with SIGTERM
// (SIGKILL after 10 s).
//
// The process's output goes to $HERALD_TEST_STATE_DIR/<node name>.log (appended across
// starts). It gets PR_SET_PDEATHSIG SIGKILL: if the thread that started it (a test's
// main thread) dies, so does the process, and no orphan keeps consuming test queues.

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>

namespace herald::test {

class herald_process {
public:
  /// Starts it (see start()).
  explicit herald_process(const std::map<std::string, std::string>& overrides = {});
  ~herald_process();
  herald_process(const herald_process&) = delete;
  herald_process& operator=(const herald_process&) = delete;

  /// Starts the process again with the same settings; returns once it is ready (throws as
  /// the constructor). Only when it is not running.
  void start();

  /// SIGKILL, then waits for the process to be gone.
  void kill();

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  std::string url(int offset = 0) const; ///< http://127.0.0.1:<base + offset>
  std::string log_path() const { return log_; }

  /// The time the last start() took until ready.
  std::chrono::milliseconds last_start() const { return last_start_; }

private:
  void wait_until_ready();
  std::string log_tail() const;

  std::map<std::string, std::string> environment_;
  std::string binary_;
  std::string log_;
  int base_ = 0;
  pid_t pid_ = -1;
  std::chrono::milliseconds last_start_{0};
};

} // namespace herald::test
