"""MediaStore: the uploads bucket (originals, versioned) and the media bucket (variants)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

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


class MediaStore:
    def __init__(self, s3: Any | None = None) -> None:
        settings = get_settings()
        self._s3 = s3 or client("s3")
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
        return str(
            self._s3.generate_presigned_url("get_object", Params={"Bucket": self._media, "Key": key}, ExpiresIn=ttl)
        )

    def signed_original_url(self, key: str, version_id: str | None, ttl: int) -> str:
        params = {"Bucket": self._uploads, "Key": key, **({"VersionId": version_id} if version_id else {})}
        return str(self._s3.generate_presigned_url("get_object", Params=params, ExpiresIn=ttl))
