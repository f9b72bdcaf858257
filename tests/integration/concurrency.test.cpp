// Many clients at once, each thread with its own HTTP clients and connections: hundreds of
// POSTs in flight all accepted and each delivered exactly once; concurrent new template
// versions numbered without gaps or losses; concurrent first reads of a user and a
// template that no cache holds yet all answered with the right data.

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "support/herald_api.hpp"
#include "support/notification_db.hpp"
#include "support/threads.hpp"

using namespace herald::test;

BOOST_AUTO_TEST_SUITE(concurrency)

BOOST_AUTO_TEST_CASE(three_hundred_concurrent_posts_are_all_accepted_and_each_delivered_once) {
  constexpr int threads = 30;
  constexpr int per_thread = 10;
  running_node node;
  auto code = create_email_template(node);
  auto domain = unique("conc") + ".example.com";
  std::vector<std::string> users;
  for (int t = 0; t < threads; ++t) {
    users.push_back(create_user(node, {{"email", "u" + std::to_string(t) + "@" + domain}}));
  }
  std::vector<std::vector<http_reply>> replies(threads);
  on_threads(threads, [&](int t) {
    for (int k = 0; k < per_thread; ++k) {
      replies[t].push_back(post_json(node.url() + "/api/v1/notifications",
                                     {{"notification_type", "email"},
                                      {"user_id", users[t]},
                                      {"template_code", code},
                                      {"variables", {{"name", std::to_string(k)}}}}));
    }
  });
  std::set<std::string> ids;
  for (auto& mine : replies) {
    for (auto& r : mine) {
      BOOST_TEST_CONTEXT("reply: " << r.raw) {
        BOOST_REQUIRE_EQUAL(r.status, 202);
        ids.insert(r.body["data"]["notification_id"].get<std::string>());
      }
    }
  }
  BOOST_REQUIRE_EQUAL(ids.size(), static_cast<std::size_t>(threads * per_thread));

  std::vector<std::string> id_list(ids.begin(), ids.end());
  std::map<std::string, std::string> statuses;
  bool all_sent = eventually([&] {
    statuses = read_statuses(id_list);
    return statuses.size() == ids.size()
           && std::all_of(statuses.begin(), statuses.end(),
                          [](auto& s) { return s.second == "sent"; });
  });
  BOOST_CHECK_MESSAGE(all_sent, statuses.size() << " of " << ids.size() << " have a status");
  // `sent` is committed after the relay's 250, so every mail is in the sink by now.
  auto mailed = mails_per_notification("@" + domain);
  int twice = 0;
  for (auto& id : ids) {
    BOOST_TEST_CONTEXT("notification " << id) {
      BOOST_CHECK_EQUAL(statuses[id], "sent");
      BOOST_CHECK_EQUAL(mailed[id], 1);
      twice += mailed[id] > 1;
    }
  }
  BOOST_CHECK_EQUAL(mailed.size(), ids.size()); // no mail for anything else
  BOOST_TEST_MESSAGE("notifications mailed more than once: " << twice);
}

BOOST_AUTO_TEST_CASE(concurrent_new_versions_of_a_template_are_numbered_consecutively_none_lost) {
  constexpr int threads = 20;
  constexpr int per_thread = 2;
  running_node node;
  auto code = create_email_template(node);
  std::vector<std::vector<http_reply>> replies(threads);
  on_threads(threads, [&](int t) {
    for (int k = 0; k < per_thread; ++k) {
      auto subject = "Version by " + std::to_string(t) + "." + std::to_string(k) + " {{name}}";
      replies[t].push_back(http_call("PUT", node.url(2) + "/api/v1/templates/" + code,
                                     json{{"subject", subject}}.dump()));
    }
  });
  std::map<int, std::string> subject_of_version;
  for (auto& mine : replies) {
    for (auto& r : mine) {
      BOOST_TEST_CONTEXT("reply: " << r.raw) {
        BOOST_REQUIRE_EQUAL(r.status, 201);
        auto version = r.body["data"]["version"].get<int>();
        BOOST_CHECK_MESSAGE(subject_of_version.emplace(version, r.body["data"]["subject"]).second,
                            "version " << version << " answered twice");
      }
    }
  }
  constexpr int written = threads * per_thread;
  BOOST_REQUIRE_EQUAL(subject_of_version.size(), static_cast<std::size_t>(written));
  BOOST_CHECK_EQUAL(subject_of_version.begin()->first, 2); // version 1 was the POST
  BOOST_CHECK_EQUAL(subject_of_version.rbegin()->first, written + 1);

  // Stored as answered: every version readable with the subject its writer sent.
  auto listing = http_call("GET", node.url(2) + "/api/v1/templates/" + code
                                    + "/versions?limit=100");
  BOOST_REQUIRE_EQUAL(listing.status, 200);
  BOOST_CHECK_EQUAL(listing.body["meta"]["total"], written + 1);
  for (auto& [version, subject] : subject_of_version) {
    auto r = http_call("GET", node.url(2) + "/api/v1/templates/" + code + "?version="
                                + std::to_string(version));
    BOOST_TEST_CONTEXT("version " << version << ": " << r.raw) {
      BOOST_CHECK_EQUAL(r.status, 200);
      BOOST_CHECK_EQUAL(r.body["data"]["subject"], subject);
    }
  }
}

BOOST_AUTO_TEST_CASE(concurrent_first_reads_of_an_uncached_user_and_template_get_the_right_data) {
  constexpr int threads = 32;
  auto email = unique("cold-") + "@example.com";
  std::string user_id;
  std::string code;
  {
    // Written through another node, so the reading node's caches start empty; the user
    // was never read, so Redis does not hold it either.
    running_node writer{{{"HERALD_ROLES", "gateway,users,templates"}}};
    user_id = create_user(writer, {{"email", email}, {"name", "Cold Reader"}});
    code = create_email_template(writer, {{"subject", "Cold {{name}}"}});
  }
  running_node node;
  std::vector<http_reply> users(threads), templates(threads), posts(threads);
  on_threads(threads, [&](int t) {
    switch (t % 3) {
      case 0:
        users[t] = http_call("GET", node.url(1) + "/api/v1/users/" + user_id);
        break;
      case 1:
        templates[t] = http_call("GET", node.url(2) + "/api/v1/templates/" + code);
        break;
      default: // the gateway's own lookups of both
        posts[t] = post_json(node.url() + "/api/v1/notifications",
                             {{"notification_type", "email"},
                              {"user_id", user_id},
                              {"template_code", code},
                              {"variables", {{"name", "x"}}}});
    }
  });
  for (int t = 0; t < threads; ++t) {
    BOOST_TEST_CONTEXT("thread " << t) {
      if (t % 3 == 0) {
        BOOST_TEST_CONTEXT(users[t].raw) {
          BOOST_CHECK_EQUAL(users[t].status, 200);
          BOOST_CHECK_EQUAL(users[t].body["data"]["id"], user_id);
          BOOST_CHECK_EQUAL(users[t].body["data"]["email"], email);
          BOOST_CHECK_EQUAL(users[t].body["data"]["name"], "Cold Reader");
        }
      } else if (t % 3 == 1) {
        BOOST_TEST_CONTEXT(templates[t].raw) {
          BOOST_CHECK_EQUAL(templates[t].status, 200);
          BOOST_CHECK_EQUAL(templates[t].body["data"]["template_code"], code);
          BOOST_CHECK_EQUAL(templates[t].body["data"]["subject"], "Cold {{name}}");
          BOOST_CHECK_EQUAL(templates[t].body["data"]["version"], 1);
        }
      } else {
        BOOST_TEST_CONTEXT(posts[t].raw) {
          BOOST_CHECK_EQUAL(posts[t].status, 202);
        }
      }
    }
  }
  // What was accepted is delivered before the node goes (nothing left in the shared queue).
  std::vector<std::string> accepted;
  for (auto& p : posts) {
    if (p.status == 202) {
      accepted.push_back(p.body["data"]["notification_id"].get<std::string>());
    }
  }
  BOOST_CHECK(eventually([&] {
    auto statuses = read_statuses(accepted);
    return statuses.size() == accepted.size()
           && std::all_of(statuses.begin(), statuses.end(),
                          [](auto& s) { return s.second == "sent"; });
  }));
  BOOST_CHECK_EQUAL(mails_to(env("HERALD_TEST_MAILDIR"), email).size(), accepted.size());
  // The reads really were misses: the first ones reached PostgreSQL.
  std::uint64_t misses = 0;
  for (auto name : {"user_lookup/0", "user_lookup/1"}) {
    misses += actor_counter(node, name, "cache_misses");
  }
  BOOST_CHECK_GE(misses, 1u);
}

BOOST_AUTO_TEST_SUITE_END()
