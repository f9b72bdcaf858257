#include "runtime/system_config.hpp"

#include <pplx/threadpool.h>

#include <mutex>
#include <thread>

namespace herald::runtime {

system_config::system_config(const config::settings& s) {
  auto threads = static_cast<std::size_t>(s.get_int("runtime.scheduler_threads"));
  if (threads == 0) {
    threads = std::max(1u, std::thread::hardware_concurrency());
  }
  set("logger.verbosity", caf::atom("quiet"));
  set("scheduler.policy", caf::atom("sharing"));
  set("scheduler.max-threads", threads);
  // cpprestsdk's pool is process-wide and sized once, before its first use.
  static std::once_flag sized;
  auto http_threads = static_cast<std::size_t>(s.get_int("http.threads"));
  std::call_once(sized, [http_threads] {
    crossplat::threadpool::initialize_with_threads(http_threads);
  });
}

} // namespace herald::runtime
