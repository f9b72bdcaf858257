// A recipient the relay refuses permanently, in a stream of 1,000 notifications (issue 10,
// fault 6). The node sends through the scriptable relay, which answers 550 at RCPT TO for
// the 50 users whose address starts with "reject-" (one notification each) and accepts the
// other 950. Each refused one is dead-lettered once with the reason `smtp_refused` and the
// relay's answer, after exactly one attempt (the relay saw one RCPT TO for it, the node
// scheduled no retry); the rest are sent once. Then the cause is fixed — each user's
// address changed through the users API — and each dead letter replayed
// (POST /api/v1/dead-letters/{id}/replay): delivered to the new address, once; replaying
// it again is a 409. Prints its accounting before and after the replay.
//
// One replay per dead letter, not the bulk replay: its filter (reason, channel) would also
// take the smtp_refused dead letters other suites left in the shared notification_db.

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <set>

#include "support/herald_api.hpp"
#include "support/notification_db.hpp"
#include "support/smtp_relay.hpp"
#include "support/stream.hpp"

using namespace herald::test;
using namespace std::chrono_literals;

namespace {

/// The dead letters (list items) of `notifications`, found by paging through those with
/// reason smtp_refused; every one of them, as many times as listed.
std::map<std::string, std::vector<json>> dead_letters_of(const running_node& node,
                                                         const std::set<std::string>& notifications) {
  std::map<std::string, std::vector<json>> found;
  for (int page = 1;; ++page) {
    auto r = http_call("GET", node.url() + "/api/v1/dead-letters?reason=smtp_refused&channel=email"
                                             "&limit=100&page=" + std::to_string(page));
    BOOST_REQUIRE_MESSAGE(r.status == 200, r.raw);
    for (auto& item : r.body["data"]) {
      auto id = item.value("notification_id", "");
      if (notifications.count(id) != 0) {
        found[id].push_back(item);
      }
    }
    if (!r.body["meta"].value("has_next", false)) {
      return found;
    }
  }
}

} // namespace

BOOST_AUTO_TEST_SUITE(smtp_refused_replay)

BOOST_AUTO_TEST_CASE(refused_recipients_are_dead_lettered_once_without_retry_and_delivered_when_replayed_after_the_fix) {
  running_node node{{{"HERALD_SMTP_URL", env("HERALD_TEST_RELAY_URL")}}};
  auto domain = unique("refused") + ".example.com";
  auto code = create_email_template(node);
  auto good = make_users(node, domain, 20);
  constexpr int total = 1000;
  constexpr int every = 20; // one notification in 20 goes to a refused address: 50
  std::vector<std::string> refused_users;
  std::vector<std::string> refused_addresses;
  std::vector<std::string> sequence; // the user of notification k
  for (int k = 0; k < total; ++k) {
    if (k % every == every - 1) {
      refused_addresses.push_back("reject-r" + std::to_string(k) + "@" + domain);
      refused_users.push_back(create_user(node, {{"email", refused_addresses.back()}}));
      sequence.push_back(refused_users.back());
    } else {
      sequence.push_back(good[static_cast<std::size_t>(k) % good.size()]);
    }
  }

  std::vector<std::string> ids;
  {
    poster stream{node, sequence, code, total, 0ms};
    BOOST_REQUIRE(eventually([&] { return stream.done(); }, 40s));
    BOOST_REQUIRE_EQUAL(stream.refused().size(), 0u);
    ids = stream.accepted(); // in posting order: ids[k] went to sequence[k]
  }
  BOOST_REQUIRE_EQUAL(ids.size(), static_cast<std::size_t>(total));
  std::set<std::string> refused_ids;
  for (int k = every - 1; k < total; k += every) {
    refused_ids.insert(ids[static_cast<std::size_t>(k)]);
  }
  BOOST_REQUIRE(eventually([&] { return all_final(ids); }, 40s));

  auto mailed = relay_mails_per_notification("@" + domain);
  auto before = account("smtp_refused_replay (before the replay)", ids, mailed);
  BOOST_CHECK_EQUAL(before.sent, static_cast<std::size_t>(total) - refused_ids.size());
  BOOST_CHECK_EQUAL(before.dead, refused_ids.size());
  BOOST_CHECK_EQUAL(before.lost, 0u);
  BOOST_CHECK_EQUAL(before.duplicates, 0);
  BOOST_CHECK_EQUAL(actor_counter(node, "email_sender", "retried"), 0u);
  auto statuses = read_statuses(ids);
  for (auto& id : refused_ids) {
    BOOST_TEST_CONTEXT("refused notification " << id) {
      BOOST_CHECK_EQUAL(statuses[id], "dead");
      BOOST_CHECK_EQUAL(mailed.count(id), 0u);
    }
  }
  // Not retried: one RCPT TO per refused address, answered 550.
  for (auto& address : refused_addresses) {
    BOOST_TEST_CONTEXT("refused address " << address) {
      BOOST_CHECK_EQUAL(relay_count(address, "RCPT"), 1u);
      BOOST_CHECK_EQUAL(relay_count(address, "RCPT", 550), 1u);
    }
  }
  // Dead-lettered once each, with the reason and the relay's answer.
  auto letters = dead_letters_of(node, refused_ids);
  BOOST_CHECK_EQUAL(letters.size(), refused_ids.size());
  for (auto& [id, list] : letters) {
    BOOST_TEST_CONTEXT("dead letters of " << id << ": " << json(list).dump()) {
      BOOST_REQUIRE_EQUAL(list.size(), 1u);
      BOOST_CHECK_EQUAL(list[0].value("reason", ""), "smtp_refused");
      BOOST_CHECK_EQUAL(list[0].value("attempts", 0), 1);
      BOOST_CHECK_NE(list[0].value("detail", "").find("550"), std::string::npos);
      BOOST_CHECK_EQUAL(list[0].value("notification_status", ""), "dead");
    }
  }

  // The cause fixed: each refused user gets a deliverable address; then each is replayed.
  std::vector<std::string> fixed_addresses;
  for (std::size_t i = 0; i < refused_users.size(); ++i) {
    fixed_addresses.push_back("fixed-" + refused_addresses[i].substr(7)); // drops "reject-"
    auto r = http_call("PATCH", node.url(1) + "/api/v1/users/" + refused_users[i],
                       json{{"email", fixed_addresses.back()}}.dump());
    BOOST_REQUIRE_MESSAGE(r.status == 200, r.raw);
  }
  for (auto& [id, list] : letters) {
    auto r = http_call("POST", node.url() + "/api/v1/dead-letters/"
                                 + list[0].value("id", "") + "/replay");
    BOOST_TEST_CONTEXT("replay of " << id << ": " << r.raw) {
      BOOST_CHECK_EQUAL(r.status, 200);
      BOOST_CHECK_EQUAL(r.body["data"]["notification_id"], id);
      BOOST_CHECK_EQUAL(r.body["data"]["status"], "queued");
    }
  }
  BOOST_CHECK(eventually([&] {
    auto s = read_statuses({refused_ids.begin(), refused_ids.end()});
    return std::all_of(s.begin(), s.end(), [](auto& e) { return e.second == "sent"; })
           && s.size() == refused_ids.size();
  }, 30s));
  // Replaying again: no longer dead.
  for (auto& [id, list] : letters) {
    auto r = http_call("POST", node.url() + "/api/v1/dead-letters/"
                                 + list[0].value("id", "") + "/replay");
    BOOST_TEST_CONTEXT("second replay of " << id << ": " << r.raw) {
      check_error(r, 409, "");
    }
  }

  mailed = relay_mails_per_notification("@" + domain);
  auto after = account("smtp_refused_replay (after the replay)", ids, mailed);
  BOOST_CHECK_EQUAL(after.sent, static_cast<std::size_t>(total));
  BOOST_CHECK_EQUAL(after.dead, 0u);
  BOOST_CHECK_EQUAL(after.lost, 0u);
  BOOST_CHECK_EQUAL(after.duplicates, 0);
  BOOST_CHECK_EQUAL(mailed.size(), ids.size());
  std::map<std::string, int> per_recipient;
  for (auto& m : mails_to(env("HERALD_TEST_RELAY_MAILDIR"), "@" + domain)) {
    per_recipient[m.rcpt_to] += 1;
  }
  for (auto& address : fixed_addresses) {
    BOOST_TEST_CONTEXT("fixed address " << address) {
      BOOST_CHECK_EQUAL(per_recipient[address], 1);
    }
  }
  for (auto& address : refused_addresses) {
    BOOST_CHECK_EQUAL(relay_count(address, "RCPT"), 1u); // the old address never again
  }
}

BOOST_AUTO_TEST_SUITE_END()
