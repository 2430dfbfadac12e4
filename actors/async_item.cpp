#include "actors/async_item.hpp"

#include <cstdint>

namespace slimfaas::actors::async {
namespace {

constexpr std::uint8_t kVersion = 1;

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_bytes(std::string& out, std::string_view v) {
  put_varint(out, v.size());
  out.append(v);
}

std::size_t varint_size(std::uint64_t v) {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  std::uint8_t u8() {
    need(1);
    return static_cast<std::uint8_t>(in_[pos_++]);
  }
  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      const std::uint8_t byte = u8();
      v |= std::uint64_t(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) return v;
    }
    throw MalformedItem("async item: varint too long");
  }
  std::string_view bytes() {
    const std::uint64_t n = varint();
    need(n);
    auto v = in_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  bool at_end() const { return pos_ == in_.size(); }

 private:
  void need(std::uint64_t n) const {
    if (n > in_.size() - pos_) throw MalformedItem("async item: truncated");
  }
  std::string_view in_;
  std::size_t pos_ = 0;
};

}  // namespace

std::string encode(const QueuedRequest& request) {
  std::size_t size = 1 + varint_size(request.method.size()) + request.method.size() +
                     varint_size(request.target.size()) + request.target.size() +
                     varint_size(request.headers.size()) + varint_size(request.body.size()) + request.body.size();
  for (const auto& [name, value] : request.headers)
    size += varint_size(name.size()) + name.size() + varint_size(value.size()) + value.size();
  std::string out;
  out.reserve(size);
  out.push_back(static_cast<char>(kVersion));
  put_bytes(out, request.method);
  put_bytes(out, request.target);
  put_varint(out, request.headers.size());
  for (const auto& [name, value] : request.headers) {
    put_bytes(out, name);
    put_bytes(out, value);
  }
  put_bytes(out, request.body);
  return out;
}

QueuedRequest decode(std::string_view item) {
  Reader in(item);
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
  if (!in.at_end()) throw MalformedItem("async item: trailing bytes");
  return r;
}

std::string queue_name(std::string_view function) { return "async:" + std::string(function); }
std::string callback_hash(std::string_view function) { return "async-cb:" + std::string(function); }

}  // namespace slimfaas::actors::async
