#include "adapters/smtp/pipelined.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

namespace herald::smtp::detail {

namespace {

using clock_type = std::chrono::steady_clock;

std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3), '\0');
  auto n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                           reinterpret_cast<const unsigned char*>(in.data()),
                           static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

bool is_envelope_address(std::string_view address) {
  return address.find_first_of("\r\n<>") == std::string_view::npos;
}

int remaining_ms(clock_type::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
  return static_cast<int>(std::max<std::int64_t>(0, left.count()));
}

std::string describe(const reply& r) {
  return std::to_string(r.code) + (r.text.empty() ? "" : " " + r.text.substr(0, 200));
}

} // namespace

// -- pure parts ----------------------------------------------------------------------

std::string dot_stuffed(std::string_view message) {
  std::string out;
  out.reserve(message.size() + message.size() / 64 + 8);
  bool line_start = true;
  for (char c : message) {
    if (line_start && c == '.') {
      out += '.';
    }
    out += c;
    line_start = c == '\n';
  }
  if (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0) {
    out += "\r\n";
  }
  out += ".\r\n";
  return out;
}

std::optional<reply> reply_reader::next() {
  reply r;
  std::size_t pos = 0;
  for (;;) {
    auto eol = buffer_.find('\n', pos);
    if (eol == std::string::npos) {
      return std::nullopt;
    }
    std::string_view line{buffer_.data() + pos, eol - pos};
    pos = eol + 1;
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    bool digits = line.size() >= 3 && std::all_of(line.begin(), line.begin() + 3, [](char c) {
      return c >= '0' && c <= '9';
    });
    if (!digits || (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
      r.code = 0;
      r.text = std::string{line.substr(0, 200)};
      buffer_.erase(0, pos);
      return r;
    }
    auto text = line.size() > 4 ? std::string{line.substr(4)} : std::string{};
    r.lines.push_back(text);
    if (line.size() == 3 || line[3] == ' ') {
      r.code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
      r.text = std::move(text);
      buffer_.erase(0, pos);
      return r;
    }
  }
}

send_status classify(int code) {
  if (code / 100 == 2) {
    return send_status::sent;
  }
  if (code / 100 == 5 && code != 530 && code != 534 && code != 535 && code != 538) {
    return send_status::permanent_failure;
  }
  return send_status::transient_failure;
}

// -- the connection ------------------------------------------------------------------

struct pipelined_session::connection {
  int fd = -1;
  reply_reader reader;
  bool pipelining = false;
  /// A refused RCPT TO or DATA left the transaction its accepted MAIL FROM opened: the
  /// next mail on this connection, whichever batch it belongs to, must start with RSET,
  /// or the relay answers its MAIL FROM with "503 nested MAIL command".
  bool transaction_open = false;
  std::chrono::milliseconds timeout;

  explicit connection(std::chrono::milliseconds t) : timeout(t) {}
  ~connection() {
    if (fd >= 0) {
      [[maybe_unused]] auto n = ::send(fd, "QUIT\r\n", 6, MSG_NOSIGNAL | MSG_DONTWAIT);
      ::close(fd);
    }
  }

  clock_type::time_point soon() const { return clock_type::now() + timeout; }

  /// "" or why not.
  std::string write(std::string_view data, clock_type::time_point deadline) {
    while (!data.empty()) {
      auto n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) {
        data.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd p{fd, POLLOUT, 0};
        if (::poll(&p, 1, remaining_ms(deadline)) == 0) {
          return "timed out sending to the relay";
        }
        continue;
      }
      return std::string{"cannot send to the relay: "} + std::strerror(errno);
    }
    return {};
  }

  /// The next reply, or nullopt with `error` set.
  std::optional<reply> read(std::string& error, clock_type::time_point deadline) {
    char buf[16384];
    for (;;) {
      if (auto r = reader.next()) {
        if (r->code == 0) {
          error = "the relay broke the protocol: \"" + r->text + "\"";
          return std::nullopt;
        }
        return r;
      }
      pollfd p{fd, POLLIN, 0};
      int ready = ::poll(&p, 1, remaining_ms(deadline));
      if (ready == 0) {
        error = "timed out waiting for the relay";
        return std::nullopt;
      }
      if (ready < 0) {
        if (errno == EINTR) {
          continue;
        }
        error = std::string{"poll: "} + std::strerror(errno);
        return std::nullopt;
      }
      auto n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) {
        reader.feed({buf, static_cast<std::size_t>(n)});
      } else if (n == 0) {
        error = "the relay closed the connection";
        return std::nullopt;
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        error = std::string{"cannot read from the relay: "} + std::strerror(errno);
        return std::nullopt;
      }
    }
  }

  /// A command and its reply; nullopt with `error` on a connection problem.
  std::optional<reply> command(const std::string& line, std::string& error,
                               clock_type::time_point deadline) {
    if (error = write(line, deadline); !error.empty()) {
      return std::nullopt;
    }
    return read(error, deadline);
  }

  /// Connects, reads the greeting, says EHLO (else HELO) and authenticates, all within
  /// one timeout. Returns "" or why the session could not be set up; `code` is the
  /// refusing reply's code, if any.
  std::string open(const plain_endpoint& e, int& code) {
    code = 0;
    auto deadline = soon();
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    auto port = std::to_string(e.port);
    if (int rc = ::getaddrinfo(e.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
      return "cannot resolve " + e.host + ": " + gai_strerror(rc);
    }
    std::string error = "no address for " + e.host;
    for (auto* a = found; a != nullptr && fd < 0; a = a->ai_next) {
      int s = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
      if (s < 0) {
        error = std::string{"socket: "} + std::strerror(errno);
        continue;
      }
      int rc = ::connect(s, a->ai_addr, a->ai_addrlen);
      if (rc < 0 && errno == EINPROGRESS) {
        pollfd p{s, POLLOUT, 0};
        rc = ::poll(&p, 1, remaining_ms(deadline)) == 1 ? 0 : -1;
        int so_error = rc == 0 ? 0 : ETIMEDOUT;
        socklen_t len = sizeof so_error;
        if (rc == 0) {
          ::getsockopt(s, SOL_SOCKET, SO_ERROR, &so_error, &len);
        }
        errno = so_error;
        rc = so_error == 0 ? 0 : -1;
      }
      if (rc < 0) {
        error = "cannot connect to " + e.host + ":" + port + ": " + std::strerror(errno);
        ::close(s);
        continue;
      }
      fd = s;
    }
    ::freeaddrinfo(found);
    if (fd < 0) {
      return error;
    }
    // Writes are whole groups already: no reason to wait for Nagle.
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto refused = [&](const char* what, const reply& r) {
      code = r.code;
      return std::string{what} + ": " + describe(r);
    };
    auto greeting = read(error, deadline);
    if (!greeting) {
      return error;
    }
    if (greeting->code != 220) {
      return refused("relay greeting", *greeting);
    }
    auto helo = e.helo;
    if (helo.empty()) {
      char name[256] = {};
      helo = ::gethostname(name, sizeof name - 1) == 0 && name[0] != '\0' ? name : "localhost";
    }
    std::vector<std::string> mechanisms;
    auto ehlo = command("EHLO " + helo + "\r\n", error, deadline);
    if (!ehlo) {
      return error;
    }
    if (ehlo->code == 250) {
      for (std::size_t i = 1; i < ehlo->lines.size(); ++i) {
        auto cap = upper(ehlo->lines[i]);
        if (cap == "PIPELINING") {
          pipelining = true;
        } else if (cap.rfind("AUTH", 0) == 0 && cap.size() > 5) {
          std::string rest = cap.substr(5);
          std::size_t start = 0;
          while (start < rest.size()) {
            auto end = rest.find(' ', start);
            mechanisms.push_back(rest.substr(start, end - start));
            start = end == std::string::npos ? rest.size() : end + 1;
          }
        }
      }
    } else {
      auto hello = command("HELO " + helo + "\r\n", error, deadline);
      if (!hello) {
        return error;
      }
      if (hello->code != 250) {
        return refused("HELO", *hello);
      }
    }
    if (e.user.empty()) {
      return {};
    }
    auto offers = [&](const char* m) {
      return std::find(mechanisms.begin(), mechanisms.end(), m) != mechanisms.end();
    };
    if (offers("PLAIN")) {
      std::string credentials = std::string{'\0'} + e.user + '\0' + e.password;
      auto r = command("AUTH PLAIN " + base64(credentials) + "\r\n", error, deadline);
      if (!r) {
        return error;
      }
      return r->code == 235 ? std::string{} : refused("AUTH PLAIN", *r);
    }
    if (offers("LOGIN")) {
      auto r = command("AUTH LOGIN\r\n", error, deadline);
      if (r && r->code == 334) {
        r = command(base64(e.user) + "\r\n", error, deadline);
      }
      if (r && r->code == 334) {
        r = command(base64(e.password) + "\r\n", error, deadline);
      }
      if (!r) {
        return error;
      }
      return r->code == 235 ? std::string{} : refused("AUTH LOGIN", *r);
    }
    return "the relay offers no AUTH mechanism Herald supports (PLAIN, LOGIN)";
  }
};

// -- the session ---------------------------------------------------------------------

pipelined_session::pipelined_session(plain_endpoint e) : endpoint_(std::move(e)) {}

pipelined_session::~pipelined_session() = default;

std::vector<send_outcome> pipelined_session::send_all(const std::vector<mail>& mails,
                                                      clock_type::time_point start_by) {
  auto n = mails.size();
  std::vector<send_outcome> out(n);
  std::vector<bool> settled(n, false);
  auto settle = [&](std::size_t i, send_outcome o) {
    out[i] = std::move(o);
    settled[i] = true;
  };
  std::string stop;    ///< why the mails not settled yet are not attempted
  long stop_code = 0;
  std::size_t next = 0;      ///< the next mail to start
  constexpr auto none = static_cast<std::size_t>(-1);
  std::size_t body_of = none; ///< its MAIL, RCPT and DATA were accepted: data next
  std::string body;
  bool answered = false;     ///< the current connection answered something in this call
  bool reused = conn_ != nullptr;
  bool replaced = false;
  while (true) {
    bool start = next < n && stop.empty();
    if (start && clock_type::now() > start_by) {
      stop = "the batch waited too long for this SMTP connection";
      start = false;
    }
    if (start && (mails[next].to.empty() || !is_envelope_address(mails[next].to)
                  || !is_envelope_address(mails[next].from))) {
      settle(next++, {send_status::permanent_failure, 0, "invalid envelope address"});
      continue;
    }
    if (!start && body_of == none) {
      break;
    }
    if (!conn_) {
      conn_ = std::make_unique<connection>(endpoint_.timeout);
      int code = 0;
      if (auto err = conn_->open(endpoint_, code); !err.empty()) {
        conn_.reset();
        stop = err;
        stop_code = code;
        break;
      }
      answered = false;
    }
    auto& c = *conn_;
    // One group: the pending data, then (RSET and) the next mail's MAIL, RCPT and DATA.
    // Without PIPELINING each is written and answered on its own.
    enum class step { data, rset, mail, rcpt, go };
    std::vector<std::pair<step, std::string>> steps;
    if (body_of != none) {
      steps.emplace_back(step::data, std::move(body));
    }
    if (start) {
      if (c.transaction_open) {
        steps.emplace_back(step::rset, "RSET\r\n");
      }
      steps.emplace_back(step::mail, "MAIL FROM:<" + mails[next].from + ">\r\n");
      steps.emplace_back(step::rcpt, "RCPT TO:<" + mails[next].to + ">\r\n");
      steps.emplace_back(step::go, "DATA\r\n");
    }
    std::string error;
    if (c.pipelining) {
      std::string group;
      for (auto& s : steps) {
        group += s.second;
      }
      error = c.write(group, c.soon());
    }
    std::optional<reply> refusal; ///< the first refused step of the mail being started
    const char* refused_step = "";
    bool mail_accepted = false;
    bool go = false;
    for (auto& [kind, text] : steps) {
      if (!error.empty()) {
        break;
      }
      if (!c.pipelining) {
        if (refusal && kind != step::data) {
          break; // one at a time: nothing more for a refused mail
        }
        if (error = c.write(text, c.soon()); !error.empty()) {
          break;
        }
      }
      auto r = c.read(error, c.soon());
      if (!r) {
        break;
      }
      answered = true;
      switch (kind) {
        case step::data: {
          auto status = classify(r->code);
          settle(body_of, {status, r->code,
                            status == send_status::sent ? describe(*r)
                                                        : "message refused: " + describe(*r)});
          body_of = none;
          break;
        }
        case step::rset:
          if (r->code / 100 != 2) {
            error = "RSET refused: " + describe(*r);
          }
          c.transaction_open = false;
          break;
        case step::mail:
        case step::rcpt:
          if (kind == step::mail && r->code == 503) {
            // Out of step with the relay (it thinks a transaction is open): the session's
            // fault, not this mail's. A new connection starts clean.
            error = "MAIL FROM out of sequence: " + describe(*r);
            break;
          }
          if (kind == step::mail) {
            mail_accepted = r->code / 100 == 2;
          }
          if (r->code / 100 != 2 && !refusal) {
            refusal = *r;
            refused_step = kind == step::mail ? "MAIL FROM" : "RCPT TO";
          }
          break;
        case step::go:
          if (r->code == 354 && refusal) {
            error = "the relay accepted DATA for a refused mail";
          } else if (r->code == 354) {
            go = true;
          } else if (!refusal) {
            refusal = *r;
            refused_step = "DATA";
          }
          break;
      }
    }
    if (error.empty() && start) {
      if (go) {
        body = dot_stuffed(build_message(mails[next], std::chrono::system_clock::now()));
        body_of = next;
      } else if (refusal) {
        settle(next, {classify(refusal->code) == send_status::permanent_failure
                        ? send_status::permanent_failure
                        : send_status::transient_failure,
                      refusal->code, std::string{refused_step} + " refused: " + describe(*refusal),
                      refusal->code / 100 == 4 && refusal->code != 421});
        c.transaction_open = mail_accepted;
      }
      ++next;
    }
    if (!error.empty()) {
      conn_.reset();
      if (reused && !answered && !replaced && body_of == none) {
        // The reused connection was dead before the relay took anything: once more on a
        // fresh one (no duplicate is possible).
        replaced = true;
        continue;
      }
      // What was under way has an unknown fate: a transient failure, retried later. A
      // relay that went silent during a mail's transaction (a timeout, the connection
      // still up) failed that mail; a lost connection is the relay's failure.
      bool timed_out = error.rfind("timed out", 0) == 0;
      if (body_of != none) {
        settle(body_of, {send_status::transient_failure, 0, error, timed_out});
        body_of = none;
      }
      if (start && next < n && !settled[next]) {
        settle(next, {send_status::transient_failure, 0, error, timed_out});
        ++next;
      }
      stop = error;
      break;
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (!settled[i]) {
      out[i] = {send_status::transient_failure, stop_code, "not attempted: " + stop};
    }
  }
  return out;
}

} // namespace herald::smtp::detail
