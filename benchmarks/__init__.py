"""The benchmark suite's entry point: ``python -m benchmarks`` (the same as ``ouc bench``).

The suite itself lives in :mod:`ouc.bench` so it is installed with the package; this directory
holds the thin entry and ``RESULTS.md``, the record of a full run.
"""
