#include "adapters/amqp/consumer.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <mutex>
#include <thread>
#include <vector>

namespace herald::amqp {

namespace {

struct settlement {
  std::uint64_t tag;
  bool ack;
  bool requeue;
};

} // namespace

/// What the I/O thread and the owner share; the thread keeps it alive until it is done.
struct consumer::shared {
  consumer_settings settings;
  delivery_fn on_delivery;
  lost_fn on_lost;
  consumer_stats stats;
  int wake_fd = -1;

  std::mutex mtx;
  std::vector<settlement> pending; ///< guarded by mtx
  bool stopping = false;           ///< guarded by mtx

  /// Held while a callback runs and while the owner drops them, so that nothing of the
  /// owner's (actor handles) is used or released by this thread after the owner is gone.
  std::mutex callbacks_mtx;

  void deliver(delivery&& d) {
    stats.delivered += 1;
    std::lock_guard<std::mutex> guard{callbacks_mtx};
    if (on_delivery) {
      on_delivery(std::move(d));
    }
  }

  void drop_callbacks() {
    std::lock_guard<std::mutex> guard{callbacks_mtx};
    on_delivery = nullptr;
    on_lost = nullptr;
  }

  ~shared() { close(wake_fd); }

  void wake() {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = write(wake_fd, &one, sizeof one);
  }

  void settle(settlement s) {
    {
      std::lock_guard<std::mutex> guard{mtx};
      if (stopping) {
        return;
      }
      pending.push_back(s);
    }
    wake();
  }

  /// The I/O thread: returns when stopped or when the connection is gone.
  void run() {
    connection conn{settings.url};
    auto err = conn.open();
    if (err.empty()) {
      err = conn.declare(settings.declare);
    }
    if (err.empty()) {
      err = conn.set_prefetch(settings.prefetch);
    }
    if (err.empty()) {
      err = conn.consume(settings.queue);
    }
    if (!err.empty()) {
      lost(err);
      return;
    }
    stats.consuming = true;
    std::vector<settlement> batch;
    for (;;) {
      {
        std::lock_guard<std::mutex> guard{mtx};
        if (stopping) {
          return;
        }
        batch.swap(pending);
      }
      if (!batch.empty()) {
        conn.hold_writes(true);
        for (auto& s : batch) {
          err = s.ack ? conn.ack(s.tag) : conn.reject(s.tag, s.requeue);
          if (!err.empty()) {
            break;
          }
        }
        conn.hold_writes(false);
        stats.settled += batch.size();
        batch.clear();
        if (!err.empty()) {
          lost(err);
          return;
        }
      }
      // Everything already buffered, without waiting.
      while (conn.has_buffered_data()) {
        auto d = conn.next_delivery(std::chrono::milliseconds{0});
        if (!d) {
          break;
        }
        deliver(std::move(*d));
      }
      if (!conn.is_open()) {
        lost(conn.last_error());
        return;
      }
      pollfd fds[2] = {{wake_fd, POLLIN, 0}, {conn.fd(), POLLIN, 0}};
      if (poll(fds, 2, -1) < 0) {
        continue; // EINTR
      }
      if (fds[0].revents & POLLIN) {
        std::uint64_t n;
        [[maybe_unused]] auto r = read(wake_fd, &n, sizeof n);
      }
      if (fds[1].revents & (POLLIN | POLLERR | POLLHUP)) {
        // Reads at least one frame: a delivery, or the broker closing (then !is_open()).
        if (auto d = conn.next_delivery(std::chrono::milliseconds{0})) {
          deliver(std::move(*d));
        }
        if (!conn.is_open()) {
          lost(conn.last_error());
          return;
        }
      }
    }
  }

  void lost(const std::string& why) {
    stats.consuming = false;
    bool stopped;
    {
      std::lock_guard<std::mutex> guard{mtx};
      stopped = stopping;
      stopping = true;
    }
    std::lock_guard<std::mutex> guard{callbacks_mtx};
    if (!stopped && on_lost) {
      on_lost(why.empty() ? "connection lost" : why);
    }
  }
};

consumer::consumer(consumer_settings s, delivery_fn on_delivery, lost_fn on_lost)
  : shared_(std::make_shared<shared>()) {
  shared_->settings = std::move(s);
  shared_->on_delivery = std::move(on_delivery);
  shared_->on_lost = std::move(on_lost);
  shared_->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  std::thread{[keep = shared_] { keep->run(); }}.detach();
}

consumer::~consumer() {
  {
    std::lock_guard<std::mutex> guard{shared_->mtx};
    shared_->stopping = true;
  }
  shared_->wake();
  shared_->drop_callbacks();
}

void consumer::ack(std::uint64_t tag) {
  shared_->settle({tag, true, false});
}

void consumer::reject(std::uint64_t tag, bool requeue) {
  shared_->settle({tag, false, requeue});
}

const consumer_stats& consumer::stats() const {
  return shared_->stats;
}

} // namespace herald::amqp
