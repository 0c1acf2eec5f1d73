"""The benchmark protocol (make bench): datasets, generators, metrics, results files."""

import os

# As the command line does (netdiffus.cli.main.set_thread_policy): OpenMP threads that sleep
# while waiting, before torch starts its thread pool; the benchmarks share the cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
