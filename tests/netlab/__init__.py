"""The NAT lab as a package, `netlab` (tests/ is the package root): `from netlab import netlab`.
test_netlab.py runs as a script beside netlab.py and imports it directly."""
