#pragma once

// What the scriptable SMTP relay (scripts/lib/smtp_relay.py, started by scripts/test)
// answered: it appends one line per answer to RCPT TO and to the end of DATA to
// $HERALD_TEST_RELAY_MAILDIR/answers.log. Its answers depend on the recipient's local
// part (reject-, defer-once-, defer-, datareject-, hang-once-, hang-; see its header), and
// it stores accepted mails like the sink (read them with mails_to).

#include <cstdint>
#include <string>
#include <vector>

namespace herald::test {

/// One answer of the relay.
struct relay_answer {
  std::int64_t at_ms = 0; ///< the relay's clock, Unix milliseconds
  std::string step;       ///< "RCPT" or "DATA"
  int code = 0;           ///< 0: not answered (a hang-... recipient)
  std::string address;
};

/// The relay's answers concerning `address`, oldest first.
std::vector<relay_answer> relay_answers(const std::string& address);

/// How many of them were at `step` (with `code`, when not -1).
std::size_t relay_count(const std::string& address, const std::string& step, int code = -1);

/// A fresh recipient address "<prefix><unique>@example.com" (prefix picks the answer).
std::string relay_address(const std::string& prefix);

} // namespace herald::test
