"""Posts: the request body of POST /posts and the answers of the post routes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from photofeed.models.users import RequestModel, Timestamp, UserSummary

PostStatus = Literal["pending_upload", "processing", "published", "rejected"]
# The media types POST /posts accepts (any other is 415), and the largest photo and video (more is
# 413). A video may last MAX_VIDEO_SECONDS (API.md; the media worker refuses a longer one).
PHOTO_CONTENT_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic", "image/heif", "image/avif")
VIDEO_CONTENT_TYPES = ("video/mp4", "video/quicktime")
MEDIA_CONTENT_TYPES = PHOTO_CONTENT_TYPES + VIDEO_CONTENT_TYPES
MAX_PHOTO_BYTES = 20 * 1024 * 1024
MAX_VIDEO_BYTES = 100 * 1024 * 1024
MAX_VIDEO_SECONDS = 60
# A post carries 1 to 10 photos or videos (the many-item form), each described by up to 1,500 characters.
MAX_MEDIA_ITEMS = 10
MAX_ALT_TEXT = 1500
# An Idempotency-Key: 1 to 255 visible ASCII characters.
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


# Documents `_not_blank`: at least one character that is not white space.
NOT_BLANK = {"pattern": r"\S"}


ContentType = Annotated[
    str,
    # Checked by the service, not here: an unaccepted type is 415.
    Field(
        min_length=1,
        max_length=100,
        description="The photo's or video's media type; any other is 415.",
        json_schema_extra={"enum": list(MEDIA_CONTENT_TYPES)},
    ),
]
ContentLength = Annotated[
    int,
    # Checked by the service, not here: a photo larger than 20 MiB or a video larger than 100 MiB is 413.
    Field(
        ge=1,
        description="The file's size in bytes; the upload must not exceed it. A photo larger than 20 MiB, or a "
        "video larger than 100 MiB, is 413.",
        json_schema_extra={"maximum": MAX_VIDEO_BYTES},
    ),
]


class MediaItemRequest(RequestModel):
    """One photo or video of a post made in the many-item form."""

    content_type: ContentType
    content_length: ContentLength
    alt_text: str = Field(
        default="", max_length=MAX_ALT_TEXT, description="What the photo or video shows, for people who cannot see it."
    )


class CreatePostRequest(RequestModel):
    """Either the single-item form (`content_type` and `content_length`) or the many-item form
    (`media`: 1 to 10 photos or videos, in the order they are shown); a body with both or neither
    is 422."""

    # The document says "one form or the other" as JSON Schema does (a body with all three matches
    # both branches, so neither); the fields are optional in the document, not nullable.
    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["content_type", "content_length"]}, {"required": ["media"]}]}
    )

    title: Annotated[str, Field(min_length=1, max_length=120, json_schema_extra=NOT_BLANK), AfterValidator(_not_blank)]
    caption: str = Field(default="", max_length=2200)
    content_type: ContentType | SkipJsonSchema[None] = None
    content_length: ContentLength | SkipJsonSchema[None] = None
    media: Annotated[list[MediaItemRequest], Field(min_length=1, max_length=MAX_MEDIA_ITEMS)] | SkipJsonSchema[None] = (
        Field(
            default=None,
            description="The many-item form: one entry per photo or video, in order; each gets its own upload.",
        )
    )

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: object) -> object:
        """The forms' fields may be left out, not sent as null (as the document says)."""
        if isinstance(data, dict):
            nulls = [name for name in ("content_type", "content_length", "media") if data.get(name, "") is None]
            if nulls:
                raise ValueError(f"{', '.join(nulls)}: leave out what you do not send; null is not a value here")
        return data

    @model_validator(mode="after")
    def _one_form(self) -> CreatePostRequest:
        single = self.content_type is not None or self.content_length is not None
        if self.media is not None and single:
            raise ValueError("give either media (the many-item form) or content_type and content_length, not both")
        if self.media is None and (self.content_type is None or self.content_length is None):
            raise ValueError("give content_type and content_length, or media (1 to 10 items)")
        return self

    def items(self) -> list[MediaItemRequest]:
        """The post's items in order, whichever form the body used."""
        if self.media is not None:
            return self.media
        assert self.content_type is not None
        assert self.content_length is not None
        return [MediaItemRequest(content_type=self.content_type, content_length=self.content_length)]


class MediaUrls(BaseModel):
    """Signed, time-limited URLs. The variants are JPEGs made from the pixels only (no metadata); a
    video's are made from its poster frame."""

    thumbnail: str = Field(description="150x150, centre crop.")
    medium: str = Field(description="640 px wide (never upscaled).")
    large: str = Field(description="1080 px wide (never upscaled).")
    original: str = Field(description="The file as uploaded.")


class MediaItem(BaseModel):
    """One photo or video of a post, as shown."""

    type: Literal["image", "video"] = Field(description="`image` or `video`.")
    alt_text: str = Field(description="The author's description of the item; empty if none was given.")
    width: int = Field(description="Pixels, as shown (orientation applied).")
    height: int = Field(description="Pixels, as shown (orientation applied).")
    blurhash: str | None = Field(
        description="A BlurHash (https://blurha.sh, 4x3 components) of the picture, for a placeholder while it "
        "loads; null only for photos published before placeholders were made."
    )
    variants: MediaUrls
    video: str | SkipJsonSchema[None] = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="Videos only: a signed URL of the video as an H.264/AAC MP4, at most 1080 px on its short "
        "side, `moov` first so it streams, without metadata.",
    )
    duration_s: float | SkipJsonSchema[None] = Field(
        default=None, exclude_if=lambda value: value is None, description="Videos only: its length in seconds."
    )


class Post(BaseModel):
    id: str
    author: UserSummary
    title: str
    caption: str
    status: PostStatus = Field(
        description="`pending_upload` -> `processing` -> `published`, or `rejected` (with `rejection_reason`)."
    )
    created_at: Timestamp
    media: MediaUrls | None
    width: int | None
    height: int | None
    media_items: list[MediaItem] = Field(
        description="The post's photos and videos in the order they were sent (empty until it is published); `media`, "
        "`width` and `height` describe the first."
    )
    like_count: int
    comment_count: int
    liked_by_me: bool
    rejection_reason: str | None = Field(default=None, exclude_if=lambda value: value is None)


class Upload(BaseModel):
    method: Literal["POST"] = "POST"
    url: str
    fields: dict[str, str]
    expires_in: int


class CreatedPost(BaseModel):
    post: Post
    upload: Upload = Field(description="The first item's upload.")
    uploads: list[Upload] = Field(description="One upload per item, in the order of the request.")


class PostList(BaseModel):
    items: list[Post]
    next_cursor: str | None


class UserSummaryList(BaseModel):
    items: list[UserSummary]
    next_cursor: str | None
