"""The seeds' own programs, written as the seeds write them, outside the minrnn package.

They are the yardstick minrnn is held to: the tests compare minrnn with them number for number,
and the benchmarks time minrnn against them. They live here, not in tests/ or benchmarks/, so
that neither has to import the other.
"""
