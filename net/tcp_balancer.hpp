#pragma once
// The local cluster's entrypoint: a TCP listener that spreads connections
// over the nodes, round robin, skipping a node that refuses the connection
// (it is restarting) for the next. Bytes are relayed both ways as they come;
// it knows nothing of HTTP, so keep-alive connections stay on one node.
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace slimfaas::net {

class TcpBalancer {
 public:
  // Binds address:port at once (throws std::system_error when it cannot)
  // and serves on its own thread until stop().
  TcpBalancer(const std::string& address, std::uint16_t port, std::vector<std::uint16_t> backends);
  ~TcpBalancer();
  TcpBalancer(const TcpBalancer&) = delete;
  TcpBalancer& operator=(const TcpBalancer&) = delete;

  void stop();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
  std::thread thread_;
};

}  // namespace slimfaas::net
