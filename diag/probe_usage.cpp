// The --help text of `turnpike-diag probe` (docs/diag.md "probe" says the same at length).
#include "diag/cli.hpp"

namespace diag {

const char* const kProbeUsage =
    "usage: turnpike-diag probe --server HOST[:PORT] (--user U --password P | --secret S) [options]\n"
    "\n"
    "Probes the paths a call needs from this site, every --every, as a service: over each transport, two\n"
    "TURN allocations (Allocate with the 401 nonce round trip), permissions and channels toward each\n"
    "other's relayed address, echo packets through both relays and back, then Refresh lifetime 0.\n"
    "Measures setup time, RTT (median), jitter and loss; a failed transport says why. Optionally the\n"
    "NAT class and the UDP binding lifetime on slower intervals. Serves its own /metrics and/or POSTs\n"
    "each round to Turnpike (/api/v1/probe-reports).\n"
    "\n"
    "options:\n"
    "  --server HOST[:PORT]   TURN server (port 3478 by default: UDP, and TCP unless --tcp-port)\n"
    "  --user U --password P  long-term credentials\n"
    "  --secret S             TURN REST shared secret (auth.rest_secrets): credentials made per round\n"
    "                         (without either: $TURNPIKE_TURN_PASSWORD with --user, else $TURNPIKE_TURN_SECRET)\n"
    "  --every D              interval between rounds (default 60s; durations: 30, 0.5, 2m, 500ms)\n"
    "  --rounds N             stop after N rounds (default 0: until SIGINT/SIGTERM)\n"
    "  --site TAG             the site's name in metrics and reports (default: the host name)\n"
    "  --transports LIST      among udp,tcp,tls (default udp,tcp,tls)\n"
    "  --tcp-port P           TURN over TCP port (default: the server's port)\n"
    "  --tls-port P           TURN over TLS port (default 5349)\n"
    "  --echoes N             echo packets per transport and round, 1..1000 (default 10, 20 ms apart)\n"
    "  --timeout-ms N         allocations and permissions must be up within this (default 5000, at most\n"
    "                         3/5 of --every); a transport that takes longer fails with \"timeout\"\n"
    "  --metrics-listen A:P   serve Prometheus /metrics on this address, e.g. 127.0.0.1:9643\n"
    "  --report URL           POST each round's JSON, e.g. http://turnpike:9641/api/v1/probe-reports\n"
    "  --token T              bearer token for --report (default: $TURNPIKE_ADMIN_TOKEN)\n"
    "  --cacert FILE          CA certificates for an https:// report URL and for the TLS probe's server\n"
    "                         (without it the TLS probe accepts any certificate)\n"
    "  --tag KEY=VALUE        more labels for the report (repeatable, at most 16)\n"
    "  --nat-every D          run the NAT behaviour probe this often (default: never), e.g. 10m\n"
    "  --lifetime-every D     measure the UDP binding lifetime this often (default: never), e.g. 6h\n"
    "  --lifetime-max D       longest idle gap the lifetime probe tries (default 120s)\n"
    "  --json                 print each round as one JSON line instead of text\n"
    "  --help                 this text\n"
    "\n"
    "exit status: 0 after --rounds rounds (or when stopped), 2 usage error, 3 a --report failed.\n";

}  // namespace diag
