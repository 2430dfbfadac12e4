#include "actors/api_actor.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <nlohmann/json.hpp>
#include <optional>

#include "actors/async_api.hpp"
#include "actors/mailbox_size.hpp"
#include "actors/random_id.hpp"
#include "actors/messages.hpp"
#include "actors/slimdata_http.hpp"
#include "actors/slimdata.hpp"
#include "net/http_error.hpp"
#include "store/state_machine_commands.hpp"

namespace slimfaas::actors {
namespace {

using nlohmann::json;
using net::ApiResponse;
using net::RouteKind;

constexpr auto ask_timeout = std::chrono::seconds(5);

// SlimFaas's limit for one data-set value. The session's body limit for
// control routes (SlimFaas__MaxApiBodyBytes, 1 MiB by default) may be set
// higher; data sets keep this one.
constexpr std::size_t max_data_value_bytes = 1 << 20;
// Data sets share SlimData's key space with the node's own keys; the prefix
// (SlimFaas's) keeps a user's id from ever naming one of those.
constexpr std::string_view data_set_key_prefix = "data:set:";

struct ApiState {
  static inline const char* name = "api";
  ApiSetup setup;
  std::uint64_t handled = 0;
};

using Self = caf::stateful_actor<ApiState>*;

ApiResponse error(unsigned status, std::string_view code, std::string_view detail) {
  return json_error(status, code, detail);
}

ApiResponse method_not_allowed(const std::string& method, const char* allowed) {
  auto r = error(405, "method_not_allowed", method + " is not allowed here; use " + allowed);
  r.headers.emplace_back("Allow", allowed);
  return r;
}

ApiResponse no_content() {
  ApiResponse r;
  r.status = 204;
  return r;
}

ApiResponse json_response(unsigned status, std::string body) {
  ApiResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

// --- /data/sets and /debug/raft: questions to SlimData ------------------------

store::TimeMs now_ms() {
  return static_cast<store::TimeMs>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

std::string data_set_key(std::string_view id) {
  std::string key(data_set_key_prefix);
  key.append(id);
  return key;
}

// Sends one command (propose_atom) or query (read_atom) to SlimData and
// answers the call: `on_ok` turns the state machine's encoded result into
// the response; a refusal, a timeout or an undecodable result becomes its
// HTTP error.
template <class Atom, class OnOk>
void ask_slimdata(Self self, Atom atom, std::string payload, net::ApiCallback reply, OnOk on_ok) {
  const auto& setup = self->state.setup;
  self->request(setup.slimdata, ask_local_node, atom, std::move(payload))
      .then(
          [reply, on_ok = std::move(on_ok)](const SlimDataReply& answer) {
            if (!answer.ok()) return reply(slimdata_refusal(answer, "the value"));
            ApiResponse response;
            try {
              response = on_ok(answer.value);
            } catch (const std::exception& e) {
              // A malformed result is a bug on one side of the interface;
              // decoding must not take the actor down.
              spdlog::warn("api: SlimData result could not be decoded: {}", e.what());
              response = error(500, "slimdata_failed", std::string("SlimData's result could not be decoded: ") + e.what());
            }
            reply(std::move(response));
          },
          [reply](caf::error& err) {
            reply(error(503, "no_quorum", "SlimData did not answer: " + caf::to_string(err)));
          });
}

// A write whose log entry had already been applied (a retried proposal
// answered by its replay) did happen: the caller's intent holds.
bool already_applied(std::string_view result) {
  return store::results::status(result) == store::results::Status::AlreadyApplied;
}

// The `ttl` query parameter: absent or empty means no expiry; otherwise a
// positive integer of milliseconds. The error, if any, is the 400 to answer.
std::optional<std::uint64_t> parse_ttl(const std::string& query, std::optional<ApiResponse>& refusal) {
  std::string text;
  switch (net::find_query_param(query, "ttl", text)) {
    case net::QueryParam::absent: return std::nullopt;
    case net::QueryParam::malformed:
      refusal = error(400, "bad_request", "malformed percent-encoding in the ttl parameter");
      return std::nullopt;
    case net::QueryParam::found: break;
  }
  if (text.empty()) return std::nullopt;
  auto ttl = net::parse_positive_integer(text);
  if (!ttl) refusal = error(400, "bad_request", "ttl must be a positive integer of milliseconds, got '" + text + "'");
  return ttl;
}

// POST /data/sets/<id>[?ttl=ms] and POST /data/sets?id=&ttl=: stores the
// body as is and answers the id as a JSON string (SlimFaas answers Ok(id)).
void set_data(Self self, ApiCall& call, std::string id) {
  auto& body = call.request.body;
  if (body.size() > max_data_value_bytes) {
    return call.reply(error(413, "payload_too_large",
                            "a data-set value holds at most " + std::to_string(max_data_value_bytes) + " bytes, got " +
                                std::to_string(body.size())));
  }
  std::optional<ApiResponse> refusal;
  auto ttl = parse_ttl(call.request.route.query, refusal);
  if (refusal) return call.reply(std::move(*refusal));
  auto command = store::commands::kv_set(data_set_key(id), body, now_ms(), ttl);
  body.clear();
  body.shrink_to_fit();  // the command holds the only copy now
  ask_slimdata(self, propose_atom::value, std::move(command), std::move(call.reply),
               [id = std::move(id)](const std::string& result) {
                 if (!already_applied(result)) store::results::kv_set(result);
                 return json_response(200, json(id).dump());
               });
}

void get_data(Self self, ApiCall& call) {
  const auto& id = call.request.route.name;
  ask_slimdata(self, read_atom::value, store::queries::kv_get(data_set_key(id), now_ms()), std::move(call.reply),
               [id](const std::string& result) {
                 auto value = store::results::kv_get(result);
                 if (!value) return error(404, "not_found", "no data set '" + id + "' (missing or expired)");
                 ApiResponse r;
                 r.content_type = "application/octet-stream";
                 r.body = std::move(*value);
                 return r;
               });
}

void delete_data(Self self, ApiCall& call) {
  ask_slimdata(self, propose_atom::value, store::commands::kv_delete(data_set_key(call.request.route.name)),
               std::move(call.reply), [](const std::string& result) {
                 // Deleting a missing key is still a success (SlimFaas: 204).
                 if (!already_applied(result)) store::results::kv_delete(result);
                 return no_content();
               });
}

void handle_data_set(Self self, ApiCall& call) {
  const auto& method = call.request.method;
  if (method != "GET" && method != "POST" && method != "DELETE") {
    return call.reply(method_not_allowed(method, "GET, POST, DELETE"));
  }
  if (!self->state.setup.slimdata) return call.reply(slimdata_unavailable("data sets are kept in"));
  if (method == "POST") return set_data(self, call, call.request.route.name);
  if (method == "GET") return get_data(self, call);
  return delete_data(self, call);
}

void handle_data_sets(Self self, ApiCall& call) {
  const auto& method = call.request.method;
  if (method != "GET" && method != "POST") return call.reply(method_not_allowed(method, "GET, POST"));
  if (!self->state.setup.slimdata) return call.reply(slimdata_unavailable("data sets are kept in"));
  if (method == "GET") {
    return call.reply(error(501, "not_implemented",
                            "listing data sets needs a key-listing query (by prefix, with expiry times) in "
                            "SlimData's state machine, which it does not offer yet"));
  }
  std::string id = call.request.route.name;
  if (id.empty()) id = random_hex_id();
  set_data(self, call, std::move(id));
}

void debug_raft(Self self, ApiCall& call) {
  const auto& setup = self->state.setup;
  if (call.request.method != "GET") return call.reply(method_not_allowed(call.request.method, "GET"));
  if (!setup.slimdata) return call.reply(error(404, "not_available", "SlimData (Raft) is not configured on this node"));
  self->request(setup.slimdata, ask_local_node, status_atom::value)
      .then([reply = call.reply](const std::string& status) { reply(json_response(200, status)); },
            [reply = call.reply](caf::error& err) {
              reply(error(503, "slimdata_unavailable", "SlimData did not answer: " + caf::to_string(err)));
            });
}

// --- function routes -------------------------------------------------------------

void status_all(Self self, ApiCall& call) {
  auto table = self->state.setup.gateway->functions();
  struct Gathering {
    net::ApiCallback reply;
    std::map<std::string, json> objects;  // sorted by function name
    std::size_t pending;
    void add(const std::string& name, json object) {
      objects[name] = std::move(object);
      if (--pending > 0) return;
      json list = json::array();
      for (auto& [_, o] : objects) list.push_back(std::move(o));
      reply(json_response(200, list.dump()));
    }
  };
  if (table->empty()) {
    call.reply(json_response(200, "[]"));
    return;
  }
  auto gathering = std::make_shared<Gathering>(Gathering{std::move(call.reply), {}, table->size()});
  for (const auto& [name, handle] : *table) {
    self->request(handle.actor, ask_timeout, status_atom::value)
        .then([gathering, name = name](const std::string& body) { gathering->add(name, json::parse(body)); },
              [gathering, name = name](caf::error& err) {
                gathering->add(name, {{"Name", name}, {"error", caf::to_string(err)}});
              });
  }
}

async::ApiContext async_context(const ApiSetup& setup, std::shared_ptr<const FunctionTable> table) {
  return async::ApiContext{std::move(table),           setup.slimdata,           setup.async_side_body_bytes,
                           setup.blob_timeout,         setup.async_queue_limits, setup.async_accepted,
                           setup.async_refused};
}

void handle(Self self, ApiCall& call) {
  auto& setup = self->state.setup;
  const auto& route = call.request.route;
  const auto& method = call.request.method;
  auto table = setup.gateway->functions();
  auto lookup = [&](const std::string& name) -> caf::actor {
    auto it = table->find(name);
    return it == table->end() ? caf::actor{} : it->second.actor;
  };

  switch (route.kind) {
    case RouteKind::status_function: {
      if (method != "GET") return call.reply(method_not_allowed(method, "GET"));
      auto actor = lookup(route.name);
      if (!actor) return call.reply(error(404, "function_not_found", "no function named '" + route.name + "'"));
      self->request(actor, ask_timeout, status_atom::value)
          .then([reply = call.reply](const std::string& body) { reply(json_response(200, body)); },
                [reply = call.reply](caf::error& err) {
                  reply(error(503, "function_unavailable", caf::to_string(err)));
                });
      return;
    }
    case RouteKind::status_functions:
      if (method != "GET") return call.reply(method_not_allowed(method, "GET"));
      return status_all(self, call);
    case RouteKind::wake_function: {
      // Older SlimFaas documentation shows GET; both are accepted.
      if (method != "POST" && method != "GET") return call.reply(method_not_allowed(method, "POST, GET"));
      auto actor = lookup(route.name);
      if (!actor) return call.reply(error(404, "function_not_found", "no function named '" + route.name + "'"));
      self->send(actor, wake_atom::value);
      return call.reply(no_content());
    }
    case RouteKind::wake_functions:
      if (method != "POST" && method != "GET") return call.reply(method_not_allowed(method, "POST, GET"));
      for (const auto& [_, handle] : *table) self->send(handle.actor, wake_atom::value);
      return call.reply(no_content());
    case RouteKind::metrics: {
      if (method != "GET") return call.reply(method_not_allowed(method, "GET"));
      ApiResponse r;
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      r.body = setup.registry->render();
      return call.reply(std::move(r));
    }
    case RouteKind::debug_actors: {
      if (method != "GET") return call.reply(method_not_allowed(method, "GET"));
      self->request(setup.inspector, ask_timeout, inspect_atom::value)
          .then(
              [reply = call.reply, node = setup.node_name](const std::string& actors) {
                json body{{"node", node}, {"actors", json::parse(actors)}};
                reply(json_response(200, body.dump()));
              },
              [reply = call.reply](caf::error& err) { reply(error(503, "inspector_unavailable", caf::to_string(err))); });
      return;
    }
    case RouteKind::debug_raft:
      return debug_raft(self, call);
    case RouteKind::data_set:
      return handle_data_set(self, call);
    case RouteKind::data_sets:
      return handle_data_sets(self, call);
    case RouteKind::function_async:
      return async::accept(self, async_context(setup, table), call);
    case RouteKind::async_callback:
      return async::callback(self, async_context(setup, table), call);
    case RouteKind::publish_event:
      return call.reply(error(501, "not_implemented",
                              std::string(net::to_string(route.kind)) + " needs SlimData, which this node does not run yet"));
    default:
      return call.reply(error(404, "not_found", "no route for " + call.request.target));
  }
}

caf::behavior api_behavior(Self self, ApiSetup setup) {
  self->state.setup = std::move(setup);
  return {
      [=](api_atom, ApiCall& call) {
        ++self->state.handled;
        handle(self, call);
      },
      [=](inspect_atom) -> std::string {
        json out{{"mailbox", mailbox_size(self)}, {"state", {{"handled", self->state.handled}}}};
        return out.dump();
      },
  };
}

}  // namespace

caf::actor spawn_api_actor(caf::actor_system& system, ApiSetup setup) {
  return system.spawn(api_behavior, std::move(setup));
}

}  // namespace slimfaas::actors
