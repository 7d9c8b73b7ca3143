"""Stored rows (PynamoDB). Table names come from the settings, bound on first use, not at import."""

from typing import Any

from pynamodb.attributes import BooleanAttribute, ListAttribute, MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import (
    AllProjection,
    GlobalSecondaryIndex,
    IncludeProjection,
    KeysOnlyProjection,
    LocalSecondaryIndex,
)
from pynamodb.models import Model

from photofeed.config import Settings, get_settings


class ByFanoutMode(GlobalSecondaryIndex["UserRow"]):
    class Meta:
        index_name = "by-fanout-mode"
        projection = KeysOnlyProjection()

    fanout_mode = UnicodeAttribute(hash_key=True)


class UserRow(Model):
    """One item per user, keyed by the Cognito `sub`."""

    class Meta:
        table_name = "users"

    id = UnicodeAttribute(hash_key=True)
    username = UnicodeAttribute()
    email = UnicodeAttribute()
    display_name = UnicodeAttribute()
    bio = UnicodeAttribute(default="")
    created_at = UnicodeAttribute()
    follower_count = NumberAttribute(default=0)
    following_count = NumberAttribute(default=0)
    post_count = NumberAttribute(default=0)
    # Absent for most users; "pull" for authors whose posts are not fanned out (too many followers),
    # "draining" while one goes back to being fanned out. Indexed (sparse) to rebuild the cache's sets.
    fanout_mode = UnicodeAttribute(null=True)
    by_fanout_mode = ByFanoutMode()


class UsernameRow(Model):
    """Who holds a username. `pending` while a sign-up is under way, `active` once it finished."""

    class Meta:
        table_name = "usernames"

    username = UnicodeAttribute(hash_key=True)
    status = UnicodeAttribute()
    claim_id = UnicodeAttribute()
    claimed_at = NumberAttribute()
    user_id = UnicodeAttribute(null=True)


class FollowsByTime(LocalSecondaryIndex["FollowRow"]):
    """Whom a user follows, newest follow first."""

    class Meta:
        index_name = "following-by-time"
        projection = KeysOnlyProjection()

    follower_id = UnicodeAttribute(hash_key=True)
    followed_at = UnicodeAttribute(range_key=True)


class FollowersByTime(GlobalSecondaryIndex["FollowRow"]):
    """Who follows a user, newest first: the reverse edge, and the fan-out's hot loop."""

    class Meta:
        index_name = "followers-by-time"
        projection = KeysOnlyProjection()

    followee_id = UnicodeAttribute(hash_key=True)
    followed_at = UnicodeAttribute(range_key=True)


class FollowRow(Model):
    """One item per edge of the follow graph (an adjacency list)."""

    class Meta:
        table_name = "follows"

    follower_id = UnicodeAttribute(hash_key=True)
    followee_id = UnicodeAttribute(range_key=True)
    # ISO time then the followee/follower id: unique, so pages never split ties.
    followed_at = UnicodeAttribute()
    following_by_time = FollowsByTime()
    followers_by_time = FollowersByTime()


class PublishedByAuthor(GlobalSecondaryIndex["PostRow"]):
    """Sparse: only published posts carry `published_author_id`, so only they are listed."""

    class Meta:
        index_name = "published-by-author"
        projection = AllProjection()

    published_author_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class InFlightByCreation(GlobalSecondaryIndex["PostRow"]):
    """Sparse: only posts still waiting for their photo carry `in_flight_shard` (one of 16, which
    spreads the writes), oldest first: what the stuck-post sweep reads."""

    class Meta:
        index_name = "in-flight-by-creation"
        projection = IncludeProjection(["status", "upload_key"])

    in_flight_shard = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class MediaKeys(MapAttribute[str, str]):
    """The media bucket's keys of an item's renditions: the image variants (a video's are made
    from its poster frame) and, for a video, the MP4."""

    thumbnail = UnicodeAttribute()
    medium = UnicodeAttribute()
    large = UnicodeAttribute()
    video = UnicodeAttribute(null=True)


class ItemRow(MapAttribute[str, Any]):
    """One photo or video of a post: what the client announced, then, once the media worker has
    rendered it, what it made (`media` set means done; a video also has `duration_s`)."""

    content_type = UnicodeAttribute()
    content_length = NumberAttribute()
    alt_text = UnicodeAttribute(default="")
    upload_key = UnicodeAttribute()
    upload_version = UnicodeAttribute(null=True)
    width = NumberAttribute(null=True)
    height = NumberAttribute(null=True)
    blurhash = UnicodeAttribute(null=True)
    duration_s = NumberAttribute(null=True)
    media = MediaKeys(null=True)


class PostRow(Model):
    """A post, keyed by a ULID (time-sortable). `status` only moves forward:
    pending_upload -> processing -> published | rejected, and any of them -> deleted."""

    class Meta:
        table_name = "posts"

    id = UnicodeAttribute(hash_key=True)
    author_id = UnicodeAttribute()
    title = UnicodeAttribute()
    caption = UnicodeAttribute(default="")
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    content_type = UnicodeAttribute()
    content_length = NumberAttribute()
    upload_key = UnicodeAttribute()
    upload_version = UnicodeAttribute(null=True)
    published_at = UnicodeAttribute(null=True)
    published_author_id = UnicodeAttribute(null=True)
    # Set while the post is pending_upload or processing, removed when it leaves them.
    in_flight_shard = UnicodeAttribute(null=True)
    deleted_at = UnicodeAttribute(null=True)
    rejection_reason = UnicodeAttribute(null=True)
    width = NumberAttribute(null=True)
    height = NumberAttribute(null=True)
    media = MediaKeys(null=True)
    # The post's photos in order (posts made before several were allowed have none: their one photo
    # is described by the fields above). `content_type`, `content_length`, `upload_key` and, once
    # published, `media`, `width` and `height` above describe the first item.
    items = ListAttribute[ItemRow](of=ItemRow, null=True)
    like_count = NumberAttribute(default=0)
    comment_count = NumberAttribute(default=0)
    published_by_author = PublishedByAuthor()
    in_flight_by_creation = InFlightByCreation()


class CommentRow(Model):
    """A comment, under its post, keyed by a ULID: a post's comments read oldest first."""

    class Meta:
        table_name = "comments"

    post_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    author_id = UnicodeAttribute()
    text = UnicodeAttribute()
    created_at = UnicodeAttribute()
    like_count = NumberAttribute(default=0)


class LikesByUser(GlobalSecondaryIndex["LikeRow"]):
    """What a user has liked, newest first (rebuilds the reader's cached likes)."""

    class Meta:
        index_name = "by-user"
        projection = KeysOnlyProjection()

    user_id = UnicodeAttribute(hash_key=True)
    liked_at = UnicodeAttribute(range_key=True)


class LikeRow(Model):
    """One like: `target` is `p#<post id>` or `c#<comment id>`, so a user likes a thing once."""

    class Meta:
        table_name = "likes"

    target = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute(range_key=True)
    liked_at = UnicodeAttribute()
    # The comment's post, on a like of a comment (comments are keyed under their post).
    post_id = UnicodeAttribute(null=True)
    by_user = LikesByUser()


class SearchEntryRow(Model):
    """One key of a published post's title in the search index: `key` is `w#<word>` for a whole
    word or `p#<prefix>` for a prefix; `post_id` (a ULID) sorts a key's posts by time. `words`
    holds every word of the title, so a query reads one key and checks its other words here."""

    class Meta:
        table_name = "search"

    key = UnicodeAttribute(hash_key=True)
    post_id = UnicodeAttribute(range_key=True)
    words = ListAttribute[str](of=UnicodeAttribute)  # type: ignore[arg-type]  # (pynamodb types `of` as the element type)


class NotificationRow(Model):
    """One notification in a recipient's list. `id` is a ULID made from the event's time and a
    hash of (event, recipient), so delivering the same event twice writes the same item."""

    class Meta:
        table_name = "notifications"

    recipient_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    type = UnicodeAttribute()
    actor_id = UnicodeAttribute()
    post_id = UnicodeAttribute(null=True)
    comment_id = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    read = BooleanAttribute(default=False)
    delivered_at = UnicodeAttribute(null=True)  # when the row was written ("mark all read" compares it)
    expires_at = NumberAttribute()  # the table's TTL attribute (epoch seconds)


class DeviceSetRow(Model):
    """`u#<user id>`: the user's push endpoints, {device id: {platform, endpoint_arn}}, and how far
    the user has read their notifications (`read_upto`, for "mark all read"). One item per user,
    so a delivery to a page of recipients reads their devices in batches of 100."""

    class Meta:
        table_name = "devices"

    pk = UnicodeAttribute(hash_key=True)
    devices = MapAttribute[str, Any](default=dict)
    read_upto = UnicodeAttribute(null=True)


class DeviceClaimRow(Model):
    """`d#<device id>`: which user a device (platform + token) belongs to now: a phone that
    changes hands is moved, never shared."""

    class Meta:
        table_name = "devices"

    pk = UnicodeAttribute(hash_key=True)
    owner_id = UnicodeAttribute()
    platform = UnicodeAttribute()
    endpoint_arn = UnicodeAttribute()


_TABLES: dict[type[Model], str] = {
    UserRow: "users_table",
    UsernameRow: "usernames_table",
    FollowRow: "follows_table",
    PostRow: "posts_table",
    CommentRow: "comments_table",
    LikeRow: "likes_table",
    SearchEntryRow: "search_table",
    NotificationRow: "notifications_table",
    DeviceSetRow: "devices_table",
    DeviceClaimRow: "devices_table",
}
_bound_to: Settings | None = None


def bind_tables(settings: Settings | None = None) -> None:
    """Point every row model at its table, region and endpoint from the settings (idempotent)."""
    global _bound_to
    settings = settings or get_settings()
    if settings is _bound_to:
        return
    for model, setting in _TABLES.items():
        meta: Any = model.Meta
        meta.table_name = getattr(settings, setting)
        meta.region = settings.aws_region
        meta.host = settings.aws_endpoint_url
        model._connection = None
    _bound_to = settings
