"""User tokens: what a shop's backend hands its storefront so that a page holding a public key can
ask for one customer's own picks. A token is the hex HMAC-SHA256 of the user id under the shop's
token secret; the server checks it in constant time. The secret is the caller's to read (the CLI
and the server take it from $RECSYS_TOKEN_SECRET)."""

from __future__ import annotations

import hashlib
import hmac


def user_token(secret: str, user_id: str) -> str:
    """The token of `user_id` under `secret` (64 hex digits)."""
    if not secret:
        raise ValueError("the token secret is empty")
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def token_matches(secret: str, user_id: str, given: str) -> bool:
    """Whether `given` is the token of `user_id` (constant-time; False without a secret)."""
    if not secret or not given:
        return False
    return hmac.compare_digest(user_token(secret, user_id).encode(), given.encode())
