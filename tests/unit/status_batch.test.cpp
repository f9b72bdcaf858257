// The pure half of the status writer's batches: how a batch of events becomes upsert
// rounds and array parameters. What the upsert does with them in PostgreSQL (final
// statuses kept, `queued` first in the timeline) is asserted on a real database in
// tests/integration/status_writer.test.cpp.

#include <boost/test/unit_test.hpp>

#include <map>
#include <set>

#include "actors/notification_store/status_batch.hpp"

using namespace herald;

namespace {

status_event event(std::string id, std::string status, std::string detail = {}) {
  status_event e;
  e.notification_id = std::move(id);
  e.status = std::move(status);
  e.detail = std::move(detail);
  return e;
}

/// Reads a text array literal as pg_text_array writes it (every element quoted), as
/// PostgreSQL would: the elements, unescaped.
std::vector<std::string> parse_text_array(const std::string& literal) {
  std::vector<std::string> out;
  BOOST_REQUIRE(literal.size() >= 2 && literal.front() == '{' && literal.back() == '}');
  std::size_t i = 1;
  while (i < literal.size() - 1) {
    BOOST_REQUIRE_EQUAL(literal[i], '"');
    std::string value;
    for (++i; literal[i] != '"'; ++i) {
      if (literal[i] == '\\') {
        ++i;
      }
      value += literal[i];
    }
    out.push_back(std::move(value));
    ++i; // closing quote
    if (literal[i] == ',') {
      ++i;
    }
  }
  return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(status_batch)

BOOST_AUTO_TEST_CASE(distinct_notifications_share_one_upsert_with_a_column_per_array) {
  auto a = event("id-a", "queued");
  auto b = event("id-b", "sent", "ok");
  b.attempts = 2;
  b.template_version = 3;
  auto rounds = status_batch_rounds({&a, &b});
  BOOST_REQUIRE_EQUAL(rounds.size(), 1u);
  auto& c = rounds[0].columns;
  BOOST_REQUIRE_EQUAL(c.size(), 12u);
  BOOST_CHECK_EQUAL(c[0], R"({"id-a","id-b"})");
  BOOST_CHECK_EQUAL(c[5], R"({"queued","sent"})");
  BOOST_CHECK_EQUAL(c[6], "{0,2}");
  BOOST_CHECK_EQUAL(c[7], R"({"","ok"})");
  BOOST_CHECK_EQUAL(c[10], "{0,3}");
  BOOST_CHECK_EQUAL(c[11], R"({"",""})"); // no device entries
}

BOOST_AUTO_TEST_CASE(device_entries_travel_as_json_text_in_their_own_column) {
  auto e = event("id-a", "sent", "accepted by 1 of 1 device");
  e.device_events = R"([{"status":"device","device_id":"d-1","outcome":"accepted"}])";
  auto rounds = status_batch_rounds({&e});
  BOOST_REQUIRE_EQUAL(rounds.size(), 1u);
  auto values = parse_text_array(rounds[0].columns.at(11));
  BOOST_REQUIRE_EQUAL(values.size(), 1u);
  BOOST_CHECK_EQUAL(values[0], e.device_events);
}

BOOST_AUTO_TEST_CASE(a_notification_seen_twice_goes_into_a_later_round_in_arrival_order) {
  auto queued = event("id-a", "queued");
  auto other = event("id-b", "queued");
  auto sent = event("id-a", "sent");
  auto rounds = status_batch_rounds({&queued, &other, &sent});
  BOOST_REQUIRE_EQUAL(rounds.size(), 2u);
  BOOST_CHECK_EQUAL(rounds[0].columns[0], R"({"id-a","id-b"})");
  BOOST_CHECK_EQUAL(rounds[0].columns[5], R"({"queued","queued"})");
  BOOST_CHECK_EQUAL(rounds[1].columns[0], R"({"id-a"})");
  BOOST_CHECK_EQUAL(rounds[1].columns[5], R"({"sent"})");
}

BOOST_AUTO_TEST_CASE(every_event_lands_once_no_round_updates_a_row_twice_and_order_is_kept) {
  // A worker's `sent` overtaking the gateway's `queued`, retries, and bystanders: the
  // order in which the upsert sees one notification's events is the order they came in.
  std::vector<status_event> events;
  const char* script[][2] = {{"a", "sent"},   {"b", "queued"},     {"a", "queued"},
                             {"c", "queued"}, {"b", "processing"}, {"a", "processing"},
                             {"b", "sent"},   {"c", "failed"},     {"a", "sent"}};
  for (auto& [id, status] : script) {
    events.push_back(event(id, status, std::string{id} + "#" + std::to_string(events.size())));
  }
  std::vector<const status_event*> in;
  for (auto& e : events) {
    in.push_back(&e);
  }
  auto rounds = status_batch_rounds(in);
  std::map<std::string, std::vector<std::string>> seen; // id -> details, round by round
  std::size_t total = 0;
  for (auto& round : rounds) {
    auto ids = parse_text_array(round.columns[0]);
    auto statuses = parse_text_array(round.columns[5]);
    auto details = parse_text_array(round.columns[7]);
    BOOST_REQUIRE_EQUAL(ids.size(), statuses.size());
    BOOST_REQUIRE_EQUAL(ids.size(), details.size());
    BOOST_CHECK_EQUAL(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
      // The columns line up: element i of every column is the same event.
      BOOST_CHECK_EQUAL(details[i].substr(0, details[i].find('#')), ids[i]);
      auto index = std::stoul(details[i].substr(details[i].find('#') + 1));
      BOOST_CHECK_EQUAL(events[index].status, statuses[i]);
      seen[ids[i]].push_back(details[i]);
    }
    total += ids.size();
  }
  BOOST_CHECK_EQUAL(total, events.size());
  for (auto& [id, details] : seen) {
    std::vector<std::string> expected;
    for (auto& e : events) {
      if (e.notification_id == id) {
        expected.push_back(e.detail);
      }
    }
    BOOST_TEST_CONTEXT("notification " << id) {
      BOOST_CHECK(details == expected);
    }
  }
  BOOST_CHECK_EQUAL(rounds.size(), 4u); // "a" came four times
}

BOOST_AUTO_TEST_CASE(array_elements_are_quoted_so_any_text_stays_data) {
  std::vector<std::string> odd = {"it's", "a,b", "{x}", "say \"hi\"", "back\\slash", "NULL", ""};
  BOOST_CHECK_EQUAL(pg_text_array(odd),
                    R"({"it's","a,b","{x}","say \"hi\"","back\\slash","NULL",""})");
  BOOST_CHECK(parse_text_array(pg_text_array(odd)) == odd);
  BOOST_CHECK_EQUAL(pg_text_array({}), "{}");
  BOOST_CHECK_EQUAL(pg_int_array({1, -2, 30}), "{1,-2,30}");
}

BOOST_AUTO_TEST_CASE(an_empty_batch_writes_nothing) {
  BOOST_CHECK(status_batch_rounds({}).empty());
}

BOOST_AUTO_TEST_SUITE_END()
