#include "actors/snapshot_sender.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>

#include "actors/raft_wire.hpp"

namespace slimfaas::actors {
namespace {

struct Transfer {
  caf::actor follower;
  store::Message header;
  SnapshotSource source;
  std::ifstream in;  // the file, when the source is one
  std::uint64_t total = 0;
  std::chrono::milliseconds timeout{};
  std::size_t chunk_bytes = kSnapshotChunkBytes;

  // The next `n` bytes, at `offset` (chunks are read in order).
  bool read(std::uint64_t offset, std::size_t n, std::string& out) {
    if (source.data) {
      out.assign(*source.data, static_cast<std::size_t>(offset), n);
      return true;
    }
    out.resize(n);
    return n == 0 || static_cast<bool>(in.read(out.data(), static_cast<std::streamsize>(n)));
  }
};

// The node learns of the end from its watch on this actor (see
// raft_node_actor.cpp, send_snapshot), however the actor ends.
void finish(caf::event_based_actor* self) { self->quit(); }

void send_from(caf::event_based_actor* self, std::shared_ptr<Transfer> t, std::uint64_t offset) {
  const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(t->chunk_bytes, t->total - offset));
  std::string chunk;
  if (!t->read(offset, n, chunk)) {
    spdlog::error("slimdata: cannot read snapshot file {} at {} for node {}", t->source.file.string(), offset,
                  t->header.to);
    return finish(self);
  }
  self->request(t->follower, t->timeout, snapshot_chunk_atom::value, t->header, offset, t->total, std::move(chunk))
      .then(
          [=](bool taken) {
            if (!taken) {
              spdlog::warn("slimdata: node {} refused snapshot {} at {}", t->header.to,
                           t->header.snapshot.meta.index, offset);
              return finish(self);
            }
            if (offset + n >= t->total) return finish(self);
            send_from(self, t, offset + n);
          },
          [=](caf::error& err) {
            spdlog::warn("slimdata: snapshot {} to node {} stopped at {}: {}", t->header.snapshot.meta.index,
                         t->header.to, offset, caf::to_string(err));
            finish(self);
          });
}

}  // namespace

caf::behavior snapshot_sender(caf::event_based_actor* self, caf::actor follower, store::Message header,
                              SnapshotSource source, std::chrono::milliseconds timeout, std::size_t chunk_bytes) {
  auto t = std::make_shared<Transfer>();
  t->follower = std::move(follower);
  t->header = std::move(header);
  t->header.snapshot.data.clear();
  t->source = std::move(source);
  t->timeout = timeout;
  t->chunk_bytes = chunk_bytes == 0 ? kSnapshotChunkBytes : chunk_bytes;
  if (t->source.data) {
    t->total = t->source.data->size();
  } else {
    t->in.open(t->source.file, std::ios::binary | std::ios::ate);
    if (!t->in) {
      spdlog::error("slimdata: cannot send a snapshot to node {}: snapshot file {} is missing", t->header.to,
                    t->source.file.string());
      finish(self);
      return {};
    }
    t->total = static_cast<std::uint64_t>(t->in.tellg());
    t->in.seekg(0);
  }
  send_from(self, t, 0);
  return {};
}

}  // namespace slimfaas::actors
