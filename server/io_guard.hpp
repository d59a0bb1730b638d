// Every I/O thread's run loop (shards, admin, SFU host, main): an exception that escapes a handler
// is logged (event internal_error), counted (turnpike_internal_errors_total{component}) and the
// io_context runs on, so one bad request never takes TURN, SFU and admin down together (issue 14).
// Handlers that must survive a throw re-arm themselves before their work (see Shard::arm_poll).
#pragma once
#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <functional>

namespace turnpike {

// Runs `io` until it is stopped or out of work. `counted` is called once per escaped exception
// (after the log line); the number of exceptions survived is returned for tests.
uint64_t run_guarded(boost::asio::io_context& io, const char* component, const std::function<void()>& counted);

}  // namespace turnpike
