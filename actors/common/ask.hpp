#pragma once

// Asking an actor from outside the actor system (an HTTP thread) without blocking it: a
// short-lived actor makes the request and runs the continuation when the answer comes.

#include <caf/all.hpp>

#include <chrono>
#include <functional>
#include <string>

namespace herald {

template <class OnReply, class... Args>
void ask(caf::actor_system& sys, const caf::actor& dest, std::chrono::milliseconds timeout,
         OnReply on_reply, std::function<void(const std::string&)> on_error, Args... args) {
  sys.spawn([=](caf::event_based_actor* self) {
    self->request(dest, timeout, args...)
      .then(on_reply, [=](caf::error& e) { on_error(self->system().render(e)); });
  });
}

} // namespace herald
