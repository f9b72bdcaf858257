#include "adapters/redis/command_batcher.hpp"

#include <openssl/sha.h>

#include <algorithm>
#include <cstdio>

namespace herald::redis {

script::script(std::string t) : text(std::move(t)) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  char hex[3];
  for (auto b : digest) {
    std::snprintf(hex, sizeof hex, "%02x", b);
    sha1 += hex;
  }
}

struct command_batcher::state {
  struct job {
    std::vector<std::string> argv;
    const redis::script* script = nullptr; ///< argv[1] is its sha1
    command_callback done;
  };

  explicit state(batcher_settings s) : settings(std::move(s)), client(settings.url, settings.timeout) {}

  void submit(job j) {
    {
      std::lock_guard<std::mutex> lock{mtx};
      if (!stopping) {
        queue.push_back(std::move(j));
        cv.notify_one();
        return;
      }
    }
    j.done(std::nullopt, "redis: shutting down");
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock{mtx};
      stopping = true;
    }
    cv.notify_one();
  }

  void loop();
  void send(std::vector<job>& batch);

  batcher_settings settings;
  redis::client client;
  std::chrono::steady_clock::time_point next_attempt{};
  std::vector<const redis::script*> loaded; ///< into the server of connection `loaded_on`
  std::uint64_t loaded_on = 0;
  std::atomic<std::uint64_t> pipelines{0};
  std::atomic<std::uint64_t> commands{0};

  std::mutex mtx;
  std::condition_variable cv;
  std::deque<job> queue;
  bool stopping = false;
};

command_batcher::command_batcher(batcher_settings s)
  : state_(std::make_shared<state>(std::move(s))) {
  thread_ = std::thread([st = state_] { st->loop(); });
}

command_batcher::~command_batcher() {
  state_->stop();
  if (thread_.get_id() == std::this_thread::get_id()) {
    thread_.detach(); // the thread holds the state and ends after this callback
  } else {
    thread_.join();
  }
}

std::uint64_t command_batcher::pipelines() const {
  return state_->pipelines.load();
}

std::uint64_t command_batcher::commands() const {
  return state_->commands.load();
}

void command_batcher::run(std::vector<std::string> argv, command_callback done) {
  state_->submit({std::move(argv), nullptr, std::move(done)});
}

void command_batcher::eval(const script& s, const std::vector<std::string>& keys,
                           const std::vector<std::string>& args, command_callback done) {
  std::vector<std::string> argv;
  argv.reserve(3 + keys.size() + args.size());
  argv.emplace_back("EVALSHA");
  argv.push_back(s.sha1);
  argv.push_back(std::to_string(keys.size()));
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  state_->submit({std::move(argv), &s, std::move(done)});
}

void command_batcher::state::loop() {
  std::vector<job> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock{mtx};
      cv.wait(lock, [&] { return stopping || !queue.empty(); });
      if (stopping) {
        while (!queue.empty()) {
          batch.push_back(std::move(queue.front()));
          queue.pop_front();
        }
        lock.unlock();
        for (auto& j : batch) {
          j.done(std::nullopt, "redis: shutting down");
        }
        return;
      }
      while (!queue.empty() && batch.size() < settings.max_batch) {
        batch.push_back(std::move(queue.front()));
        queue.pop_front();
      }
    }
    send(batch);
    batch.clear();
  }
}

void command_batcher::state::send(std::vector<job>& batch) {
  auto fail_all = [&](const std::string& why) {
    for (auto& j : batch) {
      j.done(std::nullopt, why);
    }
  };
  auto now = std::chrono::steady_clock::now();
  if (!client.connected() && now < next_attempt) {
    fail_all("redis: unavailable (reconnecting)");
    return;
  }
  std::string error;
  if (!client.connect(&error)) {
    next_attempt = std::chrono::steady_clock::now() + settings.reconnect_interval;
    fail_all(error);
    return;
  }
  // Scripts not yet loaded into this server are loaded at the head of the same pipeline,
  // so every EVALSHA finds its script and the commands run in the order they were given.
  if (client.connections() != loaded_on) {
    loaded.clear();
    loaded_on = client.connections();
  }
  std::vector<const redis::script*> loading;
  for (auto& j : batch) {
    if (j.script != nullptr && std::find(loaded.begin(), loaded.end(), j.script) == loaded.end()
        && std::find(loading.begin(), loading.end(), j.script) == loading.end()) {
      loading.push_back(j.script);
    }
  }
  std::vector<std::vector<std::string>> cmds;
  cmds.reserve(loading.size() + batch.size());
  for (auto* s : loading) {
    cmds.push_back({"SCRIPT", "LOAD", s->text});
  }
  for (auto& j : batch) {
    cmds.push_back(j.argv);
  }
  auto replies = client.pipeline(cmds, &error);
  pipelines += 1;
  commands += batch.size();
  if (!replies) {
    next_attempt = std::chrono::steady_clock::now() + settings.reconnect_interval;
    fail_all(error);
    return;
  }
  for (std::size_t k = 0; k < loading.size(); ++k) {
    if ((*replies)[k].type != value::kind::error) {
      loaded.push_back(loading[k]);
    }
  }
  replies->erase(replies->begin(), replies->begin() + static_cast<std::ptrdiff_t>(loading.size()));
  // Scripts the server does not know (flushed while connected): load each once, then send
  // those commands again. They then run after the rest of their pipeline.
  std::vector<std::size_t> again;
  std::vector<const redis::script*> to_load;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto& r = (*replies)[i];
    if (batch[i].script != nullptr && r.type == value::kind::error
        && r.text.rfind("NOSCRIPT", 0) == 0) {
      again.push_back(i);
      bool listed = false;
      for (auto* s : to_load) {
        listed = listed || s == batch[i].script;
      }
      if (!listed) {
        to_load.push_back(batch[i].script);
      }
    }
  }
  if (!again.empty()) {
    std::vector<std::vector<std::string>> retry;
    for (auto* s : to_load) {
      retry.push_back({"SCRIPT", "LOAD", s->text});
    }
    for (auto i : again) {
      retry.push_back(batch[i].argv);
    }
    auto second = client.pipeline(retry, &error);
    pipelines += 1;
    for (std::size_t k = 0; k < again.size(); ++k) {
      if (second) {
        (*replies)[again[k]] = std::move((*second)[to_load.size() + k]);
      } else {
        batch[again[k]].done(std::nullopt, error);
        batch[again[k]].done = nullptr;
      }
    }
    if (!second) {
      next_attempt = std::chrono::steady_clock::now() + settings.reconnect_interval;
    }
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (batch[i].done) {
      batch[i].done((*replies)[i], {});
    }
  }
}

} // namespace herald::redis
