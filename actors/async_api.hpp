#pragma once
// The two async routes as the api actor answers them (any node):
//
//   /async-function/<fn>/<path...>   encodes the call (actors/async_item.hpp),
//       proposes queue_push("async:<fn>", item) to the local SlimData actor
//       and answers 202 + SlimFaas-Element-Id once the entry is committed.
//   /async-function-callback/<fn>/<id>/success|error   checks the element
//       exists (linearizable read), then commits the outcome into the hash
//       "async-cb:<fn>" (field = id). The leader's queue actor reads that
//       hash after each applied batch while it waits for callbacks, so a
//       callback may arrive on any node: SlimData carries it to the leader.
#include <caf/all.hpp>
#include <chrono>
#include <memory>

#include "actors/gateway.hpp"
#include "actors/messages.hpp"
#include "net/metrics.hpp"
#include "store/state_machine_commands.hpp"

namespace slimfaas::actors::async {

struct ApiContext {
  std::shared_ptr<const FunctionTable> functions;
  caf::actor slimdata;  // null: SlimData is not configured on this node
  std::uint64_t side_body_bytes = 65536;     // larger bodies go beside the log (0: never)
  std::chrono::milliseconds blob_timeout{5000};  // per chunk and node
  store::QueueLimits queue_limits;               // a full queue answers 429
  // Per function; {function} and {function, reason}. Null: not counted.
  net::metrics::Family<net::metrics::Counter>* accepted = nullptr;
  net::metrics::Family<net::metrics::Counter>* refused = nullptr;
};

void accept(caf::event_based_actor* self, const ApiContext& context, ApiCall& call);
void callback(caf::event_based_actor* self, const ApiContext& context, ApiCall& call);

}  // namespace slimfaas::actors::async
