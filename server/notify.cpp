#include "server/notify.hpp"

#include <systemd/sd-daemon.h>

#include <ctime>

namespace turnpike::notify {

namespace {

// STATUS= is one line: a newline in the text would start a new assignment.
std::string one_line(std::string s) {
  for (auto& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

void send(const std::string& state) {
  // sd_notify returns 0 without NOTIFY_SOCKET and < 0 on a send error: neither stops the server.
  (void)sd_notify(0, state.c_str());
}

}  // namespace

void ready(const std::string& status) { send("READY=1\nSTATUS=" + one_line(status)); }

void reloading(const std::string& status) {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  auto usec = static_cast<long long>(ts.tv_sec) * 1000000LL + ts.tv_nsec / 1000;
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) + "\nSTATUS=" + one_line(status));
}

void stopping(const std::string& status) { send("STOPPING=1\nSTATUS=" + one_line(status)); }

void status(const std::string& status) { send("STATUS=" + one_line(status)); }

}  // namespace turnpike::notify
