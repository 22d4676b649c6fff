"""``ouc certs``: the certificate manager on the command line.

``ouc certs init|create|list|show|renew|replace|delete|export|import|revoke|assign``, each with
``--store DIR`` (default ``./ouc-store``) and ``--json`` for scripts. The clock is the PC's
current time unless ``--now`` sets the emulated one. Passwords never go on the command line:
``--password-env VAR`` names an environment variable holding the file's password, and the store's
key password comes from ``OUC_STORE_PASSWORD`` when set.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ouc._notation import iso_time
from ouc.certs import KEY_TYPES, CertRow, CertStore, Template
from ouc.cli import _types
from ouc.cli._inputs import STDIN, input_name, missing_store, read_input
from ouc.device import Device
from ouc.errors import ConfigError, OucError

__all__ = ["register", "show_store_warnings"]

STORE_PASSWORD_ENV = "OUC_STORE_PASSWORD"
_Handler = Callable[[argparse.Namespace], int]


def _now(args: argparse.Namespace) -> dt.datetime:
    if args.now is None:
        return dt.datetime.now(dt.UTC)
    try:
        moment = dt.datetime.fromisoformat(args.now)
    except ValueError as exc:
        raise ConfigError(f"--now {args.now!r} is not an ISO date/time", path="--now") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _env_password(name: str | None, option: str = "--password-env") -> str | None:
    if name is None:
        return None
    value = os.environ.get(name)
    if value is None:
        raise ConfigError(f"environment variable {name} is not set", path=option)
    return value


def _store_folder(args: argparse.Namespace) -> Path:
    """``--store``, refused when it names a file: the library would only say "File exists"."""
    folder = Path(args.store)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(
            f"{args.store} is a file, not a folder; give --store a store's folder, or a new or "
            "empty one for 'ouc certs init'",
            path="--store",
        )
    return folder


class _WarningLine(logging.Handler):
    """The store's warnings (files moved to ``leftovers/``, a busy lock) as ``ouc: warning:``
    lines on stderr, written to whatever ``sys.stderr`` is when they happen."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"ouc: warning: {record.getMessage()}", file=sys.stderr, flush=True)


def show_store_warnings() -> None:
    """Show the certificate stores' warnings (logger ``ouc.certs``) as ``ouc: warning:`` lines."""
    logger = logging.getLogger("ouc.certs")
    if not any(isinstance(h, _WarningLine) for h in logger.handlers):
        logger.addHandler(_WarningLine(logging.WARNING))


def _open(args: argparse.Namespace) -> CertStore:
    """The existing store ``--store`` names (every command but ``init`` needs one)."""
    show_store_warnings()
    folder = _store_folder(args)
    missing = missing_store(args.store)
    if missing is not None:
        raise missing
    return CertStore(folder, password=os.environ.get(STORE_PASSWORD_ENV))


@contextmanager
def _flags(**flags: str) -> Iterator[None]:
    """Name the flag the user typed in a library error that names the Python argument
    (``cert_id="--id"``)."""
    try:
        yield
    except OucError as exc:
        if exc.path in flags:
            exc.path = flags[exc.path]
        raise


def _emit(args: argparse.Namespace, doc: Any, text: str) -> int:
    print(json.dumps(doc, indent=2) if args.json else text)
    return 0


def _when(moment: dt.datetime | None) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M}Z"


def _table(rows: Sequence[CertRow]) -> str:
    head = (
        "ID",
        "Common name",
        "Serial",
        "Issuer",
        "Valid to",
        "Used as",
        "Key",
        "Signature",
        "Bits",
    )
    lines = [head]
    for r in rows:
        serial = r.serial if len(r.serial) <= 12 else r.serial[:11] + "…"
        flags = (" legacy" if r.legacy else "") + (" revoked" if r.revoked else "")
        lines.append(
            (
                str(r.id),
                r.common_name,
                serial,
                r.issuer,
                "-" if r.valid_to is None else f"{r.valid_to:%Y-%m-%d}",
                r.used_as + flags,
                "yes" if r.private_key else "no",
                r.signature_algorithm,
                "-" if r.key_length is None else str(r.key_length),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    table = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    ]
    table += [f"ID {r.id}: {r.problem}" for r in rows if r.problem is not None]
    return "\n".join(table)


# -- handlers ------------------------------------------------------------------------------------


def _init(args: argparse.Namespace) -> int:
    store = CertStore.init(
        _store_folder(args), now=_now(args), password=os.environ.get(STORE_PASSWORD_ENV)
    )
    ids = store.ids()
    return _emit(args, {"store": str(store.path), "ids": ids}, f"created {store.path}: CAs {ids}")


def _create(args: argparse.Namespace) -> int:
    if args.firmware and not args.family:
        raise ConfigError(
            "needs --family S7-1200 or S7-1500 (the firmware refines which keys that family "
            "supports)",
            path="--firmware",
        )
    store = _open(args)
    device = None
    if args.family:
        firmware = args.firmware or ("V4.6" if "1200" in args.family else "V3.1")
        device = Device.from_text(args.family, firmware)
    with _flags(cert_id="--id"):
        new_id = store.create(
            common_name=args.cn,
            template=Template.from_text(args.template),
            now=_now(args),
            key_type=args.key,
            issuer_id=args.issuer,
            days=args.days,
            ip_sans=args.ip,
            dns_sans=args.dns,
            uri_sans=args.uri,
            hash_name=args.hash,
            device=device,
            cert_id=args.id,
        )
    for name in args.assign:
        store.assign(name, [new_id])
    return _emit(args, {"id": new_id}, f"created ID {new_id}")


def _list(args: argparse.Namespace) -> int:
    store = _open(args)
    rows = store.rows()
    if args.device:
        assigned = set(store.device_ids(args.device))
        if not assigned:
            known = ", ".join(sorted(store.devices())) or "none yet"
            raise ConfigError(
                f"no certificates are assigned to device {args.device} (devices with "
                f"certificates: {known}); 'ouc certs assign {args.device} ID' assigns one",
                path="--device",
            )
        rows = [r for r in rows if r.id in assigned]
    return _emit(args, [r.as_json() for r in rows], _table(rows))


def _show(args: argparse.Namespace) -> int:
    info = _open(args).show(args.id)
    r = info.row
    text = "\n".join(
        [
            f"ID:                  {r.id}{'  (legacy)' if r.legacy else ''}",
            f"Subject:             {info.subject}",
            f"Issuer:              {info.issuer_dn}"
            + (f"  (ID {info.issuer_id})" if info.issuer_id is not None else ""),
            f"Serial:              {r.serial}",
            f"Valid from:          {info.valid_from:%Y-%m-%d %H:%M}Z",
            f"Valid to:            {_when(r.valid_to)}",
            f"Used as:             {r.used_as}",
            f"Key:                 {r.key_type} ({r.key_length} bits), private key "
            + ("yes" + (", encrypted" if info.key_encrypted else "") if r.private_key else "no"),
            f"Signature:           {r.signature_algorithm}",
            f"subjectAltName:      {', '.join(info.sans) or '-'}",
            f"KeyUsage:            {', '.join(info.key_usage) or '-'}",
            f"ExtendedKeyUsage:    {', '.join(info.extended_key_usage) or '-'}",
            f"Revoked:             {'yes' if r.revoked else 'no'}",
            f"Devices:             {', '.join(info.devices) or '-'}",
            f"SHA-256 fingerprint: {info.fingerprint_sha256}",
        ]
    )
    if args.pem:
        text += "\n" + info.pem.rstrip()
    return _emit(args, info.as_json(), text)


def _renew(args: argparse.Namespace) -> int:
    store = _open(args)
    cert = store.renew(args.id, now=_now(args), days=args.days, new_key=args.new_key)
    until = cert.not_valid_after_utc
    doc = {"id": args.id, "serial": f"{cert.serial_number:X}", "valid_to": iso_time(until)}
    return _emit(args, doc, f"renewed ID {args.id}, valid to {until:%Y-%m-%d}")


# --format for a certificate read from stdin, which has no suffix to name it.
_FORMATS = {"pem": ".pem", "der": ".der", "p12": ".p12", "crl": ".crl"}


def _stdin_suffix(args: argparse.Namespace) -> str | None:
    """The suffix ``--format`` stands for when FILE is ``-`` (None for a file: its suffix)."""
    if args.file != STDIN:
        if args.format is not None:
            raise ConfigError(
                "--format is for stdin ('-'); a file's suffix names its format", path="--format"
            )
        return None
    if args.format is None:
        raise ConfigError(
            "reading stdin needs --format (pem, der, p12; crl for import): stdin has no suffix "
            "to name its format",
            path="--format",
        )
    return _FORMATS[args.format]


def _replace(args: argparse.Namespace) -> int:
    store = _open(args)
    password = _env_password(args.password_env)
    suffix = _stdin_suffix(args)
    with _flags(key=_key_source(args)):
        key = _replace_from(store, args, password, suffix)
    source = "stdin" if suffix else args.file
    return _emit(args, {"id": args.id}, f"replaced ID {args.id} from {source}; private key {key}")


def _replace_from(
    store: CertStore, args: argparse.Namespace, password: str | None, suffix: str | None
) -> str:
    if suffix is None:
        return store.replace_from_file(
            args.id,
            args.file,
            password=password,
            key_path=args.key,
            drop_key=args.drop_key,
            change_use=args.change_use,
        )
    return store.replace_from_bytes(
        args.id,
        read_input(STDIN),
        suffix=suffix,
        password=password,
        key_path=args.key,
        drop_key=args.drop_key,
        change_use=args.change_use,
    )


def _key_source(args: argparse.Namespace) -> str:
    """Where a command's private key came from: ``--key FILE``, else the certificate file."""
    if args.key is not None:
        return f"--key {args.key}"
    return input_name(args.file)


def _delete(args: argparse.Namespace) -> int:
    _open(args).delete(args.id)
    return _emit(
        args, {"id": args.id, "deleted": True}, f"deleted ID {args.id} (the ID is never reused)"
    )


# export flags that concern a certificate file and mean nothing for a .crl.
_CERT_ONLY_FLAGS = {"--key": "key", "--chain": "chain", "--password-env": "password_env"}


def _export(args: argparse.Namespace) -> int:
    store = _open(args)
    if Path(args.file).suffix.lower() == ".crl":
        extra = [flag for flag, on in _CERT_ONLY_FLAGS.items() if getattr(args, on)]
        if extra:
            raise ConfigError(
                f"a revocation list has no key, chain or password; leave {extra[0]} out for a "
                ".crl file",
                path=extra[0],
            )
        written = [store.export_crl(args.id, args.file, now=_now(args))]
    else:
        written = store.export(
            args.id,
            args.file,
            with_key=args.key,
            password=_env_password(args.password_env),
            chain=args.chain,
        )
    names = [str(p) for p in written]
    return _emit(args, {"files": names}, "wrote " + ", ".join(names))


def _import(args: argparse.Namespace) -> int:
    store = _open(args)
    password = _env_password(args.password_env)
    suffix = _stdin_suffix(args)
    if (suffix or Path(args.file).suffix).lower() == ".crl":
        return _import_crl(args, store, suffix)
    with _flags(key=_key_source(args)):
        if suffix is None:
            ids = store.import_file(args.file, password=password, key_path=args.key)
        else:
            data = read_input(STDIN)
            ids = store.import_bytes(data, suffix=suffix, password=password, key_path=args.key)
    for name in args.assign:
        store.assign(name, ids[:1])
    return _emit(args, {"ids": ids}, "imported as ID " + ", ".join(str(i) for i in ids))


def _import_crl(args: argparse.Namespace, store: CertStore, suffix: str | None) -> int:
    """Import a revocation list: it belongs to the CA that signed it and gets no ID."""
    if args.assign:
        raise ConfigError(
            "a revocation list is not a certificate and cannot be assigned to a device; "
            "import it without --assign",
            path="--assign",
        )
    for flag, name in (("--key", "key"), ("--password-env", "password_env")):
        if getattr(args, name):
            raise ConfigError(
                f"a revocation list has no key and no password; import it without {flag}",
                path=flag,
            )
    if suffix is None:
        (ca_id,) = store.import_file(args.file)
    else:
        (ca_id,) = store.import_bytes(read_input(STDIN), suffix=suffix)
    crl = store.crl(ca_id)
    count = 0 if crl is None else len(list(crl))
    text = f"imported the revocation list of CA {ca_id} ({count} revoked); it has no ID of its own"
    return _emit(args, {"ids": [], "issuer_id": ca_id}, text)


def _revoke(args: argparse.Namespace) -> int:
    store = _open(args)
    store.revoke(args.id, now=_now(args))
    issuer = store.entry(args.id).issuer_id
    return _emit(
        args,
        {"id": args.id, "revoked": True, "issuer_id": issuer},
        f"revoked ID {args.id} in CA {issuer}'s CRL",
    )


def _assign(args: argparse.Namespace) -> int:
    store = _open(args)
    if args.remove:
        ids = store.unassign(args.device, args.ids)
    elif args.ids:
        ids = store.assign(args.device, args.ids)
    else:
        ids = store.device_ids(args.device)
    doc = {"device": args.device, "ids": list(ids)}
    return _emit(args, doc, f"{args.device}: {', '.join(map(str, ids)) or '(none)'}")


# -- parser --------------------------------------------------------------------------------------


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--store", default="ouc-store", metavar="DIR", help="store folder (default ./ouc-store)"
    )
    common.add_argument("--json", action="store_true", help="print JSON for scripts")
    common.add_argument(
        "--now",
        type=_types.moment,
        metavar="ISO",
        help="emulated clock time (default: now; naive means UTC)",
    )
    return common


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``ouc certs`` and its sub-commands."""
    certs = sub.add_parser(
        "certs",
        help="the certificate store: numeric IDs, templates, devices, import/export",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = certs.add_subparsers(dest="certs_command", metavar="ACTION")
    actions.required = True
    common = [_common()]

    def add(name: str, handler: _Handler, help_text: str) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, parents=common, help=help_text, description=help_text)
        parser.set_defaults(func=handler)
        return parser

    add("init", _init, "create a store with default CAs 1 (SHA-1, legacy) and 2 (SHA-256)")

    p = add("create", _create, "create a CA or device certificate from a template")
    p.add_argument("--cn", required=True, type=_types.common_name, help="common name")
    p.add_argument(
        "--template",
        required=True,
        type=_types.template,
        help="tls (TLS Client/Server), tls-client, web, opcua or ca",
    )
    p.add_argument(
        "--key", default="EC-P256", type=_types.key_type, help=f"key type: {', '.join(KEY_TYPES)}"
    )
    p.add_argument(
        "--issuer", type=_types.cert_id, metavar="ID", help="signing CA's ID (default self-signed)"
    )
    p.add_argument(
        "--days", type=_types.days, help="validity in days (default CA 3650, others 730)"
    )
    p.add_argument(
        "--ip", action="append", default=[], type=_types.text, help="IP subjectAltName (repeatable)"
    )
    p.add_argument(
        "--dns",
        action="append",
        default=[],
        type=_types.text,
        help="DNS subjectAltName (repeatable)",
    )
    p.add_argument(
        "--uri",
        action="append",
        default=[],
        type=_types.uri,
        help="URI subjectAltName (repeatable)",
    )
    p.add_argument(
        "--hash",
        default="SHA256",
        type=_types.hash_name,
        help="SHA256 (default), SHA384, SHA512, SHA1",
    )
    p.add_argument("--id", type=_types.cert_id, help="claim this ID (it must never have been used)")
    p.add_argument(
        "--family",
        type=_types.family,
        help="refuse keys this CPU family does not support: S7-1200/S7-1500",
    )
    p.add_argument(
        "--firmware",
        type=_types.firmware,
        help="firmware for --family, which it needs (default V4.6 / V3.1)",
    )
    p.add_argument(
        "--assign",
        action="append",
        default=[],
        type=_types.device_name,
        metavar="DEVICE",
        help="assign to this device",
    )

    p = add("list", _list, "list the certificates (ID, CN, serial, issuer, validity, ...)")
    p.add_argument(
        "--device",
        type=_types.device_name,
        help="only the certificates assigned to this device; a device with none assigned is "
        "an error (exit 2)",
    )

    p = add("show", _show, "show one certificate in detail")
    p.add_argument("id", type=_types.cert_id)
    p.add_argument("--pem", action="store_true", help="also print the PEM")

    p = add("renew", _renew, "new validity and serial, same ID (and same key unless --new-key)")
    p.add_argument("id", type=_types.cert_id)
    p.add_argument("--days", type=_types.days, help="validity in days (default: as before)")
    p.add_argument("--new-key", action="store_true", help="generate a new key of the same type")

    p = add(
        "replace",
        _replace,
        "swap in a certificate from a file or .p12, same ID; the stored key stays when the new "
        "certificate matches it, and a key that would be lost or a CA/end-entity change is "
        "refused unless asked for",
    )
    p.add_argument("id", type=_types.cert_id)
    p.add_argument("file", help=".der/.cer/.crt/.pem/.p12, or - for stdin (with --format)")
    p.add_argument("--format", choices=("pem", "der", "p12"), help="the format of stdin")
    p.add_argument("--key", metavar="FILE", help="separate private key file")
    p.add_argument("--password-env", metavar="VAR", help="environment variable with the password")
    p.add_argument(
        "--drop-key",
        action="store_true",
        help="store the new certificate without a key although the ID had one that does not "
        "match it (without this, that is refused: the ID could no longer serve TLS)",
    )
    p.add_argument(
        "--change-use",
        action="store_true",
        help="allow a CA to become an end-entity certificate or the other way round (refused "
        "without it)",
    )

    p = add("delete", _delete, "delete a certificate (its ID is never reused)")
    p.add_argument("id", type=_types.cert_id)

    p = add("export", _export, "export by suffix: .der/.cer, .crt/.pem, .p12, or a CA's .crl")
    p.add_argument("id", type=_types.cert_id)
    p.add_argument("file", type=_types.new_file)
    p.add_argument("--key", action="store_true", help="include the private key")
    p.add_argument("--chain", action="store_true", help="include the issuing CAs (.pem/.p12)")
    p.add_argument("--password-env", metavar="VAR", help="environment variable with the password")

    p = add("import", _import, "import .der/.cer/.crt/.pem/.p12 (new IDs) or a .crl")
    p.add_argument("file", help="the file, or - for stdin (with --format)")
    p.add_argument("--format", choices=tuple(_FORMATS), help="the format of stdin")
    p.add_argument("--key", metavar="FILE", help="separate private key file")
    p.add_argument("--password-env", metavar="VAR", help="environment variable with the password")
    p.add_argument(
        "--assign",
        action="append",
        default=[],
        type=_types.device_name,
        metavar="DEVICE",
        help="assign to this device",
    )

    p = add("revoke", _revoke, "revoke a certificate in its CA's revocation list")
    p.add_argument("id", type=_types.cert_id)

    p = add("assign", _assign, "assign certificates to a device (max 64); no IDs: show them")
    p.add_argument("device", type=_types.device_name)
    p.add_argument("ids", type=_types.cert_id, nargs="*")
    p.add_argument("--remove", action="store_true", help="remove the IDs from the device")


def main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - convenience
    """Run ``ouc certs ...`` directly (same as ``ouc certs``)."""
    from ouc.cli import main as ouc_main

    return ouc_main(["certs", *(argv if argv is not None else sys.argv[1:])])
