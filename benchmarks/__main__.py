"""``python -m benchmarks``: run the comparison suite from a clone (see ``--help``)."""

from benchmarks import main

# The suite's server processes are started with multiprocessing's spawn method. Spawned children
# do not re-run a package's ``__main__`` when started with ``-m``, but they do re-run a main
# script given by path, so the guard keeps ``python benchmarks/__main__.py`` from recursing.
if __name__ == "__main__":
    raise SystemExit(main())
