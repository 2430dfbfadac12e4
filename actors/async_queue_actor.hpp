#pragma once
// One queue actor per function and node, delivering the function's async
// calls from SlimData's queue "async:<fn>". It works only while this node is
// SlimData's leader (it subscribes to the local SlimData actor: leader_atom,
// applied_atom); on the other nodes it idles. So exactly one node delivers,
// and a new leader resumes every queue where the store says it stands.
//
// Delivery, event-driven:
//   - a committed batch (applied_atom) or a freed slot wakes it; it reads the
//     queue's counts (queue_status, a peek at the leader's applied state that
//     adds no log entry, so its own takes and acks cannot wake it forever),
//     claims as
//     many slots as there are ready items from the function's AdmissionBoard
//     (NumberParallelRequest / PerPod, shared with sync calls), takes that
//     many items (queue_take, leased past the attempt and the callback wait),
//     and sends each to the claimed replica through net::HttpClient with
//     SlimFaas-Element-Id, SlimFaas-Try-Number (0-based), Slimfaas-Last-Try;
//   - the outcome is committed: ack (done or failed) or requeue at
//     now + delay (retry); outcomes that arrive while one entry is being
//     committed go together in the next (one batch entry per round trip
//     under load); timers exist only for retry deadlines, callback
//     waits and leases left by a previous leader;
//   - no ready replica: it sends the function actor `wake` (async traffic is
//     activity) and waits for the board's notifier (a replica became ready);
//   - a 202 turns on callback mode: the element keeps its slot until the
//     function's callback, which any node commits into the hash
//     "async-cb:<fn>" (actors/async_api.hpp); this actor reads the hash after
//     each applied batch while it waits for callbacks.
#include <caf/all.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actors/function_actor.hpp"
#include "actors/gateway.hpp"
#include "k8s/function_config.hpp"
#include "net/http_client.hpp"
#include "net/metrics.hpp"

namespace slimfaas::actors {

using async_pump_atom = caf::atom_constant<caf::atom("asyncpump")>;

// The queue's metrics, children of the registry's families (stable
// addresses, updated with single atomic operations).
struct AsyncQueueMetrics {
  net::metrics::Gauge* ready = nullptr;
  net::metrics::Gauge* in_flight = nullptr;
  net::metrics::Gauge* retry_pending = nullptr;
  net::metrics::Counter* delivered = nullptr;
  net::metrics::Counter* failed = nullptr;
  net::metrics::Counter* retried = nullptr;
  net::metrics::Histogram* attempt_seconds = nullptr;
};

// Registers the families once; the returned function gives one function's
// children.
std::function<AsyncQueueMetrics(const std::string& function)> async_queue_metrics(net::metrics::Registry& registry);

struct AsyncQueueSetup {
  std::string function;
  k8s::RetryPolicy policy;  // DefaultAsync
  FunctionHandle handle;    // the function actor (wake) and its admission board
  caf::actor slimdata;
  std::shared_ptr<net::HttpClient> client;
  AsyncQueueMetrics metrics;
  std::uint32_t max_take = 256;                     // items per take at most (async::take_limit)
  std::uint64_t take_budget_bytes = 8u << 20;       // bodies per take, by the last take's average
  std::uint32_t first_take = 64;                    // items in the first take, before any body was seen
  std::chrono::milliseconds blob_timeout{5000};     // reading a side-stored body from a node
};

caf::actor spawn_async_queue(caf::actor_system& system, AsyncQueueSetup setup);

// The node's async delivery: one HTTP client and one queue actor per function.
struct AsyncQueues {
  std::shared_ptr<net::HttpClient> client;
  std::vector<caf::actor> actors;
  // Stops the actors, then the client's thread (attempts in flight are
  // dropped: their elements' leases end and they are delivered again).
  void stop();
};

// How a node delivers async calls.
struct AsyncDeliveryOptions {
  std::chrono::milliseconds blob_timeout{5000};  // reading a side-stored body from a node
  // Keep-alive connections to a replica kept between attempts
  // (--upstream-idle-connections): at least this many, and as many as the
  // function's caps let run on one replica; 0 keeps none.
  std::size_t idle_connections_per_replica = 64;
  std::chrono::milliseconds idle_connection_timeout{30'000};
};

AsyncQueues start_async_queues(caf::actor_system& system, const FunctionTable& functions,
                               const std::vector<k8s::FunctionDefinition>& definitions, caf::actor slimdata,
                               net::metrics::Registry& registry, const AsyncDeliveryOptions& options,
                               caf::actor inspector);

}  // namespace slimfaas::actors
