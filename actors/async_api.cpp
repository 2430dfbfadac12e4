#include "actors/async_api.hpp"

#include <spdlog/spdlog.h>

#include "actors/async_item.hpp"
#include "actors/async_policy.hpp"
#include "actors/blob_actor.hpp"
#include "actors/random_id.hpp"
#include "actors/slimdata.hpp"
#include "actors/slimdata_http.hpp"
#include "net/http_error.hpp"
#include "store/state_machine_commands.hpp"

namespace slimfaas::actors::async {
namespace {

using net::ApiResponse;

ApiResponse error(unsigned status, std::string_view code, std::string_view detail) {
  return json_error(status, code, detail);
}

ApiResponse empty(unsigned status) {
  ApiResponse r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  return r;
}

store::TimeMs now_ms() {
  return static_cast<store::TimeMs>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

const FunctionHandle* find(const ApiContext& context, const std::string& name) {
  auto it = context.functions->find(name);
  return it == context.functions->end() ? nullptr : &it->second;
}

ApiResponse unknown_function(const std::string& name) {
  return error(404, "function_not_found", "no function named '" + name + "'");
}

// Counts what becomes of a call to a known function: 202, or refused with
// its error code as the reason.
net::ApiCallback counted(const ApiContext& context, const std::string& name, net::ApiCallback reply) {
  if (!context.accepted || !context.refused) return reply;
  return [reply = std::move(reply), accepted = &context.accepted->with({name}), refused = context.refused,
          name](ApiResponse r) {
    if (r.status == 202)
      accepted->inc();
    else
      refused->with({name, r.error.empty() ? std::to_string(r.status) : r.error}).inc();
    reply(std::move(r));
  };
}

// The queue holds as much as it may: the caller should come back later
// (the function is slower than its callers, or stopped).
ApiResponse queue_full(const std::string& name, const store::PushOutcome& outcome, const store::QueueLimits& limits) {
  const auto bound = [](std::uint64_t limit) { return limit == 0 ? std::string("no bound") : std::to_string(limit); };
  auto r = error(429, "queue_full",
                 "the async queue of '" + name + "' is full: " + std::to_string(outcome.items) + " calls (limit " +
                     bound(limits.max_items) + "), " + std::to_string(outcome.bytes) + " bytes (limit " +
                     bound(limits.max_bytes) + "); the call is not queued");
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

// Commits the push and answers 202 with the element id, or 429 when the
// queue is full.
void push(caf::event_based_actor* self, caf::actor slimdata, std::string command, net::ApiCallback reply,
          std::string name, store::QueueLimits limits) {
  self->request(slimdata, ask_local_node, propose_atom::value, std::move(command))
      .then(
          [reply, name, limits](const SlimDataReply& answer) {
            if (!answer.ok()) return reply(slimdata_refusal(answer, "the call"));
            try {
              const auto outcome = store::results::queue_push_bounded(answer.value);
              if (!outcome.id) return reply(queue_full(name, outcome, limits));
              auto r = empty(202);
              r.headers.emplace_back("SlimFaas-Element-Id", std::to_string(*outcome.id));
              reply(std::move(r));
            } catch (const std::exception& e) {
              // An already-applied result carries no id: the caller may retry.
              spdlog::warn("async {}: queue_push result: {}", name, e.what());
              reply(error(503, "retry", std::string("the call's commit could not be confirmed: ") + e.what()));
            }
          },
          [reply](caf::error& err) {
            reply(error(503, "no_quorum", "SlimData did not answer; the call may not be queued: " + caf::to_string(err)));
          });
}

}  // namespace

void accept(caf::event_based_actor* self, const ApiContext& context, ApiCall& call) {
  auto& request = call.request;
  const std::string& name = request.route.name;
  const auto* function = find(context, name);
  if (!function) return call.reply(unknown_function(name));
  auto reply = counted(context, name, std::move(call.reply));
  if (!context.slimdata) return reply(slimdata_unavailable("async calls are queued in"));
  function->board->touch();  // async traffic is activity

  QueuedRequest queued;
  queued.method = std::move(request.method);
  queued.target = request.route.path + request.route.query;
  queued.headers = std::move(request.headers);
  if (context.side_body_bytes == 0 || request.body.size() <= context.side_body_bytes) {
    queued.body = std::move(request.body);
    std::string command = store::commands::queue_push(queue_name(name), encode(queued), "", context.queue_limits);
    queued = {};  // the command holds the only copy of the body now
    return push(self, context.slimdata, std::move(command), std::move(reply), name, context.queue_limits);
  }
  // A large body: stored beside the log on a majority first, so that its
  // bytes never sit in the log ahead of small calls' entries; the entry
  // only names it.
  auto body = std::make_shared<const std::string>(std::move(request.body));
  const std::string blob = random_hex_id();
  // A full queue refuses it after the upload: the refusal releases the
  // blob on every node, as an ack would.
  std::string command = store::commands::queue_push(queue_name(name), encode(queued), blob, context.queue_limits);
  upload_blob(self, context.slimdata, blob, std::move(body), context.blob_timeout,
              [self, slimdata = context.slimdata, command = std::move(command), reply = std::move(reply), name,
               limits = context.queue_limits](bool stored, const std::string& why) mutable {
                if (!stored)
                  return reply(error(503, "body_not_stored",
                                     "the body could not be stored on a majority of SlimData nodes; the call is not "
                                     "queued: " + why));
                push(self, slimdata, std::move(command), std::move(reply), std::move(name), limits);
              });
}

void callback(caf::event_based_actor* self, const ApiContext& context, ApiCall& call) {
  const auto& route = call.request.route;
  if (call.request.method != "POST") {
    auto r = error(405, "method_not_allowed", call.request.method + " is not allowed here; use POST");
    r.headers.emplace_back("Allow", "POST");
    return call.reply(std::move(r));
  }
  const std::string& name = route.name;
  if (!find(context, name)) return call.reply(unknown_function(name));
  auto status = parse_callback_status(route.status);
  if (!status)
    return call.reply(error(400, "bad_request", "the callback status must be 'success' or 'error', got '" + route.status + "'"));
  auto id = net::parse_positive_integer(route.element_id);
  auto not_found = error(404, "element_not_found",
                         "function '" + name + "' has no queued element '" + route.element_id + "'");
  if (!id) return call.reply(std::move(not_found));
  if (!context.slimdata) return call.reply(slimdata_unavailable("async calls are queued in"));

  auto record = store::commands::hash_set(callback_hash(name), std::to_string(*id), route.status);
  auto slimdata = context.slimdata;
  self->request(slimdata, ask_local_node, read_atom::value, store::queries::queue_item(queue_name(name), *id, now_ms()))
      .then(
          [self, slimdata, reply = call.reply, not_found, record = std::move(record)](const SlimDataReply& answer) mutable {
            if (!answer.ok()) return reply(slimdata_refusal(answer, "the call"));
            std::optional<store::QueueItemState> item;
            try {
              item = store::results::queue_item(answer.value);
            } catch (const std::exception& e) {
              return reply(error(500, "slimdata_failed", std::string("queue_item: ") + e.what()));
            }
            if (!item) return reply(std::move(not_found));
            self->request(slimdata, ask_local_node, propose_atom::value, std::move(record))
                .then(
                    [reply](const SlimDataReply& done) {
                      if (!done.ok()) return reply(slimdata_refusal(done, "the callback"));
                      reply(empty(200));
                    },
                    [reply](caf::error& err) {
                      reply(error(503, "no_quorum", "SlimData did not answer: " + caf::to_string(err)));
                    });
          },
          [reply = call.reply](caf::error& err) {
            reply(error(503, "no_quorum", "SlimData did not answer: " + caf::to_string(err)));
          });
}

}  // namespace slimfaas::actors::async
