"""Use cases of the auth routes: sign up, log in, refresh."""

import uuid

from photofeed.clock import now_iso
from photofeed.config import get_settings
from photofeed.models.users import LoginRequest, LoginTokens, RefreshRequest, SignupRequest, Tokens, User
from photofeed.storage.identity import IdentityProvider
from photofeed.storage.users import NewUser, UserRepository


class AccountService:
    def __init__(self, users: UserRepository, identity: IdentityProvider) -> None:
        self._users = users
        self._identity = identity

    def sign_up(self, request: SignupRequest) -> User:
        """Claim the username first (a conditional write: one winner per name), then create the
        pool user, then write the profile and activate the claim in one transaction."""
        claim_id = uuid.uuid4().hex
        self._users.claim_username(request.username, claim_id, get_settings().username_claim_ttl_seconds)
        created_in_pool = False
        try:
            user_id = self._identity.create_user(request.username, request.email, request.password)
            created_in_pool = True
            return self._users.create(
                NewUser(id=user_id, username=request.username, email=request.email, created_at=now_iso()),
                claim_id,
            )
        except BaseException:
            if created_in_pool:
                self._identity.delete_user(request.username)
            self._users.release_username(request.username, claim_id)
            raise

    def log_in(self, request: LoginRequest) -> LoginTokens:
        tokens = self._identity.sign_in(request.username, request.password)
        return LoginTokens(
            id_token=tokens.id_token,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token or "",
            expires_in=tokens.expires_in,
        )

    def refresh(self, request: RefreshRequest) -> Tokens:
        tokens = self._identity.refresh(request.refresh_token)
        return Tokens(id_token=tokens.id_token, access_token=tokens.access_token, expires_in=tokens.expires_in)
