"""Stored rows (PynamoDB). Table names come from the settings, bound on first use, not at import."""

from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from photofeed.config import Settings, get_settings


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


class UsernameRow(Model):
    """Who holds a username. `pending` while a sign-up is under way, `active` once it finished."""

    class Meta:
        table_name = "usernames"

    username = UnicodeAttribute(hash_key=True)
    status = UnicodeAttribute()
    claim_id = UnicodeAttribute()
    claimed_at = NumberAttribute()
    user_id = UnicodeAttribute(null=True)


_TABLES: dict[type[Model], str] = {UserRow: "users_table", UsernameRow: "usernames_table"}
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
