#include "adapters/http/server.hpp"

#include <cpprest/http_listener.h>
#include <cpprest/uri.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <mutex>

namespace herald::http {

namespace {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  std::string seg;
  for (char c : path) {
    if (c == '/') {
      if (!seg.empty()) {
        out.push_back(std::move(seg));
        seg.clear();
      }
    } else {
      seg += c;
    }
  }
  if (!seg.empty()) {
    out.push_back(std::move(seg));
  }
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

struct route_entry {
  std::string method;
  std::vector<std::string> segments;
  std::shared_ptr<const handler> fn; ///< shared with requests in flight
};

/// "application/json", in any letter case, with or without parameters ("; charset=utf-8").
/// Every body Herald takes is JSON: a form a web page posts cross-site (urlencoded,
/// multipart, text/plain needs no CORS preflight) is refused before any handler sees it.
bool is_json_media_type(std::string value) {
  value = lower(value.substr(0, value.find(';')));
  auto first = value.find_first_not_of(" \t");
  auto last = value.find_last_not_of(" \t");
  return first != std::string::npos && value.substr(first, last - first + 1) == "application/json";
}

/// Never throws: it runs on actor and I/O threads, where an exception ends the actor or
/// the process. cpprestsdk throws from reply() when the request was answered already,
/// which close() does (a 500, whose connection it then closes, so the client rarely
/// sees it) for every request still open when the listener stops.
void send(web::http::http_request& raw, const response& r) noexcept {
  try {
    web::http::http_response out{static_cast<web::http::status_code>(r.status)};
    for (auto& [k, v] : r.headers) {
      out.headers().add(k, v);
    }
    out.set_body(r.body, r.content_type);
    raw.reply(out).then([](pplx::task<void> t) {
      try {
        t.get();
      } catch (...) {
        // The client went away; nothing to do.
      }
    });
  } catch (...) {
    // Answered already (the listener closed) or the connection is gone: nobody to tell.
  }
}

/// Counts the handlers running, so that close() returns only when none runs and none
/// starts afterwards: handlers use their owners' objects, which may die after close().
struct handler_gate {
  std::mutex mtx;
  std::condition_variable idle;
  int running = 0;
  bool closed = false;

  bool enter() {
    std::lock_guard<std::mutex> guard{mtx};
    if (closed) {
      return false;
    }
    ++running;
    return true;
  }
  void leave() {
    std::lock_guard<std::mutex> guard{mtx};
    if (--running == 0) {
      idle.notify_all();
    }
  }
  void open() {
    std::lock_guard<std::mutex> guard{mtx};
    closed = false;
  }
  void close() {
    std::unique_lock<std::mutex> lock{mtx};
    closed = true;
    idle.wait(lock, [this] { return running == 0; });
  }
};

} // namespace

std::string excerpt(std::string_view text, std::size_t keep) {
  if (text.size() <= keep) {
    return std::string{text};
  }
  auto cut = keep;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) {
    --cut; // not inside a UTF-8 character
  }
  return std::string{text.substr(0, cut)} + "... (" + std::to_string(text.size()) + " bytes)";
}

std::string request::header(const std::string& name) const {
  auto i = headers.find(lower(name));
  return i == headers.end() ? std::string{} : i->second;
}

struct server::impl {
  std::string host;
  int port;
  std::size_t max_body;
  std::shared_ptr<const error_fn> on_error; ///< shared with requests in flight
  std::shared_ptr<handler_gate> gate = std::make_shared<handler_gate>(); ///< same
  std::vector<route_entry> routes;
  std::unique_ptr<web::http::experimental::listener::http_listener> listener;

  void dispatch(web::http::http_request raw) {
    auto reply_error = [this, raw](int status, const std::string& msg) mutable {
      send(raw, (*on_error)(status, msg));
    };
    request req;
    req.method = raw.method();
    req.client = raw.remote_address();
    try {
      req.path = web::uri::decode(raw.relative_uri().path());
      for (auto& [k, v] : web::uri::split_query(raw.relative_uri().query())) {
        req.query[web::uri::decode(k)] = web::uri::decode(v);
      }
    } catch (const std::exception&) {
      reply_error(400, "malformed request URI");
      return;
    }
    for (auto& [k, v] : raw.headers()) {
      req.headers[lower(k)] = v;
    }
    auto segments = split_path(req.path);
    const route_entry* match = nullptr;
    bool path_matched = false;
    std::vector<std::string> allowed; ///< the methods of the routes on this path, for Allow
    for (auto& r : routes) {
      if (r.segments.size() != segments.size()) {
        continue;
      }
      std::map<std::string, std::string> params;
      bool ok = true;
      for (std::size_t i = 0; i < segments.size() && ok; ++i) {
        auto& p = r.segments[i];
        if (p.size() > 2 && p.front() == '{' && p.back() == '}') {
          params[p.substr(1, p.size() - 2)] = segments[i];
        } else {
          ok = p == segments[i];
        }
      }
      if (!ok) {
        continue;
      }
      path_matched = true;
      if (std::find(allowed.begin(), allowed.end(), r.method) == allowed.end()) {
        allowed.push_back(r.method);
      }
      if (r.method == req.method) {
        match = &r;
        req.params = std::move(params);
        break;
      }
    }
    if (match == nullptr) {
      if (path_matched) {
        std::string allow;
        for (auto& m : allowed) {
          allow += m + ", ";
        }
        allow += "OPTIONS";
        if (req.method == "OPTIONS") {
          send(raw, {204, "", "text/plain", {{"Allow", allow}}});
          return;
        }
        // TRACE lands here too: refused, never echoed (it would reflect credentials).
        auto r = (*on_error)(405, "method " + excerpt(req.method) + " not allowed on "
                                    + excerpt(req.path));
        r.headers.emplace_back("Allow", allow);
        send(raw, r);
      } else {
        reply_error(404, "no such endpoint: " + excerpt(req.method) + " " + excerpt(req.path));
      }
      return;
    }
    if (raw.headers().content_length() > max_body) {
      reply_error(413, "request body larger than " + std::to_string(max_body) + " bytes");
      return;
    }
    // Held by pointer: pplx copies continuations, and a request is not cheap to copy.
    auto pending = std::make_shared<request>(std::move(req));
    auto fn = match->fn;
    auto limit = max_body;
    auto on_err = on_error;
    // The body may arrive after close(): then the handler must not run.
    raw.extract_string(true).then([raw, pending, fn, limit, on_err,
                                   gate = gate](pplx::task<std::string> t) mutable {
      try {
        pending->body = t.get();
      } catch (const std::exception&) {
        send(raw, (*on_err)(400, "could not read the request body"));
        return;
      }
      if (pending->body.size() > limit) {
        send(raw, (*on_err)(413, "request body larger than " + std::to_string(limit) + " bytes"));
        return;
      }
      if (!pending->body.empty() && !is_json_media_type(pending->header("content-type"))) {
        auto given = pending->header("content-type");
        send(raw, (*on_err)(415, "a request body must be sent as Content-Type: application/json"
                                   + (given.empty() ? std::string{" (none given)"}
                                                    : " (not '" + excerpt(given) + "')")));
        return;
      }
      if (!gate->enter()) {
        send(raw, (*on_err)(503, "server is shutting down"));
        return;
      }
      std::unique_ptr<handler_gate, void (*)(handler_gate*)> inside{
        gate.get(), [](handler_gate* g) { g->leave(); }};
      try {
        (*fn)(std::move(*pending), [raw](response r) mutable { send(raw, r); });
      } catch (const std::exception& e) {
        send(raw, (*on_err)(500, std::string{"internal error: "} + e.what()));
      }
    });
  }
};

server::server(std::string host, int port, std::size_t max_body_bytes, error_fn on_error)
  : impl_(std::make_unique<impl>()), port_(port) {
  impl_->host = std::move(host);
  impl_->port = port;
  impl_->max_body = max_body_bytes;
  impl_->on_error = std::make_shared<const error_fn>(std::move(on_error));
}

server::~server() {
  close();
}

void server::route(const std::string& method, const std::string& pattern, handler h) {
  impl_->routes.push_back({method, split_path(pattern),
                           std::make_shared<const handler>(std::move(h))});
}

std::string server::open() {
  auto address = "http://" + impl_->host + ":" + std::to_string(impl_->port);
  impl_->gate->open();
  try {
    web::http::experimental::listener::http_listener_config cfg;
    cfg.set_backlog(1024);
    impl_->listener =
      std::make_unique<web::http::experimental::listener::http_listener>(address, cfg);
    auto dispatch = [this](web::http::http_request raw) { impl_->dispatch(raw); };
    impl_->listener->support(dispatch);
    // cpprestsdk answers these two itself unless told otherwise: TRACE by echoing the
    // request, headers (Authorization, Cookie) included, and OPTIONS with an empty Allow.
    impl_->listener->support(web::http::methods::TRCE, dispatch);
    impl_->listener->support(web::http::methods::OPTIONS, dispatch);
    impl_->listener->open().wait();
    return {};
  } catch (const std::exception& e) {
    impl_->listener.reset();
    return "cannot listen on " + address + " (port " + std::to_string(impl_->port)
           + " already in use?): " + e.what();
  }
}

void server::close() {
  if (impl_ && impl_->listener) {
    try {
      impl_->listener->close().wait();
    } catch (...) {
    }
    impl_->listener.reset();
  }
  if (impl_) {
    impl_->gate->close();
  }
}

} // namespace herald::http
