"""Benchmark scripts for jaxpool (not tests).

Run ``python -m experiments.benchmarks.pooling --help`` for the pooling benchmark.
"""
