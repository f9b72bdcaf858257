#include "adapters/http/server.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "adapters/http/router.hpp"

namespace herald::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

namespace {

/// Bytes read at a time: a typical request in one read, and a small buffer per connection
/// (a header section or body that is larger is read in several).
constexpr std::size_t read_chunk = 4096;
/// How long a connection that is being closed still reads (and drops) what the client
/// sends: closing with unread data sends a reset, which can destroy our last answer
/// before the client reads it.
constexpr std::chrono::milliseconds linger_time{2000};
constexpr auto never = steady::time_point::max();

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

/// "application/json", in any letter case, with or without parameters ("; charset=utf-8").
/// Every body Herald takes is JSON: a form a web page posts cross-site (urlencoded,
/// multipart, text/plain needs no CORS preflight) is refused before any handler sees it.
bool is_json_media_type(std::string value) {
  value = lower(value.substr(0, value.find(';')));
  auto first = value.find_first_not_of(" \t");
  auto last = value.find_last_not_of(" \t");
  return first != std::string::npos && value.substr(first, last - first + 1) == "application/json";
}

/// "name: value\r\n", unless either would end the line early (CR, LF, NUL): a handler's
/// header that echoes client input can never add a header or an answer of its own.
void append_field(std::string& out, std::string_view name, std::string_view value) {
  constexpr std::string_view breaks{"\r\n\0", 3};
  if (name.empty() || name.find_first_of(breaks) != std::string_view::npos
      || value.find_first_of(breaks) != std::string_view::npos) {
    return;
  }
  out.append(name).append(": ").append(value).append("\r\n");
}

/// One answer's bytes. `head`: the answer to a HEAD request (headers only).
std::string serialize(const response& r, bool keep_alive, bool http10, bool head) {
  auto status = bhttp::int_to_status(static_cast<unsigned>(r.status));
  auto reason = status == bhttp::status::unknown ? beast::string_view{"Unknown"}
                                                 : bhttp::obsolete_reason(status);
  bool bodiless = r.status < 200 || r.status == 204 || r.status == 304;
  std::string out;
  out.reserve(160 + r.body.size());
  out.append("HTTP/1.1 ").append(std::to_string(r.status)).append(" ");
  out.append(reason.data(), reason.size()).append("\r\n");
  if (!bodiless) {
    if (!r.content_type.empty()) {
      append_field(out, "Content-Type", r.content_type);
    }
    append_field(out, "Content-Length", std::to_string(r.body.size()));
  }
  for (auto& [name, value] : r.headers) {
    append_field(out, name, value);
  }
  if (!keep_alive) {
    out.append("Connection: close\r\n");
  } else if (http10) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
  if (!bodiless && !head) {
    out.append(r.body);
  }
  return out;
}

/// True when the request line in `buffered` (complete or not) is longer than `limit`.
bool request_line_too_long(std::string_view buffered, std::size_t limit) {
  auto line = std::min(buffered.find('\n'), buffered.size());
  return line > limit + 1; // + the CR before the LF
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

std::string request::header(const std::string& name) const {
  auto i = headers.find(lower(name));
  return i == headers.end() ? std::string{} : i->second;
}

namespace detail {

class connection;

/// Everything the server's I/O threads use. Connections and reply functions hold it, so
/// the io_context outlives every socket and every late reply's post.
struct server_core : std::enable_shared_from_this<server_core> {
  server_core(std::string host_, limits lim_, error_fn on_error_)
    : host(std::move(host_)), lim(std::move(lim_)), on_error(std::move(on_error_)) {
    auto busy = on_error(503, "too many open connections; try again shortly");
    busy.headers.emplace_back("Retry-After", "1");
    refusal = serialize(busy, false, false, false);
  }

  void accept();
  void on_accept(const beast::error_code& ec, tcp::socket socket);
  void sweep();

  const std::string host;
  const limits lim;
  const error_fn on_error;
  router routes;
  handler_gate gate;
  std::string refusal; ///< the canned answer past the connection budget

  asio::io_context ioc;
  /// The acceptor's and the timers' (so close() can stop them from another thread).
  asio::strand<asio::io_context::executor_type> control{asio::make_strand(ioc)};
  tcp::acceptor acceptor{control};
  asio::steady_timer sweeper{control}; ///< closes connections past their deadline
  asio::steady_timer retry{control};   ///< accepting again after running out of descriptors
  bool accepting = false;              ///< on `control`
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  std::atomic<bool> stopped{false}; ///< replies are dropped from now on

  std::mutex live_mtx;
  std::unordered_map<connection*, std::shared_ptr<connection>> live; ///< open connections
};

/// One client connection. Everything but evict(), expired() and the reply functions runs
/// on the connection's strand.
class connection final : public evictable, public std::enable_shared_from_this<connection> {
public:
  connection(tcp::socket socket, std::shared_ptr<server_core> core)
    : core_(std::move(core)), socket_(std::move(socket)) {
    beast::error_code ec;
    auto peer = socket_.remote_endpoint(ec).address();
    if (peer.is_v6() && peer.to_v6().is_v4_mapped()) {
      peer = peer.to_v6().to_v4();
    }
    client_ = ec ? std::string{} : peer.to_string();
  }

  ~connection() override { release_budget(); }

  asio::any_io_executor executor() { return socket_.get_executor(); }

  /// Past the budget, before start(): the connection is answered 503 and closed.
  void refuse() { refusing_ = true; }

  void start() {
    if (refusing_) {
      auto& a = answers_.emplace_back();
      a.bytes = core_->refusal;
      a.ready = a.last = true;
      no_more_requests_ = true;
      write();
      return;
    }
    become_idle_if_quiet();
    read();
  }

  void evict() override {
    asio::post(executor(), [self = weak_from_this()] {
      if (auto c = self.lock()) {
        c->shut();
      }
    });
  }

  bool expired(steady::time_point now) const {
    return deadline_.load(std::memory_order_relaxed) <= now.time_since_epoch().count();
  }

  void on_deadline() {
    if (!closed_ && steady::now() >= std::min(read_deadline_, write_deadline_)) {
      shut();
    }
  }

  void shut() {
    if (closed_) {
      return;
    }
    closed_ = true;
    beast::error_code ec;
    socket_.close(ec);
    release_budget();
    read_deadline_ = write_deadline_ = never;
    publish_deadline();
    auto keep = shared_from_this(); // the live set may hold the last other reference
    std::lock_guard<std::mutex> guard{core_->live_mtx};
    core_->live.erase(this);
  }

private:
  /// One answer, in request order. Pipelined requests get theirs written in this order
  /// whatever order their handlers reply in.
  struct answer {
    std::uint64_t seq = 0;
    bool ready = false;
    bool last = false;    ///< the connection closes after it
    bool interim = false; ///< "100 Continue", not the request's answer
    bool head = false;
    bool keep_alive = true;
    bool http10 = false;
    std::string bytes;
  };

  void release_budget() {
    core_->lim.connections->release(*this);
    if (refusing_) {
      refusing_ = false;
      core_->lim.connections->end_refusal();
    }
  }

  void publish_deadline() {
    deadline_.store(std::min(read_deadline_, write_deadline_).time_since_epoch().count(),
                    std::memory_order_relaxed);
  }

  void read() {
    if (reading_ || closed_
        || (!lingering_ && (no_more_requests_ || answers_.size() >= core_->lim.max_pipelined))) {
      return;
    }
    reading_ = true;
    socket_.async_read_some(in_.prepare(read_chunk),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->on_read(ec, n);
                            });
  }

  void on_read(beast::error_code ec, std::size_t n) {
    reading_ = false;
    if (closed_) {
      return;
    }
    if (lingering_) {
      if (ec) {
        shut();
      } else {
        in_.consume(in_.size());
        read();
      }
      return;
    }
    if (ec) {
      // The client is gone or done sending: answer what was asked, then close.
      no_more_requests_ = peer_done_ = true;
      if (answers_.empty() && !writing_) {
        shut();
      }
      return;
    }
    in_.commit(n);
    parse();
    read();
  }

  /// Parses what was read into requests and dispatches each complete one.
  void parse() {
    auto& lim = core_->lim;
    while (!no_more_requests_ && answers_.size() < lim.max_pipelined && in_.size() > 0) {
      if (!parser_) {
        start_request();
      }
      beast::error_code ec;
      auto used = parser_->put(in_.data(), ec);
      in_.consume(used);
      // The parser takes the request line as soon as it is complete, before the fields.
      // (sizeof counts the NUL: it stands for the space after the method.)
      if (!line_checked_ && used > 0) {
        line_checked_ = true;
        auto& h = parser_->get();
        if (h.method_string().size() + h.target().size() + sizeof " HTTP/1.1"
            > lim.max_request_line_bytes) {
          fail(414, request_line_message());
          return;
        }
      }
      if (ec == bhttp::error::need_more) {
        if (!line_checked_ && request_line_too_long(buffered(), lim.max_request_line_bytes)) {
          fail(414, request_line_message());
        }
        return;
      }
      if (ec) {
        reject(ec);
        return;
      }
      if (parser_->is_header_done() && !header_checked_ && !check_header()) {
        return;
      }
      if (parser_->is_done()) {
        auto req = parser_->release();
        parser_.reset();
        in_request_ = false;
        read_deadline_ = never;
        publish_deadline();
        dispatch(std::move(req));
      } else if (used == 0) {
        return;
      }
    }
  }

  void start_request() {
    auto& lim = core_->lim;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(lim.max_header_bytes));
    // The largest limit any path has; check_header narrows it to the request's path.
    auto most = lim.max_body_bytes;
    for (auto& [path, bytes] : lim.path_body_bytes) {
      most = std::max(most, bytes);
    }
    parser_->body_limit(most);
    body_limit_ = most;
    line_checked_ = header_checked_ = false;
    if (!in_request_) {
      in_request_ = true;
      lim.connections->busy(*this);
      read_deadline_ = steady::now() + lim.read_timeout; // not extended by later bytes
      publish_deadline();
    }
  }

  std::string_view buffered() const {
    auto data = in_.data();
    return {static_cast<const char*>(data.data()), data.size()};
  }

  std::string request_line_message() const {
    return "request line longer than " + std::to_string(core_->lim.max_request_line_bytes)
           + " bytes";
  }

  /// Answers a request the parser refused, naming the limit it broke.
  void reject(const beast::error_code& ec) {
    auto& lim = core_->lim;
    if (ec == bhttp::error::header_limit) {
      if (!line_checked_ && request_line_too_long(buffered(), lim.max_request_line_bytes)) {
        fail(414, request_line_message());
      } else {
        fail(431, "request header section larger than " + std::to_string(lim.max_header_bytes)
                    + " bytes");
      }
    } else if (ec == bhttp::error::body_limit) {
      fail(413, "request body larger than " + std::to_string(body_limit_) + " bytes");
    } else {
      fail(400, "malformed request: " + ec.message());
    }
  }

  /// The field count, which Beast does not limit; and "100 Continue" for a client that waits
  /// for it before sending its body.
  bool check_header() {
    header_checked_ = true;
    auto& lim = core_->lim;
    auto& h = parser_->get();
    if (static_cast<std::size_t>(std::distance(h.begin(), h.end())) > lim.max_headers) {
      fail(431, "more than " + std::to_string(lim.max_headers) + " request header fields");
      return false;
    }
    if (!narrow_body_limit(std::string_view{h.target().data(), h.target().size()})) {
      return false;
    }
    if (!parser_->is_done() && beast::iequals(h[bhttp::field::expect], "100-continue")) {
      auto& a = answers_.emplace_back();
      a.interim = a.ready = true;
      a.bytes = "HTTP/1.1 100 Continue\r\n\r\n";
      write();
    }
    return true;
  }

  /// The body limit of the request's path (limits::path_body_bytes, else max_body_bytes):
  /// a declared Content-Length past it is a 413 at once; a chunked body is held to it.
  bool narrow_body_limit(std::string_view target) {
    auto& lim = core_->lim;
    auto path = target.substr(0, target.find('?'));
    while (path.size() > 1 && path.back() == '/') {
      path.remove_suffix(1);
    }
    auto it = lim.path_body_bytes.find(std::string{path});
    auto limit = it == lim.path_body_bytes.end() ? lim.max_body_bytes : it->second;
    body_limit_ = limit;
    if (auto declared = parser_->content_length(); declared && *declared > limit) {
      fail(413, "request body larger than " + std::to_string(limit) + " bytes");
      return false;
    }
    parser_->body_limit(limit);
    return true;
  }

  /// Answers what the parser refused and closes: the rest of the stream cannot be trusted.
  void fail(int status, const std::string& message) {
    auto& a = answers_.emplace_back();
    a.seq = next_seq_++;
    a.bytes = serialize(core_->on_error(status, message), false, false, false);
    a.ready = a.last = true;
    no_more_requests_ = true;
    parser_.reset();
    in_request_ = false;
    read_deadline_ = never;
    publish_deadline();
    write();
  }

  void dispatch(bhttp::request<bhttp::string_body>&& raw) {
    auto& a = answers_.emplace_back();
    auto seq = a.seq = next_seq_++;
    a.keep_alive = raw.keep_alive();
    a.http10 = raw.version() < 11;
    a.head = raw.method() == bhttp::verb::head;
    if (!a.keep_alive) {
      no_more_requests_ = true;
    }
    auto& on_error = core_->on_error;
    request req;
    req.method = std::string{raw.method_string()};
    auto target = parse_target(std::string_view{raw.target().data(), raw.target().size()});
    if (!target) {
      finish(seq, on_error(400, "malformed request URI"));
      return;
    }
    req.path = std::move(target->path);
    req.query = std::move(target->query);
    auto route = core_->routes.find(req.method, req.path);
    if (route.fn == nullptr) {
      if (!route.path_known) {
        finish(seq, on_error(404, "no such endpoint: " + excerpt(req.method) + " "
                                    + excerpt(req.path)));
      } else if (req.method == "OPTIONS") {
        finish(seq, {204, "", "", {{"Allow", route.allow}}});
      } else {
        // TRACE lands here too: refused, never echoed (it would reflect credentials).
        auto r = on_error(405, "method " + excerpt(req.method) + " not allowed on "
                                 + excerpt(req.path));
        r.headers.emplace_back("Allow", route.allow);
        finish(seq, r);
      }
      return;
    }
    for (auto& field : raw) {
      auto& value = req.headers[lower(std::string{field.name_string()})];
      value += value.empty() ? "" : ", ";
      value.append(field.value().data(), field.value().size());
    }
    req.body = std::move(raw.body());
    if (core_->lim.json_bodies_only && !req.body.empty()
        && !is_json_media_type(req.header("content-type"))) {
      auto given = req.header("content-type");
      finish(seq, on_error(415, "a request body must be sent as Content-Type: application/json"
                                  + (given.empty() ? std::string{" (none given)"}
                                                   : " (not '" + excerpt(given) + "')")));
      return;
    }
    req.params = std::move(route.params);
    req.client = client_;
    if (!core_->gate.enter()) {
      finish(seq, on_error(503, "server is shutting down"));
      return;
    }
    std::unique_ptr<handler_gate, void (*)(handler_gate*)> inside{
      &core_->gate, [](handler_gate* g) { g->leave(); }};
    try {
      (*route.fn)(std::move(req), reply_for(seq));
    } catch (const std::exception& e) {
      finish(seq, on_error(500, std::string{"internal error: "} + e.what()));
    }
  }

  /// The handler's way back, from any thread: onto this connection's strand, unless the
  /// server closed or the connection is gone.
  reply_fn reply_for(std::uint64_t seq) {
    return [core = core_, self = weak_from_this(), seq](response r) {
      if (core->stopped.load()) {
        return;
      }
      if (auto c = self.lock()) {
        asio::post(c->executor(), [self, seq, r = std::move(r)]() mutable {
          if (auto c = self.lock()) {
            c->finish(seq, std::move(r));
          }
        });
      }
    };
  }

  void finish(std::uint64_t seq, response r) {
    for (auto& a : answers_) {
      if (a.seq == seq && !a.interim) {
        if (!a.ready) { // a second reply is ignored
          a.bytes = serialize(r, a.keep_alive, a.http10, a.head);
          a.ready = true;
          a.last = !a.keep_alive;
          write();
        }
        return;
      }
    }
  }

  /// Writes every answer that is ready and next in order, in one go.
  void write() {
    if (writing_ || closed_ || lingering_) {
      return;
    }
    out_.clear();
    for (auto& a : answers_) {
      if (!a.ready) {
        break;
      }
      out_.emplace_back(asio::buffer(a.bytes));
      if (a.last) {
        break;
      }
    }
    if (out_.empty()) {
      return;
    }
    writing_ = true;
    write_deadline_ = steady::now() + core_->lim.read_timeout;
    publish_deadline();
    asio::async_write(socket_, out_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_write(ec);
    });
  }

  void on_write(beast::error_code ec) {
    writing_ = false;
    write_deadline_ = never;
    publish_deadline();
    if (closed_) {
      return;
    }
    if (ec) {
      shut();
      return;
    }
    bool last = false;
    for (std::size_t i = 0; i < out_.size(); ++i) {
      last = last || answers_.front().last;
      answers_.pop_front();
    }
    if (last) {
      linger();
      return;
    }
    if (peer_done_ && answers_.empty()) {
      shut();
      return;
    }
    write();
    if (!reading_) { // never while a read fills the buffer
      parse();       // requests held back while max_pipelined answers were pending
    }
    become_idle_if_quiet();
    read();
  }

  /// Closes our side, then drops what the client still sends for a while (see linger_time).
  void linger() {
    lingering_ = no_more_requests_ = true;
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    read_deadline_ = steady::now() + std::min(linger_time, core_->lim.read_timeout);
    publish_deadline();
    read();
  }

  /// Nothing in progress: counts down the idle timeout, and may be evicted.
  void become_idle_if_quiet() {
    if (closed_ || no_more_requests_ || in_request_ || writing_ || !answers_.empty()) {
      return;
    }
    read_deadline_ = steady::now() + core_->lim.idle_timeout;
    publish_deadline();
    core_->lim.connections->idle(shared_from_this());
    if (in_.capacity() > read_chunk && !reading_) {
      in_.shrink_to_fit(); // an idle connection keeps no big buffer from a big request
    }
  }

  std::shared_ptr<server_core> core_; // first: the socket needs its io_context to die
  tcp::socket socket_;
  std::string client_;
  beast::flat_buffer in_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::deque<answer> answers_;
  std::uint64_t next_seq_ = 0;
  std::vector<asio::const_buffer> out_; ///< the write in flight
  bool refusing_ = false; ///< past the budget (holds a refusal, not a slot)
  bool reading_ = false;
  bool writing_ = false;
  bool in_request_ = false; ///< a request's first byte arrived, not yet its last
  bool line_checked_ = false; ///< the request line's length
  bool header_checked_ = false;
  std::size_t body_limit_ = 0; ///< of the request being read (its path's)
  bool no_more_requests_ = false; ///< Connection: close, a refused request, or peer_done_
  bool peer_done_ = false;        ///< the client closed or reset its side
  bool lingering_ = false;
  bool closed_ = false;
  steady::time_point read_deadline_ = never;
  steady::time_point write_deadline_ = never;
  std::atomic<steady::rep> deadline_{never.time_since_epoch().count()}; ///< for the sweeper
};

void server_core::accept() {
  acceptor.async_accept(asio::make_strand(ioc), [self = shared_from_this()](
                                                  beast::error_code ec, tcp::socket socket) {
    self->on_accept(ec, std::move(socket));
  });
}

void server_core::on_accept(const beast::error_code& ec, tcp::socket socket) {
  if (!accepting) {
    return; // closed meanwhile: the socket closes with it
  }
  if (ec) {
    // Out of descriptors (which the budget should prevent) or memory: accepting again at
    // once would spin, and the clients wait in the backlog meanwhile.
    retry.expires_after(std::chrono::milliseconds{100});
    retry.async_wait([self = shared_from_this()](beast::error_code e) {
      if (!e && self->accepting) {
        self->accept();
      }
    });
    return;
  }
  beast::error_code ignored;
  socket.set_option(tcp::no_delay{true}, ignored);
  auto& budget = *lim.connections;
  auto c = std::make_shared<connection>(std::move(socket), shared_from_this());
  if (!budget.admit(*c)) {
    if (!budget.begin_refusal()) {
      accept(); // too many refusals in progress already: closed unanswered
      return;
    }
    c->refuse();
  }
  {
    std::lock_guard<std::mutex> guard{live_mtx};
    live.emplace(c.get(), c);
  }
  asio::post(c->executor(), [c] { c->start(); });
  accept();
}

void server_core::sweep() {
  auto tick = std::clamp(std::min(lim.read_timeout, lim.idle_timeout) / 10,
                         std::chrono::milliseconds{10}, std::chrono::milliseconds{1000});
  sweeper.expires_after(tick);
  sweeper.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec || !self->accepting) {
      return;
    }
    auto now = steady::now();
    {
      std::lock_guard<std::mutex> guard{self->live_mtx};
      for (auto& [raw, c] : self->live) {
        if (c->expired(now)) {
          asio::post(c->executor(), [w = std::weak_ptr<connection>{c}] {
            if (auto c = w.lock()) {
              c->on_deadline();
            }
          });
        }
      }
    }
    self->sweep();
  });
}

} // namespace detail

server::server(std::string host, int port, limits lim, error_fn on_error)
  : core_(std::make_shared<detail::server_core>(std::move(host), std::move(lim),
                                                std::move(on_error))),
    port_(port) {}

server::server(std::string host, int port, std::size_t max_body_bytes, error_fn on_error)
  : server(std::move(host), port, limits{.max_body_bytes = max_body_bytes}, std::move(on_error)) {}

server::~server() {
  close();
}

void server::route(const std::string& method, const std::string& pattern, handler h) {
  core_->routes.add(method, pattern, std::move(h));
}

std::string server::open() {
  auto& c = *core_;
  auto address = "http://" + c.host + ":" + std::to_string(port_);
  if (!c.threads.empty()) {
    return "already listening on " + address;
  }
  try {
    tcp::resolver resolver{c.ioc};
    auto endpoint = resolver.resolve(c.host, std::to_string(port_), tcp::resolver::passive)
                      .begin()
                      ->endpoint();
    c.acceptor.open(endpoint.protocol());
    c.acceptor.set_option(tcp::acceptor::reuse_address{true});
    c.acceptor.bind(endpoint);
    c.acceptor.listen(1024);
  } catch (const std::exception& e) {
    beast::error_code ignored;
    c.acceptor.close(ignored);
    return "cannot listen on " + address + " (port " + std::to_string(port_)
           + " already in use?): " + e.what();
  }
  c.gate.open();
  c.stopped = false;
  c.accepting = true;
  c.ioc.restart();
  c.work.emplace(c.ioc.get_executor());
  asio::post(c.control, [core = core_] {
    core->accept();
    core->sweep();
  });
  for (std::size_t i = 0; i < std::max<std::size_t>(1, c.lim.threads); ++i) {
    c.threads.emplace_back([&c] {
      for (;;) {
        try {
          c.ioc.run();
          return;
        } catch (...) {
          // Escaped a completion handler (out of memory, say): serve on.
        }
      }
    });
  }
  return {};
}

void server::close() {
  auto& c = *core_;
  if (c.threads.empty()) {
    return;
  }
  std::promise<void> not_accepting;
  asio::post(c.control, [&c, &not_accepting] {
    c.accepting = false;
    beast::error_code ignored;
    c.acceptor.close(ignored);
    c.sweeper.cancel();
    c.retry.cancel();
    not_accepting.set_value();
  });
  not_accepting.get_future().wait();
  c.gate.close(); // no handler runs or starts from here on
  c.stopped = true;
  {
    std::lock_guard<std::mutex> guard{c.live_mtx};
    for (auto& [raw, conn] : c.live) {
      asio::post(conn->executor(), [conn = conn] { conn->shut(); });
    }
  }
  // The threads return once every connection's operations have ended.
  c.work.reset();
  for (auto& t : c.threads) {
    t.join();
  }
  c.threads.clear();
  // Reply functions may outlive the server (a late confirm on a publisher's thread) and
  // they hold this core: they must not also hold the handlers' owners, whose last
  // reference would then be dropped on that foreign thread, perhaps one they own.
  c.routes = router{};
}

} // namespace herald::http
