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

  void deliver(std::vector<delivery>& batch) {
    if (batch.empty()) {
      return;
    }
    stats.delivered += batch.size();
    std::lock_guard<std::mutex> guard{callbacks_mtx};
    if (on_delivery) {
      on_delivery(std::move(batch));
    }
    batch.clear();
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

  void settle(const std::vector<std::uint64_t>& tags, bool ack, bool requeue) {
    if (tags.empty()) {
      return;
    }
    {
      std::lock_guard<std::mutex> guard{mtx};
      if (stopping) {
        return;
      }
      for (auto tag : tags) {
        pending.push_back({tag, ack, requeue});
      }
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
    std::vector<delivery> deliveries;
    // Reads every delivery available without waiting (buffered or on the socket) and
    // hands them on in one call. False when the connection is gone.
    auto read_available = [&] {
      while (auto d = conn.next_delivery(std::chrono::milliseconds{0})) {
        deliveries.push_back(std::move(*d));
      }
      deliver(deliveries);
      return conn.is_open();
    };
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
      if (conn.has_buffered_data() && !read_available()) {
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
        // Reads at least one frame: deliveries, or the broker closing (then !is_open()).
        if (!read_available()) {
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
  shared_->settle({tag}, true, false);
}

void consumer::reject(std::uint64_t tag, bool requeue) {
  shared_->settle({tag}, false, requeue);
}

void consumer::ack(const std::vector<std::uint64_t>& tags) {
  shared_->settle(tags, true, false);
}

void consumer::reject(const std::vector<std::uint64_t>& tags, bool requeue) {
  shared_->settle(tags, false, requeue);
}

const consumer_stats& consumer::stats() const {
  return shared_->stats;
}

} // namespace herald::amqp
