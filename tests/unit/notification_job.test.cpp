#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include "actors/messaging/notification_job.hpp"
#include "actors/messaging/topology.hpp"

using namespace herald;
using namespace herald::messaging;
using json = nlohmann::json;

namespace {

const std::string id = "6f1c7a52-3b1e-4e7a-9c1e-0b5d2a9e4f10";

queued_message message(json body, std::uint64_t tag = 7, bool redelivered = false) {
  return {tag, redelivered, body.dump(), ""};
}

std::size_t total(const std::vector<std::pair<std::size_t, std::size_t>>& ranges) {
  std::size_t n = 0;
  for (auto [first, last] : ranges) {
    n += last - first;
  }
  return n;
}

} // namespace

BOOST_AUTO_TEST_SUITE(notification_job)

BOOST_AUTO_TEST_CASE(a_gateway_message_is_read_with_its_pinned_template_version) {
  std::string why;
  auto job = parse_notification_job(
    message({{"notification_id", id},
             {"notification_type", "email"},
             {"user_id", "u-1"},
             {"template_code", "welcome"},
             {"variables", {{"name", "Ada"}}},
             {"request_id", "r-1"},
             {"priority", 5},
             {"metadata", json::object()},
             {"language", "de"},
             {"correlation_id", "c-1"},
             {"attempt", 2},
             {"template_language", "FR"},
             {"template_version", 3}},
            42, true),
    why);
  BOOST_REQUIRE(job);
  BOOST_CHECK_EQUAL(job->tag, 42u);
  BOOST_CHECK(job->redelivered);
  BOOST_CHECK_EQUAL(job->notification_id, id);
  BOOST_CHECK_EQUAL(job->user_id, "u-1");
  BOOST_CHECK_EQUAL(job->template_code, "welcome");
  BOOST_CHECK_EQUAL(job->language, "de");
  BOOST_CHECK_EQUAL(job->template_language, "fr");
  BOOST_CHECK_EQUAL(job->template_version, 3);
  BOOST_CHECK_EQUAL(job->request_id, "r-1");
  BOOST_CHECK_EQUAL(job->correlation_id, "c-1");
  BOOST_CHECK_EQUAL(job->attempt, 2);
  BOOST_CHECK_EQUAL(job->variables["name"], "Ada");
  BOOST_CHECK(job->pinned());
}

BOOST_AUTO_TEST_CASE(an_older_message_without_template_fields_is_not_pinned) {
  std::string why;
  auto job = parse_notification_job(
    message({{"notification_id", id}, {"user_id", "u-1"}, {"template_code", "welcome"}}), why);
  BOOST_REQUIRE(job);
  BOOST_CHECK(!job->pinned());
  BOOST_CHECK_EQUAL(job->template_version, 0);
  BOOST_CHECK_EQUAL(job->attempt, 1);
  BOOST_CHECK(job->variables.is_object());
}

BOOST_AUTO_TEST_CASE(the_transport_correlation_id_wins_over_the_body) {
  std::string why;
  auto m = message({{"notification_id", id}, {"correlation_id", "body"}});
  m.correlation_id = "header";
  auto job = parse_notification_job(m, why);
  BOOST_REQUIRE(job);
  BOOST_CHECK_EQUAL(job->correlation_id, "header");
}

BOOST_AUTO_TEST_CASE(unreadable_messages_are_refused_with_the_reason) {
  std::string why;
  BOOST_CHECK(!parse_notification_job({1, false, "not json", ""}, why));
  BOOST_CHECK_NE(why.find("JSON object"), std::string::npos);
  BOOST_CHECK(!parse_notification_job(message(json::array({1, 2})), why));
  BOOST_CHECK(!parse_notification_job(message({{"notification_id", "not-a-uuid"}}), why));
  BOOST_CHECK_NE(why.find("notification_id"), std::string::npos);
  BOOST_CHECK(!parse_notification_job(message({{"notification_id", 12}}), why));
}

BOOST_AUTO_TEST_CASE(fields_of_the_wrong_type_count_as_absent_instead_of_throwing) {
  std::string why;
  auto job = parse_notification_job(message({{"notification_id", id},
                                      {"user_id", 5},
                                      {"variables", "x"},
                                      {"template_version", "3"},
                                      {"attempt", -4}}),
                             why);
  BOOST_REQUIRE(job);
  BOOST_CHECK_EQUAL(job->user_id, "");
  BOOST_CHECK(job->variables.is_object());
  BOOST_CHECK_EQUAL(job->template_version, 0);
  BOOST_CHECK_EQUAL(job->attempt, 1);
}

BOOST_AUTO_TEST_CASE(a_pinned_job_looks_up_exactly_its_language_and_version) {
  messaging::notification_job j;
  j.template_code = "welcome";
  j.language = "de";
  j.template_language = "fr";
  j.template_version = 3;
  user_record u;
  u.language = "en";
  auto key = template_key_for(j, u);
  BOOST_CHECK_EQUAL(key.code, "welcome");
  BOOST_REQUIRE_EQUAL(key.languages.size(), 1u);
  BOOST_CHECK_EQUAL(key.languages[0], "fr");
  BOOST_CHECK_EQUAL(key.version, 3);
}

BOOST_AUTO_TEST_CASE(an_unpinned_job_tries_the_users_language_then_the_requests) {
  messaging::notification_job j;
  j.template_code = "welcome";
  j.language = "de";
  user_record u;
  u.language = "pt-br";
  auto key = template_key_for(j, u);
  BOOST_CHECK((key.languages == std::vector<std::string>{"pt-br", "de"}));
  BOOST_CHECK_EQUAL(key.version, 0);
}

BOOST_AUTO_TEST_CASE(template_keys_are_equal_exactly_when_the_lookups_are) {
  template_key a{"c", {"en", "de"}, 0};
  template_key b{"c", {"en", "de"}, 0};
  template_key c{"c", {"en"}, 0};
  template_key d{"c", {"en", "de"}, 2};
  template_key e{"c\nen", {"de"}, 0};
  template_key f{"c", {"en", ""}, 0};
  BOOST_CHECK_EQUAL(a.text(), b.text());
  BOOST_CHECK_NE(a.text(), c.text());
  BOOST_CHECK_NE(a.text(), d.text());
  BOOST_CHECK_NE(c.text(), f.text());
  BOOST_CHECK_NE(a.text(), e.text());
}

BOOST_AUTO_TEST_CASE(a_batch_is_split_into_contiguous_ranges_differing_by_at_most_one) {
  auto r = split_evenly(10, 3);
  BOOST_REQUIRE_EQUAL(r.size(), 3u);
  BOOST_CHECK((r[0] == std::pair<std::size_t, std::size_t>{0, 4}));
  BOOST_CHECK((r[1] == std::pair<std::size_t, std::size_t>{4, 7}));
  BOOST_CHECK((r[2] == std::pair<std::size_t, std::size_t>{7, 10}));
  for (std::size_t n : {1u, 2u, 5u, 99u, 500u}) {
    for (std::size_t parts : {1u, 2u, 4u, 7u}) {
      auto ranges = split_evenly(n, parts);
      BOOST_CHECK_EQUAL(total(ranges), n);
      BOOST_CHECK_EQUAL(ranges.size(), std::min(n, parts));
      for (std::size_t i = 0; i < ranges.size(); ++i) {
        BOOST_CHECK_LT(ranges[i].first, ranges[i].second);
        if (i > 0) {
          BOOST_CHECK_EQUAL(ranges[i].first, ranges[i - 1].second);
        }
        auto len = ranges[i].second - ranges[i].first;
        BOOST_CHECK_LE(len, n / std::min(n, parts) + 1);
        BOOST_CHECK_GE(len, n / std::min(n, parts));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(fewer_items_than_connections_give_one_item_per_range_and_none_empty) {
  auto r = split_evenly(2, 8);
  BOOST_REQUIRE_EQUAL(r.size(), 2u);
  BOOST_CHECK(split_evenly(0, 4).empty());
  BOOST_CHECK(split_evenly(4, 0).empty());
}

BOOST_AUTO_TEST_CASE(recorded_outcomes_are_acked_together_and_requeues_kept_apart) {
  auto s = settle({{1, verdict::sent},
                   {2, verdict::requeue},
                   {3, verdict::skipped},
                   {4, verdict::failed},
                   {5, verdict::drop}},
                  true);
  BOOST_CHECK((s.ack == std::vector<std::uint64_t>{1, 3, 4, 5}));
  BOOST_CHECK((s.requeue == std::vector<std::uint64_t>{2}));
}

BOOST_AUTO_TEST_CASE(outcomes_not_recorded_are_requeued_never_acked) {
  auto s = settle({{1, verdict::sent}, {2, verdict::failed}, {3, verdict::drop},
                   {4, verdict::requeue}},
                  false);
  BOOST_CHECK((s.ack == std::vector<std::uint64_t>{3}));
  BOOST_CHECK((s.requeue == std::vector<std::uint64_t>{1, 2, 4}));
}

BOOST_AUTO_TEST_CASE(a_message_still_pending_is_requeued_so_nothing_stays_unsettled) {
  auto s = settle({{9, verdict::pending}}, true);
  BOOST_CHECK(s.ack.empty());
  BOOST_CHECK((s.requeue == std::vector<std::uint64_t>{9}));
}

BOOST_AUTO_TEST_CASE(only_sent_skipped_and_failed_are_recorded_statuses) {
  BOOST_CHECK_EQUAL(std::string{status_name(verdict::sent)}, "sent");
  BOOST_CHECK_EQUAL(std::string{status_name(verdict::skipped)}, "skipped");
  BOOST_CHECK_EQUAL(std::string{status_name(verdict::failed)}, "failed");
  BOOST_CHECK_EQUAL(std::string{status_name(verdict::requeue)}, "");
  BOOST_CHECK_EQUAL(std::string{status_name(verdict::drop)}, "");
  BOOST_CHECK_EQUAL(std::string{status_name(verdict::pending)}, "");
}

BOOST_AUTO_TEST_CASE(a_scheduled_publish_is_checked_like_a_redelivery) {
  std::string why;
  auto m = message({{"notification_id", id}, {"user_id", "u-1"}, {"template_code", "t"}});
  BOOST_CHECK(!parse_notification_job(m, why)->redelivered);
  m.headers[herald::messaging::scheduled_header] = "2026-11-30T02:00:00.000Z";
  BOOST_CHECK(parse_notification_job(m, why)->redelivered);
}

BOOST_AUTO_TEST_CASE(final_statuses_are_the_ones_a_redelivery_must_not_send_again) {
  for (auto s : {"sent", "skipped", "failed", "dead", "cancelled"}) {
    BOOST_CHECK(is_terminal_status(s));
  }
  for (auto s : {"queued", "processing", "retrying", "scheduled", ""}) {
    BOOST_CHECK(!is_terminal_status(s));
  }
}

BOOST_AUTO_TEST_SUITE_END()
