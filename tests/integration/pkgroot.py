"""The one bootstrap of the test package: an entry script run as a file (ctest runs
`python3 tests/integration/test_x.py --bin ...`, so Python puts only tests/integration/ on
sys.path) imports this first; it puts tests/ on sys.path, so that the test modules import as the
package `integration` (`from integration import harness`) and the NAT lab as `netlab`
(`from netlab import netlab`), each exactly once."""
import sys
from pathlib import Path

TESTS_DIR = str(Path(__file__).resolve().parent.parent)
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)
