"""Reproducible speed and memory measurements, each printed next to its peer from the same run.

Every ``bench_*.py`` module here exposes ``main()``; ``python -m benchmarks`` runs them all
at their default sizes, ``python -m benchmarks.bench_NAME --help`` shows one's options.
"""
