"""Media URLs: CloudFront signed URLs where the media distribution exists (on AWS, with a signing
key pair), S3 presigned URLs where it does not (the local stack). CloudFront's check is done here
as CloudFront does it: rebuild the canned policy from the URL and verify the signature with the
public key of the key group."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from moto import mock_aws

from photofeed import wiring
from photofeed.storage.media import MediaCdn, MediaStore, signing_key_from_secret

DOMAIN = "d111111abcdef8.cloudfront.net"
KEY_ID = "K2JCJMDEHXQW5F"
TTL = 7200
STEP = 300
NOW = datetime(2026, 12, 1, 9, 58, 20, tzinfo=UTC)
SIGNING = ("Expires", "Signature", "Key-Pair-Id", "Hash-Algorithm")

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module", params=["ecdsa-p256", "rsa-2048"])
def private_key(request: pytest.FixtureRequest) -> PrivateKey:
    if request.param == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Clock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


def cdn_for(key: PrivateKey, clock: Clock, reads: list[int] | None = None) -> MediaCdn:
    def load() -> bytes:
        if reads is not None:
            reads.append(1)
        return pem(key)

    return MediaCdn(DOMAIN, KEY_ID, load, expiry_step=STEP, clock=clock)


def cloudfront_accepts(url: str, public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey, at: datetime) -> bool:
    """What the edge checks for a canned policy: before Expires, the signature (SHA-256, as
    Hash-Algorithm says; by the key Key-Pair-Id names) over {"Statement":[{"Resource":<the URL
    without the signing parameters>,"Condition":{"DateLessThan":{"AWS:EpochTime":<Expires>}}}]}."""
    base, _, query = url.partition("?")
    pairs = [pair.split("=", 1) for pair in query.split("&")]
    signing = {name: value for name, value in pairs if name in SIGNING}
    own = "&".join(f"{name}={value}" for name, value in pairs if name not in SIGNING)
    resource = base + (f"?{own}" if own else "")
    assert signing["Key-Pair-Id"] == KEY_ID
    assert signing["Hash-Algorithm"] == "SHA256"
    expires = int(signing["Expires"])
    policy = json.dumps(
        {"Statement": [{"Resource": resource, "Condition": {"DateLessThan": {"AWS:EpochTime": expires}}}]},
        separators=(",", ":"),
    ).encode()
    signature = base64.b64decode(signing["Signature"].translate(str.maketrans("-_~", "+=/")))
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, policy, ec.ECDSA(hashes.SHA256()))
        else:
            public_key.verify(signature, policy, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return at.timestamp() < expires


def test_a_variant_url_is_the_distributions_signed_for_the_object(private_key: PrivateKey) -> None:
    url = cdn_for(private_key, Clock(NOW)).url("posts/01JD9Q5Z0000000000000000/large.jpg", TTL)

    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", DOMAIN, "/posts/01JD9Q5Z0000000000000000/large.jpg")
    assert list(parse_qs(parts.query)) == ["Expires", "Signature", "Key-Pair-Id", "Hash-Algorithm"]
    assert cloudfront_accepts(url, private_key.public_key(), NOW)


def test_a_tampered_url_is_refused(private_key: PrivateKey) -> None:
    url = cdn_for(private_key, Clock(NOW)).url("posts/A/large.jpg", TTL)
    expires = parse_qs(urlsplit(url).query)["Expires"][0]

    assert not cloudfront_accepts(url.replace("posts/A/", "posts/B/"), private_key.public_key(), NOW)
    longer = url.replace(f"Expires={expires}", f"Expires={int(expires) + 3600}")
    assert not cloudfront_accepts(longer, private_key.public_key(), NOW)
    other = ec.generate_private_key(ec.SECP256R1())
    assert not cloudfront_accepts(url, other.public_key(), NOW)


def test_an_original_url_signs_its_version_too(private_key: PrivateKey) -> None:
    version = "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo"
    url = cdn_for(private_key, Clock(NOW)).url("uploads/author-1/01JD9Q5Z/2", TTL, version)

    parts = urlsplit(url)
    assert parts.path == "/uploads/author-1/01JD9Q5Z/2"
    assert parse_qs(parts.query)["versionId"] == [version]  # what S3 receives (the cache key keeps it)
    assert cloudfront_accepts(url, private_key.public_key(), NOW)
    assert not cloudfront_accepts(url.replace("versionId=3HL4", "versionId=3HL5"), private_key.public_key(), NOW)


def test_urls_last_at_least_the_ttl_and_at_most_one_step_longer(private_key: PrivateKey) -> None:
    clock = Clock(NOW)
    cdn = cdn_for(private_key, clock)
    for offset in (0, 1, 199, 299, 300, 4321):
        clock.moment = NOW + timedelta(seconds=offset)
        expires = int(parse_qs(urlsplit(cdn.url("posts/A/medium.jpg", TTL)).query)["Expires"][0])
        assert expires % STEP == 0
        assert clock.moment.timestamp() + TTL <= expires < clock.moment.timestamp() + TTL + STEP
        assert cloudfront_accepts(cdn.url("posts/A/medium.jpg", TTL), private_key.public_key(), clock.moment)
        assert not cloudfront_accepts(
            cdn.url("posts/A/medium.jpg", TTL), private_key.public_key(), datetime.fromtimestamp(expires, UTC)
        )


def test_urls_signed_within_one_step_are_identical(private_key: PrivateKey) -> None:
    clock = Clock(datetime(2026, 12, 1, 10, 0, 1, tzinfo=UTC))  # just after a step's start
    cdn = cdn_for(private_key, clock)
    first = cdn.url("posts/A/thumbnail.jpg", TTL)
    clock.moment += timedelta(seconds=STEP - 1)
    assert cdn.url("posts/A/thumbnail.jpg", TTL) == first
    clock.moment += timedelta(seconds=1)  # the next step
    assert cdn.url("posts/A/thumbnail.jpg", TTL) != first
    assert cdn.url("posts/B/thumbnail.jpg", TTL) != cdn.url("posts/A/thumbnail.jpg", TTL)


def test_the_private_key_is_read_once() -> None:
    reads: list[int] = []
    cdn = cdn_for(ec.generate_private_key(ec.SECP256R1()), Clock(NOW), reads)
    assert reads == []  # not before a URL is needed: a function that signs nothing never reads it
    for variant in ("thumbnail", "medium", "large"):
        cdn.url(f"posts/A/{variant}.jpg", TTL)
    assert reads == [1]


def test_a_key_cloudfront_does_not_take_is_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    cdn = MediaCdn(DOMAIN, KEY_ID, lambda: pem(key), clock=Clock(NOW))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ECDSA P-256 or RSA 2048"):
        cdn.url("posts/A/large.jpg", TTL)


def s3() -> object:
    return boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="secret-example"
    )


def test_the_media_store_hands_out_the_distributions_urls_when_it_has_one() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    store = MediaStore(s3=s3(), cdn=cdn_for(key, Clock(NOW)))

    variant = store.signed_media_url("posts/A/large.jpg", TTL)
    original = store.signed_original_url("uploads/u/A", "v1", TTL)

    assert variant.startswith(f"https://{DOMAIN}/posts/A/large.jpg?Expires=")
    assert original.startswith(f"https://{DOMAIN}/uploads/u/A?versionId=v1&Expires=")
    assert cloudfront_accepts(variant, key.public_key(), NOW)
    assert cloudfront_accepts(original, key.public_key(), NOW)


def test_without_a_distribution_the_urls_are_s3_presigned() -> None:
    store = MediaStore(s3=s3())

    variant = urlsplit(store.signed_media_url("posts/A/large.jpg", TTL))
    original = urlsplit(store.signed_original_url("uploads/u/A", "v1", TTL))

    assert (variant.netloc.split(".")[:2], variant.path) == (["media", "s3"], "/posts/A/large.jpg")
    assert (original.netloc.split(".")[:2], original.path) == (["uploads", "s3"], "/uploads/u/A")
    assert parse_qs(original.query)["versionId"] == ["v1"]
    for url in (variant, original):
        params = set(parse_qs(url.query))
        assert "Key-Pair-Id" not in params
        assert params & {"Signature", "X-Amz-Signature"}  # S3's signature (the version botocore picks)


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in ("MEDIA_CDN_DOMAIN", "MEDIA_SIGNING_KEY_ID", "MEDIA_SIGNING_KEY_SECRET_ARN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-example")
    wiring.reset()
    yield monkeypatch
    monkeypatch.undo()
    wiring.reset()


def test_the_functions_sign_with_the_distribution_the_template_gives_them(environment: pytest.MonkeyPatch) -> None:
    # template.yaml sets these three on the functions that present posts when the key pair is given.
    key = ec.generate_private_key(ec.SECP256R1())
    secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:photofeed-media-signing-AbCdEf"
    environment.setenv("MEDIA_CDN_DOMAIN", DOMAIN)
    environment.setenv("MEDIA_SIGNING_KEY_ID", KEY_ID)
    environment.setenv("MEDIA_SIGNING_KEY_SECRET_ARN", secret_arn)
    asked: list[str] = []

    def from_secret(arn: str) -> bytes:
        asked.append(arn)
        return pem(key)

    environment.setattr(wiring, "signing_key_from_secret", from_secret)
    wiring.reset()

    url = wiring.media_store().signed_media_url("posts/A/large.jpg", TTL)
    wiring.media_store().signed_media_url("posts/A/medium.jpg", TTL)

    assert url.startswith(f"https://{DOMAIN}/posts/A/large.jpg?")
    assert cloudfront_accepts(url, key.public_key(), datetime.now(UTC))
    assert asked == [secret_arn]  # once per execution environment


def test_without_the_distribution_the_functions_presign_with_s3(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("MEDIA_CDN_DOMAIN", "")  # what the template gives them by default
    wiring.reset()

    assert wiring.media_cdn() is None
    assert "Key-Pair-Id" not in wiring.media_store().signed_media_url("posts/A/large.jpg", TTL)


@mock_aws
def test_the_signing_key_is_the_secrets_string(environment: pytest.MonkeyPatch) -> None:
    key_pem = pem(ec.generate_private_key(ec.SECP256R1()))
    arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="photofeed-media-signing", SecretString=key_pem.decode()
    )["ARN"]

    assert signing_key_from_secret(arn) == key_pem
