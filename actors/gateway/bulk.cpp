#include "actors/gateway/bulk.hpp"

#include <atomic>
#include <map>
#include <unordered_map>

#include "actors/common/ask.hpp"
#include "actors/common/ids.hpp"
#include "actors/common/json_writer.hpp"
#include "actors/common/rest.hpp"
#include "actors/gateway/admission.hpp"
#include "actors/gateway/directory.hpp"
#include "actors/messaging/topology.hpp"
#include "actors/notification_store/intake.hpp"
#include "actors/scheduler/schedule_store.hpp"
#include "adapters/amqp/confirmed_publisher.hpp"
#include "runtime/time/rfc3339.hpp"

namespace herald {

using json = nlohmann::json;

// -- parsing ---------------------------------------------------------------------------

namespace {

bulk_request body_problem(int status, std::string error) {
  bulk_request out;
  out.status = status;
  out.error = std::move(error);
  return out;
}

std::string too_many(std::size_t n, std::size_t bulk_max) {
  return "a bulk request holds at most " + std::to_string(bulk_max)
         + " notifications (gateway.bulk_max), got " + std::to_string(n);
}

/// One item from its body (the single POST's checks).
bulk_item item_of(const json& body) {
  bulk_item item;
  if (!body.is_object()) {
    item.status = 400;
    item.error = "a notification must be a JSON object";
    return item;
  }
  auto v = parse_notification_request(body);
  if (!v.value) {
    item.status = v.status;
    item.error = v.error;
    return item;
  }
  item.r = std::move(*v.value);
  item.fingerprint = item.r.request_id.empty() ? "" : request_fingerprint(body);
  return item;
}

} // namespace

bulk_request parse_bulk_request(const json& body, std::size_t bulk_max,
                                const std::string& idempotency_key) {
  auto list = body.find("notifications");
  auto users = body.find("user_ids");
  if (list != body.end() && users != body.end()) {
    return body_problem(400, "send either 'notifications' or 'user_ids', not both");
  }
  if (list != body.end()) {
    for (auto& [key, value] : body.items()) {
      if (key != "notifications") {
        return body_problem(400, "unknown field '" + key + "' (a bulk request with "
                                 "'notifications' holds nothing else)");
      }
    }
    if (!list->is_array()) {
      return body_problem(400, "field 'notifications' must be an array");
    }
    if (list->empty()) {
      return body_problem(400, "field 'notifications' must hold at least one notification");
    }
    if (list->size() > bulk_max) {
      return body_problem(413, too_many(list->size(), bulk_max));
    }
    if (!idempotency_key.empty()) {
      return body_problem(400, "header 'Idempotency-Key' applies to a bulk request with "
                               "'user_ids' only; give each notification its request_id");
    }
    bulk_request out;
    out.items.reserve(list->size());
    for (auto& item : *list) {
      out.items.push_back(item_of(item));
    }
    return out;
  }
  if (users == body.end()) {
    return body_problem(400, "a bulk request needs field 'notifications' (an array of "
                             "notifications) or field 'user_ids' (one template to many users)");
  }
  if (!users->is_array()) {
    return body_problem(400, "field 'user_ids' must be an array of user ids");
  }
  if (users->empty()) {
    return body_problem(400, "field 'user_ids' must hold at least one user id");
  }
  if (users->size() > bulk_max) {
    return body_problem(413, too_many(users->size(), bulk_max));
  }
  auto shared = body;
  shared.erase("user_ids");
  std::string request_id;
  if (auto i = shared.find("request_id"); i != shared.end() && i->is_string()) {
    request_id = i->get<std::string>();
  }
  if (!idempotency_key.empty()) {
    if (auto e = request_id_problem(idempotency_key, "header 'Idempotency-Key'"); !e.empty()) {
      return body_problem(400, e);
    }
    if (!request_id.empty() && request_id != idempotency_key) {
      return body_problem(400, "header 'Idempotency-Key' and field 'request_id' differ; send "
                               "one, or the same value in both");
    }
    request_id = idempotency_key;
  }
  if (request_id.size() > max_bulk_request_id_length) {
    return body_problem(400, "field 'request_id' of a bulk request with 'user_ids' may be at "
                             "most " + std::to_string(max_bulk_request_id_length)
                               + " characters (each notification's is '<request_id>:<user_id>')");
  }
  // The shared fields are checked once, as the single POST checks them: a mistake there is
  // the body's, not an item's.
  shared["user_id"] = "00000000-0000-0000-0000-000000000000";
  if (!request_id.empty()) {
    shared["request_id"] = request_id + ":00000000-0000-0000-0000-000000000000";
  }
  if (auto v = parse_notification_request(shared); !v.value) {
    return body_problem(v.status, v.error);
  }
  bulk_request out;
  out.items.reserve(users->size());
  std::unordered_map<std::string, std::size_t> seen;
  for (std::size_t i = 0; i < users->size(); ++i) {
    auto& u = (*users)[i];
    if (!u.is_string()) {
      bulk_item bad;
      bad.status = 400;
      bad.error = "field 'user_ids' item " + std::to_string(i) + " must be a string, got "
                  + std::string{u.type_name()};
      out.items.push_back(std::move(bad));
      continue;
    }
    auto id = u.get<std::string>();
    if (auto [at, fresh] = seen.emplace(id, i); !fresh) {
      bulk_item bad;
      bad.status = 400;
      bad.error = "user_id '" + id + "' appears earlier in 'user_ids' (index "
                  + std::to_string(at->second) + ")";
      out.items.push_back(std::move(bad));
      continue;
    }
    shared["user_id"] = id;
    if (!request_id.empty()) {
      shared["request_id"] = request_id + ":" + id;
    }
    out.items.push_back(item_of(shared));
  }
  return out;
}

// -- running ---------------------------------------------------------------------------

namespace {

/// One item's way through the steps and its outcome.
struct bulk_slot {
  // outcome
  const char* status = nullptr; ///< "queued", "scheduled", "duplicate", "rejected"; null: unsettled
  int code = 0;
  std::string text;    ///< notification id, or the error
  std::string send_at; ///< "scheduled": when (RFC 3339, as the single POST answers it)
  // the request_id claim
  admission_request claim;
  bool claimed = false;
  std::string complete_as; ///< the claim becomes done as this notification
  bool release = false;    ///< the claim is freed
  // checks
  user_record user;
  template_record tpl;
};

struct bulk_job {
  bulk_job(std::vector<bulk_item> its, http::reply_fn a)
    : items(std::move(its)), slots(items.size()), remaining(items.size()), answer(std::move(a)) {}

  std::vector<bulk_item> items;
  std::vector<bulk_slot> slots;
  std::atomic<std::size_t> remaining;
  http::reply_fn answer;
  std::shared_ptr<admission> checks;
  std::string correlation_id;
  admission_verdict tightest; ///< the window with fewest requests left (when rated)

  void reject(std::size_t i, int code, std::string error) {
    auto& s = slots[i];
    if (s.claimed) {
      s.release = true;
    }
    s.status = "rejected";
    s.code = code;
    s.text = std::move(error);
    done_one();
  }

  void accept(std::size_t i, const char* status, std::string id, std::string send_at = {}) {
    auto& s = slots[i];
    if (s.claimed) {
      s.complete_as = id;
    }
    s.status = status;
    s.text = std::move(id);
    s.send_at = std::move(send_at);
    done_one();
  }

  void done_one() {
    if (remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      finish();
    }
  }

  void finish();
};

void bulk_job::finish() {
  std::vector<std::pair<admission_request, std::string>> completes;
  std::vector<admission_request> releases;
  std::size_t accepted = 0;
  std::string list = "[";
  list.reserve(items.size() * 80);
  for (std::size_t i = 0; i < slots.size(); ++i) {
    auto& s = slots[i];
    if (!s.complete_as.empty()) {
      completes.emplace_back(s.claim, s.complete_as);
    } else if (s.release) {
      releases.push_back(s.claim);
    }
    json_writer w;
    w.field("index", static_cast<long long>(i)).field("status", s.status);
    if (s.code == 0) {
      ++accepted;
      w.field("notification_id", s.text);
      if (!s.send_at.empty()) {
        w.field("send_at", s.send_at);
      }
    } else {
      w.field("code", static_cast<long long>(s.code)).field("error", s.text);
    }
    if (i > 0) {
      list += ',';
    }
    list += w.finish();
  }
  list += ']';
  if (checks) {
    checks->complete_many(completes);
    checks->release_many(releases);
  }
  auto rejected = items.size() - accepted;
  auto data = json_writer{}
                .field("accepted", static_cast<long long>(accepted))
                .field("rejected", static_cast<long long>(rejected))
                .raw_field("items", list)
                .finish();
  auto r = rest::ok_text(rejected == 0 ? 202 : 207, data,
                         std::to_string(accepted) + " notifications accepted, "
                           + std::to_string(rejected) + " rejected");
  if (tightest.rated) {
    auto reset = std::max<std::int64_t>(1, (tightest.reset.count() + 999) / 1000);
    r.headers.emplace_back("X-RateLimit-Limit", std::to_string(tightest.limit));
    r.headers.emplace_back("X-RateLimit-Remaining", std::to_string(tightest.remaining));
    r.headers.emplace_back("X-RateLimit-Reset", std::to_string(reset));
  }
  answer(std::move(r));
}

using job_ptr = std::shared_ptr<bulk_job>;
using parts_ptr = std::shared_ptr<const bulk_parts>;

/// Step 5: hands every checked item's message to the publishers. Runs without the
/// gateway's core: publishers are pointers the caller keeps alive until it returns.
void publish_all(const parts_ptr& parts, const job_ptr& job,
                 std::vector<std::pair<std::size_t, bool>> ready) {
  // Spread in runs, so each publisher writes long batches.
  constexpr std::size_t run = 256;
  for (std::size_t k = 0; k < ready.size(); ++k) {
    auto [i, recorded] = ready[k];
    auto& item = job->items[i];
    auto& slot = job->slots[i];
    amqp::message msg;
    msg.exchange = messaging::exchange;
    msg.routing_key = item.r.notification_type;
    msg.body = notification_message(item.r, slot.tpl, slot.claim.notification_id,
                                    job->correlation_id);
    msg.message_id = slot.claim.notification_id;
    // No correlation_id property: the body has it (amqp::message says what it costs).
    msg.priority = static_cast<std::uint8_t>(item.r.priority);
    auto& publisher = *parts->publishers[(k / run) % parts->publishers.size()];
    publisher.publish(std::move(msg), [job, i = i, recorded = recorded, intake = parts->intake,
                                       writer = parts->status_writer](
                                        const amqp::publish_outcome& o) {
      auto& item = job->items[i];
      auto& slot = job->slots[i];
      if (o.status != amqp::publish_status::confirmed) {
        if (recorded) {
          intake->release(slot.claim.notification_id);
        }
        job->reject(i, 503, o.detail);
        return;
      }
      if (!recorded) {
        status_event queued{slot.claim.notification_id, "queued", "", 0, item.r.request_id,
                            item.r.user_id, item.r.notification_type, item.r.template_code,
                            job->correlation_id, slot.tpl.language, slot.tpl.version, ""};
        caf::anon_send(writer, record_atom::value, std::move(queued));
      }
      job->accept(i, "queued", slot.claim.notification_id);
    });
  }
}

/// Step 4 for the items with a send_at ahead: every one committed as a scheduled send in
/// ONE transaction (the schedule store's schedule_many); the scheduler publishes them when
/// due. Runs without the gateway's core: the store's answer comes on a CAF thread.
void schedule_all(const parts_ptr& parts, const job_ptr& job, std::vector<std::size_t> ahead) {
  if (ahead.empty()) {
    return;
  }
  if (!parts->system || !parts->schedules) {
    for (auto i : ahead) {
      job->reject(i, 503, "schedule store not running on this node");
    }
    return;
  }
  std::vector<scheduled_intake> intakes;
  intakes.reserve(ahead.size());
  for (auto i : ahead) {
    auto& item = job->items[i];
    auto& slot = job->slots[i];
    intakes.push_back(scheduled_intake_of(item.r, slot.tpl, slot.claim.notification_id,
                                          slot.claim.client_id, item.fingerprint,
                                          job->correlation_id));
  }
  auto reject_all = [job, ahead](const std::string& why) {
    for (auto i : ahead) {
      job->reject(i, 503, why);
    }
  };
  ask(*parts->system, parts->schedules, service_timeout,
      [job, ahead, reject_all](outcome& o, std::vector<std::string>& ids,
                               std::vector<std::string>& fingerprints) {
        if (!o.ok() || ids.size() != ahead.size() || fingerprints.size() != ahead.size()) {
          reject_all(o.ok() ? "schedule store answered " + std::to_string(ids.size())
                                + " of " + std::to_string(ahead.size()) + " sends"
                            : o.error);
          return;
        }
        for (std::size_t k = 0; k < ahead.size(); ++k) {
          auto i = ahead[k];
          auto& item = job->items[i];
          auto& slot = job->slots[i];
          if (ids[k].empty()) {
            job->reject(i, 503, "scheduled send neither written nor found; retry");
          } else if (ids[k] == slot.claim.notification_id) {
            job->accept(i, "scheduled", ids[k], time::format_rfc3339(*item.r.send_at));
          } else if (fingerprints[k] != item.fingerprint) { // the request_id backstop
            job->reject(i, 409, "request_id '" + item.r.request_id + "' was already used "
                                "with a different request body");
          } else {
            job->accept(i, "duplicate", ids[k]);
          }
        }
      },
      [reject_all](const std::string& why) { reject_all("schedule store: " + why); },
      schedule_many_atom::value, std::move(intakes));
}

/// Step 4: records every checked item as queued (one group commit for many), then
/// publishes the new ones.
void record_all(const parts_ptr& parts, std::shared_ptr<void> keep, const job_ptr& job,
                std::vector<std::size_t> checked) {
  std::vector<std::size_t> ahead;
  std::erase_if(checked, [&](std::size_t i) {
    if (job->items[i].r.send_at) {
      ahead.push_back(i);
      return true;
    }
    return false;
  });
  schedule_all(parts, job, std::move(ahead));
  if (checked.empty()) {
    return;
  }
  struct tally {
    std::mutex mtx;
    std::vector<std::pair<std::size_t, bool>> ready;
    std::size_t left;
  };
  auto t = std::make_shared<tally>();
  t->left = checked.size();
  for (auto i : checked) {
    auto& item = job->items[i];
    auto& slot = job->slots[i];
    status_event queued{slot.claim.notification_id, "queued", "", 0, item.r.request_id,
                        item.r.user_id, item.r.notification_type, item.r.template_code,
                        job->correlation_id, slot.tpl.language, slot.tpl.version, ""};
    intake_record rec{std::move(queued), slot.claim.client_id, item.fingerprint};
    parts->intake->record(std::move(rec), [parts, keep, job, t, i](const intake_result& res) {
      using kind = intake_result::kind;
      bool last = false;
      {
        std::lock_guard<std::mutex> lock{t->mtx};
        if (res.what == kind::existing) {
          auto& item = job->items[i];
          if (res.existing_fingerprint != item.fingerprint) {
            job->reject(i, 409, "request_id '" + item.r.request_id + "' was already used "
                                "with a different request body");
          } else {
            job->accept(i, "duplicate", res.existing_id);
          }
        } else {
          t->ready.emplace_back(i, res.what == kind::inserted);
        }
        last = --t->left == 0;
      }
      if (last) {
        publish_all(parts, job, std::move(t->ready));
      }
    });
  }
}

/// Step 3: users and templates, then each item's checks against them.
void check_all(const parts_ptr& parts, std::shared_ptr<void> keep, const job_ptr& job,
               std::vector<std::size_t> admitted) {
  if (admitted.empty()) {
    return;
  }
  std::vector<std::string> ids;
  std::unordered_map<std::string, std::size_t> where;
  for (auto i : admitted) {
    auto& id = job->items[i].r.user_id;
    if (where.emplace(id, ids.size()).second) {
      ids.push_back(id);
    }
  }
  parts->dir->users(ids, [parts, keep, job, admitted, where = std::move(where)](
                          std::vector<std::pair<outcome, user_record>> found) {
    // Items with their user, grouped by the template lookup they need.
    std::map<std::tuple<std::string, std::vector<std::string>, int>, std::vector<std::size_t>>
      by_template;
    for (auto i : admitted) {
      auto& r = job->items[i].r;
      auto& [uo, user] = found[where.at(r.user_id)];
      if (!uo.ok()) {
        job->reject(i, uo.status == 404 ? 404 : 503,
                    uo.status == 404 ? "unknown user_id '" + r.user_id + "'" : uo.error);
        continue;
      }
      job->slots[i].user = user;
      by_template[{r.template_code, {user.language, r.language}, r.template_version}]
        .push_back(i);
    }
    if (by_template.empty()) {
      return;
    }
    struct tally {
      std::mutex mtx;
      std::vector<std::size_t> checked;
      std::size_t left;
    };
    auto t = std::make_shared<tally>();
    t->left = by_template.size();
    for (auto& [key, group] : by_template) {
      auto& [code, languages, version] = key;
      parts->dir->find_template(
        code, languages, version,
        [parts, keep, job, t, group = group](const outcome& to, const template_record& tpl) {
          std::vector<std::size_t> passed;
          for (auto i : group) {
            auto& r = job->items[i].r;
            if (!to.ok()) {
              job->reject(i, to.status == 404 ? 404 : 503,
                          to.status == 404
                            ? "unknown template_code '" + r.template_code + "': " + to.error
                            : to.error);
              continue;
            }
            if (tpl.channel != r.notification_type) {
              job->reject(i, 422, "template " + tpl.template_code + " is for " + tpl.channel
                                    + ", not for notification_type " + r.notification_type);
              continue;
            }
            if (auto o = check_against_template(tpl, r.variables, parts->limits); !o.ok()) {
              job->reject(i, o.status, o.error);
              continue;
            }
            job->slots[i].tpl = tpl;
            passed.push_back(i);
          }
          bool last = false;
          std::vector<std::size_t> checked;
          {
            std::lock_guard<std::mutex> lock{t->mtx};
            t->checked.insert(t->checked.end(), passed.begin(), passed.end());
            if (--t->left == 0) {
              last = true;
              checked.swap(t->checked);
            }
          }
          if (last) {
            record_all(parts, keep, job, std::move(checked));
          }
        });
    }
  });
}

} // namespace

void run_bulk(const bulk_parts& given, std::shared_ptr<void> keep_alive,
              std::vector<bulk_item> items, std::string client_id, std::string only_user,
              std::string correlation_id, http::reply_fn answer) {
  auto parts = std::make_shared<const bulk_parts>(given);
  auto job = std::make_shared<bulk_job>(std::move(items), std::move(answer));
  job->correlation_id = std::move(correlation_id);
  // Refusals settle their slot, and the last settled slot answers: count this step as one
  // more, so no answer goes out before every item was looked at.
  job->remaining += 1;
  std::vector<std::size_t> valid;
  std::vector<admission_request> claims;
  bool any_request_id = false;
  for (std::size_t i = 0; i < job->items.size(); ++i) {
    auto& item = job->items[i];
    if (item.status != 0) {
      job->reject(i, item.status, item.error);
      continue;
    }
    if (!only_user.empty() && item.r.user_id != only_user) {
      job->reject(i, 403, "a login token may send only to its own user");
      continue;
    }
    auto& claim = job->slots[i].claim;
    claim.user_id = item.r.user_id;
    claim.client_id = client_id;
    claim.request_id = item.r.request_id;
    claim.fingerprint = item.fingerprint;
    claim.notification_id = make_uuid();
    any_request_id = any_request_id || !claim.request_id.empty();
    valid.push_back(i);
    claims.push_back(claim);
  }
  if (valid.empty()) {
    job->done_one();
    return;
  }
  if (!parts->checks->limits_on() && !any_request_id) {
    check_all(parts, keep_alive, job, std::move(valid));
    job->done_one();
    return;
  }
  job->checks = parts->checks;
  parts->checks->check_many(claims, [parts, keep_alive, job, valid = std::move(valid)](
                                     std::vector<admission_verdict> verdicts) {
    std::vector<std::size_t> admitted;
    for (std::size_t k = 0; k < valid.size(); ++k) {
      auto i = valid[k];
      auto& v = verdicts[k];
      auto& r = job->items[i].r;
      if (v.rated && (!job->tightest.rated || v.remaining < job->tightest.remaining)) {
        job->tightest = v;
      }
      using kind = admission_verdict::kind;
      switch (v.what) {
        case kind::limited: {
          auto subject = v.limit_name == "rate_limit.per_user" ? "user " + r.user_id
                                                                : "this credential";
          auto wait = std::max<std::int64_t>(1, (v.reset.count() + 999) / 1000);
          job->reject(i, 429, "rate limit " + v.limit_name + " (" + std::to_string(v.limit)
                                + " per window) reached for " + subject + "; retry in "
                                + std::to_string(wait) + " s");
          break;
        }
        case kind::conflict:
          job->reject(i, 409, "request_id '" + r.request_id + "' was already used with a "
                              "different request body");
          break;
        case kind::in_progress:
          job->reject(i, 409, "request_id '" + r.request_id + "' is in progress: its first "
                              "request has not been answered yet; retry");
          break;
        case kind::replay:
          job->accept(i, "duplicate", v.existing_id);
          break;
        case kind::admitted:
          job->slots[i].claimed = !r.request_id.empty();
          admitted.push_back(i);
          break;
        case kind::unchecked:
          admitted.push_back(i);
          break;
      }
    }
    check_all(parts, keep_alive, job, std::move(admitted));
    job->done_one();
  });
}

} // namespace herald
