"""Redis key names and URL handling.

Every key starts with the URL's ``prefix`` (default ``sm:``) so tests and deployments can share
a server. Keys of one user carry the hash tag ``{<tenant>:<user_id>}`` (braces and ``%`` in ids
percent-encoded), so in Redis Cluster they live in one slot and a user's transaction
(WATCH/MULTI/EXEC) is single-slot. Keys shared by many users (the stream, the dead letters,
per-tenant indexes) have no tag; nothing ever runs one transaction across users.

    <p>{t:u}:model     the self-model document (JSON)
    <p>{t:u}:applied   zset applied observation id -> when applied (purged with the log)
    <p>{t:u}:consent   "1" / "0"
    <p>{t:u}:obs       hash observation id -> document; <p>{t:u}:obs:at zset id -> time
    <p>{t:u}:decs      zset request id -> expiry: the user's decision records, for erasure
    <p>dec:<t>:<rid>   a decision record (JSON, with a TTL)
    <p>decs:<t>        zset request id -> time: the tenant's decision records, for insights
    <p>users:<t>       set of the tenant's user ids (list_models)
    <p>outcomes:<t>    zset of outcome documents by time
    <p>obs:users       zset [tenant, user] -> oldest log entry or applied id (retention purge)
    <p>erased:<t>:<h>  tombstone: erasure time; <h> = sha256 of tenant and user id
    <p>obs / <p>dead   the observation stream (group ``workers``) and the dead-letter list
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from selfmodel.store._codec import escape_tag, user_digest

DEFAULT_PREFIX = "sm:"
CLUSTER_SCHEME = "redis+cluster"


@dataclass(frozen=True)
class RedisTarget:
    """What a store URL says: where to connect, whether it is a cluster, the key prefix."""

    url: str  # what redis-py's from_url understands
    cluster: bool
    prefix: str


def parse_url(url: str) -> RedisTarget:
    """Split ``?prefix=`` off the URL (redis-py would pass it to the socket) and map
    ``redis+cluster://`` to ``redis://`` for the cluster client."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((v for k, v in query if k == "prefix"), DEFAULT_PREFIX)
    rest = urlencode([(k, v) for k, v in query if k != "prefix"])
    cluster = parts.scheme == CLUSTER_SCHEME
    scheme, path = ("redis", "") if cluster else (parts.scheme, parts.path)
    return RedisTarget(urlunsplit((scheme, parts.netloc, path, rest, "")), cluster, prefix)


@dataclass(frozen=True)
class UserKeys:
    """The keys of one user, all under the user's hash tag."""

    tag: str  # "<prefix>{<tenant>:<user>}:"

    @property
    def model(self) -> str:
        return self.tag + "model"

    @property
    def head(self) -> str:
        """"<version>:<updated_at>" of the model, written with it (``get_profile``'s check)."""
        return self.tag + "head"

    @property
    def applied(self) -> str:
        return self.tag + "applied"

    @property
    def consent(self) -> str:
        return self.tag + "consent"

    @property
    def obs(self) -> str:
        return self.tag + "obs"

    @property
    def obs_at(self) -> str:
        return self.tag + "obs:at"

    @property
    def decisions(self) -> str:
        return self.tag + "decs"

    def all(self) -> list[str]:
        return [self.model, self.applied, self.consent, self.obs, self.obs_at, self.decisions,
                self.head]


@dataclass(frozen=True)
class Keys:
    """Key names under one prefix."""

    prefix: str

    def user(self, tenant: str, user_id: str) -> UserKeys:
        return UserKeys(f"{self.prefix}{{{escape_tag(tenant)}:{escape_tag(user_id)}}}:")

    def decision(self, tenant: str, request_id: str) -> str:
        return f"{self.prefix}dec:{escape_tag(tenant)}:{escape_tag(request_id)}"

    def decision_pattern(self, tenant: str) -> str:
        return glob_escape(f"{self.prefix}dec:{escape_tag(tenant)}:") + "*"

    def decisions(self, tenant: str) -> str:
        return f"{self.prefix}decs:{escape_tag(tenant)}"

    def users(self, tenant: str) -> str:
        return f"{self.prefix}users:{escape_tag(tenant)}"

    def outcomes(self, tenant: str) -> str:
        return f"{self.prefix}outcomes:{escape_tag(tenant)}"

    def tombstone(self, tenant: str, user_id: str) -> str:
        return f"{self.prefix}erased:{escape_tag(tenant)}:{user_digest(tenant, user_id)}"

    @property
    def obs_users(self) -> str:
        return self.prefix + "obs:users"

    @property
    def stream(self) -> str:
        return self.prefix + "obs"

    @property
    def dead(self) -> str:
        return self.prefix + "dead"


def owner_member(tenant: str, user_id: str) -> str:
    """A user as a member of a shared sorted set (unambiguous for any characters)."""
    return json.dumps([tenant, user_id])


def glob_escape(text: str) -> str:
    """Escape SCAN MATCH's glob characters so an id matches only itself."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


GROUP = "workers"
