#include "actors/blob_actor.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "actors/slimdata.hpp"
#include "store/state_machine_commands.hpp"

namespace slimfaas::actors {
namespace {

using sweep_atom = caf::atom_constant<caf::atom("blobsweep")>;

// One upload: every node gets the chunks in order, one in flight per node.
struct Upload {
  std::string id;
  std::shared_ptr<const std::string> body;
  std::size_t needed = 0;  // a majority of the voters
  std::size_t nodes = 0;   // reachable now
  std::size_t complete = 0, failed = 0;
  bool answered = false;
  std::function<void(bool, std::string)> done;
  std::string last_error;

  void settle() {
    if (answered) return;
    if (complete >= needed) {
      answered = true;
      done(true, {});
    } else if (complete + (nodes - complete - failed) < needed) {
      answered = true;
      done(false, "the body is stored on " + std::to_string(complete) + " node(s) and " + std::to_string(needed) +
                      " are needed" + (last_error.empty() ? std::string() : " (" + last_error + ")"));
    }
  }
};

void send_chunk(caf::event_based_actor* self, std::shared_ptr<Upload> upload, caf::actor target,
                std::uint64_t offset, std::chrono::milliseconds timeout) {
  const std::uint64_t total = upload->body->size();
  const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kBlobChunkBytes, total - offset));
  self->request(target, timeout, blob_put_atom::value, upload->id, offset, total, upload->body->substr(offset, n))
      .then(
          [=](std::uint8_t status) {
            switch (static_cast<BlobPut>(status)) {
              case BlobPut::stored: return send_chunk(self, upload, target, offset + n, timeout);
              case BlobPut::complete: ++upload->complete; break;
              case BlobPut::refused:
                ++upload->failed;
                upload->last_error = "a node refused a chunk";
                break;
            }
            upload->settle();
          },
          [=](caf::error& err) {
            ++upload->failed;
            upload->last_error = caf::to_string(err);
            upload->settle();
          });
}

void try_fetch(caf::event_based_actor* self, std::shared_ptr<std::vector<caf::actor>> nodes, std::size_t next,
               std::string id, std::chrono::milliseconds timeout,
               std::function<void(std::shared_ptr<std::string>)> done) {
  if (next >= nodes->size()) return done(nullptr);
  self->request((*nodes)[next], timeout, blob_get_atom::value, id)
      .then(
          [=](bool found, std::string& body) {
            if (found) return done(std::make_shared<std::string>(std::move(body)));
            try_fetch(self, nodes, next + 1, id, timeout, done);
          },
          [=](caf::error&) { try_fetch(self, nodes, next + 1, id, timeout, done); });
}

}  // namespace

caf::behavior blob_store_actor(caf::event_based_actor* self, BlobStoreSetup setup) {
  auto store = setup.store;
  self->delayed_send(self, setup.sweep_every, sweep_atom::value);
  return {
      [=](blob_put_atom, const std::string& id, std::uint64_t offset, std::uint64_t total,
          const std::string& chunk) -> std::uint8_t {
        try {
          return static_cast<std::uint8_t>(store->put_chunk(id, offset, total, chunk) ? BlobPut::complete
                                                                                      : BlobPut::stored);
        } catch (const store::BlobError& e) {
          spdlog::warn("slimdata: blob {} chunk at {} refused: {}", id, offset, e.what());
        } catch (const std::exception& e) {
          spdlog::error("slimdata: blob {} cannot be written: {}", id, e.what());
        }
        return static_cast<std::uint8_t>(BlobPut::refused);
      },
      [=](blob_get_atom, const std::string& id) -> std::tuple<bool, std::string> {
        try {
          if (auto body = store->get(id)) return {true, std::move(*body)};
        } catch (const std::exception& e) {
          spdlog::error("slimdata: blob {} cannot be read: {}", id, e.what());
        }
        return {false, std::string()};
      },
      [=](blob_drop_atom, const std::vector<std::string>& ids) {
        for (const auto& id : ids) store->remove(id);
      },
      [=](sweep_atom) {
        // Blobs older than any upload still waiting for its push, that no
        // live item names (a linearizable read: the answer includes every
        // push committed before it).
        for (const auto& id : store->older_than(setup.orphan_age)) {
          self->request(setup.node, ask_local_node, read_atom::value, store::queries::attachment_live(id))
              .then([=](const SlimDataReply& reply) {
                if (!reply.ok()) return;  // no quorum now: the next sweep decides
                try {
                  if (store::results::attachment_live(reply.value)) return;
                } catch (const std::exception&) {
                  return;
                }
                spdlog::info("slimdata: deleting blob {}: no queued call names it", id);
                store->remove(id);
              });
        }
        self->delayed_send(self, setup.sweep_every, sweep_atom::value);
      },
  };
}

void upload_blob(caf::event_based_actor* self, caf::actor node, std::string id,
                 std::shared_ptr<const std::string> body, std::chrono::milliseconds timeout,
                 std::function<void(bool ok, std::string why)> done) {
  self->request(node, timeout, blob_targets_atom::value)
      .then(
          [=](const std::vector<caf::actor>& nodes, std::uint64_t voters) {
            auto upload = std::make_shared<Upload>();
            upload->id = id;
            upload->body = body;
            upload->needed = static_cast<std::size_t>(voters / 2 + 1);
            upload->nodes = nodes.size();
            upload->done = done;
            upload->settle();  // too few nodes connected: refused at once
            if (upload->answered) return;
            for (const auto& target : nodes) send_chunk(self, upload, target, 0, timeout);
          },
          [=](caf::error& err) { done(false, "SlimData did not answer: " + caf::to_string(err)); });
}

void fetch_blob(caf::event_based_actor* self, caf::actor node, std::string id, std::chrono::milliseconds timeout,
                std::function<void(std::shared_ptr<std::string> body)> done) {
  self->request(node, timeout, blob_targets_atom::value)
      .then(
          [=](const std::vector<caf::actor>& nodes, std::uint64_t) {
            try_fetch(self, std::make_shared<std::vector<caf::actor>>(nodes), 0, id, timeout, done);
          },
          [=](caf::error&) { done(nullptr); });
}

}  // namespace slimfaas::actors
