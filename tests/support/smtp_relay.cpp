#include "support/smtp_relay.hpp"

#include <fstream>
#include <sstream>

#include "support/test_env.hpp"

namespace herald::test {

std::vector<relay_answer> relay_answers(const std::string& address) {
  std::vector<relay_answer> out;
  std::ifstream in{env("HERALD_TEST_RELAY_MAILDIR") + "/answers.log"};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields{line};
    relay_answer a;
    if (fields >> a.at_ms >> a.step >> a.code >> a.address && a.address == address) {
      out.push_back(std::move(a));
    }
  }
  return out;
}

std::size_t relay_count(const std::string& address, const std::string& step, int code) {
  std::size_t n = 0;
  for (auto& a : relay_answers(address)) {
    n += a.step == step && (code == -1 || a.code == code) ? 1 : 0;
  }
  return n;
}

std::string relay_address(const std::string& prefix) {
  return unique(prefix) + "@example.com";
}

} // namespace herald::test
