// What the SFU asks of the TURN side about a media source: its residency verdict and the path it
// took (direct, or relayed through one of our own allocations and over what). Pure functions of the
// residency policy in force and the relay directory.
#pragma once
#include "server/relay_directory.hpp"
#include "sfu/engine.hpp"
#include "turn/region_policy.hpp"

namespace turnpike {

// Data residency for SFU media (docs/residency.md): a source that is one of our own TURN allocations
// was judged by TURN at Allocate (address or pinned credential) and keeps that verdict; any other
// source is judged by its address, as a TURN client would be, and a foreign one is sent to its
// region's signalling URL (foreign_clients: redirect) or refused. `regions` null or off: Serve.
sfu::EngineConfig::Admission sfu_admission(const turn::RegionPolicy* regions, const RelayDirectory& relays,
                                           const turn::Endpoint& from);

// Not one of our allocations: direct as far as the server can tell (the engine tells other TURN
// servers' relays apart by the client's own relay candidates); else the transport its client uses.
sfu::Path classify_path(const RelayDirectory& relays, const turn::Endpoint& from);

}  // namespace turnpike
