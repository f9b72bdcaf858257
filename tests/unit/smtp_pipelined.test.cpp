// The pipelined SMTP session against a scripted relay on a loopback socket (in this
// process, no servers): pipelining when offered and only then, per-mail refusals, lost
// connections, a stale reused connection, the start_by deadline, AUTH PLAIN.

#include <boost/test/unit_test.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "adapters/smtp/pipelined.hpp"

using namespace herald::smtp;
using namespace herald::smtp::detail;
using clock_type = std::chrono::steady_clock;

namespace {

/// A relay that answers by a script, one connection at a time, and records what it got.
class fake_relay {
public:
  bool pipelining = true;
  std::string auth;                         ///< advertised "AUTH ..." line; "" for none
  std::string expected_plain;               ///< AUTH PLAIN's base64 argument to accept
  std::function<int(const std::string&)> mail_from = [](const std::string&) { return 250; };
  std::function<int(const std::string&)> rcpt = [](const std::string&) { return 250; };
  std::function<int(int)> end_of_data = [](int) { return 250; };
  int close_after_data = -1;                ///< drop the connection, unanswered, at this mail
  bool close_when_idle = false;             ///< hang up after each batch's last mail

  fake_relay() {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(listener_, 4);
    socklen_t len = sizeof a;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }

  ~fake_relay() {
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    if (thread_.joinable()) {
      thread_.join();
    }
  }

  void start() {
    thread_ = std::thread{[this] { serve(); }};
  }

  int port() const { return port_; }

  std::vector<std::string> messages() {
    std::lock_guard<std::mutex> g{mtx_};
    return messages_;
  }
  std::vector<std::string> commands() {
    std::lock_guard<std::mutex> g{mtx_};
    return commands_;
  }
  int connections() const { return connections_; }
  /// Commands that arrived while an earlier one was still unanswered (pipelined).
  int pipelined_commands() const { return pipelined_; }
  /// Ends of data that arrived together with the next mail's commands.
  int data_ends_with_commands_behind() const { return behind_data_; }

private:
  void serve() {
    for (;;) {
      int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) {
        return;
      }
      connections_ += 1;
      session(fd);
      ::close(fd);
    }
  }

  void reply(int fd, const std::string& text) {
    [[maybe_unused]] auto n = ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
  }

  /// Keeps SMTP's transaction state as Postfix does: a MAIL FROM while a transaction is
  /// open (after a refused RCPT TO, say) is "503 nested MAIL command" until RSET.
  void session(int fd) {
    reply(fd, "220 fake ESMTP\r\n");
    bool in_transaction = false;
    std::string buf;
    bool in_data = false;
    std::string data;
    char chunk[65536];
    for (;;) {
      auto n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) {
        return;
      }
      buf.append(chunk, static_cast<std::size_t>(n));
      std::size_t eol;
      while ((eol = buf.find("\r\n")) != std::string::npos) {
        auto line = buf.substr(0, eol);
        buf.erase(0, eol + 2);
        if (in_data) {
          if (line == ".") {
            in_data = false;
            int index;
            {
              std::lock_guard<std::mutex> g{mtx_};
              messages_.push_back(data);
              index = static_cast<int>(messages_.size()) - 1;
            }
            data.clear();
            if (!buf.empty()) {
              behind_data_ += 1;
            }
            if (index == close_after_data) {
              return;
            }
            in_transaction = false;
            rcpt_ok_ = false;
            auto code = end_of_data(index);
            reply(fd, std::to_string(code) + (code == 250 ? " 2.0.0 queued\r\n" : " try later\r\n"));
            if (close_when_idle && buf.empty()) {
              return;
            }
          } else {
            data += (line.rfind("..", 0) == 0 ? line.substr(1) : line) + "\r\n";
          }
          continue;
        }
        if (!buf.empty()) {
          pipelined_ += 1;
        }
        {
          std::lock_guard<std::mutex> g{mtx_};
          commands_.push_back(line);
        }
        if (line.rfind("EHLO", 0) == 0) {
          std::string caps = "250-fake\r\n";
          if (pipelining) {
            caps += "250-PIPELINING\r\n";
          }
          if (!auth.empty()) {
            caps += "250-" + auth + "\r\n";
          }
          reply(fd, caps + "250 8BITMIME\r\n");
        } else if (line.rfind("AUTH PLAIN ", 0) == 0) {
          reply(fd, line.substr(11) == expected_plain ? "235 ok\r\n" : "535 no\r\n");
        } else if (line.rfind("MAIL FROM:", 0) == 0) {
          if (in_transaction) {
            reply(fd, "503 5.5.1 Error: nested MAIL command\r\n");
            continue;
          }
          auto code = mail_from(line.substr(11, line.size() - 12));
          in_transaction = code == 250;
          reply(fd, std::to_string(code) + (code == 250 ? " ok\r\n" : " bad sender\r\n"));
        } else if (line == "RSET") {
          in_transaction = false;
          rcpt_ok_ = false;
          reply(fd, "250 ok\r\n");
        } else if (line.rfind("RCPT TO:", 0) == 0) {
          if (!in_transaction) {
            reply(fd, "503 5.5.1 Error: need MAIL command\r\n");
            continue;
          }
          auto code = rcpt(line.substr(9, line.size() - 10));
          rcpt_ok_ = code == 250;
          reply(fd, std::to_string(code) + (code == 250 ? " ok\r\n" : " no such user\r\n"));
        } else if (line == "DATA") {
          if (in_transaction && rcpt_ok_) {
            in_data = true;
            reply(fd, "354 go on\r\n");
          } else {
            reply(fd, "554 no valid recipients\r\n");
          }
        } else if (line == "QUIT") {
          reply(fd, "221 bye\r\n");
          return;
        } else {
          reply(fd, "500 what\r\n");
        }
      }
    }
  }

  int listener_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::mutex mtx_;
  std::vector<std::string> messages_;
  std::vector<std::string> commands_;
  std::atomic<int> connections_{0};
  std::atomic<int> pipelined_{0};
  std::atomic<int> behind_data_{0};
  bool rcpt_ok_ = false;
};

mail make_mail(const std::string& to, const std::string& text) {
  mail m;
  m.from = "herald@localhost";
  m.to = to;
  m.subject = "Hello";
  m.text_body = text;
  m.message_id = "<" + to + "@herald>";
  return m;
}

plain_endpoint endpoint_of(const fake_relay& r) {
  return {"127.0.0.1", r.port(), "test.local", "", "", std::chrono::milliseconds{2000}};
}

clock_type::time_point later() {
  return clock_type::now() + std::chrono::seconds{10};
}

int count_prefix(const std::vector<std::string>& lines, const std::string& prefix) {
  int n = 0;
  for (auto& l : lines) {
    n += l.rfind(prefix, 0) == 0;
  }
  return n;
}

} // namespace

BOOST_AUTO_TEST_SUITE(smtp_pipelined)

BOOST_AUTO_TEST_CASE(lines_starting_with_a_dot_are_doubled_and_the_data_is_terminated) {
  BOOST_CHECK_EQUAL(dot_stuffed("a\r\n.b\r\n..c\r\n"), "a\r\n..b\r\n...c\r\n.\r\n");
  BOOST_CHECK_EQUAL(dot_stuffed(".\r\n"), "..\r\n.\r\n");
  BOOST_CHECK_EQUAL(dot_stuffed("no final line break"), "no final line break\r\n.\r\n");
  BOOST_CHECK_EQUAL(dot_stuffed("x.y\r\n"), "x.y\r\n.\r\n");
}

BOOST_AUTO_TEST_CASE(replies_are_read_whole_across_chunks_and_multi_line) {
  reply_reader r;
  r.feed("250-first\r\n250-PIPE");
  BOOST_CHECK(!r.next());
  r.feed("LINING\r\n250 last\r\n354 go\r\n");
  auto a = r.next();
  BOOST_REQUIRE(a);
  BOOST_CHECK_EQUAL(a->code, 250);
  BOOST_CHECK_EQUAL(a->text, "last");
  BOOST_REQUIRE_EQUAL(a->lines.size(), 3u);
  BOOST_CHECK_EQUAL(a->lines[1], "PIPELINING");
  auto b = r.next();
  BOOST_REQUIRE(b);
  BOOST_CHECK_EQUAL(b->code, 354);
  BOOST_CHECK(!r.next());
  r.feed("hello\r\n");
  auto c = r.next();
  BOOST_REQUIRE(c);
  BOOST_CHECK_EQUAL(c->code, 0);
}

BOOST_AUTO_TEST_CASE(codes_are_classified_like_the_libcurl_client) {
  BOOST_CHECK(classify(250) == send_status::sent);
  BOOST_CHECK(classify(550) == send_status::permanent_failure);
  BOOST_CHECK(classify(552) == send_status::permanent_failure);
  BOOST_CHECK(classify(535) == send_status::transient_failure); // refuses the session
  BOOST_CHECK(classify(530) == send_status::transient_failure);
  BOOST_CHECK(classify(451) == send_status::transient_failure);
  BOOST_CHECK(classify(421) == send_status::transient_failure);
}

BOOST_AUTO_TEST_CASE(a_relay_offering_pipelining_gets_each_mail_in_one_round_trip) {
  fake_relay relay;
  relay.start();
  pipelined_session s{endpoint_of(relay)};
  std::vector<mail> mails;
  for (int i = 0; i < 5; ++i) {
    mails.push_back(make_mail("u" + std::to_string(i) + "@example.com",
                              "line " + std::to_string(i) + "\n.leading dot\n"));
  }
  auto out = s.send_all(mails, later());
  BOOST_REQUIRE_EQUAL(out.size(), 5u);
  for (auto& o : out) {
    BOOST_CHECK(o.status == send_status::sent);
    BOOST_CHECK_EQUAL(o.smtp_code, 250);
  }
  auto got = relay.messages();
  BOOST_REQUIRE_EQUAL(got.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    BOOST_CHECK_NE(got[i].find("To: u" + std::to_string(i) + "@example.com"), std::string::npos);
  }
  // Each mail's RCPT TO and DATA came with its MAIL FROM, and every MAIL FROM after the
  // first came right behind the previous mail's data.
  BOOST_CHECK_EQUAL(relay.pipelined_commands(), 5 * 2);
  BOOST_CHECK_EQUAL(relay.data_ends_with_commands_behind(), 4);
  BOOST_CHECK_EQUAL(relay.connections(), 1);
}

BOOST_AUTO_TEST_CASE(a_relay_without_pipelining_gets_one_command_at_a_time) {
  fake_relay relay;
  relay.pipelining = false;
  relay.start();
  pipelined_session s{endpoint_of(relay)};
  auto out = s.send_all({make_mail("a@example.com", "A"), make_mail("b@example.com", "B")},
                        later());
  BOOST_CHECK(out[0].status == send_status::sent);
  BOOST_CHECK(out[1].status == send_status::sent);
  BOOST_CHECK_EQUAL(relay.messages().size(), 2u);
  BOOST_CHECK_EQUAL(relay.pipelined_commands(), 0);
  BOOST_CHECK_EQUAL(relay.data_ends_with_commands_behind(), 0);
}

BOOST_AUTO_TEST_CASE(a_refused_recipient_fails_only_its_mail_and_the_transaction_is_reset) {
  for (bool pipelining : {true, false}) {
    BOOST_TEST_CONTEXT("pipelining " << pipelining) {
      fake_relay relay;
      relay.pipelining = pipelining;
      relay.rcpt = [](const std::string& to) { return to == "bad@example.com" ? 550 : 250; };
      relay.start();
      pipelined_session s{endpoint_of(relay)};
      auto out = s.send_all({make_mail("a@example.com", "A"), make_mail("bad@example.com", "X"),
                             make_mail("c@example.com", "C")},
                            later());
      BOOST_CHECK(out[0].status == send_status::sent);
      BOOST_CHECK(out[1].status == send_status::permanent_failure);
      BOOST_CHECK_EQUAL(out[1].smtp_code, 550);
      BOOST_CHECK_NE(out[1].detail.find("RCPT TO refused"), std::string::npos);
      BOOST_CHECK(out[2].status == send_status::sent);
      BOOST_CHECK_EQUAL(relay.messages().size(), 2u);
      BOOST_CHECK_EQUAL(count_prefix(relay.commands(), "RSET"), 1);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_message_refused_at_the_end_of_data_is_a_failure_of_that_mail_only) {
  fake_relay relay;
  relay.end_of_data = [](int i) { return i == 1 ? 451 : 250; };
  relay.start();
  pipelined_session s{endpoint_of(relay)};
  auto out = s.send_all({make_mail("a@example.com", "A"), make_mail("b@example.com", "B"),
                         make_mail("c@example.com", "C")},
                        later());
  BOOST_CHECK(out[0].status == send_status::sent);
  BOOST_CHECK(out[1].status == send_status::transient_failure);
  BOOST_CHECK_EQUAL(out[1].smtp_code, 451);
  BOOST_CHECK(out[2].status == send_status::sent);
}

BOOST_AUTO_TEST_CASE(a_connection_lost_mid_batch_leaves_the_rest_transient_and_unsent) {
  fake_relay relay;
  relay.close_after_data = 1;
  relay.start();
  pipelined_session s{endpoint_of(relay)};
  auto out = s.send_all({make_mail("a@example.com", "A"), make_mail("b@example.com", "B"),
                         make_mail("c@example.com", "C"), make_mail("d@example.com", "D")},
                        later());
  BOOST_CHECK(out[0].status == send_status::sent);
  BOOST_CHECK(out[1].status == send_status::transient_failure); // its fate is unknown
  BOOST_CHECK(out[2].status == send_status::transient_failure);
  BOOST_CHECK(out[3].status == send_status::transient_failure);
  BOOST_CHECK_NE(out[3].detail.find("not attempted"), std::string::npos);
  BOOST_CHECK_EQUAL(relay.connections(), 1);
}

BOOST_AUTO_TEST_CASE(a_reused_connection_found_closed_is_replaced_once_without_losing_a_mail) {
  fake_relay relay;
  relay.close_when_idle = true;
  relay.start();
  pipelined_session s{endpoint_of(relay)};
  BOOST_CHECK(s.send_all({make_mail("a@example.com", "A")}, later())[0].status
              == send_status::sent);
  // The relay hung up after the first batch; the next one finds out on its first write.
  auto out = s.send_all({make_mail("b@example.com", "B"), make_mail("c@example.com", "C")},
                        later());
  BOOST_CHECK(out[0].status == send_status::sent);
  BOOST_CHECK_EQUAL(relay.messages().size(), 3u);
  BOOST_CHECK_EQUAL(relay.connections(), 2);
}

BOOST_AUTO_TEST_CASE(mails_not_started_by_the_deadline_are_not_attempted) {
  fake_relay relay;
  relay.start();
  pipelined_session s{endpoint_of(relay)};
  auto out = s.send_all({make_mail("a@example.com", "A"), make_mail("b@example.com", "B")},
                        clock_type::now() - std::chrono::seconds{1});
  for (auto& o : out) {
    BOOST_CHECK(o.status == send_status::transient_failure);
    BOOST_CHECK_NE(o.detail.find("not attempted"), std::string::npos);
  }
  BOOST_CHECK(relay.messages().empty());
}

BOOST_AUTO_TEST_CASE(a_relay_that_cannot_be_reached_fails_every_mail_transiently) {
  int port;
  {
    fake_relay gone; // bound, then closed: nothing listens there any more
    port = gone.port();
  }
  pipelined_session s{{"127.0.0.1", port, "", "", "", std::chrono::milliseconds{1000}}};
  auto out = s.send_all({make_mail("a@example.com", "A"), make_mail("b@example.com", "B")},
                        later());
  for (auto& o : out) {
    BOOST_CHECK(o.status == send_status::transient_failure);
    BOOST_CHECK_EQUAL(o.smtp_code, 0);
  }
}

BOOST_AUTO_TEST_CASE(credentials_are_given_with_auth_plain_and_a_refusal_is_transient) {
  fake_relay relay;
  relay.auth = "AUTH LOGIN PLAIN";
  relay.expected_plain = "AHVzZXIAc2VjcmV0"; // base64("\0user\0secret")
  relay.start();
  auto e = endpoint_of(relay);
  e.user = "user";
  e.password = "secret";
  {
    pipelined_session good{e}; // the relay serves one connection at a time
    BOOST_CHECK(good.send_all({make_mail("a@example.com", "A")}, later())[0].status
                == send_status::sent);
  }
  e.password = "wrong";
  pipelined_session bad{e};
  auto out = bad.send_all({make_mail("b@example.com", "B")}, later());
  BOOST_CHECK(out[0].status == send_status::transient_failure);
  BOOST_CHECK_EQUAL(out[0].smtp_code, 535);
  BOOST_CHECK_EQUAL(relay.messages().size(), 1u);
}

BOOST_AUTO_TEST_CASE(a_refusal_that_ends_a_batch_does_not_stop_the_next_batch_on_that_connection) {
  // One good mail, two to a refused mailbox, four good ones, one batch at a time on one
  // reused connection: every refusal settles its own mail with the relay's 550, and every
  // good mail is sent (the transaction a refused RCPT TO leaves open is reset first).
  for (bool pipelining : {true, false}) {
    BOOST_TEST_CONTEXT("pipelining " << pipelining) {
      fake_relay relay;
      relay.pipelining = pipelining;
      relay.rcpt = [](const std::string& to) {
        return to == "bad@example.com" ? 550 : to == "a,b@example.com" ? 501 : 250;
      };
      relay.start();
      pipelined_session s{endpoint_of(relay)};
      std::vector<std::string> to{"a@example.com",   "bad@example.com", "bad@example.com",
                                  "a,b@example.com", "b@example.com",   "c@example.com",
                                  "d@example.com",   "e@example.com"};
      for (std::size_t i = 0; i < to.size(); ++i) {
        BOOST_TEST_CONTEXT("mail " << i << " to " << to[i]) {
          auto out = s.send_all({make_mail(to[i], "M" + std::to_string(i))}, later());
          BOOST_REQUIRE_EQUAL(out.size(), 1u);
          if (to[i] == "bad@example.com" || to[i] == "a,b@example.com") {
            BOOST_CHECK(out[0].status == send_status::permanent_failure);
            BOOST_CHECK_EQUAL(out[0].smtp_code, to[i] == "bad@example.com" ? 550 : 501);
            BOOST_CHECK_NE(out[0].detail.find("RCPT TO refused"), std::string::npos);
          } else {
            BOOST_CHECK(out[0].status == send_status::sent);
            BOOST_CHECK_EQUAL(out[0].smtp_code, 250);
          }
        }
      }
      BOOST_CHECK_EQUAL(relay.messages().size(), 5u);
      BOOST_CHECK_EQUAL(relay.connections(), 1);
      BOOST_CHECK_EQUAL(count_prefix(relay.commands(), "RSET"), 3);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_refused_sender_fails_its_mail_alone_and_opens_no_transaction) {
  fake_relay relay;
  relay.mail_from = [](const std::string& from) { return from == "bad@localhost" ? 501 : 250; };
  relay.start();
  pipelined_session s{endpoint_of(relay)};
  auto bad = make_mail("a@example.com", "A");
  bad.from = "bad@localhost";
  auto out = s.send_all({bad, make_mail("b@example.com", "B")}, later());
  BOOST_CHECK(out[0].status == send_status::permanent_failure);
  BOOST_CHECK_EQUAL(out[0].smtp_code, 501);
  BOOST_CHECK_NE(out[0].detail.find("MAIL FROM refused"), std::string::npos);
  BOOST_CHECK(out[1].status == send_status::sent);
  BOOST_CHECK_EQUAL(count_prefix(relay.commands(), "RSET"), 0);
  BOOST_CHECK_EQUAL(relay.messages().size(), 1u);
}

BOOST_AUTO_TEST_CASE(a_relay_out_of_step_is_a_session_failure_not_the_mails) {
  // Should a relay still think a transaction is open, its 503 to MAIL FROM says nothing
  // about this mail: transient, and the next batch starts on a fresh connection.
  fake_relay relay;
  relay.mail_from = [](const std::string& from) { return from == "odd@localhost" ? 503 : 250; };
  relay.start();
  pipelined_session s{endpoint_of(relay)};
  auto odd = make_mail("a@example.com", "A");
  odd.from = "odd@localhost";
  auto out = s.send_all({odd}, later());
  BOOST_CHECK(out[0].status == send_status::transient_failure);
  BOOST_CHECK_NE(out[0].detail.find("503"), std::string::npos);
  BOOST_CHECK(s.send_all({make_mail("b@example.com", "B")}, later())[0].status
              == send_status::sent);
  BOOST_CHECK_EQUAL(relay.connections(), 2);
}

BOOST_AUTO_TEST_CASE(an_address_that_would_break_the_envelope_fails_alone) {
  fake_relay relay;
  relay.start();
  pipelined_session s{endpoint_of(relay)};
  auto out = s.send_all({make_mail("a@example.com>\r\nRCPT TO:<x@y", "A"),
                         make_mail("b@example.com", "B")},
                        later());
  BOOST_CHECK(out[0].status == send_status::permanent_failure);
  BOOST_CHECK(out[1].status == send_status::sent);
  BOOST_CHECK_EQUAL(relay.messages().size(), 1u);
}

BOOST_AUTO_TEST_SUITE_END()
