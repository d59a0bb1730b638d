"""Turnpike's integration tests as a package, `integration` (tests/ is the package root).

Library modules (imported, never run): harness (Turnpike/Coturn nodes, uclient, config, the
test runner), metrics (/metrics scraping and Prometheus text parsing), browser (headless
Chromium: finder, options, driver, page server), lab (NetnsTurnpike: a node in a netlab network
namespace), relay_check (the Chromium relay check of test_chromium_relay, relay_browser and
test_relay_quality),
stunclient, regionlab, loadgen_lab, abuse_turn, abuse_server, abuse_sfu, promserver (a real
Prometheus), promql (every dashboard and rule expression), sfu_page (the SFU demo page in Chromium). A test file never
imports another test file.
Entry scripts (ctest runs `python3 tests/integration/test_x.py --bin ...`) and the netns helper
programs (relay_browser.py, nat_browser.py) first `import pkgroot`, which puts tests/ on
sys.path once; everything then imports as `from integration import harness, ...`. bench/ puts
tests/ on sys.path itself (one line) and imports the same way.
"""
