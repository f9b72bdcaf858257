#include "support/herald_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support/test_env.hpp"

extern char** environ;

namespace herald::test {

namespace {

using steady = std::chrono::steady_clock;

/// The service ports (offsets from the base) the roles open: DESIGN.md's port table.
std::vector<int> service_ports(const config::settings& s) {
  std::vector<int> ports;
  const std::pair<const char*, int> by_role[] = {
    {"gateway", 0}, {"users", 1}, {"templates", 2}, {"email", 3}};
  for (auto& [role, offset] : by_role) {
    if (s.has_role(role)) {
      ports.push_back(offset);
    }
  }
  return ports;
}

/// The child's exit, if it has exited (reaped here); -1 while it runs.
int exited(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, WNOHANG) == pid) {
    return status;
  }
  return -1;
}

std::string describe(int status) {
  if (WIFEXITED(status)) {
    return "exited with status " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return std::string{"killed by "} + ::strsignal(WTERMSIG(status));
  }
  return "ended (" + std::to_string(status) + ")";
}

} // namespace

herald_process::herald_process(const std::map<std::string, std::string>& overrides) {
  std::map<std::string, std::string> defaults = {
    {"HERALD_HTTP_PORT_BASE", env("HERALD_TEST_HTTP_PORT_BASE2")},
    {"HERALD_NODE_NAME", "test-process"},
  };
  for (auto& [k, v] : overrides) {
    defaults[k] = v;
  }
  environment_ = node_environment(defaults);
  binary_ = env("HERALD_BIN");
  log_ = env("HERALD_TEST_STATE_DIR") + "/" + environment_["HERALD_NODE_NAME"] + ".log";
  base_ = std::stoi(environment_["HERALD_HTTP_PORT_BASE"]);
  start();
}

herald_process::~herald_process() {
  if (pid_ <= 0) {
    return;
  }
  ::kill(pid_, SIGTERM);
  auto until = steady::now() + std::chrono::seconds{10};
  while (exited(pid_) < 0) {
    if (steady::now() >= until) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{20}); // polling for its exit
  }
  pid_ = -1;
}

void herald_process::start() {
  if (pid_ > 0) {
    throw std::logic_error("herald_process::start: already running");
  }
  // Everything the child needs is built before fork: between fork and exec only
  // async-signal-safe calls. The parent's HERALD_* settings (but HERALD_TEST_*) are left
  // out so that the child's are exactly the test's.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry{*e};
    if (entry.rfind("HERALD_", 0) == 0 && entry.rfind("HERALD_TEST_", 0) != 0) {
      continue;
    }
    env_strings.push_back(entry);
  }
  for (auto& [k, v] : environment_) {
    env_strings.push_back(k + "=" + v);
  }
  std::vector<char*> envp;
  for (auto& s : env_strings) {
    envp.push_back(s.data());
  }
  envp.push_back(nullptr);
  std::string serve = "serve";
  std::vector<char*> argv{binary_.data(), serve.data(), nullptr};
  auto parent = ::getpid();

  auto started = steady::now();
  pid_t pid = ::fork();
  if (pid < 0) {
    throw std::runtime_error(std::string{"fork: "} + std::strerror(errno));
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) {
      ::_exit(126); // the parent died before prctl
    }
    int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
    }
    // The test's own signal mask and dispositions are not the daemon's.
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  pid_ = pid;
  try {
    wait_until_ready();
  } catch (...) {
    kill();
    throw;
  }
  last_start_ = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - started);
}

void herald_process::kill() {
  if (pid_ <= 0) {
    return;
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string herald_process::url(int offset) const {
  return "http://127.0.0.1:" + std::to_string(base_ + offset);
}

void herald_process::wait_until_ready() {
  config::sources in;
  in.environment = environment_;
  auto loaded = config::load(in);
  if (!loaded.value) {
    throw std::runtime_error("herald_process configuration: " + loaded.error);
  }
  for (int port : service_ports(*loaded.value)) {
    http_reply ready;
    int status = -1;
    bool ok = eventually(
      [&] {
        status = exited(pid_);
        if (status >= 0) {
          return true;
        }
        ready = http_call("GET", url(port) + "/health/ready", {}, {},
                          std::chrono::seconds{2});
        return ready.status == 200;
      },
      std::chrono::seconds{20});
    if (status >= 0) {
      pid_ = -1;
      throw std::runtime_error("herald serve " + describe(status) + " before it was ready; "
                               + log_ + " ends:\n" + log_tail());
    }
    if (!ok) {
      throw std::runtime_error("herald serve not ready on " + url(port) + ": " + ready.raw
                               + "\n" + log_ + " ends:\n" + log_tail());
    }
  }
}

std::string herald_process::log_tail() const {
  std::ifstream in{log_};
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line);
    if (lines.size() > 20) {
      lines.erase(lines.begin());
    }
  }
  std::ostringstream out;
  for (auto& l : lines) {
    out << "    " << l << "\n";
  }
  return out.str();
}

} // namespace herald::test
