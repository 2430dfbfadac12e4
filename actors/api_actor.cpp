#include "actors/api_actor.hpp"

#include <nlohmann/json.hpp>

#include "actors/messages.hpp"
#include "net/http_error.hpp"

namespace slimfaas::actors {
namespace {

using nlohmann::json;
using net::ApiResponse;
using net::RouteKind;

constexpr auto ask_timeout = std::chrono::seconds(5);

struct ApiState {
  static inline const char* name = "api";
  ApiSetup setup;
  std::uint64_t handled = 0;
};

using Self = caf::stateful_actor<ApiState>*;

ApiResponse error(unsigned status, std::string_view code, std::string_view detail) {
  ApiResponse r;
  r.status = status;
  r.body = net::error_body(code, detail);
  return r;
}

ApiResponse method_not_allowed(const std::string& method, const char* allowed) {
  auto r = error(405, "method_not_allowed", method + " is not allowed here; use " + allowed);
  r.headers.emplace_back("Allow", allowed);
  return r;
}

ApiResponse json_response(unsigned status, std::string body) {
  ApiResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

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
      return call.reply(ApiResponse{204, "application/json", "", {}});
    }
    case RouteKind::wake_functions:
      if (method != "POST" && method != "GET") return call.reply(method_not_allowed(method, "POST, GET"));
      for (const auto& [_, handle] : *table) self->send(handle.actor, wake_atom::value);
      return call.reply(ApiResponse{204, "application/json", "", {}});
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
      return call.reply(error(404, "not_available", "SlimData (Raft) does not run on this node yet"));
    case RouteKind::function_async:
    case RouteKind::async_callback:
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
        json out{{"mailbox", self->mailbox().size()}, {"state", {{"handled", self->state.handled}}}};
        return out.dump();
      },
  };
}

}  // namespace

caf::actor spawn_api_actor(caf::actor_system& system, ApiSetup setup) {
  return system.spawn(api_behavior, std::move(setup));
}

}  // namespace slimfaas::actors
