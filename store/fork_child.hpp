#pragma once
// What a child forked to write a snapshot does first.
//
// The child inherits every descriptor of the node: its listening sockets,
// its clients' and peers' connections. While it held them, a connection the
// node closed stayed open (no FIN left until the child exited, after the
// whole snapshot was written), and a node restarted at once could not listen
// on its ports until the child died. The child needs none of them.

namespace slimfaas::store {

// Closes every descriptor from 3 up. Only system calls: safe in a child
// forked from a threaded process.
void close_inherited_descriptors() noexcept;

}  // namespace slimfaas::store
