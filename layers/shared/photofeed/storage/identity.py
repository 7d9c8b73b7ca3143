"""IdentityProvider: sign-up, sign-in and token refresh against the Cognito user pool."""

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from photofeed.config import get_settings
from photofeed.errors import Conflict, Unauthorized, ValidationFailed
from photofeed.storage.clients import client


@dataclass(frozen=True)
class IssuedTokens:
    id_token: str
    access_token: str
    refresh_token: str | None
    expires_in: int


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class IdentityProvider:
    def __init__(self, cognito: Any | None = None) -> None:
        settings = get_settings()
        self._cognito = cognito or client("cognito-idp")
        self._pool_id = settings.user_pool_id
        self._client_id = settings.user_pool_client_id

    def create_user(self, username: str, email: str, password: str) -> str:
        """Create and confirm a pool user; returns its `sub`.

        The caller holds the username claim, so a pool user already under this name is the
        leftover of a sign-up that crashed before its profile was written: it is replaced.
        """
        try:
            return self._sign_up(username, email, password)
        except ClientError as error:
            if _code(error) != "UsernameExistsException":
                raise self._translate(error) from error
        self.delete_user(username)
        try:
            return self._sign_up(username, email, password)
        except ClientError as error:
            raise self._translate(error) from error

    def _sign_up(self, username: str, email: str, password: str) -> str:
        answer = self._cognito.sign_up(
            ClientId=self._client_id,
            Username=username,
            Password=password,
            UserAttributes=[{"Name": "email", "Value": email}],
        )
        self._cognito.admin_confirm_sign_up(UserPoolId=self._pool_id, Username=username)
        return str(answer["UserSub"])

    def delete_user(self, username: str) -> None:
        try:
            self._cognito.admin_delete_user(UserPoolId=self._pool_id, Username=username)
        except ClientError as error:
            if _code(error) != "UserNotFoundException":
                raise

    def sign_in(self, username: str, password: str) -> IssuedTokens:
        return self._authenticate("USER_PASSWORD_AUTH", {"USERNAME": username, "PASSWORD": password})

    def refresh(self, refresh_token: str) -> IssuedTokens:
        return self._authenticate("REFRESH_TOKEN_AUTH", {"REFRESH_TOKEN": refresh_token})

    def _authenticate(self, flow: str, parameters: dict[str, str]) -> IssuedTokens:
        try:
            answer = self._cognito.initiate_auth(ClientId=self._client_id, AuthFlow=flow, AuthParameters=parameters)
        except ClientError as error:
            if _code(error) in {
                "NotAuthorizedException",
                "UserNotFoundException",
                "UserNotConfirmedException",
            }:
                message = "invalid username or password" if flow == "USER_PASSWORD_AUTH" else "invalid refresh token"
                raise Unauthorized(message) from error
            raise
        result = answer.get("AuthenticationResult")
        if not result:  # a challenge (e.g. a forced password change) this API does not offer
            raise Unauthorized(f"sign-in needs the {answer.get('ChallengeName', 'unknown')} challenge")
        return IssuedTokens(
            id_token=result["IdToken"],
            access_token=result["AccessToken"],
            refresh_token=result.get("RefreshToken"),
            expires_in=int(result["ExpiresIn"]),
        )

    @staticmethod
    def _translate(error: ClientError) -> Exception:
        code = _code(error)
        message = error.response.get("Error", {}).get("Message", code)
        if code == "InvalidPasswordException":
            return ValidationFailed(f"password: {message}")
        if code == "InvalidParameterException":
            return ValidationFailed(message)
        if code == "UsernameExistsException":
            return Conflict("username is taken")
        return error
