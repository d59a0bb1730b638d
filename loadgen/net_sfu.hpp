// The socket side of `turnpike-loadgen sfu` (net_sfu.cpp, net_sfu_main.cpp): one epoll loop on one
// thread driving sfu_engine.hpp's SfuEngine: per participant a non-blocking TCP connection carrying
// the WebSocket (ws_client.hpp) and one UDP socket for its media.
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "loadgen/net_driver.hpp"
#include "loadgen/sfu_engine.hpp"
#include "loadgen/ws_client.hpp"

namespace loadgen::net {

class SfuLoop : public sfuload::SfuSink {
 public:
  // Throws std::runtime_error if epoll cannot be made.
  SfuLoop(SockAddr signal, std::string host_header, std::string path, SockAddr local, std::atomic<bool>& stop);
  ~SfuLoop() override;
  SfuLoop(const SfuLoop&) = delete;
  SfuLoop& operator=(const SfuLoop&) = delete;

  // Runs `engine` to its end (or a signal, which drains it); false with `error` if the loop broke.
  // `progress`: a line on stderr every second.
  bool run(sfuload::SfuEngine& engine, bool progress, std::string& error);
  uint64_t send_drops() const { return send_drops_; }

  void open_signal(uint32_t p) override;
  void close_signal(uint32_t p) override;
  void send_signal(uint32_t p, const std::string& text) override;
  void send_media(uint32_t p, const turn::Endpoint& to, std::span<const uint8_t> d) override;
  double cpu_seconds() override;

 private:
  struct Conn;
  int64_t now_ms() const;
  void tcp_event(uint32_t p, uint32_t events);
  void tcp_connected(uint32_t p);
  void tcp_read(uint32_t p);
  void udp_read(uint32_t p);
  void flush(uint32_t p);
  void drop(uint32_t p, const std::string& why);
  void watch(int fd, uint64_t tag, uint32_t events, bool modify);

  SockAddr signal_, local_;
  std::string host_header_, path_;
  std::atomic<bool>& stop_;
  int epoll_ = -1;
  sfuload::SfuEngine* engine_ = nullptr;
  std::vector<std::unique_ptr<Conn>> conns_;
  uint64_t send_drops_ = 0;
  int64_t start_ns_ = 0;
};

// `turnpike-loadgen sfu ARGS`: exit status 0, 1 or 2 (docs/loadgen.md).
int run_sfu(const std::vector<std::string>& args, const std::string& command);

}  // namespace loadgen::net
