#pragma once

// Asking an actor from outside the actor system (an HTTP thread) without blocking it: a
// short-lived actor makes the request, runs the continuation when the answer comes, and
// quits.
//
// CAF 0.17 pins its logger to every thread that spawns an actor (a thread-local
// reference), and the actor system's destructor waits until the logger is gone. HTTP
// threads outlive the system, so the pin is dropped right after spawning; otherwise the
// node could never shut down.

#include <caf/all.hpp>

#include <chrono>
#include <functional>
#include <string>

namespace herald {

namespace detail {

template <class F, class... Ts>
auto then_quit(caf::event_based_actor* self, F f, caf::detail::type_list<Ts...>) {
  return [self, f](Ts... xs) mutable {
    f(std::forward<Ts>(xs)...);
    self->quit();
  };
}

} // namespace detail

template <class OnReply, class... Args>
void ask(caf::actor_system& sys, const caf::actor& dest, std::chrono::milliseconds timeout,
         OnReply on_reply, std::function<void(const std::string&)> on_error, Args... args) {
  sys.spawn([=](caf::event_based_actor* self) {
    using arg_types = typename caf::detail::get_callable_trait<OnReply>::arg_types;
    self->request(dest, timeout, args...)
      .then(detail::then_quit(self, on_reply, arg_types{}), [=](caf::error& e) {
        on_error(self->system().render(e));
        self->quit();
      });
  });
  caf::logger::set_current_actor_system(nullptr);
}

} // namespace herald
