// herald_loadgen: the HTTP load generator of Herald's benchmark (issue 3), closed and open
// loop, on plain POSIX sockets and epoll.
//
//   herald_loadgen --url http://127.0.0.1:8000/api/v1/notifications --body-file body.json
//                  --mode closed --connections 64 --seconds 10          # or --requests N
//   herald_loadgen ... --mode open --rate 2000 --connections 64 --seconds 10
//
// HTTP/1.1 keep-alive, one request in flight per connection (no pipelining), TCP_NODELAY.
//
// closed: each connection sends its next request as soon as its answer arrived (full
//   speed); latency is timed from the send.
// open: request k is due at t0 + k / rate, a schedule that does not depend on the answers.
//   A due request leaves on any idle connection; when none is idle it waits in a FIFO, and
//   its latency is timed from its *scheduled* time, not from when it was actually sent.
//   This is what corrects coordinated omission: a closed-loop client (or a paced one that
//   times from the send) stops offering load while the server is slow, so the requests
//   that would have queued behind a stall are never measured. Here they are, with the
//   queueing they suffered. The latency from the actual send is reported beside it
//   (service_latency_us), so the two can be compared; and how many requests went out more
//   than 1 ms after their scheduled time (late_over_1ms), of which how many the loop itself
//   only noticed that late (noticed_late_over_1ms: the generator was descheduled or busy;
//   the others waited for a free connection, queued_max deep at most).
//
// --body-file F: the body; every "{{seq}}" in it becomes a per-request counter (unique
// across threads). --header 'Name: value' (repeatable). --ids-out FILE: the
// notification_id of every 2xx answer, one per line.
//
// Answers are framed by Content-Length. Anything else (chunked, a malformed head, a
// connection closed with a request in flight, a timeout) is an error: counted by kind and
// per second, the connection is closed and reopened, and the run goes on. An idle
// connection the server closes is reopened without counting an error.
//
// The result is one JSON object on stdout: totals, status counts, errors, rates, latency
// percentiles (p50, p90, p99, p99.9, max, mean, in microseconds, over every sample: each is
// kept, 16 bytes each) and a per-second timeline (answers completed, 2xx, sent, errors and
// that second's p50/p99). Progress goes to stderr once per second. Exit status 1 when no
// connection could be opened at the start, or none has been usable for --timeout seconds
// (the server is gone: "gave_up", the result is still printed); 2 on bad usage.

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <climits>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <latch>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using json = nlohmann::json;

constexpr std::int64_t ms_ns = 1'000'000;
constexpr std::int64_t s_ns = 1'000'000'000;
constexpr std::int64_t never = std::numeric_limits<std::int64_t>::max();
constexpr std::uint64_t unlimited = std::numeric_limits<std::uint64_t>::max();
constexpr std::string_view placeholder = "{{seq}}";

std::int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * s_ns + ts.tv_nsec;
}

volatile std::sig_atomic_t stop_requested = 0; // SIGINT/SIGTERM: stop sending, drain, report

// ---------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------

struct options {
  std::string url;
  std::string mode = "closed";
  int connections = 64;
  int threads = 1;
  double seconds = 0;        // 0: not given
  std::uint64_t requests = 0; // 0: not given
  double rate = 0;           // open loop: requests per second
  std::string method = "POST";
  std::string body;
  std::vector<std::string> headers;
  std::string ids_out;
  double timeout = 30;       // seconds a request may stay unanswered
  double drain = 10;         // seconds to wait for answers once sending is over
  double max_seconds = 3600; // hard cap on the whole run
  bool progress = true;
};

const char* usage =
  "usage: herald_loadgen --url http://HOST:PORT/PATH [options]\n"
  "  --mode closed|open   closed loop at full speed (default) or open loop at --rate\n"
  "  --connections C      keep-alive connections (default 64)\n"
  "  --threads N          event loops, each with its share of connections and rate (default 1)\n"
  "  --seconds S          send for S seconds (closed or open)\n"
  "  --requests N         send N requests in all (closed or open; with --seconds, whichever first)\n"
  "  --rate R             open loop: requests per second, request k due at t0 + k/R\n"
  "  --method M           HTTP method (default POST)\n"
  "  --body-file F        request body; each {{seq}} becomes a per-request counter\n"
  "  --body TEXT          request body given inline (same placeholder)\n"
  "  --header 'N: v'      extra request header (repeatable; default Content-Type: application/json)\n"
  "  --ids-out FILE       write the notification_id of every 2xx answer, one per line\n"
  "  --timeout S          a request unanswered after S seconds is an error, and no usable\n"
  "                       connection for S seconds ends the run (default 30)\n"
  "  --drain S            seconds to wait for answers after the last send, or in open loop\n"
  "                       after the schedule's end for queued requests too (default 10)\n"
  "  --max-seconds S      hard cap on the run (default 3600)\n"
  "  --quiet              no progress lines on stderr\n";

[[noreturn]] void bad_usage(const std::string& why) {
  std::cerr << "herald_loadgen: " << why << "\n" << usage;
  std::exit(2);
}

double parse_number(const std::string& flag, const std::string& text, double min, double max) {
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || !(v >= min && v <= max)) {
    char range[64];
    std::snprintf(range, sizeof range, "[%g, %g]", min, max);
    bad_usage(flag + " wants a number in " + range + ", got '" + text + "'");
  }
  return v;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    bad_usage("cannot read --body-file " + path);
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

options parse_options(int argc, char** argv) {
  options o;
  bool body_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << usage;
      std::exit(0);
    }
    if (arg == "--quiet") {
      o.progress = false;
      continue;
    }
    std::string value;
    if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      bad_usage(arg + " needs a value");
    }
    if (arg == "--url") {
      o.url = value;
    } else if (arg == "--mode") {
      o.mode = value;
    } else if (arg == "--connections") {
      o.connections = static_cast<int>(parse_number(arg, value, 1, 100000));
    } else if (arg == "--threads") {
      o.threads = static_cast<int>(parse_number(arg, value, 1, 256));
    } else if (arg == "--seconds") {
      o.seconds = parse_number(arg, value, 0.001, 86400);
    } else if (arg == "--requests") {
      o.requests = static_cast<std::uint64_t>(parse_number(arg, value, 1, 1e12));
    } else if (arg == "--rate") {
      o.rate = parse_number(arg, value, 0.001, 1e8);
    } else if (arg == "--method") {
      o.method = value;
    } else if (arg == "--body-file") {
      o.body = read_file(value);
      body_given = true;
    } else if (arg == "--body") {
      o.body = value;
      body_given = true;
    } else if (arg == "--header") {
      auto colon = value.find(':');
      if (colon == std::string::npos || colon == 0
          || value.find_first_of("\r\n") != std::string::npos) {
        bad_usage("--header wants 'Name: value', got '" + value + "'");
      }
      o.headers.push_back(value);
    } else if (arg == "--ids-out") {
      o.ids_out = value;
    } else if (arg == "--timeout") {
      o.timeout = parse_number(arg, value, 0.001, 86400);
    } else if (arg == "--drain") {
      o.drain = parse_number(arg, value, 0, 86400);
    } else if (arg == "--max-seconds") {
      o.max_seconds = parse_number(arg, value, 0.001, 86400 * 7);
    } else {
      bad_usage("unknown option " + arg);
    }
  }
  if (o.url.empty()) {
    bad_usage("--url is required");
  }
  if (o.mode != "closed" && o.mode != "open") {
    bad_usage("--mode must be closed or open, got '" + o.mode + "'");
  }
  if (o.seconds == 0 && o.requests == 0) {
    bad_usage("give --seconds or --requests (or both)");
  }
  if (o.mode == "open" && o.rate == 0) {
    bad_usage("--mode open needs --rate");
  }
  if (o.mode == "closed" && o.rate != 0) {
    bad_usage("--rate only applies to --mode open");
  }
  if (!body_given && o.method == "POST") {
    bad_usage("POST needs --body-file or --body");
  }
  o.threads = std::min(o.threads, o.connections);
  return o;
}

// ---------------------------------------------------------------------------------------
// The target and the request
// ---------------------------------------------------------------------------------------

struct target {
  std::string host;
  std::string port = "80";
  std::string path = "/";
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
};

target resolve(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) {
    bad_usage("--url must start with http:// (no TLS here), got '" + url + "'");
  }
  target t;
  std::string rest = url.substr(scheme.size());
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    t.path = rest.substr(slash);
    rest.resize(slash);
  }
  if (!rest.empty() && rest.front() == '[') { // [v6]:port
    auto close = rest.find(']');
    if (close == std::string::npos) {
      bad_usage("bad IPv6 host in --url");
    }
    t.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') {
      t.port = rest.substr(close + 2);
    }
  } else if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    t.host = rest.substr(0, colon);
    t.port = rest.substr(colon + 1);
  } else {
    t.host = rest;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(t.host.c_str(), t.port.c_str(), &hints, &found); rc != 0 || !found) {
    bad_usage("cannot resolve " + t.host + ":" + t.port + ": " + gai_strerror(rc));
  }
  std::memcpy(&t.addr, found->ai_addr, found->ai_addrlen);
  t.addr_len = found->ai_addrlen;
  freeaddrinfo(found);
  return t;
}

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) {
    return false;
  }
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i]))
        != std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

/// The request as constant pieces: everything but the Content-Length value and the
/// sequence numbers is built once; each request only formats those two numbers.
struct request_template {
  std::string head;               // request line and headers, each ending in CRLF
  std::vector<std::string> parts; // the body split at each {{seq}}
  std::size_t fixed_body = 0;     // the body's length without the placeholders
  bool content_length = true;
};

request_template make_template(const options& o, const target& t) {
  request_template r;
  r.head = o.method + " " + t.path + " HTTP/1.1\r\nHost: " + t.host
           + (t.port == "80" ? "" : ":" + t.port) + "\r\n";
  bool content_type = false;
  for (auto& h : o.headers) {
    content_type = content_type || iequals_prefix(h, "content-type:");
    r.head += h + "\r\n";
  }
  if (!content_type && !o.body.empty()) {
    r.head += "Content-Type: application/json\r\n";
  }
  std::string_view body = o.body;
  for (;;) {
    auto at = body.find(placeholder);
    r.parts.emplace_back(body.substr(0, at));
    r.fixed_body += r.parts.back().size();
    if (at == std::string_view::npos) {
      break;
    }
    body.remove_prefix(at + placeholder.size());
  }
  r.content_length = !(o.body.empty() && (o.method == "GET" || o.method == "HEAD"));
  return r;
}

// ---------------------------------------------------------------------------------------
// One event loop: its share of the connections, the requests and the rate
// ---------------------------------------------------------------------------------------

/// One answer. Times in microseconds: done since t0; latency from the scheduled time (open
/// loop) or the send (closed loop); service from the actual send.
struct sample {
  std::uint32_t done_us;
  std::uint32_t latency_us;
  std::uint32_t service_us;
  std::uint16_t status;
};

enum error_kind { e_connect, e_write, e_read, e_closed, e_parse, e_unsupported, e_timeout, e_count };
const char* const error_names[e_count] = {"connect", "write", "read", "closed",
                                          "parse", "unsupported", "timeout"};

enum class conn_state : std::uint8_t { down, connecting, idle, busy };

struct connection {
  int fd = -1;
  conn_state state = conn_state::down;
  bool ever_connected = false;
  bool want_out = false;            // registered for EPOLLOUT (a request partly written)
  std::int64_t since_ns = 0;        // connect started, or request sent
  std::int64_t scheduled_ns = 0;    // when the request in flight was due
  std::int64_t reconnect_at = 0;
  std::vector<iovec> iov;           // the request in flight, into the template and below
  std::size_t iov_first = 0;
  char length_buf[48];
  char seq_buf[24];
  std::vector<char> in;             // the answer being read
  std::size_t in_len = 0;
  bool head_done = false;
  std::size_t body_start = 0;
  std::size_t content_length = 0;
  int status = 0;
  bool close_after = false;
};

/// Counters the progress reporter reads from another thread; written by the owner only.
struct alignas(64) progress_counters {
  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> answered{0};
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> errors{0};
  std::atomic<std::uint64_t> queued{0};
  std::atomic<bool> done{false};
};

void bump(std::atomic<std::uint64_t>& c, std::uint64_t by = 1) {
  c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

class worker {
public:
  worker(const options& o, const target& t, const request_template& r, int index, int count,
         int connections, std::uint64_t total)
    : o_(o), t_(t), r_(r), index_(index), count_(count), total_(total), conns_(connections),
      open_(o.mode == "open") {
    for (auto& c : conns_) {
      c.iov.resize(2 + 2 * r_.parts.size() - 1);
      c.in.resize(16 * 1024);
    }
    idle_.reserve(conns_.size());
    down_ = conns_.size();
    if (total_ != unlimited) {
      samples.reserve(std::min<std::uint64_t>(total_, 10'000'000));
    } else if (o_.seconds > 0) {
      samples.reserve(static_cast<std::size_t>(std::min(o_.seconds * 5000.0, 5e6)));
    }
  }

  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  ~worker() {
    for (auto& c : conns_) {
      if (c.fd >= 0) {
        ::close(c.fd);
      }
    }
    if (ep_ >= 0) {
      ::close(ep_);
    }
  }

  /// Opens every connection (before t0, so connecting is not measured); true when at
  /// least one is up.
  bool connect_all(std::int64_t deadline) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) {
      std::perror("herald_loadgen: epoll_create1");
      return false;
    }
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      start_connect(i, now_ns());
    }
    epoll_event events[256];
    while (connecting_ > 0 && now_ns() < deadline && !stop_requested) {
      int n = epoll_wait(ep_, events, 256, 100);
      for (int i = 0; i < n; ++i) {
        handle(events[i].data.u32, events[i].events);
      }
    }
    return !idle_.empty();
  }

  /// The run, from t0 until every request is answered, the drain time is over or a stop.
  void run(std::int64_t t0) {
    t0_ = t0;
    last_up_ns_ = t0;
    // Errors while connecting were before t0: they count, in the first second.
    // Closed loop sends until issue_end; open loop's schedule ends at its last due time,
    // after which queued requests may still go out (late) until the drain is over.
    const std::int64_t issue_end = o_.seconds > 0 ? t0 + static_cast<std::int64_t>(o_.seconds * s_ns)
                                                  : never;
    const std::int64_t schedule_end = !open_ ? issue_end : total_ == 0 ? t0 : due(total_ - 1);
    const std::int64_t hard_end = t0 + static_cast<std::int64_t>(o_.max_seconds * s_ns);
    std::int64_t drain_end = 0;
    std::int64_t next_scan = t0 + 100 * ms_ns;
    epoll_event events[256];
    for (;;) {
      std::int64_t now = now_ns();
      bool stopping = stop_requested != 0 || gave_up;
      if (!stopping) {
        if (open_) {
          // A request noticed late here was late because of this loop (descheduled, or
          // busy with answers), not because no connection was free.
          for (std::int64_t d; released_ < total_ && (d = due(released_)) <= now; ++released_) {
            noticed_late += now - d > ms_ns ? 1 : 0;
          }
          while (issued_ < released_ && !idle_.empty()) {
            send(take_idle(), due(issued_));
            ++issued_;
          }
          queued_max = std::max(queued_max, released_ - issued_);
          progress.queued.store(released_ - issued_, std::memory_order_relaxed);
        } else {
          // A fresh clock per send: a burst of writes must not run past --seconds.
          while (!idle_.empty() && issued_ < total_ && (now = now_ns()) < issue_end) {
            send(take_idle(), now);
            ++issued_;
          }
        }
      }
      // Nothing more will be sent: stop once the answers are in.
      bool issuing_over = stopping || issued_ >= total_ || (!open_ && now >= issue_end);
      if (issuing_over && busy_ == 0) {
        break;
      }
      if ((issuing_over || now >= schedule_end) && drain_end == 0) {
        drain_end = std::min(now + static_cast<std::int64_t>(o_.drain * s_ns), hard_end);
      }
      if (now >= hard_end || (drain_end != 0 && now >= drain_end)) {
        break;
      }
      if (now >= next_scan) {
        scan_timeouts(now);
        next_scan = now + 100 * ms_ns;
        // No connection up, none answering, for --timeout: the server is gone.
        if (busy_ == 0 && idle_.empty() && now - last_up_ns_ > static_cast<std::int64_t>(o_.timeout * s_ns)) {
          gave_up = true;
        }
      }
      std::int64_t wake = next_scan;
      if (down_ > 0) {
        for (std::size_t i = 0; i < conns_.size(); ++i) {
          auto& c = conns_[i];
          if (c.state == conn_state::down) {
            if (c.reconnect_at <= now && !issuing_over && (drain_end == 0 || now < drain_end)) {
              start_connect(i, now);
            } else {
              wake = std::min(wake, c.reconnect_at);
            }
          }
        }
      }
      // Wake at the next due time even with every connection busy: the FIFO then grows on
      // time, and a request noticed late is one this loop was late for.
      if (!stopping && open_ && released_ < total_) {
        wake = std::min(wake, due(released_));
      }
      if (!open_ && !issuing_over) {
        wake = std::min(wake, issue_end);
      }
      if (drain_end != 0) {
        wake = std::min(wake, drain_end);
      }
      wake = std::min(wake, hard_end);
      int n = wait(events, 256, std::max<std::int64_t>(0, wake - now_ns()));
      for (int i = 0; i < n; ++i) {
        handle(events[i].data.u32, events[i].events);
      }
    }
    // Whatever is still in flight or queued now will never be answered here.
    for (auto& c : conns_) {
      if (c.state == conn_state::busy) {
        ++unanswered;
      }
    }
    if (open_ && total_ != unlimited) {
      unsent = total_ - issued_;
    }
    progress.done.store(true);
  }

  // -- results (read after run) ------------------------------------------------------

  std::vector<sample> samples;
  std::vector<std::uint32_t> sent_per_s;
  std::vector<std::uint32_t> errors_per_s;
  std::uint64_t errors[e_count] = {};
  std::array<std::uint64_t, 600> statuses{};
  std::uint64_t sent = 0;
  std::uint64_t reconnects = 0;
  std::uint64_t late = 0;
  std::uint64_t noticed_late = 0; // open loop: seen due > 1 ms late by the loop itself
  std::uint64_t queued_max = 0; // open loop: the FIFO's largest length (no idle connection)
  std::int64_t send_lag_max_ns = 0;
  std::uint64_t unsent = 0;
  std::uint64_t unanswered = 0;
  std::uint64_t ids_missing = 0;
  std::uint64_t ids_written = 0;
  bool gave_up = false; // no usable connection for --timeout: stopped sending
  std::int64_t last_send_ns = 0;
  std::int64_t last_done_ns = 0;
  std::string ids;
  progress_counters progress;

private:
  /// When this loop's j-th request is due: it issues the global requests k = index + j *
  /// count, and request k is due at t0 + k / rate.
  std::int64_t due(std::uint64_t j) const {
    double k = static_cast<double>(index_) + static_cast<double>(j) * count_;
    return t0_ + static_cast<std::int64_t>(k * 1e9 / o_.rate);
  }

  int wait(epoll_event* events, int max, std::int64_t timeout_ns) {
    timespec ts{static_cast<time_t>(timeout_ns / s_ns), static_cast<long>(timeout_ns % s_ns)};
    if (!no_pwait2_) {
      int n = epoll_pwait2(ep_, events, max, &ts, nullptr);
      if (n >= 0 || errno != ENOSYS) {
        return n < 0 ? 0 : n; // EINTR: the loop looks at the stop flag
      }
      no_pwait2_ = true;
    }
    int n = epoll_wait(ep_, events, max, static_cast<int>((timeout_ns + ms_ns - 1) / ms_ns));
    return n < 0 ? 0 : n;
  }

  std::size_t take_idle() {
    auto i = idle_.back();
    idle_.pop_back();
    return i;
  }

  void drop_idle(std::size_t i) {
    auto at = std::find(idle_.begin(), idle_.end(), i);
    if (at != idle_.end()) {
      *at = idle_.back();
      idle_.pop_back();
    }
  }

  std::size_t second_of(std::int64_t t) const {
    return t0_ == 0 || t <= t0_ ? 0 : static_cast<std::size_t>((t - t0_) / s_ns);
  }

  static void count_at(std::vector<std::uint32_t>& per_s, std::size_t second) {
    if (second >= per_s.size()) {
      per_s.resize(second + 1, 0);
    }
    ++per_s[second];
  }

  void control(std::size_t i, std::uint32_t events, int op) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u32 = static_cast<std::uint32_t>(i);
    epoll_ctl(ep_, op, conns_[i].fd, &ev);
  }

  /// Opens connection i (which is down); a failure is a connect error.
  void start_connect(std::size_t i, std::int64_t now) {
    auto& c = conns_[i];
    reconnects += c.ever_connected ? 1 : 0;
    --down_;
    c.state = conn_state::connecting;
    ++connecting_;
    c.reconnect_at = 0;
    c.since_ns = now;
    c.in_len = 0;
    c.head_done = false;
    c.want_out = false;
    c.fd = ::socket(t_.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
      fail(i, e_connect);
      return;
    }
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&t_.addr), t_.addr_len) == 0) {
      --connecting_;
      c.state = conn_state::idle;
      c.ever_connected = true;
      last_up_ns_ = now;
      control(i, EPOLLIN, EPOLL_CTL_ADD);
      idle_.push_back(i);
      return;
    }
    if (errno != EINPROGRESS) {
      fail(i, e_connect);
      return;
    }
    control(i, EPOLLOUT, EPOLL_CTL_ADD);
  }

  /// Closes connection i after an error of `kind` (the request in flight, if any, is lost
  /// and counted); it is reopened at once, or after 100 ms when connecting failed.
  void fail(std::size_t i, error_kind kind) {
    auto& c = conns_[i];
    auto now = now_ns();
    ++errors[kind];
    bump(progress.errors);
    count_at(errors_per_s, second_of(now));
    close_conn(i);
    c.reconnect_at = kind == e_connect ? now + 100 * ms_ns : 1;
  }

  /// Closes connection i without counting an error (the server closed an idle one, or
  /// asked for it with Connection: close).
  void close_conn(std::size_t i) {
    auto& c = conns_[i];
    if (c.state == conn_state::busy) {
      --busy_;
    } else if (c.state == conn_state::idle) {
      drop_idle(i);
    } else if (c.state == conn_state::connecting) {
      --connecting_;
    }
    if (c.fd >= 0) {
      ::close(c.fd); // also leaves the epoll set
      c.fd = -1;
    }
    if (c.state != conn_state::down) {
      ++down_;
    }
    c.state = conn_state::down;
    c.reconnect_at = 1;
    c.in_len = 0;
    c.head_done = false;
    c.want_out = false;
  }

  void send(std::size_t i, std::int64_t scheduled) {
    auto& c = conns_[i];
    std::uint64_t seq = static_cast<std::uint64_t>(index_) + seq_++ * count_;
    auto seq_end = std::to_chars(c.seq_buf, c.seq_buf + sizeof c.seq_buf, seq).ptr;
    std::size_t seq_len = static_cast<std::size_t>(seq_end - c.seq_buf);
    std::size_t body_len = r_.fixed_body + (r_.parts.size() - 1) * seq_len;
    char* p = c.length_buf;
    if (r_.content_length) {
      std::memcpy(p, "Content-Length: ", 16);
      p = std::to_chars(p + 16, c.length_buf + sizeof c.length_buf - 4, body_len).ptr;
    }
    std::memcpy(p, "\r\n", 2);
    p += 2;
    if (r_.content_length) {
      std::memcpy(p, "\r\n", 2);
      p += 2;
    }
    std::size_t n = 0;
    c.iov[n++] = {const_cast<char*>(r_.head.data()), r_.head.size()};
    c.iov[n++] = {c.length_buf, static_cast<std::size_t>(p - c.length_buf)};
    for (std::size_t k = 0; k < r_.parts.size(); ++k) {
      if (k > 0) {
        c.iov[n++] = {c.seq_buf, seq_len};
      }
      c.iov[n++] = {const_cast<char*>(r_.parts[k].data()), r_.parts[k].size()};
    }
    c.iov_first = 0;
    c.state = conn_state::busy;
    ++busy_;
    auto now = now_ns();
    c.since_ns = now;
    c.scheduled_ns = scheduled;
    ++sent;
    bump(progress.sent);
    last_send_ns = now;
    count_at(sent_per_s, second_of(now));
    if (open_) {
      auto lag = now - scheduled;
      late += lag > ms_ns ? 1 : 0;
      send_lag_max_ns = std::max(send_lag_max_ns, lag);
    }
    flush(i);
  }

  void flush(std::size_t i) {
    auto& c = conns_[i];
    while (c.iov_first < c.iov.size()) {
      int count = static_cast<int>(std::min<std::size_t>(c.iov.size() - c.iov_first, IOV_MAX));
      ssize_t n = ::writev(c.fd, &c.iov[c.iov_first], count);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          if (!c.want_out) {
            c.want_out = true;
            control(i, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
          }
          return;
        }
        fail(i, e_write);
        return;
      }
      auto left = static_cast<std::size_t>(n);
      while (left > 0 && c.iov_first < c.iov.size()) {
        auto& v = c.iov[c.iov_first];
        if (left >= v.iov_len) {
          left -= v.iov_len;
          ++c.iov_first;
        } else {
          v.iov_base = static_cast<char*>(v.iov_base) + left;
          v.iov_len -= left;
          left = 0;
        }
      }
      while (c.iov_first < c.iov.size() && c.iov[c.iov_first].iov_len == 0) {
        ++c.iov_first;
      }
    }
    if (c.want_out) {
      c.want_out = false;
      control(i, EPOLLIN, EPOLL_CTL_MOD);
    }
  }

  void handle(std::uint32_t i, std::uint32_t events) {
    auto& c = conns_[i];
    if (c.state == conn_state::connecting) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0 || (events & (EPOLLERR | EPOLLHUP)) != 0) {
        fail(i, e_connect);
        return;
      }
      --connecting_;
      c.state = conn_state::idle;
      c.ever_connected = true;
      last_up_ns_ = now_ns();
      control(i, EPOLLIN, EPOLL_CTL_MOD);
      idle_.push_back(i);
      return;
    }
    if (c.state == conn_state::down) {
      return; // closed earlier in this batch of events
    }
    if ((events & EPOLLOUT) != 0 && c.want_out) {
      flush(i);
      if (c.state == conn_state::down) {
        return;
      }
    }
    if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) {
      read_some(i);
    }
  }

  void read_some(std::size_t i) {
    auto& c = conns_[i];
    for (;;) {
      if (c.in_len == c.in.size()) {
        if (c.in.size() >= (std::size_t{16} << 20)) {
          fail(i, e_parse); // an answer this large is not one of Herald's
          return;
        }
        c.in.resize(c.in.size() * 2);
      }
      std::size_t space = c.in.size() - c.in_len;
      ssize_t n = ::read(c.fd, c.in.data() + c.in_len, space);
      if (n > 0) {
        if (c.state != conn_state::busy) {
          fail(i, e_parse); // bytes nobody asked for
          return;
        }
        c.in_len += static_cast<std::size_t>(n);
        if (!parse(i)) {
          return; // failed; the connection is closed
        }
        if (static_cast<std::size_t>(n) < space) {
          return; // drained for now; level-triggered epoll reports more
        }
        continue;
      }
      if (n == 0) {
        if (c.state == conn_state::busy) {
          fail(i, e_closed);
        } else {
          close_conn(i); // the server closed an idle keep-alive connection
        }
        return;
      }
      if (errno == EINTR) {
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return;
      }
      if (c.state == conn_state::busy) {
        fail(i, e_read);
      } else {
        close_conn(i);
      }
      return;
    }
  }

  /// Parses what connection i has read; completes the answer when it is all there.
  /// False when the connection failed (and is closed).
  bool parse(std::size_t i) {
    auto& c = conns_[i];
    std::string_view in(c.in.data(), c.in_len);
    if (!c.head_done) {
      auto end = in.find("\r\n\r\n");
      if (end == std::string_view::npos) {
        if (c.in_len > 64 * 1024) {
          fail(i, e_parse);
          return false;
        }
        return true;
      }
      std::string_view head = in.substr(0, end + 2);
      // Status line: HTTP/1.x SSS reason
      if (head.size() < 12 || head.substr(0, 7) != "HTTP/1." || head[8] != ' ') {
        fail(i, e_parse);
        return false;
      }
      int status = 0;
      if (std::from_chars(head.data() + 9, head.data() + 12, status).ptr != head.data() + 12
          || status < 100 || status > 599) {
        fail(i, e_parse);
        return false;
      }
      bool has_length = false;
      std::size_t length = 0;
      c.close_after = head[7] == '0'; // HTTP/1.0 closes unless told otherwise
      auto line_start = head.find("\r\n") + 2;
      while (line_start < head.size()) {
        auto line_end = head.find("\r\n", line_start);
        std::string_view line = head.substr(line_start, line_end - line_start);
        line_start = line_end + 2;
        auto value_of = [&](std::size_t name_len) {
          auto v = line.substr(name_len);
          while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
            v.remove_prefix(1);
          }
          while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
            v.remove_suffix(1);
          }
          return v;
        };
        if (iequals_prefix(line, "content-length:")) {
          auto v = value_of(15);
          if (std::from_chars(v.data(), v.data() + v.size(), length).ptr != v.data() + v.size()
              || v.empty()) {
            fail(i, e_parse);
            return false;
          }
          has_length = true;
        } else if (iequals_prefix(line, "transfer-encoding:")) {
          fail(i, e_unsupported); // chunked answers: not what cpprestsdk sends for these
          return false;
        } else if (iequals_prefix(line, "connection:")) {
          auto v = value_of(11);
          c.close_after = iequals_prefix(v, "close") ? true
                          : iequals_prefix(v, "keep-alive") ? false
                                                            : c.close_after;
        }
      }
      if (!has_length) {
        if (status < 200 || status == 204 || status == 304) {
          length = 0;
        } else {
          fail(i, e_unsupported); // framed by closing the connection: not supported
          return false;
        }
      }
      if (status < 200) {
        fail(i, e_unsupported); // 1xx: never asked for (no Expect header is sent)
        return false;
      }
      c.head_done = true;
      c.status = status;
      c.body_start = end + 4;
      c.content_length = length;
    }
    std::size_t total = c.body_start + c.content_length;
    if (c.in_len < total) {
      return true;
    }
    if (c.in_len > total) {
      fail(i, e_parse); // more than one answer to one request
      return false;
    }
    complete(i, in.substr(c.body_start, c.content_length));
    return true;
  }

  void complete(std::size_t i, std::string_view body) {
    auto& c = conns_[i];
    auto now = now_ns();
    auto us = [](std::int64_t ns) {
      return static_cast<std::uint32_t>(std::clamp<std::int64_t>(ns / 1000, 0, UINT32_MAX));
    };
    std::int64_t from = open_ ? c.scheduled_ns : c.since_ns;
    samples.push_back({us(now - t0_), us(now - from), us(now - c.since_ns),
                       static_cast<std::uint16_t>(c.status)});
    ++statuses[c.status];
    last_done_ns = now;
    last_up_ns_ = now;
    bump(progress.answered);
    bool ok = c.status >= 200 && c.status < 300;
    if (ok) {
      bump(progress.accepted);
      if (!o_.ids_out.empty()) {
        record_id(body);
      }
    }
    c.in_len = 0;
    c.head_done = false;
    --busy_;
    c.state = conn_state::idle;
    if (c.close_after) {
      close_conn(i);
      c.reconnect_at = 1;
    } else {
      idle_.push_back(i);
    }
  }

  /// Appends the body's "notification_id":"<id>" to the ids; counts a 2xx without one.
  void record_id(std::string_view body) {
    constexpr std::string_view key = "\"notification_id\"";
    auto at = body.find(key);
    if (at != std::string_view::npos) {
      auto p = at + key.size();
      while (p < body.size() && (body[p] == ' ' || body[p] == ':')) {
        ++p;
      }
      if (p < body.size() && body[p] == '"') {
        auto end = body.find('"', p + 1);
        if (end != std::string_view::npos && end - p - 1 > 0 && end - p - 1 <= 128) {
          ids.append(body.substr(p + 1, end - p - 1));
          ids.push_back('\n');
          ++ids_written;
          return;
        }
      }
    }
    ++ids_missing;
  }

  void scan_timeouts(std::int64_t now) {
    auto limit = static_cast<std::int64_t>(o_.timeout * s_ns);
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      auto& c = conns_[i];
      if (c.state == conn_state::busy && now - c.since_ns > limit) {
        fail(i, e_timeout);
      } else if (c.state == conn_state::connecting && now - c.since_ns > limit) {
        fail(i, e_connect);
      }
    }
  }

  const options& o_;
  const target& t_;
  const request_template& r_;
  const int index_;
  const int count_;
  const std::uint64_t total_; // requests this loop may send (unlimited: --seconds decides)
  std::vector<connection> conns_;
  std::vector<std::size_t> idle_;
  const bool open_;
  int ep_ = -1;
  bool no_pwait2_ = false;
  std::int64_t t0_ = 0;
  std::int64_t last_up_ns_ = 0; // last connect or answer: to give up on a server gone
  std::uint64_t seq_ = 0;
  std::uint64_t released_ = 0; // open loop: requests due so far; [issued_, released_) waits
  std::uint64_t issued_ = 0;
  std::size_t busy_ = 0;
  std::size_t connecting_ = 0;
  std::size_t down_ = 0;
};

// ---------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------

/// Nearest-rank percentile of sorted values.
std::uint32_t percentile(const std::vector<std::uint32_t>& sorted, double q) {
  if (sorted.empty()) {
    return 0;
  }
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

json latency_json(std::vector<std::uint32_t>& v) {
  if (v.empty()) {
    return nullptr;
  }
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (auto x : v) {
    sum += x;
  }
  return {{"p50", percentile(v, 0.50)},  {"p90", percentile(v, 0.90)},
          {"p99", percentile(v, 0.99)},  {"p99_9", percentile(v, 0.999)},
          {"max", v.back()},             {"mean", std::round(sum / v.size() * 10) / 10}};
}

json report(const options& o, std::vector<std::unique_ptr<worker>>& workers, std::int64_t t0,
            double t0_unix, std::uint64_t total) {
  std::vector<sample> all;
  std::map<int, std::uint64_t> statuses;
  std::uint64_t errors[e_count] = {};
  std::uint64_t sent = 0, reconnects = 0, late = 0, unsent = 0, unanswered = 0, ids = 0,
                ids_missing = 0, queued_max = 0, noticed_late = 0;
  std::int64_t lag_max = 0, last_send = t0, last_done = t0;
  bool gave_up = false;
  std::vector<std::uint32_t> sent_per_s, errors_per_s;
  auto add_per_s = [](std::vector<std::uint32_t>& to, const std::vector<std::uint32_t>& from) {
    if (from.size() > to.size()) {
      to.resize(from.size(), 0);
    }
    for (std::size_t s = 0; s < from.size(); ++s) {
      to[s] += from[s];
    }
  };
  for (auto& w : workers) {
    all.insert(all.end(), w->samples.begin(), w->samples.end());
    for (std::size_t s = 0; s < w->statuses.size(); ++s) {
      if (w->statuses[s] != 0) {
        statuses[static_cast<int>(s)] += w->statuses[s];
      }
    }
    for (int k = 0; k < e_count; ++k) {
      errors[k] += w->errors[k];
    }
    sent += w->sent;
    reconnects += w->reconnects;
    late += w->late;
    noticed_late += w->noticed_late;
    queued_max += w->queued_max; // with several loops: the sum of each one's deepest
    unsent += w->unsent;
    unanswered += w->unanswered;
    ids += w->ids_written;
    ids_missing += w->ids_missing;
    gave_up = gave_up || w->gave_up;
    lag_max = std::max(lag_max, w->send_lag_max_ns);
    last_send = std::max(last_send, w->last_send_ns);
    last_done = std::max(last_done, w->last_done_ns);
    add_per_s(sent_per_s, w->sent_per_s);
    add_per_s(errors_per_s, w->errors_per_s);
  }
  std::uint64_t answered = all.size(), accepted = 0;
  for (auto& s : all) {
    accepted += (s.status >= 200 && s.status < 300) ? 1 : 0;
  }
  double seconds = std::max(1e-9, static_cast<double>(std::max(last_done, last_send) - t0) / 1e9);
  bool open = o.mode == "open";
  // The send rate is over the schedule's span in open loop (so that a run whose requests
  // all left on time reports exactly the target), over the whole run in closed loop.
  double send_seconds = seconds;
  if (open) {
    double span = total != unlimited ? static_cast<double>(total) / o.rate : seconds;
    send_seconds = std::max(span, static_cast<double>(last_send - t0) / 1e9);
  }

  json status_json = json::object();
  for (auto& [s, n] : statuses) {
    status_json[std::to_string(s)] = n;
  }
  json errors_json = json::object();
  std::uint64_t error_total = 0;
  for (int k = 0; k < e_count; ++k) {
    errors_json[error_names[k]] = errors[k];
    error_total += errors[k];
  }
  errors_json["total"] = error_total;

  std::vector<std::uint32_t> lat, service;
  lat.reserve(all.size());
  service.reserve(all.size());
  for (auto& s : all) {
    lat.push_back(s.latency_us);
    service.push_back(s.service_us);
  }

  // Per second: answers completed in it, 2xx among them, that second's p50/p99, and the
  // requests sent and errors in it.
  std::sort(all.begin(), all.end(),
            [](const sample& a, const sample& b) { return a.done_us < b.done_us; });
  std::size_t last_second = all.empty() ? 0 : all.back().done_us / 1'000'000;
  std::size_t span = std::max({last_second + 1, sent_per_s.size(), errors_per_s.size()});
  json timeline = json::array();
  std::vector<std::uint32_t> second_lat;
  std::size_t at = 0;
  for (std::size_t s = 0; s < span; ++s) {
    second_lat.clear();
    std::uint64_t ok = 0;
    while (at < all.size() && all[at].done_us / 1'000'000 == s) {
      second_lat.push_back(all[at].latency_us);
      ok += (all[at].status >= 200 && all[at].status < 300) ? 1 : 0;
      ++at;
    }
    std::sort(second_lat.begin(), second_lat.end());
    timeline.push_back({{"t", s},
                        {"sent", s < sent_per_s.size() ? sent_per_s[s] : 0},
                        {"answered", second_lat.size()},
                        {"accepted", ok},
                        {"errors", s < errors_per_s.size() ? errors_per_s[s] : 0},
                        {"p50_us", second_lat.empty() ? json(nullptr)
                                                      : json(percentile(second_lat, 0.5))},
                        {"p99_us", second_lat.empty() ? json(nullptr)
                                                      : json(percentile(second_lat, 0.99))}});
  }

  json r = {
    {"mode", o.mode},
    {"url", o.url},
    {"connections", o.connections},
    {"threads", o.threads},
    {"target_rate", open ? json(o.rate) : json(nullptr)},
    {"started_at_unix", t0_unix},
    {"seconds", seconds},
    {"send_seconds", send_seconds},
    {"sent", sent},
    {"answered", answered},
    {"accepted", accepted},
    {"non_2xx", answered - accepted},
    {"status", status_json},
    {"errors", errors_json},
    {"reconnects", reconnects},
    {"unsent", unsent},
    {"unanswered", unanswered},
    {"gave_up", gave_up},
    {"rate", static_cast<double>(sent) / send_seconds},
    {"answered_per_s", static_cast<double>(answered) / seconds},
    {"accepted_per_s", static_cast<double>(accepted) / seconds},
    {"late_over_1ms", open ? json(late) : json(nullptr)},
    {"noticed_late_over_1ms", open ? json(noticed_late) : json(nullptr)},
    {"send_lag_max_us", open ? json(lag_max / 1000) : json(nullptr)},
    {"queued_max", open ? json(queued_max) : json(nullptr)},
    {"latency_from", open ? "scheduled" : "sent"},
    {"latency_us", latency_json(lat)},
    {"service_latency_us", latency_json(service)},
    {"timeline", timeline},
  };
  if (!o.ids_out.empty()) {
    r["ids_written"] = ids;
    r["ids_missing"] = ids_missing;
  }
  return r;
}

void on_signal(int) {
  stop_requested = 1;
}

} // namespace

int main(int argc, char** argv) {
  auto o = parse_options(argc, argv);
  auto t = resolve(o.url);
  auto r = make_template(o, t);

  std::signal(SIGPIPE, SIG_IGN);
  struct sigaction sa{};
  sa.sa_handler = on_signal; // no SA_RESTART: epoll_wait returns and the loop stops sending
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  // Requests in all, then each loop's share: open loop issues k = index, index + n, ...
  std::uint64_t total = unlimited;
  if (o.requests > 0) {
    total = o.requests;
  }
  if (o.mode == "open" && o.seconds > 0) {
    total = std::min<std::uint64_t>(total, static_cast<std::uint64_t>(std::ceil(o.seconds * o.rate)));
  }
  const int n = o.threads;
  std::vector<std::unique_ptr<worker>> workers;
  for (int i = 0; i < n; ++i) {
    int conns = o.connections / n + (i < o.connections % n ? 1 : 0);
    std::uint64_t share = total == unlimited ? unlimited
                                             : total / n + (static_cast<std::uint64_t>(i) < total % n ? 1 : 0);
    workers.push_back(std::make_unique<worker>(o, t, r, i, n, conns, share));
  }

  std::latch connected(n);
  std::latch started(1);
  std::atomic<std::int64_t> t0{0};
  std::atomic<int> usable{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      if (workers[i]->connect_all(now_ns() + static_cast<std::int64_t>(std::min(10.0, o.timeout) * s_ns))) {
        ++usable;
      }
      connected.count_down();
      started.wait();
      workers[i]->run(t0.load());
    });
  }
  connected.wait();
  if (usable.load() == 0) {
    std::fprintf(stderr, "herald_loadgen: cannot connect to %s:%s\n", t.host.c_str(), t.port.c_str());
    stop_requested = 1;
  }
  timespec real{};
  clock_gettime(CLOCK_REALTIME, &real);
  std::int64_t start = now_ns();
  double t0_unix = static_cast<double>(real.tv_sec) + real.tv_nsec / 1e9;
  t0.store(start);
  if (o.progress && usable.load() > 0) {
    std::fprintf(stderr, "[loadgen] %s loop, %d connections, %d thread(s)", o.mode.c_str(),
                 o.connections, n);
    if (o.mode == "open") {
      std::fprintf(stderr, ", rate %g/s", o.rate);
    }
    if (total != unlimited) {
      std::fprintf(stderr, ", %llu requests", static_cast<unsigned long long>(total));
    }
    if (o.seconds > 0) {
      std::fprintf(stderr, ", %g s", o.seconds);
    }
    std::fprintf(stderr, "\n");
  }
  started.count_down();

  // Progress once a second, from this thread (the loops never print).
  std::int64_t next = start + s_ns;
  std::uint64_t last_answered = 0;
  for (;;) {
    bool all_done = true;
    for (auto& w : workers) {
      all_done = all_done && w->progress.done.load();
    }
    if (all_done) {
      break;
    }
    auto now = now_ns();
    if (now >= next) {
      if (o.progress && usable.load() > 0) {
        std::uint64_t s = 0, a = 0, ok = 0, e = 0, q = 0;
        for (auto& w : workers) {
          s += w->progress.sent.load(std::memory_order_relaxed);
          a += w->progress.answered.load(std::memory_order_relaxed);
          ok += w->progress.accepted.load(std::memory_order_relaxed);
          e += w->progress.errors.load(std::memory_order_relaxed);
          q += w->progress.queued.load(std::memory_order_relaxed);
        }
        std::fprintf(stderr,
                     "[loadgen] %5.1fs  sent %9llu  answered %9llu (%llu/s)  2xx %9llu  errors %llu  queued %llu\n",
                     (now - start) / 1e9, static_cast<unsigned long long>(s),
                     static_cast<unsigned long long>(a),
                     static_cast<unsigned long long>(a - last_answered),
                     static_cast<unsigned long long>(ok), static_cast<unsigned long long>(e),
                     static_cast<unsigned long long>(q));
        last_answered = a;
      }
      next += s_ns;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (auto& th : threads) {
    th.join();
  }
  if (usable.load() == 0) {
    return 1;
  }

  if (!o.ids_out.empty()) {
    std::ofstream out(o.ids_out, std::ios::binary | std::ios::trunc);
    for (auto& w : workers) {
      out.write(w->ids.data(), static_cast<std::streamsize>(w->ids.size()));
    }
    if (!out) {
      std::fprintf(stderr, "herald_loadgen: cannot write %s\n", o.ids_out.c_str());
      return 1;
    }
  }
  auto result = report(o, workers, start, t0_unix, total);
  std::cout << result.dump() << "\n";
  if (result["gave_up"].get<bool>()) {
    std::fprintf(stderr, "herald_loadgen: no connection to %s:%s for %g s: gave up\n",
                 t.host.c_str(), t.port.c_str(), o.timeout);
    return 1;
  }
  return 0;
}
