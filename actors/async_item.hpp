#pragma once
// One async call as it is kept in SlimData's queue "async:<function>":
// method, target (path and query, as received), the end-to-end request
// headers and the body, in one compact binary item (varint lengths), so a
// 1 MiB body costs one copy into the Raft entry and nothing else.
//
//   item = u8 version(1), bytes method, bytes target, varint n,
//          n x (bytes name, bytes value), bytes body
//   bytes = varint length + the bytes
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace slimfaas::actors::async {

struct QueuedRequest {
  std::string method = "POST";
  std::string target = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  friend bool operator==(const QueuedRequest&, const QueuedRequest&) = default;
};

struct MalformedItem : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string encode(const QueuedRequest& request);
// Throws MalformedItem.
QueuedRequest decode(std::string_view item);

// SlimData names: the queue of a function, and the hash where callbacks
// record their outcome until the leader's queue actor reads them.
std::string queue_name(std::string_view function);
std::string callback_hash(std::string_view function);

}  // namespace slimfaas::actors::async
