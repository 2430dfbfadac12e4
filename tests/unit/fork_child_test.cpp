// A snapshot child lets go of the node's descriptors: a connection the node
// closes while the child runs is closed for its peer at once.
#include <catch2/catch.hpp>

#include <csignal>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/fork_child.hpp"

namespace {

// Whether the peer of `fd` sees the end of the stream within `timeout_ms`.
bool sees_end(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) != 1) return false;
  char c;
  return ::read(fd, &c, 1) == 0;
}

// A child forked while the parent holds one end of a connection; it calls
// `in_child`, tells the parent it did, then lives on until killed. The
// parent closes its end: does the other end see it?
bool end_seen_while_child_runs(void (*in_child)()) {
  int pair[2];
  int ready[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
  REQUIRE(::pipe(ready) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(ready[0]);
    in_child();
    const char go = 1;
    (void)!::write(ready[1], &go, 1);  // closed already if in_child closed it: the parent sees the end
    for (;;) ::pause();
  }
  ::close(ready[1]);
  char go;
  (void)!::read(ready[0], &go, 1);  // 1 byte, or the end once the child closed its copy
  ::close(ready[0]);
  ::close(pair[0]);  // the node closes its end of a connection
  const bool seen = sees_end(pair[1], 5000);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ::close(pair[1]);
  return seen;
}

}  // namespace

TEST_CASE("a forked snapshot child does not keep the node's connections open", "[store][fork]") {
  SECTION("closing the inherited descriptors") {
    CHECK(end_seen_while_child_runs([] { slimfaas::store::close_inherited_descriptors(); }));
  }
  SECTION("keeping them (what a child did before): the end never comes while it lives") {
    CHECK_FALSE(end_seen_while_child_runs([] {}));
  }
}
