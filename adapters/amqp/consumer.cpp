#include "adapters/amqp/consumer.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "adapters/amqp/ack_window.hpp"

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
  bool paused = false;             ///< guarded by mtx: the owner wants no deliveries

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

  void set_paused(bool p) {
    {
      std::lock_guard<std::mutex> guard{mtx};
      if (stopping || paused == p) {
        return;
      }
      paused = p;
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
    bool consuming = false; ///< a basic.consume is running on the channel
    if (!err.empty()) {
      lost(err);
      return;
    }
    std::vector<settlement> batch;
    std::vector<delivery> deliveries;
    ack_window window;
    using clock_type = std::chrono::steady_clock;
    clock_type::time_point held_since; ///< when the acks held now started to be held
    bool holding = false;
    // Acks held behind an unsettled delivery go out one by one after this long, or at
    // once when they would take half the prefetch window.
    constexpr std::chrono::milliseconds hold_limit{10};
    std::size_t hold_max = std::max<std::size_t>(1, settings.prefetch / 2);
    // Reads every delivery available without waiting (buffered or on the socket) and
    // hands them on in one call. False when the connection is gone.
    auto read_available = [&] {
      while (auto d = conn.next_delivery(std::chrono::milliseconds{0})) {
        window.delivered(d->tag);
        deliveries.push_back(std::move(*d));
      }
      deliver(deliveries);
      return conn.is_open();
    };
    for (;;) {
      bool want_paused;
      {
        std::lock_guard<std::mutex> guard{mtx};
        if (stopping) {
          return;
        }
        batch.swap(pending);
        want_paused = paused;
      }
      // Before the settlements: a requeue the owner sent together with a pause must not
      // come straight back to this consumer.
      if (want_paused == consuming) {
        err = consuming ? conn.cancel() : conn.consume(settings.queue);
        if (!err.empty()) {
          lost(err);
          return;
        }
        consuming = !consuming;
        stats.consuming = consuming;
      }
      if (!batch.empty() || window.held() > 0) {
        conn.hold_writes(true);
        for (auto& s : batch) {
          if (s.ack) {
            err = window.acked(s.tag) ? std::string{} : conn.ack(s.tag);
          } else {
            window.rejected(s.tag);
            err = conn.reject(s.tag, s.requeue);
          }
          if (!err.empty()) {
            break;
          }
        }
        if (err.empty()) {
          if (auto last = window.take_prefix_ack()) {
            err = conn.ack(*last, true);
          }
        }
        auto now = clock_type::now();
        if (window.held() == 0) {
          holding = false;
        } else if (!holding) {
          holding = true;
          held_since = now;
        }
        if (err.empty() && window.held() > 0
            && (now - held_since >= hold_limit || window.held() >= hold_max)) {
          for (auto tag : window.take_held()) {
            if (err = conn.ack(tag); !err.empty()) {
              break;
            }
          }
          holding = false;
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
      int wait_ms = -1;
      if (window.held() > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          held_since + hold_limit - clock_type::now());
        wait_ms = static_cast<int>(std::max<std::int64_t>(0, left.count()) + 1);
      }
      if (poll(fds, 2, wait_ms) < 0) {
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

void consumer::pause(bool paused) {
  shared_->set_paused(paused);
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
