#pragma once
// Large async bodies kept beside the Raft log (docs/architecture.md "Large
// bodies"). Each SlimData node owns one blob store actor (detached: file
// writes and fsync), spawned and reached through its Raft node actor, which
// lets in only local actors and authenticated peers:
//
//   request(node, t, blob_put_atom, id, offset, total, chunk) -> uint8 BlobPut
//   request(node, t, blob_get_atom, id)                        -> (bool found, string body)
//   request(node, t, blob_targets_atom) -> (vector<actor> nodes, uint64 voters)
//       this node first, then the peers connected now; voters counts the
//       whole cluster (a majority of it must hold a body)
//
// upload_blob() writes a body to every node in chunks, one chunk in flight
// per node, so Raft's messages on the same peer connection never wait behind
// more than one chunk; it answers once a majority holds the whole body
// durably. fetch_blob() reads it from this node, else from the peers.
// When an acked queue item releases its attachment, every node deletes its
// copy (blob_drop_atom, from the Raft node after it applied the ack); an
// hourly sweep deletes blobs no live item names (an upload whose push never
// committed).
#include <caf/all.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "store/blob_store.hpp"

namespace slimfaas::actors {

using blob_put_atom = caf::atom_constant<caf::atom("blobput")>;
using blob_get_atom = caf::atom_constant<caf::atom("blobget")>;
using blob_drop_atom = caf::atom_constant<caf::atom("blobdrop")>;
using blob_targets_atom = caf::atom_constant<caf::atom("blobtgts")>;

enum class BlobPut : std::uint8_t { stored = 0, complete = 1, refused = 2 };

// Chunks of an upload: small enough that a Raft message behind one waits
// well under a millisecond on loopback.
constexpr std::size_t kBlobChunkBytes = 256 * 1024;

struct BlobStoreSetup {
  std::shared_ptr<store::BlobStore> store;
  caf::actor node;  // asked whether an old blob is still named by a live item
  std::chrono::seconds orphan_age{600};
  std::chrono::seconds sweep_every{3600};
};

caf::behavior blob_store_actor(caf::event_based_actor* self, BlobStoreSetup setup);

// Uploads `body` as blob `id` (actors/random_id.hpp) through the local Raft node actor `node`;
// `done(true, "")` once a majority of the cluster holds it durably, or
// `done(false, why)` once that cannot happen (or `timeout` passed).
void upload_blob(caf::event_based_actor* self, caf::actor node, std::string id,
                 std::shared_ptr<const std::string> body, std::chrono::milliseconds timeout,
                 std::function<void(bool ok, std::string why)> done);

// Reads blob `id`: from this node, else from each connected peer in turn;
// `done(nullptr)` when none has it.
void fetch_blob(caf::event_based_actor* self, caf::actor node, std::string id, std::chrono::milliseconds timeout,
                std::function<void(std::shared_ptr<std::string> body)> done);

}  // namespace slimfaas::actors
