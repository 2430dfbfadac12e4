#include "actors/async_item.hpp"

#include <cstdint>

#include "store/state_machine_codec.hpp"

namespace slimfaas::actors::async {
namespace {

constexpr std::uint8_t kVersion = 1;

}  // namespace

// Version, method, target, header count, (name, value)*, body: the store's
// own varint/bytes codec, one allocation sized for the whole item.
std::string encode(const QueuedRequest& request) {
  std::size_t size = 1 + 4 * store::codec::kMaxVarintBytes + request.method.size() + request.target.size() +
                     request.body.size();
  for (const auto& [name, value] : request.headers) size += 2 * store::codec::kMaxVarintBytes + name.size() + value.size();
  store::codec::Writer out(size);
  out.u8(kVersion).bytes(request.method).bytes(request.target).varint(request.headers.size());
  for (const auto& [name, value] : request.headers) out.bytes(name).bytes(value);
  out.bytes(request.body);
  return std::move(out).take();
}

QueuedRequest decode(std::string_view item) {
  try {
    store::codec::Reader in(item);
    if (in.u8() != kVersion) throw MalformedItem("async item: unknown version");
    QueuedRequest r;
    r.method = std::string(in.bytes());
    r.target = std::string(in.bytes());
    const auto n = in.varint();
    if (n > item.size()) throw MalformedItem("async item: header count past the item's size");
    r.headers.reserve(n);
    for (std::uint64_t i = 0; i < n; ++i) {
      std::string name(in.bytes());
      std::string value(in.bytes());
      r.headers.emplace_back(std::move(name), std::move(value));
    }
    r.body = std::string(in.bytes());
    in.expect_end();
    return r;
  } catch (const store::codec::MalformedError& e) {
    throw MalformedItem(std::string("async item: ") + e.what());
  }
}

std::string queue_name(std::string_view function) { return "async:" + std::string(function); }
std::string callback_hash(std::string_view function) { return "async-cb:" + std::string(function); }

}  // namespace slimfaas::actors::async
