// The list endpoint is served from an index (issue 12): a copy of notifications with
// migration 0007's indexes (schema list_plans in notification_db, dropped afterwards) is
// filled with 1,000,000 rows and ANALYZEd, and EXPLAIN of every shape the list can take
// (each subset of user_id, status, channel, since, until: 32), for its first and its last
// reachable page and its bounded count, must use an index and never a sequential scan of
// notifications. The queries are the list's own (notification_list.hpp). Prints each
// shape's plan and the time EXPLAIN ANALYZE measured.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <iostream>

#include <pqxx/pqxx>

#include "actors/notification_store/notification_list.hpp"
#include "support/notification_db.hpp"

using herald::notification_filter;

namespace {

constexpr int rows = 1'000'000;

/// The schema with the copy: created, filled and analysed once for the suite.
struct plan_fixture {
  plan_fixture() : conn(herald::test::notification_db_url()) {
    auto started = std::chrono::steady_clock::now();
    pqxx::work tx{conn};
    tx.exec0("DROP SCHEMA IF EXISTS list_plans CASCADE");
    tx.exec0("CREATE SCHEMA list_plans");
    // Unlogged and indexed after the load: the fastest way to a million rows.
    tx.exec0("CREATE UNLOGGED TABLE list_plans.notifications "
             "(LIKE public.notifications INCLUDING DEFAULTS)");
    // 10,000 users of 100 rows each; statuses mostly sent, a few of every other kind;
    // a fifth push; one row every ~8 s over the last 90 days.
    tx.exec0(R"sql(
      INSERT INTO list_plans.notifications (id, user_id, channel, template_code, status,
                                            created_at, updated_at)
      SELECT lpad(to_hex(g), 32, '0')::uuid,
             '00000000-0000-4000-8000-' || lpad(to_hex(g % 10000), 12, '0'),
             CASE WHEN g % 5 = 0 THEN 'push' ELSE 'email' END,
             'plan',
             (ARRAY['sent','sent','sent','sent','sent','sent','sent','sent','sent','sent',
                    'sent','sent','queued','processing','retrying','failed','skipped',
                    'dead','scheduled','cancelled'])[1 + (g::bigint * 7919) % 20],
             t.now - g * interval '7.776 s', t.now - g * interval '7.776 s'
      FROM (SELECT now() AS now) AS t, generate_series(1, )sql" + std::to_string(rows) + ") AS g");
    tx.exec0("SET LOCAL maintenance_work_mem = '256MB'");
    // The indexes as the migrations made them in public, built after the load.
    auto defs = tx.exec("SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' "
                        "AND tablename = 'notifications'");
    for (const auto& d : defs) {
      std::string def = d[0].c_str();
      auto on = def.find(" ON public.notifications ");
      BOOST_REQUIRE(on != std::string::npos);
      def.replace(on, 25, " ON list_plans.notifications ");
      auto name_end = def.find(" ON ");
      auto name_start = def.rfind(' ', name_end - 1);
      def.erase(name_start + 1, name_end - name_start - 1); // unnamed: PostgreSQL names it
      tx.exec0(def);
      indexes.push_back(d[0].c_str());
    }
    tx.exec0("ANALYZE list_plans.notifications");
    tx.commit();
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
    std::cout << "list_plans: " << rows << " rows loaded, indexed and analysed in "
              << took.count() << " ms\n";
  }

  ~plan_fixture() {
    try {
      pqxx::work tx{conn};
      tx.exec0("DROP SCHEMA list_plans CASCADE");
      tx.commit();
    } catch (const std::exception& e) {
      std::cerr << "list_plans: could not drop the schema: " << e.what() << "\n";
    }
  }

  /// EXPLAIN (ANALYZE) of `sql` with `params`, on the copy.
  std::string explain(const std::string& sql, std::vector<std::string> params,
                      bool analyze = false) {
    pqxx::work tx{conn};
    tx.exec0("SET LOCAL search_path = list_plans");
    auto plan = tx.exec_params(std::string{analyze ? "EXPLAIN ANALYZE " : "EXPLAIN "} + sql,
                               pqxx::prepare::make_dynamic_params(params));
    std::string out;
    for (const auto& line : plan) {
      out += std::string{line[0].c_str()} + "\n";
    }
    return out;
  }

  pqxx::connection conn;
  std::vector<std::string> indexes;
  std::string some_user = "00000000-0000-4000-8000-00000000002a"; // user 42
};

/// Shape `mask`'s filter: bit 0 user_id, 1 status, 2 channel, 3 since, 4 until.
notification_filter shape(int mask, const std::string& user, const std::string& status) {
  notification_filter f;
  if (mask & 1) f.user_id = user;
  if (mask & 2) f.status = status;
  if (mask & 4) f.channel = "push";
  if (mask & 8) f.since = "2026-09-01T00:00:00Z";
  if (mask & 16) f.until = "2026-11-15T00:00:00Z";
  return f;
}

std::string describe(int mask, const std::string& status) {
  std::string out;
  for (auto [bit, name] : {std::pair{1, "user_id"}, {2, "status"}, {4, "channel"},
                           {8, "since"}, {16, "until"}}) {
    if (mask & bit) {
      out += (out.empty() ? "" : "+") + std::string{name} + (bit == 2 ? "=" + status : "");
    }
  }
  return out.empty() ? "(none)" : out;
}

void check_uses_an_index(const std::string& plan) {
  BOOST_TEST(plan.find("Seq Scan") == std::string::npos, plan);
  BOOST_TEST(plan.find("Index") != std::string::npos, plan);
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(notification_list_plans, plan_fixture)

BOOST_AUTO_TEST_CASE(every_list_shape_reads_an_index_at_a_million_rows) {
  BOOST_TEST_REQUIRE(indexes.size() >= 5u);
  // A common status and a rare one: the planner weighs them differently.
  for (auto* status : {"sent", "dead"}) {
    for (int mask = 0; mask < 32; ++mask) {
      if (!(mask & 2) && std::string{status} == "dead") {
        continue; // the same shape as with "sent"
      }
      auto f = shape(mask, some_user, status);
      auto what = describe(mask, status);
      BOOST_TEST_CONTEXT(what) {
        auto params = herald::filter_params(f);
        auto first = params, last = params;
        first.insert(first.end(), {"20", "0"});
        last.insert(last.end(), {"20", std::to_string(herald::count_cap - 20)});
        auto page_plan = explain(herald::list_sql(f), first);
        check_uses_an_index(page_plan);
        check_uses_an_index(explain(herald::list_sql(f), last));
        check_uses_an_index(explain(herald::count_sql(f), params));
        auto timed = [&](const std::string& sql, const std::vector<std::string>& p) {
          auto plan = explain(sql, p, true);
          auto at = plan.rfind("Execution Time: ");
          return at == std::string::npos ? std::string{"?"}
                                         : plan.substr(at + 16, plan.find('\n', at) - at - 16);
        };
        std::cout << "list_plans " << what << ": page 1 " << timed(herald::list_sql(f), first)
                  << ", page " << herald::count_cap / 20 << " " << timed(herald::list_sql(f), last)
                  << ", count " << timed(herald::count_sql(f), params) << "\n";
        if (mask == 0 || mask == 3) {
          std::cout << page_plan;
        }
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
