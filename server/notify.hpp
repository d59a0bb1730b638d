// The service manager's readiness protocol (sd_notify(3), systemd's Type=notify): READY=1 once the
// listeners are bound and SIGHUP is armed, RELOADING=1 then READY=1 around a SIGHUP reload,
// STOPPING=1 when a drain starts (SIGTERM, POST /api/v1/drain) or on SIGINT, each with a STATUS= line for `systemctl status`. Every call is a
// no-op when NOTIFY_SOCKET is unset (not started by systemd) and never fails the caller.
#pragma once
#include <string>

namespace turnpike::notify {

void ready(const std::string& status);
void reloading(const std::string& status);  // also sends MONOTONIC_USEC= (Type=notify-reload)
void stopping(const std::string& status);
void status(const std::string& status);

}  // namespace turnpike::notify
