"""MediaStore: the uploads bucket (originals, versioned) and the media bucket (variants); and
MediaCdn, the signed URLs of the CloudFront distribution in front of both (on AWS)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from botocore.exceptions import ClientError
from botocore.signers import CloudFrontSigner

from photofeed.clock import utc_now
from photofeed.config import get_settings
from photofeed.storage.clients import client

VARIANTS = ("thumbnail", "medium", "large")
# The uploads bucket's prefixes: S3 announces each to its own queue, photos to the media worker and
# videos to the video worker (a larger function; template.yaml).
PHOTO_UPLOADS = "uploads"
VIDEO_UPLOADS = "video-uploads"


@dataclass(frozen=True)
class UploadedObject:
    size: int
    content_type: str
    version_id: str | None


def upload_key(author_id: str, post_id: str, item: int | None = None, video: bool = False) -> str:
    """Where a post's item is uploaded: `uploads/<author>/<post>` for a photo of a post made in the
    single-item form, `uploads/<author>/<post>/<n>` for item n (1-based) of the many-item form;
    a video's key starts `video-uploads/` instead."""
    prefix = VIDEO_UPLOADS if video else PHOTO_UPLOADS
    return f"{prefix}/{author_id}/{post_id}" + ("" if item is None else f"/{item}")


def parse_upload_key(key: str) -> tuple[str, str] | None:
    """(author_id, post_id) of an upload key, or None for a key this system did not hand out."""
    parts = key.split("/")
    if len(parts) not in (3, 4) or parts[0] not in (PHOTO_UPLOADS, VIDEO_UPLOADS) or not all(parts[1:]):
        return None
    if len(parts) == 4 and not (parts[3].isdecimal() and parts[3] == str(int(parts[3]))):
        return None
    return parts[1], parts[2]


def variant_key(post_id: str, variant: str, item: int | None = None) -> str:
    """`posts/<post>/<variant>.jpg`, or `posts/<post>/<n>/<variant>.jpg` for item n of the
    many-item form: every variant of a post lies under `posts/<post>/`."""
    return f"posts/{post_id}/" + ("" if item is None else f"{item}/") + f"{variant}.jpg"


def video_key(post_id: str, item: int | None = None) -> str:
    """`posts/<post>/video.mp4`, or `posts/<post>/<n>/video.mp4` for item n of the many-item form."""
    return f"posts/{post_id}/" + ("" if item is None else f"{item}/") + "video.mp4"


def item_number(key: str) -> int | None:
    """The item number n of an upload key `<prefix>/<author>/<post>/<n>`; None for a single item's."""
    parts = key.split("/")
    return int(parts[3]) if len(parts) == 4 else None


def signing_key_from_secret(secret_arn: str) -> bytes:
    """The media signing key (PEM), the SecretString of the secret template.yaml's
    MediaSigningKeySecretArn names."""
    return str(client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]).encode()


class MediaCdn:
    """Signed URLs of the media distribution (template.yaml's MediaDistribution): a canned policy
    (the URL and when it expires) signed with SHA-256 by the private half of a key in the
    distribution's key group, ECDSA P-256 (a 96-character signature) or RSA 2048 (344).

    `Expires` is rounded up to the next multiple of `expiry_step` seconds, and the ECDSA signature
    is deterministic (RFC 6979), so the URLs of an object signed within one step are identical:
    browsers and the post cache keep one copy. The private key is read the first time a URL is
    signed, once per execution environment."""

    def __init__(
        self,
        domain: str,
        key_id: str,
        private_key: Callable[[], bytes],
        expiry_step: int = 300,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._base = f"https://{domain}/"
        self._signer = CloudFrontSigner(key_id, self._sign)
        self._load_key = private_key
        self._key: Any = None  # the private key, loaded by the first signature
        self._step = expiry_step
        self._clock = clock

    def url(self, key: str, ttl: int, version_id: str | None = None) -> str:
        """`https://<domain>/<key>?Expires=...&Signature=...&Key-Pair-Id=...&Hash-Algorithm=SHA256`
        (with `versionId=...` first for an original's version), good for at least `ttl` seconds."""
        url = self._base + quote(key, safe="/")
        if version_id:
            url += "?versionId=" + quote(version_id, safe="")
        expires = math.ceil((self._clock().timestamp() + ttl) / self._step) * self._step
        signed = self._signer.generate_presigned_url(url, date_less_than=datetime.fromtimestamp(expires, UTC))
        return f"{signed}&Hash-Algorithm=SHA256"

    def _sign(self, policy: bytes) -> bytes:
        # Imported here: only the functions that sign URLs on AWS pay for it (about 20 ms a cold start).
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        if self._key is None:
            key = load_pem_private_key(self._load_key(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
                raise ValueError("the media signing key must be an ECDSA P-256 or RSA 2048 private key")
            self._key = key
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            return bytes(self._key.sign(policy, ec.ECDSA(hashes.SHA256(), deterministic_signing=True)))
        return bytes(self._key.sign(policy, padding.PKCS1v15(), hashes.SHA256()))


class MediaStore:
    def __init__(self, s3: Any | None = None, cdn: MediaCdn | None = None) -> None:
        """`cdn`: where clients fetch media on AWS (the media distribution); None for S3 presigned
        URLs (the local stack, or a stack deployed without a signing key)."""
        settings = get_settings()
        self._s3 = s3 or client("s3")
        self._cdn = cdn
        self._uploads = settings.uploads_bucket
        self._media = settings.media_bucket

    def presigned_upload(self, key: str, content_type: str, content_length: int, ttl: int) -> dict[str, Any]:
        """A POST the client sends straight to S3. Its policy pins the exact key, the exact
        content type and a size of 1..content_length bytes; S3 refuses anything else."""
        post = self._s3.generate_presigned_post(
            Bucket=self._uploads,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, content_length]],
            ExpiresIn=ttl,
        )
        return {"method": "POST", "url": post["url"], "fields": post["fields"], "expires_in": ttl}

    def inspect_upload(self, key: str, version_id: str | None) -> UploadedObject | None:
        try:
            head = self._s3.head_object(
                Bucket=self._uploads, Key=key, **({"VersionId": version_id} if version_id else {})
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NoSuchVersion"}:
                return None
            raise
        return UploadedObject(int(head["ContentLength"]), str(head.get("ContentType", "")), head.get("VersionId"))

    def read_upload(self, key: str, version_id: str | None) -> bytes:
        answer = self._s3.get_object(Bucket=self._uploads, Key=key, **({"VersionId": version_id} if version_id else {}))
        return bytes(answer["Body"].read())

    def download_upload(self, key: str, version_id: str | None, path: str) -> None:
        """Write the uploaded original to the local file `path` (a video is not read into memory)."""
        extra = {"VersionId": version_id} if version_id else None
        self._s3.download_file(self._uploads, key, path, ExtraArgs=extra)

    def store_video(self, post_id: str, path: str, item: int | None = None) -> str:
        """Upload the converted MP4 at `path` as the item's video (multipart when large); its key."""
        key = video_key(post_id, item)
        self._s3.upload_file(
            path,
            self._media,
            key,
            ExtraArgs={"ContentType": "video/mp4", "CacheControl": "private, max-age=31536000, immutable"},
        )
        return key

    def store_variants(self, post_id: str, variants: dict[str, bytes], item: int | None = None) -> dict[str, str]:
        """Write the variants of a photo (item n of the post, or its single photo); their keys."""
        keys = {}
        for name, data in variants.items():
            key = variant_key(post_id, name, item)
            self._s3.put_object(
                Bucket=self._media,
                Key=key,
                Body=data,
                ContentType="image/jpeg",
                CacheControl="private, max-age=31536000, immutable",
            )
            keys[name] = key
        return keys

    def delete_variants(self, post_id: str) -> None:
        """Delete every variant of every item of the post (everything under `posts/<post>/`):
        one list and one batch delete per 1,000 keys. Idempotent."""
        prefix = f"posts/{post_id}/"
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._media, Prefix=prefix):
            keys = [{"Key": entry["Key"]} for entry in page.get("Contents", [])]
            if keys:
                self._s3.delete_objects(Bucket=self._media, Delete={"Objects": keys, "Quiet": True})

    def signed_media_url(self, key: str, ttl: int) -> str:
        """A variant or a video: the distribution's signed URL, else S3's presigned GET."""
        if self._cdn is not None:
            return self._cdn.url(key, ttl)
        return str(
            self._s3.generate_presigned_url("get_object", Params={"Bucket": self._media, "Key": key}, ExpiresIn=ttl)
        )

    def signed_original_url(self, key: str, version_id: str | None, ttl: int) -> str:
        """An original as uploaded: through the distribution too (its uploads behaviours), else
        S3's presigned GET."""
        if self._cdn is not None:
            return self._cdn.url(key, ttl, version_id)
        params = {"Bucket": self._uploads, "Key": key, **({"VersionId": version_id} if version_id else {})}
        return str(self._s3.generate_presigned_url("get_object", Params=params, ExpiresIn=ttl))
