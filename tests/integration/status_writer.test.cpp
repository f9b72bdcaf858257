// The status writer against the real notification_db: a final status is never overwritten
// by a `queued` or `processing` event that arrives after it, in the same batch or in a
// later one, and the timeline keeps every event with `queued` first. Events go in through
// the writer's actor interface; what was committed is read back with libpqxx directly.

#include <boost/test/unit_test.hpp>

#include <caf/all.hpp>

#include "actors/common/ids.hpp"
#include "actors/notification_store/notification_store.hpp"
#include "runtime/system_config.hpp"
#include "support/notification_db.hpp"
#include "support/test_env.hpp"

using namespace herald;
using namespace herald::test;

namespace {

/// A status writer (and its readers) of this process, on the test database.
struct writer_fixture {
  config::settings settings = node_settings({{"HERALD_NODE_NAME", "status-writer-test"}});
  runtime::system_config cfg{settings};
  caf::actor_system system{cfg};
  runtime::registry registry;
  node_context ctx{system, settings, registry, std::make_shared<runtime::change_feed>()};
  notification_store store = spawn_notification_store(ctx);

  ~writer_fixture() {
    caf::anon_send_exit(store.writer.supervisor, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(store.readers.supervisor, caf::exit_reason::user_shutdown);
  }

  /// One record_many request; its answer (false on an error or timeout).
  bool record(std::vector<status_event> events) {
    caf::scoped_actor self{system};
    bool written = false;
    self->request(store.writer.pool, std::chrono::seconds{10}, record_many_atom::value,
                  std::move(events))
      .receive([&](bool ok) { written = ok; }, [&](caf::error&) { written = false; });
    return written;
  }
};

status_event event(const std::string& id, const std::string& status, int attempts) {
  status_event e;
  e.notification_id = id;
  e.status = status;
  e.attempts = attempts;
  e.detail = status + " detail";
  e.user_id = "user-of-" + id;
  e.channel = "email";
  e.template_code = "status-writer-test";
  e.correlation_id = "corr-" + id;
  return e;
}

using statuses = std::vector<std::string>;

} // namespace

BOOST_FIXTURE_TEST_SUITE(status_writer, writer_fixture)

BOOST_AUTO_TEST_CASE(sent_then_processing_and_queued_in_one_batch_stays_sent_with_queued_first) {
  auto id = make_uuid();
  BOOST_REQUIRE(record({event(id, "sent", 2), event(id, "processing", 2), event(id, "queued", 0)}));
  auto row = read_notification_row(id);
  BOOST_REQUIRE(row.found);
  BOOST_CHECK_EQUAL(row.status, "sent");
  BOOST_CHECK_EQUAL(row.attempts, 2);
  BOOST_CHECK((row.timeline_statuses() == statuses{"queued", "sent", "processing"}));
  BOOST_CHECK_EQUAL(row.timeline.front()["node"], "status-writer-test");
}

BOOST_AUTO_TEST_CASE(sent_then_processing_and_queued_in_later_batches_stays_sent_with_queued_first) {
  auto id = make_uuid();
  BOOST_REQUIRE(record({event(id, "sent", 2)}));
  BOOST_REQUIRE_EQUAL(read_notification_row(id).status, "sent"); // committed on its own
  BOOST_REQUIRE(record({event(id, "processing", 1)}));
  BOOST_REQUIRE(record({event(id, "queued", 0)}));
  auto row = read_notification_row(id);
  BOOST_REQUIRE(row.found);
  BOOST_CHECK_EQUAL(row.status, "sent");
  BOOST_CHECK_EQUAL(row.attempts, 2);
  BOOST_CHECK((row.timeline_statuses() == statuses{"queued", "sent", "processing"}));
}

BOOST_AUTO_TEST_CASE(every_final_status_survives_late_queued_and_processing_events) {
  for (std::string final_status : {"sent", "skipped", "failed", "dead"}) {
    BOOST_TEST_CONTEXT("final status " << final_status) {
      auto one_batch = make_uuid();
      auto later_batches = make_uuid();
      BOOST_REQUIRE(record({event(one_batch, final_status, 1), event(one_batch, "queued", 0),
                            event(one_batch, "processing", 1)}));
      BOOST_REQUIRE(record({event(later_batches, final_status, 1)}));
      BOOST_REQUIRE(record({event(later_batches, "queued", 0)}));
      BOOST_REQUIRE(record({event(later_batches, "processing", 1)}));
      for (auto& id : {one_batch, later_batches}) {
        auto row = read_notification_row(id);
        BOOST_CHECK_EQUAL(row.status, final_status);
        BOOST_CHECK_EQUAL(row.attempts, 1);
        BOOST_CHECK_EQUAL(row.timeline.size(), 3u);
        BOOST_CHECK_EQUAL(row.timeline_statuses().front(), "queued");
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(a_status_that_is_not_final_is_replaced_by_the_next_event) {
  // The guard keeps final statuses only: queued -> processing -> sent moves on each time.
  auto id = make_uuid();
  BOOST_REQUIRE(record({event(id, "queued", 0)}));
  BOOST_CHECK_EQUAL(read_notification_row(id).status, "queued");
  BOOST_REQUIRE(record({event(id, "processing", 1)}));
  BOOST_CHECK_EQUAL(read_notification_row(id).status, "processing");
  BOOST_REQUIRE(record({event(id, "sent", 1)}));
  auto row = read_notification_row(id);
  BOOST_CHECK_EQUAL(row.status, "sent");
  BOOST_CHECK((row.timeline_statuses() == statuses{"queued", "processing", "sent"}));
}

BOOST_AUTO_TEST_SUITE_END()
