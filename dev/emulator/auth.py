"""Credentials the emulator issues and checks.

* service accounts: key files made by ``make_service_account``; only the public half
  is kept, and ``/token`` verifies the RS256 signature of the JWT-bearer assertion
  against it (so a key that was never registered, or another key claiming the same
  email, is refused exactly as Google refuses it);
* authorized users: refresh tokens for ADC ``authorized_user`` files;
* access tokens: opaque strings with an expiry, a principal and scopes. Every API
  request is checked against them (401 when unknown or expired).
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
import time
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .errors import OAuthError, insufficient_scopes, unauthenticated

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
# Google accepts these audiences for the JWT-bearer grant (plus the emulator's own token URL).
GOOGLE_TOKEN_AUDIENCES = (
    "https://oauth2.googleapis.com/token",
    "https://www.googleapis.com/oauth2/v4/token",
    "https://accounts.google.com/o/oauth2/token",
)
_JWT_LIFETIME_ERROR = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)
CLOCK_SKEW = 300


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@dataclass
class Token:
    """An access token the emulator accepts."""

    value: str
    principal: str
    scopes: tuple[str, ...]
    expires_at: float
    source: str

    def expired(self, now: float | None = None) -> bool:
        """Whether the token is past its expiry."""
        return (now if now is not None else time.time()) >= self.expires_at


@dataclass
class ServiceAccount:
    """A registered service account: its email and the public halves of its keys."""

    email: str
    project: str
    keys: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)


class AuthState:
    """Tokens, service accounts and user refresh tokens, shared by every service."""

    def __init__(self):
        self.lock = threading.Lock()
        self.token_ttl = 3600
        self.tokens: dict[str, Token] = {}
        self.service_accounts: dict[str, ServiceAccount] = {}
        self.users: dict[str, dict] = {}
        self.tokens_issued = 0

    # -- issuing
    def issue(self, principal: str, scopes, source: str, ttl: int | None = None) -> Token:
        """Mint a new access token for ``principal``."""
        ttl = self.token_ttl if ttl is None else ttl
        value = "ya29.emu-" + secrets.token_urlsafe(24)
        token = Token(value, principal, tuple(scopes), time.time() + ttl, source)
        with self.lock:
            self.tokens[value] = token
            self.tokens_issued += 1
        return token

    def add_access_token(self, value: str, principal: str = "user@example.com", scopes=None, ttl: int | None = None):
        """Accept ``value`` as a bearer token as-is (what a user passes with auth_kind accesstoken)."""
        ttl = self.token_ttl if ttl is None else ttl
        token = Token(value, principal, tuple(scopes or (CLOUD_PLATFORM,)), time.time() + ttl, "registered")
        with self.lock:
            self.tokens[value] = token
        return token

    def expire(self, value: str) -> None:
        """Make a token expire now (the next request with it gets 401)."""
        with self.lock:
            token = self.tokens.get(value)
            if token:
                token.expires_at = 0

    # -- registering principals
    def register_service_account(self, email: str, project: str, key_id: str, public_key) -> None:
        """Trust ``public_key`` (id ``key_id``) for ``email``."""
        with self.lock:
            account = self.service_accounts.setdefault(email, ServiceAccount(email, project))
            account.keys[key_id] = public_key

    def register_user(self, refresh_token: str, client_id: str, client_secret: str, email: str) -> None:
        """Accept ``refresh_token`` from ``client_id``/``client_secret`` (ADC authorized_user)."""
        with self.lock:
            self.users[refresh_token] = {"client_id": client_id, "client_secret": client_secret, "email": email}

    # -- checking
    def verify_jwt(self, assertion: str, audiences, *, for_grant: bool = True) -> dict:
        """Verify an RS256 JWT signed by a registered service-account key; return its claims.

        ``for_grant`` checks the token-endpoint rules (audience, 60-minute lifetime);
        otherwise the JWT is a self-signed access token presented directly to an API.
        """
        parts = assertion.split(".")
        if len(parts) != 3:
            raise OAuthError("invalid_grant", "Invalid JWT: the assertion is not a JWS (header.payload.signature).")
        try:
            header = json.loads(_b64decode(parts[0]))
            claims = json.loads(_b64decode(parts[1]))
            signature = _b64decode(parts[2])
        except (ValueError, binascii.Error):
            raise OAuthError("invalid_grant", "Invalid JWT: the assertion is not valid base64url JSON.") from None
        if header.get("alg") != "RS256":
            raise OAuthError("invalid_grant", f"Invalid JWT: unsupported algorithm {header.get('alg')!r}, use RS256.")
        email = claims.get("iss")
        account = self.service_accounts.get(email)
        if account is None:
            raise OAuthError("invalid_grant", "Invalid grant: account not found")
        kid = header.get("kid")
        if kid is not None:
            candidates = [account.keys[kid]] if kid in account.keys else []
        else:
            candidates = list(account.keys.values())
        signed = f"{parts[0]}.{parts[1]}".encode()
        for key in candidates:
            try:
                key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
                break
            except InvalidSignature:
                continue
        else:
            raise OAuthError("invalid_grant", "Invalid JWT Signature.")
        now = time.time()
        try:
            iat, exp = float(claims["iat"]), float(claims["exp"])
        except (KeyError, TypeError, ValueError):
            raise OAuthError("invalid_grant", _JWT_LIFETIME_ERROR) from None
        if exp <= now - CLOCK_SKEW or iat > now + CLOCK_SKEW or (for_grant and exp - iat > 3600):
            raise OAuthError("invalid_grant", _JWT_LIFETIME_ERROR)
        if for_grant and claims.get("aud") not in audiences:
            raise OAuthError(
                "invalid_grant",
                "Invalid JWT: Failed audience check. "
                f"The expected value was {audiences[0]}, got {claims.get('aud')!r}.",
            )
        return claims

    def refresh_user(self, form: dict) -> dict:
        """Check an authorized-user refresh grant; return the user record."""
        user = self.users.get(form.get("refresh_token", ""))
        if user is None:
            raise OAuthError("invalid_grant", "Token has been expired or revoked.")
        if form.get("client_id") != user["client_id"] or form.get("client_secret") != user["client_secret"]:
            raise OAuthError("invalid_client", "The OAuth client was not found.", code=401)
        return user

    def check_bearer(self, authorization: str | None, accepted_scopes=()) -> Token:
        """Return the token of an ``Authorization: Bearer`` header or raise the 401/403 Google sends."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise unauthenticated(missing=True)
        value = authorization[7:].strip()
        token = self.tokens.get(value)
        if token is None and value.count(".") == 2 and not value.startswith("ya29."):
            token = self._self_signed(value)
        if token is None or token.expired():
            raise unauthenticated()
        if accepted_scopes and CLOUD_PLATFORM not in token.scopes and not set(accepted_scopes) & set(token.scopes):
            raise insufficient_scopes()
        return token

    def _self_signed(self, value: str) -> Token | None:
        """A self-signed service-account JWT used directly as an access token (google-auth's jwt access)."""
        try:
            claims = self.verify_jwt(value, (), for_grant=False)
        except OAuthError:
            return None
        scopes = tuple(claims.get("scope", "").split()) or (CLOUD_PLATFORM,)
        return Token(value, claims["iss"], scopes, float(claims["exp"]), "self-signed-jwt")


def new_key_pair(project: str, email: str, token_uri: str) -> tuple[dict, str, rsa.RSAPublicKey]:
    """Create an RSA key and the service-account key-file JSON around it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    key_id = secrets.token_hex(20)
    info = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": key_id,
        "private_key": pem,
        "client_email": email,
        "client_id": str(int.from_bytes(secrets.token_bytes(8), "big")),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/" + email.replace("@", "%40"),
        "universe_domain": "googleapis.com",
    }
    return info, key_id, key.public_key()
