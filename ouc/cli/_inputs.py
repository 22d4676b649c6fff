"""Reading what a command is given: a file, or stdin for ``-``.

Every option and argument that names a file to read takes ``-`` for stdin (one per command:
stdin can be read once). Parameter blocks are told apart by content: JSON when the first
non-blank byte is ``{`` or ``[``, hex text when nothing but hex digits, white space and colons,
else the binary image (:func:`ouc.params.loads`).
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from ouc._input import INPUT_LIMIT, read_capped, read_stream_capped
from ouc.db import Layout, load_layout, loads_layout
from ouc.errors import ConfigError, DataBlockError
from ouc.params import Block, loads

__all__ = [
    "STDIN",
    "input_name",
    "missing_store",
    "not_an_input",
    "one_stdin",
    "read_block",
    "read_input",
    "read_layout",
]

STDIN = "-"


def input_name(path: str) -> str:
    """How errors name the input: the file, or ``<stdin>``."""
    return "<stdin>" if path == STDIN else path


def missing_store(path: str) -> ConfigError | None:
    """The error for a ``--store`` folder that holds no certificate store (None when it holds
    one): it says how to make one there, with the ``--store`` the user gave."""
    if (Path(path) / "index.json").is_file():
        return None
    where = shlex.quote(path)
    return ConfigError(
        f"no certificate store at {path}: create one with 'ouc certs init --store {where}', "
        "or get the standard example's (CA 3, certificates 9 and 11) with "
        f"'ouc demo --keep-store {where}'",
        path="--store",
    )


def read_input(path: str, option: str | None = None) -> bytes:
    """The bytes of ``path``, or of stdin for ``-``.

    Raises:
        ConfigError: the file cannot be read or is larger than ``INPUT_LIMIT`` (naming it and,
            when given, the option).
    """
    if path == STDIN:
        return read_stream_capped(sys.stdin.buffer, INPUT_LIMIT, "an input of ouc")
    try:
        return read_capped(path, INPUT_LIMIT, "an input of ouc")
    except OSError as exc:
        where = f"{option} {path}" if option else path
        raise ConfigError(f"cannot read the file: {exc.strerror or exc}", path=where) from exc


def read_block(
    path: str, type_name: str | None = None, *, strict: bool = True, option: str | None = None
) -> Block:
    """A CONNECT block from a file or stdin, JSON, hex text or binary by content; errors name the
    input."""
    return loads(read_input(path, option), type_name, strict=strict, name=input_name(path))


def one_stdin(**inputs: str | None) -> None:
    """Refuse two inputs read from stdin in one command (``--block - --file -``).

    Args:
        inputs: option → the path given (None: not given).
    """
    from_stdin = [option for option, path in inputs.items() if path == STDIN]
    if len(from_stdin) > 1:
        raise ConfigError(
            f"{' and '.join(from_stdin)} both read stdin; stdin can be read once: give files"
        )


def not_an_input(output: str | None, **inputs: str | None) -> None:
    """Refuse an output file that is one of the inputs (``encode s.json -o s.json`` would
    replace the user's file with what was made from it).

    Args:
        output: the file to write (None or ``-``: stdout, never an input).
        inputs: option → the path read (None or ``-``: nothing or stdin).
    """
    if output is None or output == STDIN or not os.path.exists(output):
        return
    for option, path in inputs.items():
        if path is None or path == STDIN:
            continue
        try:
            same = os.path.samefile(path, output)
        except OSError:
            continue
        if same:
            raise ConfigError(
                f"is the input ({option}); writing there would replace it: choose another file",
                path="-o " + output,
            )


def read_layout(path: str, option: str | None = None) -> Layout:
    """A data-block layout from a file or stdin: JSON (first non-blank ``{``) or SCL source."""
    if path != STDIN:
        return load_layout(path)
    try:
        text = read_input(path, option).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataBlockError("is not UTF-8 text", path=input_name(path)) from exc
    return loads_layout(text, input_name(path))
