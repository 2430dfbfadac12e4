// Raft entries between nodes: their data is shared by every holder, not
// copied, and crosses the network in the same bytes as the std::string it
// replaced (a node of the previous build reads them).
#include <catch2/catch.hpp>

#include <caf/all.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include <string>
#include <vector>

#include "actors/raft_wire.hpp"

using slimfaas::store::Entry;
using slimfaas::store::Message;
using slimfaas::store::SharedBytes;

namespace {

template <class T>
std::vector<char> serialized(T& value) {
  std::vector<char> bytes;
  caf::binary_serializer sink{static_cast<caf::execution_unit*>(nullptr), bytes};
  REQUIRE_FALSE(sink(value));
  return bytes;
}

}  // namespace

TEST_CASE("copies of an entry share its data", "[raft][wire]") {
  Entry entry{3, 7, Entry::Kind::Command, std::string(4096, 'x')};
  const char* bytes = entry.data.data();
  Entry copy = entry;
  std::vector<Entry> handed_on{entry, copy};
  CHECK(copy.data.data() == bytes);
  CHECK(handed_on[1].data.data() == bytes);
  CHECK(copy == entry);
  CHECK(copy.data == std::string(4096, 'x'));
}

TEST_CASE("an entry's data is written as a string and read back whole", "[raft][wire]") {
  for (const std::string& data : {std::string(), std::string("set k v"), std::string(70000, '\x7f')}) {
    SharedBytes shared{data};
    std::string plain = data;
    CHECK(serialized(shared) == serialized(plain));  // the format did not change

    Message message;
    message.type = slimfaas::store::MessageType::Append;
    message.entries = {Entry{1, 1, Entry::Kind::Command, data}, Entry{1, 2, Entry::Kind::Noop, {}}};
    std::vector<char> bytes = serialized(message);
    Message read;
    caf::binary_deserializer source{static_cast<caf::execution_unit*>(nullptr), bytes};
    REQUIRE_FALSE(source(read));
    CHECK(read.entries == message.entries);
    CHECK(read.entries[0].data.size() == data.size());
  }
}
