"""``python -m benchmarks``: run the ouc benchmark suite (see ``--help``)."""

from ouc.bench import main

# The suite's server processes are started with multiprocessing's spawn method. Spawned children
# do not re-run a package's ``__main__`` when started with ``-m``, but they do re-run a main
# script given by path, so the guard keeps ``python benchmarks/__main__.py`` from recursing.
if __name__ == "__main__":
    raise SystemExit(main())
