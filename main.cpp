// herald: reads configuration, starts the node — nothing else.
//
//   herald serve [--config=FILE] [--key=value ...]   run the configured roles
//   herald config [--config=FILE] [--key=value ...]  print the effective configuration
//   herald options                                   print every option as Markdown
//   herald routes                                    print every route's credential as Markdown
//   herald vapid-keys                                print a new Web Push (VAPID) key pair

#include <algorithm>
#include <atomic>
#include <csignal>
#include <fstream>
#include <iostream>
#include <iterator>
#include <unistd.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/node/node.hpp"
#include "adapters/push/webpush.hpp"
#include "runtime/config/settings.hpp"
#include "runtime/system_config.hpp"
#include "runtime/logging/log.hpp"

namespace {

/// The command line of process `pid` (arguments joined by spaces), or "" if it is gone.
std::string command_of(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary};
  std::string text{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
  std::replace(text.begin(), text.end(), '\0', ' ');
  while (!text.empty() && text.back() == ' ') {
    text.pop_back();
  }
  return text;
}

int usage() {
  std::cerr << "usage: herald serve|config [--config=FILE] [--key=value ...]\n"
               "       herald options|routes|vapid-keys\n";
  return 2;
}

/// A new VAPID key pair as environment lines; the subject is left for the operator.
int print_vapid_keys() {
  auto keys = herald::webpush::vapid_keys::generate();
  std::cout << "# Web Push (VAPID) keys for Herald. Browsers subscribe with the public key\n"
               "# (applicationServerKey); keep the private key secret. Fill in the subject:\n"
               "# a mailto: address or https:// page where push services can reach you.\n"
            << "HERALD_VAPID_PUBLIC_KEY=" << keys.public_key() << "\n"
            << "HERALD_VAPID_PRIVATE_KEY=" << keys.private_key() << "\n"
            << "HERALD_VAPID_SUBJECT=mailto:\n";
  return 0;
}

/// "" when the VAPID settings are usable (or unset), else the error naming the key: the
/// settings loader checked their shape, this checks the keys are one P-256 pair.
std::string check_vapid(const herald::config::settings& s) {
  auto& pub = s.get("push.vapid_public_key");
  if (pub.empty()) {
    return {};
  }
  std::string why;
  if (!herald::webpush::vapid_keys::parse(pub, s.get("push.vapid_private_key"), why)) {
    auto key = why.rfind("the VAPID private key", 0) == 0 ? "push.vapid_private_key"
                                                            : "push.vapid_public_key";
    return std::string{"invalid value for '"} + key + "' (" + s.source(key) + "): " + why;
  }
  if (auto bad = herald::webpush::check_subject(s.get("push.vapid_subject")); !bad.empty()) {
    return "invalid value for 'push.vapid_subject' (" + s.source("push.vapid_subject")
           + "): " + bad;
  }
  return {};
}

int serve(const herald::config::settings& settings) {
  herald::log::init(settings.get("node.name"),
                    herald::log::parse_level(settings.get("log.level")));
  // Block the signals before CAF starts its threads so only sigwait sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  herald::runtime::system_config cfg{settings};
  caf::actor_system system{cfg};
  herald::node node{system, settings};
  herald::log::context who{"", "node", {}};
  std::atomic<bool> escalated{false};
  node.on_escalation([&escalated](const std::string&) {
    escalated = true;
    kill(getpid(), SIGTERM);
  });
  if (auto err = node.start(); !err.empty()) {
    herald::log::error(who, "cannot start", {{"error", err}});
    node.stop();
    return 1;
  }
  herald::log::info(who, "started", {{"roles", settings.get("roles")}});
  siginfo_t info{};
  int sig = -1;
  while (sig < 0) {
    sig = sigwaitinfo(&signals, &info); // -1 with EINTR: wait again
  }
  // At warn, so that even log.level=warn says who stopped the node: a node that vanished
  // from a benchmark with no line at all cost a long hunt.
  herald::log::warn(who, "stopping",
                    {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"},
                     {"sender_pid", info.si_pid},
                     {"sender", info.si_pid == getpid() ? std::string{"herald (escalation)"}
                                                        : command_of(info.si_pid)}});
  node.stop();
  return escalated.load() ? 1 : 0;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    return usage();
  }
  std::string command = argv[1];
  if (command == "options") {
    std::cout << herald::config::options_markdown();
    return 0;
  }
  if (command == "vapid-keys") {
    return print_vapid_keys();
  }
  if (command == "routes") {
    std::cout << herald::access::markdown(herald::route_rules());
    return 0;
  }
  if (command != "serve" && command != "config") {
    return usage();
  }
  herald::config::sources in;
  in.environment = herald::config::process_environment();
  if (auto i = in.environment.find("HERALD_CONFIG"); i != in.environment.end()) {
    in.file_path = i->second;
  }
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--config=", 0) == 0) {
      in.file_path = arg.substr(9);
    } else {
      in.flags.push_back(arg);
    }
  }
  auto loaded = herald::config::load(in);
  if (!loaded.value) {
    std::cerr << "herald: configuration error: " << loaded.error << "\n";
    return 2;
  }
  if (auto err = check_vapid(*loaded.value); !err.empty()) {
    std::cerr << "herald: configuration error: " << err << "\n";
    return 2;
  }
  if (command == "config") {
    for (auto& o : herald::config::declared_options()) {
      auto& value = loaded.value->get(o.key);
      bool hidden = o.kind == herald::config::value_kind::secret && !value.empty();
      std::cout << o.key << " = " << (hidden ? "(set, not shown)" : value) << "    # "
                << loaded.value->source(o.key) << "\n";
    }
    return 0;
  }
  return serve(*loaded.value);
}
