"""Keys, templates and certificate creation."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from ouc.certs import (
    KEY_TYPES,
    Template,
    check_key_supported,
    create_certificate,
    describe_key,
    generate_key,
)
from ouc.device import Device, Family
from ouc.errors import CertError, ConfigError, Status

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def keys() -> dict[str, object]:
    """One key of every offered type (RSA 3072/4096 are slow: once per module)."""
    return {name: generate_key(name) for name in KEY_TYPES}


def _make(template: Template, key: object, **kw: object) -> x509.Certificate:
    kw.setdefault("not_before", NOW - DAY)
    kw.setdefault("not_after", NOW + 365 * DAY)
    return create_certificate(common_name="t", template=template, key=key, **kw)  # type: ignore[arg-type]


def test_generate_key_makes_every_offered_type(keys: dict[str, object]) -> None:
    for name, key in keys.items():
        assert describe_key(key) == name
    assert isinstance(keys["RSA-2048"], rsa.RSAPrivateKey)
    assert isinstance(keys["EC-P384"], ec.EllipticCurvePrivateKey)


@pytest.mark.parametrize("spelling", ["ec p-256", "EC-P256", "EC P256"])
def test_generate_key_accepts_tool_spellings(spelling: str) -> None:
    assert describe_key(generate_key(spelling)) == "EC-P256"


@pytest.mark.parametrize("bad", ["RSA-512", "EC-P521", "DSA-2048", ""])
def test_generate_key_refuses_unknown_types(bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        generate_key(bad)
    assert info.value.path == "key_type"


def test_device_refuses_rsa_4096_on_s7_1200(keys: dict[str, object]) -> None:
    s7_1200 = Device(family=Family.S7_1200, firmware=(4, 6))
    with pytest.raises(CertError) as info:
        check_key_supported(keys["RSA-4096"], s7_1200)
    assert info.value.status == Status.TLS_CERT_INVALID
    assert "4096" in info.value.message and "S7-1500" in info.value.message
    check_key_supported(keys["RSA-4096"], Device(family=Family.S7_1500))  # accepted


def test_key_outside_offered_set_is_refused() -> None:
    with pytest.raises(CertError) as info:
        check_key_supported(ec.generate_private_key(ec.SECP521R1()), None)
    assert info.value.status == Status.TLS_CERT_INVALID


def _eku(cert: x509.Certificate) -> set[x509.ObjectIdentifier]:
    return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def test_tls_client_server_template_extensions(keys: dict[str, object]) -> None:
    cert = _make(Template.TLS_CLIENT_SERVER, keys["EC-P256"], ip_sans=["192.168.0.1"])
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and ku.value.key_agreement
    assert not ku.value.key_cert_sign
    assert _eku(cert) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca is False
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["192.168.0.1"]


def test_rsa_leaf_gets_key_encipherment(keys: dict[str, object]) -> None:
    cert = _make(Template.WEB_SERVER, keys["RSA-2048"], ip_sans=["10.0.0.1"])
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_encipherment and ku.digital_signature and not ku.key_agreement
    assert _eku(cert) == {ExtendedKeyUsageOID.SERVER_AUTH}


def test_ca_template_extensions(keys: dict[str, object]) -> None:
    cert = _make(Template.CA, keys["EC-P384"])
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert cert.issuer == cert.subject


def test_opcua_template_needs_uri_and_sets_non_repudiation(keys: dict[str, object]) -> None:
    with pytest.raises(CertError) as info:
        _make(Template.OPCUA, keys["EC-P256"])
    assert info.value.path == "uri_sans"
    cert = _make(Template.OPCUA, keys["RSA-2048"], uri_sans=["urn:plant:plc1"], dns_sans=["plc1"])
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.content_commitment and ku.data_encipherment
    assert _eku(cert) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}


@pytest.mark.parametrize("template", [Template.TLS_CLIENT_SERVER, Template.WEB_SERVER])
def test_server_template_without_ip_san_is_refused(
    template: Template, keys: dict[str, object]
) -> None:
    with pytest.raises(CertError) as info:
        _make(template, keys["EC-P256"], dns_sans=["plc.example"])
    assert info.value.status == Status.TLS_CERT_INVALID
    assert info.value.path == "ip_sans"


def test_client_template_needs_no_ip_san(keys: dict[str, object]) -> None:
    cert = _make(Template.TLS_CLIENT, keys["EC-P256"])
    assert _eku(cert) == {ExtendedKeyUsageOID.CLIENT_AUTH}


def test_issued_certificate_chains_to_its_ca(keys: dict[str, object]) -> None:
    ca = _make(Template.CA, keys["EC-P256"])
    leaf = _make(
        Template.TLS_CLIENT,
        keys["EC-P384"],
        issuer_cert=ca,
        issuer_key=keys["EC-P256"],
        serial=4711,
        hash_name="SHA384",
    )
    leaf.verify_directly_issued_by(ca)
    assert leaf.serial_number == 4711
    assert isinstance(leaf.signature_hash_algorithm, hashes.SHA384)
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest


def test_sha1_certificate_is_really_sha1_signed(keys: dict[str, object]) -> None:
    ca = _make(Template.CA, keys["RSA-2048"], hash_name="SHA1")
    assert isinstance(ca.signature_hash_algorithm, hashes.SHA1)
    leaf = _make(
        Template.TLS_CLIENT,
        keys["EC-P256"],
        issuer_cert=ca,
        issuer_key=keys["RSA-2048"],
        hash_name="sha1",
    )
    assert isinstance(leaf.signature_hash_algorithm, hashes.SHA1)
    # The signature is over the rewritten TBS: verify it by hand.
    from cryptography.hazmat.primitives.asymmetric import padding

    public = ca.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(leaf.signature, leaf.tbs_certificate_bytes, padding.PKCS1v15(), hashes.SHA1())


def test_ec_sha1_signature_verifies(keys: dict[str, object]) -> None:
    key = keys["EC-P256"]
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    cert = _make(Template.CA, key, hash_name="SHA1")
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA1)
    key.public_key().verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA1()))


def test_issuer_must_be_a_ca_with_matching_key(keys: dict[str, object]) -> None:
    leaf = _make(Template.TLS_CLIENT, keys["EC-P256"])
    with pytest.raises(CertError, match="not a CA"):
        _make(Template.TLS_CLIENT, keys["EC-P384"], issuer_cert=leaf, issuer_key=keys["EC-P256"])
    ca = _make(Template.CA, keys["EC-P256"])
    with pytest.raises(CertError, match="does not belong"):
        _make(Template.TLS_CLIENT, keys["EC-P256"], issuer_cert=ca, issuer_key=keys["EC-P384"])
    with pytest.raises(CertError, match="both"):
        _make(Template.TLS_CLIENT, keys["EC-P256"], issuer_cert=ca)


@pytest.mark.parametrize(
    ("field", "kw"),
    [
        ("not_after", {"not_after": NOW - 2 * DAY}),
        ("common_name", {"common_name": ""}),
        ("ip_sans", {"ip_sans": ["300.1.1.1"]}),
        ("dns_sans", {"dns_sans": ["bad..name"]}),
        ("dns_sans", {"dns_sans": ["bad name!"]}),
        ("dns_sans", {"dns_sans": ["-plc.example"]}),
        ("dns_sans", {"dns_sans": ["plc_1.example"]}),
        ("dns_sans", {"dns_sans": ["plc.*.example"]}),
        ("dns_sans", {"dns_sans": ["x" * 64 + ".example"]}),
        ("uri_sans", {"uri_sans": ["no-scheme"]}),
    ],
)
def test_bad_inputs_name_their_field(
    field: str, kw: dict[str, object], keys: dict[str, object]
) -> None:
    args: dict[str, object] = {
        "common_name": "t",
        "template": Template.TLS_CLIENT,
        "key": keys["EC-P256"],
        "not_before": NOW - DAY,
        "not_after": NOW + DAY,
    }
    args.update(kw)
    with pytest.raises(CertError) as info:
        create_certificate(**args)  # type: ignore[arg-type]
    assert info.value.path == field


def test_host_names_and_a_leftmost_wildcard_are_dns_sans(keys: dict[str, object]) -> None:
    names = ["plc1", "plc-1.Line2.example", "*.plant.example", "x" * 63 + ".example"]
    cert = _make(Template.TLS_CLIENT, keys["EC-P256"], dns_sans=[*names, "trailing.example."])
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [*names, "trailing.example"]


def test_unknown_hash_is_a_config_error(keys: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        _make(Template.TLS_CLIENT, keys["EC-P256"], hash_name="MD5")


@pytest.mark.parametrize(
    ("text", "template"),
    [
        ("tls", Template.TLS_CLIENT_SERVER),
        ("TLS Client/Server", Template.TLS_CLIENT_SERVER),
        ("web_server", Template.WEB_SERVER),
        ("opcua", Template.OPCUA),
        ("CA", Template.CA),
        ("tls-client", Template.TLS_CLIENT),
    ],
)
def test_template_from_text(text: str, template: Template) -> None:
    assert Template.from_text(text) is template


def test_template_from_text_refuses_unknown() -> None:
    with pytest.raises(ConfigError):
        Template.from_text("codesigning")
