"""What the tests and the benchmarks share: fakes of the outside world, servers, clients, data.

Nothing in the product imports this package; the tests' fixtures and the benchmarks do.
"""
