// redis::command_batcher against the real Redis: commands given one after the other run
// in that order on the server, also when a script has to be loaded first (the gateway
// frees a refused request's request_id claim with a script, and the client's corrected
// retry must find it free).

#include <boost/test/unit_test.hpp>

#include <future>
#include <string>

#include "adapters/redis/client.hpp"
#include "adapters/redis/command_batcher.hpp"
#include "support/test_env.hpp"

using namespace herald::test;

namespace {

const herald::redis::script set_one{"redis.call('SET', KEYS[1], '1') return 1"};

/// The reply's text ("" for nil or an error), once the batcher answered.
std::string text_of(std::future<std::optional<herald::redis::value>>& f) {
  auto v = f.get();
  return v && v->type == herald::redis::value::kind::string ? v->text : "";
}

} // namespace

BOOST_AUTO_TEST_SUITE(redis_batcher)

BOOST_AUTO_TEST_CASE(a_script_loaded_on_first_use_still_runs_before_the_commands_after_it) {
  auto url = env("HERALD_TEST_REDIS_URL");
  herald::redis::client direct{url};
  std::string error;
  // The server knows no scripts: the batcher's first EVALSHA of set_one would be NOSCRIPT.
  BOOST_REQUIRE(direct.pipeline({{"SCRIPT", "FLUSH"}}, &error));
  auto key = unique("herald:test:order:");

  std::promise<std::optional<herald::redis::value>> ran;
  std::promise<std::optional<herald::redis::value>> read;
  {
    herald::redis::batcher_settings s;
    s.url = url;
    herald::redis::command_batcher batcher{s};
    // A BLPOP holds the connection for 0.2 s, so the two commands after it are sent
    // together, in one pipeline, the script first.
    batcher.run({"BLPOP", key + ":none", "0.2"}, [](const auto&, const std::string&) {});
    batcher.eval(set_one, {key}, {}, [&](const std::optional<herald::redis::value>& v,
                                         const std::string&) { ran.set_value(v); });
    batcher.run({"GET", key}, [&](const std::optional<herald::redis::value>& v,
                                  const std::string&) { read.set_value(v); });
    auto f = ran.get_future();
    auto g = read.get_future();
    auto r = f.get();
    BOOST_REQUIRE(r.has_value());
    BOOST_CHECK_EQUAL(r->integer, 1);
    BOOST_CHECK_EQUAL(text_of(g), "1");
  }
  direct.del(key);
}

BOOST_AUTO_TEST_CASE(a_script_flushed_while_connected_is_loaded_again) {
  auto url = env("HERALD_TEST_REDIS_URL");
  herald::redis::client direct{url};
  std::string error;
  auto key = unique("herald:test:flushed:");
  herald::redis::batcher_settings s;
  s.url = url;
  herald::redis::command_batcher batcher{s};
  auto eval = [&] {
    std::promise<std::optional<herald::redis::value>> p;
    batcher.eval(set_one, {key}, {}, [&](const std::optional<herald::redis::value>& v,
                                         const std::string&) { p.set_value(v); });
    return p.get_future().get();
  };
  auto first = eval();
  BOOST_REQUIRE(first.has_value());
  BOOST_REQUIRE(direct.pipeline({{"SCRIPT", "FLUSH"}}, &error));
  auto second = eval();
  BOOST_REQUIRE(second.has_value());
  BOOST_CHECK(second->type == herald::redis::value::kind::integer);
  BOOST_CHECK_EQUAL(second->integer, 1);
  direct.del(key);
}

BOOST_AUTO_TEST_SUITE_END()
