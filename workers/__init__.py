"""The worker process and its wiring, shared by production, the tests and the benchmarks.

One way to connect, one way to build a worker and one list of what it serves, so a test exercises the same
converter, interceptors and sandbox settings as a deployed worker.
"""
