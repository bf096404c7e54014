"""Typed settings: the YAML file an operator versions with the deployment.

Secrets never appear in the file: a secret is named by an environment variable or a secret
file, and read when the config is loaded. ``load_config`` either returns a complete, valid
``Settings`` or raises :class:`ConfigError` listing every mistake with its path, so a bad
file never half-starts a server.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import phonenumbers
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    HttpUrl,
    IPvAnyNetwork,
    ValidationError,
    field_validator,
    model_validator,
)

from app.connectors.kind import ENTITY_KEYS
from app.connectors.kinds import KINDS, serving, source_settings
from app.connectors.settings import SecretRef as SecretRef  # imported from here too
from app.connectors.settings import (
    SourceBase,
    Strict,
)
from app.domain.custom import NAME, CustomFieldSpec, FieldType

#: A source's settings: the model of the kind it names (:mod:`app.connectors.kinds`).
if TYPE_CHECKING:
    Source = SourceBase
else:
    Source = source_settings()


#: Seconds a request waits on Redis by default before going on without it (``redis_timeout``).
REDIS_TIMEOUT = 0.25

#: The config's entity keys → the entity registry's (:mod:`app.domain.entities`).
REGISTRY_KEYS = {
    "customer": "customer",
    "lead": "lead",
    "ticket": "ticket",
    "player_stats": "player",
}
#: Entities with a list filter and mutations: custom fields of others are read-only, unfiltered.
WRITABLE = ("customer", "lead", "ticket")


class CustomField(Strict):
    """A field of the org's own, served as a field of the entity's GraphQL type (see
    :mod:`app.domain.custom`)."""

    #: Where the CRM keeps it: a property or column name, or a dotted path into its JSON.
    path: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.:-]*$")
    #: String, Int, Float, Boolean, DateTime, Money or Enum[A, B, ...].
    type: str = "String"
    #: The source it is read from: the entity's own (the default; another is refused).
    source: str | None = None
    group: Literal["hot", "cold"] = "cold"
    filterable: bool = False
    writable: bool = False
    #: The roles that may read it; unset: every role that may read the type.
    roles: list[str] | None = None
    #: Enum: member → the CRM's value, where they differ.
    values: dict[str, str] = Field(default_factory=dict)
    #: Money: the ISO 4217 currency of the CRM's amounts.
    currency: str | None = None
    description: str | None = Field(None, max_length=500)

    @model_validator(mode="after")
    def _type_reads(self) -> CustomField:
        self.field_type()  # raises ValueError naming what is wrong
        return self

    def field_type(self) -> FieldType:
        return FieldType.parse(self.type, self.values, self.currency)


class EntitySettings(Strict):
    """The source that is the system of record of an entity, and the org's own fields."""

    source: str
    fields: dict[str, CustomField] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _a_name_alone(cls, data: Any) -> Any:
        return {"source": data} if isinstance(data, str) else data

    @field_validator("fields")
    @classmethod
    def _names(cls, fields: dict[str, CustomField]) -> dict[str, CustomField]:
        for name in fields:
            if not NAME.match(name):
                raise ValueError(f"field name {name!r} must be lowerCamelCase (vipTier)")
        return fields


class Entities(Strict):
    """Which configured source is the system of record of each entity (a source name, or
    ``{source, fields}`` with custom fields)."""

    customer: EntitySettings = EntitySettings(source="hubspot")
    lead: EntitySettings = EntitySettings(source="salesforce")
    ticket: EntitySettings = EntitySettings(source="zendesk")
    player_stats: EntitySettings = EntitySettings(source="players")


class Linking(Strict):
    """How one person's records in several systems are linked.

    ``player``: ``property`` reads the player id from the customer's id property (see
    ``HubSpotSource.player_id_property``); players are always linked back by email.
    """

    player: Literal["property", "none"] = "property"


class JwtIssuer(Strict):
    """An identity provider whose bearer tokens crmgraph accepts."""

    issuer: str = Field(min_length=1)
    audience: str | list[str]
    #: RS256/ES256 keys come from the provider's JWKS (cached, refreshed on an unknown kid).
    jwks_url: HttpUrl | None = None
    #: HS256 with a shared secret: for development only.
    hs256_secret: SecretRef | None = None
    algorithms: list[Literal["RS256", "ES256", "HS256"]] = Field(default=["RS256", "ES256"])
    roles_claim: str = "roles"
    brands_claim: str = "brands"
    leeway_seconds: float = Field(30, ge=0, le=300)

    @model_validator(mode="after")
    def _keys_for_algorithms(self) -> JwtIssuer:
        asymmetric = {"RS256", "ES256"} & set(self.algorithms)
        if asymmetric and self.jwks_url is None:
            raise ValueError(f"{', '.join(sorted(asymmetric))} need a jwks_url")
        if "HS256" in self.algorithms and self.hs256_secret is None:
            raise ValueError("HS256 needs an hs256_secret")
        if "HS256" not in self.algorithms and self.hs256_secret is not None:
            raise ValueError("hs256_secret is set but HS256 is not among the algorithms")
        return self


class Auth(Strict):
    #: API keys, stored as hashes by `crmgraph keys …`; relative to the config file.
    keys_file: Path | None = None
    jwt: list[JwtIssuer] = Field(default_factory=list)
    #: The role of a caller with no credentials. None: every request must authenticate.
    anonymous_role: str | None = None
    #: With anonymous_role: let anonymous callers in only from the loopback interface.
    anonymous_loopback_only: bool = True


class Role(Strict):
    """What a role may do. ``read`` maps a type (Customer, Lead, Ticket, PlayerStats, Query) to
    field patterns: ``"*"`` for every field, a field name, or ``"!field"`` to take one away.
    A type that is not listed is not readable at all."""

    read: dict[str, list[str]] = Field(default_factory=dict)
    mutations: list[str] = Field(default_factory=list)
    introspection: bool = True


class RateLimits(Strict):
    """Per-caller budget of upstream cost: ``cost_per_second`` sustained, ``burst`` at once."""

    cost_per_second: float = Field(5.0, gt=0)
    burst: int = Field(120, ge=1)


class Limits(Strict):
    max_depth: int = Field(12, ge=1, le=100)
    max_aliases: int = Field(30, ge=0, le=1000)
    max_tokens: int = Field(3000, ge=10, le=100_000)
    max_cost: int = Field(60, ge=1)
    max_body_bytes: int = Field(256_000, ge=1024)
    rate: RateLimits | None = RateLimits()


class PersistedQueries(Strict):
    """``apq``: Apollo's automatic persisted queries; ``safelist``: only the operations in
    ``safelist_file`` (a JSON object of sha256 → query) run; ``off``."""

    mode: Literal["off", "apq", "safelist"] = "apq"
    safelist_file: Path | None = None
    cache_size: int = Field(5000, ge=1)

    @model_validator(mode="after")
    def _safelist_needs_a_file(self) -> PersistedQueries:
        if self.mode == "safelist" and self.safelist_file is None:
            raise ValueError("mode safelist needs a safelist_file")
        return self


class Cors(Strict):
    allow_origins: list[str] = Field(default_factory=list)


class CacheGroupFields(Strict):
    """Which of an entity's fields are hot; the rest are cold."""

    hot: list[str]


class ResponseCacheSettings(Strict):
    """Whole answers of identical queries, on top of the field cache (app/cache/responses.py)."""

    enabled: bool = True
    #: Answers kept in each process, and their total size (encoded JSON); least recently
    #: used go first. One answer may take at most a quarter of ``max_bytes``.
    max_entries: int = Field(1000, ge=1)
    max_bytes: int = Field(64 * 2**20, ge=2**20)


class CacheSettings(Strict):
    """The field cache (README, "Hot and cold fields")."""

    enabled: bool = True
    hot_ttl: float = Field(5.0, gt=0, le=3600)
    cold_ttl: float = Field(300.0, gt=0, le=86_400)
    #: How long past its TTL an entry may still answer for a failing source (marked stale).
    max_stale: float = Field(600.0, ge=0, le=7 * 86_400)
    #: In-process entries (one per record) of each entity's hot group and cold group, and of
    #: relation and list answers: each its own bounded cache.
    hot_entries: int = Field(50_000, ge=100)
    cold_entries: int = Field(50_000, ge=100)
    answer_entries: int = Field(20_000, ge=100)
    #: A second tier shared by every instance. Unset: each instance caches for itself.
    redis_url: str | None = None
    #: Per entity (customer, lead, ticket, player), the fields that are hot.
    groups: dict[Literal["customer", "lead", "ticket", "player"], CacheGroupFields] = Field(
        default_factory=dict
    )
    #: The response cache (only while ``enabled`` is true too).
    responses: ResponseCacheSettings = Field(default_factory=ResponseCacheSettings)


def _phone_region(code: str) -> str:
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(
            f"{code[:8]!r} is not a phone region: give an ISO 3166 alpha-2 code, e.g. GB, BR, MT"
        )
    return code


#: A region phone numbers are read in: an upper-case ISO 3166 code that phonenumbers knows.
PhoneRegion = Annotated[str, Field(pattern=r"^[A-Z]{2}$"), AfterValidator(_phone_region)]


class Writes(Strict):
    """Mutations: the durable outbox for writes a CRM could not take, idempotency keys."""

    #: SQLite file of the outbox and the idempotency keys; relative to the config file.
    outbox_path: Path = Path("crmgraph-outbox.sqlite3")
    idempotency_hours: float = Field(24, gt=0, le=24 * 30)
    #: The region a phone number without +country code is read in (ISO 3166, e.g. GB).
    default_phone_region: PhoneRegion | None = None
    #: Per brand key, the region of that brand's phone numbers (``default_phone_region`` for
    #: a brand not listed, or a record without a brand).
    phone_regions: dict[str, PhoneRegion] = Field(default_factory=dict)
    worker_interval: float = Field(0.5, gt=0, le=60)
    max_attempts: int = Field(8, ge=1, le=100)
    backoff_base: float = Field(1.0, gt=0)
    #: Rows one ``importLeads`` call may carry (the CLI takes files of any size).
    import_max_rows: int = Field(2000, ge=1, le=100_000)
    #: ``redis``: the outbox and the import ledgers in Redis, shared by several instances.
    backend: Literal["sqlite", "redis"] = "sqlite"
    #: The outbox's Redis (with ``backend: redis``). Unset: the top-level ``redis_url``.
    redis_url: str | None = None
    redis_prefix: str = Field("crmgraph:outbox:", min_length=1)
    #: A job claimed by an instance that stops renewing its claim (it died) is queued again
    #: after this many seconds (``backend: redis``; a live instance renews every third of it).
    lease_seconds: float = Field(60, ge=1, le=3600)

    def phone_region(self, brand: str | None) -> str | None:
        """The region a phone number of a record of ``brand`` is read in."""
        if brand is not None and brand in self.phone_regions:
            return self.phone_regions[brand]
        return self.default_phone_region


class Tracing(Strict):
    """OpenTelemetry spans (one per GraphQL operation, loader batch and upstream call), with
    W3C trace context sent to the CRMs. ``console`` prints finished spans as JSON on stdout;
    ``memory`` keeps them in-process (tests). No OTLP exporter is installed."""

    enabled: bool = False
    exporter: Literal["console", "memory"] = "console"
    service_name: str = "crmgraph"


class Observability(Strict):
    """Logs, metrics, traces and who may ask for ``extensions.explain``."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: ``json``: one JSON object a line; ``console``: key=value lines for a terminal.
    log_format: Literal["json", "console"] = "json"
    #: One log event per upstream call (source, route, status, latency, correlation ids).
    log_upstream_calls: bool = True
    metrics: bool = True
    tracing: Tracing = Tracing()
    explain_roles: list[str] = Field(default_factory=lambda: ["admin", "analyst"])


class WebhookSource(Strict):
    """A CRM that signs its webhooks with one shared secret (HubSpot's app client secret, a
    Zendesk webhook's signing secret)."""

    secret: SecretRef
    #: Only these networks may deliver (CIDRs); empty: anyone with the secret.
    allow_ips: list[IPvAnyNetwork] = Field(default_factory=list)


class PlayersWebhook(Strict):
    """The player-stats service: every secret in ``secrets`` is accepted, so a secret can be
    rotated without refusing deliveries signed with the old one."""

    secrets: list[SecretRef] = Field(min_length=1)
    allow_ips: list[IPvAnyNetwork] = Field(default_factory=list)


class Webhooks(Strict):
    """Signed webhooks in (``/webhooks/<source>``), a durable queue, a worker, dead letters,
    and Salesforce change polling. A source left out answers 404."""

    hubspot: WebhookSource | None = None
    zendesk: WebhookSource | None = None
    players: PlayersWebhook | None = None
    #: The base URL the CRMs call (behind a proxy); HubSpot signs the full URL it called.
    #: Unset: the URL of the request as it reached crmgraph.
    public_url: HttpUrl | None = None
    max_body_bytes: int = Field(1_000_000, ge=1024, le=50_000_000)
    #: A signature timestamp further than this from now (past or future) is refused.
    tolerance_seconds: float = Field(300, gt=0, le=3600)
    #: SQLite file of the queue; relative to the config file. Unset: beside the outbox.
    store_path: Path | None = None

    #: A Redis Stream with a consumer group instead of SQLite (several instances). Unset: the
    #: top-level ``redis_url`` when there is one.
    redis_url: str | None = None
    redis_prefix: str = Field("crmgraph:webhooks:", min_length=1)
    #: A repeated event id within this many hours is answered 2xx and not stored again.
    dedupe_hours: float = Field(24, gt=0, le=24 * 30)
    worker_interval: float = Field(0.2, gt=0, le=60)
    max_attempts: int = Field(5, ge=1, le=100)
    backoff_base: float = Field(1.0, gt=0)
    #: An event claimed longer than this by a worker that never finished it is claimed again.
    claim_timeout_seconds: float = Field(60, gt=0, le=86_400)
    #: Seconds between polls of Salesforce for changed leads; 0 or unset: no polling.
    salesforce_poll_interval: float | None = Field(None, ge=0, le=86_400)
    salesforce_poll_limit: int = Field(200, ge=1, le=2000)

    def sqlite_path(self, writes: Writes) -> Path:
        """``store_path``, or one of the outbox's own: ``<outbox>.webhooks.sqlite3``."""
        return self.store_path or writes.outbox_path.with_suffix(".webhooks.sqlite3")


class Live(Strict):
    """GraphQL subscriptions (``/graphql`` over graphql-transport-ws) and their fan-out."""

    #: Operations one websocket may run at once.
    max_subscriptions_per_connection: int = Field(20, ge=1, le=1000)
    #: Websockets one caller (an API key, a token's subject) may hold open at once on one
    #: instance; another is closed with 4429 (``app.live.connections``).
    max_connections_per_caller: int = Field(100, ge=1, le=100_000)
    #: Changes waiting for one slow subscription; past this its oldest are dropped.
    queue_size: int = Field(1000, ge=10, le=100_000)
    #: Event ids each subscription remembers to drop redeliveries (the pipeline is
    #: at least once).
    dedupe_events: int = Field(10_000, ge=100, le=1_000_000)
    #: The Redis pub/sub channel every instance listens on (with ``redis_url`` set).
    channel: str = Field("crmgraph:changes", min_length=1)


class Server(Strict):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    graphiql: bool = True
    max_page_size: int = Field(500, ge=1, le=2000)
    #: Every upstream call of a request must finish within this many seconds of its start.
    request_deadline: float = Field(10.0, gt=0, le=300)
    #: Batch and de-duplicate upstream reads per request. Off only to measure the naive
    #: one-call-per-object baseline in the benchmark.
    batch_loads: bool = True
    #: At start, ask each CRM whether the fields, properties, brands and statuses the config
    #: names exist (as ``crmgraph config check --live`` does); ``/readyz`` reports the answer.
    startup_check: bool = True
    #: How long start-up waits for that check; past it, the check finishes in the background.
    startup_check_seconds: float = Field(5.0, ge=0, le=120)
    #: ``crmgraph serve`` tunes Python's garbage collector for serving: the heap built at
    #: start-up is frozen (never scanned again), and the youngest objects are collected every
    #: this many allocations instead of Python's 700. 0 leaves Python's own settings.
    gc_allocations: int = Field(50_000, ge=0, le=10_000_000)
    #: How long an idle keep-alive connection stays open. Longer than the idle timeout of any
    #: load balancer or proxy in front (one that pools connections to the gateway, an ALB's
    #: 60 s): a request it sends on a connection the gateway is closing fails unanswered.
    keep_alive_seconds: int = Field(75, ge=1, le=3600)
    #: How long a client may take to send a request whole (head and body): a slower one
    #: (a connection that sends nothing, or a byte at a time) is hung up on.
    request_read_seconds: float = Field(30.0, gt=0, le=3600)
    #: The largest request head (request line and headers) a client may send: past it, 431.
    max_request_head_bytes: int = Field(64 * 1024, ge=4096, le=1024 * 1024)


class Settings(Strict):
    server: Server = Server()
    sources: dict[str, Source]
    entities: Entities = Entities()
    linking: Linking = Linking()
    brands: list[str] = Field(min_length=1)
    auth: Auth = Auth()
    #: Roles by name; the defaults (admin, analyst, marketing, support, service) are merged
    #: under these, so a deployment only names what it changes or adds.
    roles: dict[str, Role] = Field(default_factory=dict)
    limits: Limits = Limits()
    persisted_queries: PersistedQueries = PersistedQueries()
    cors: Cors = Cors()
    cache: CacheSettings = CacheSettings()
    writes: Writes = Writes()
    webhooks: Webhooks = Webhooks()
    observability: Observability = Observability()
    live: Live = Live()
    #: Shared state for several instances (rate budgets, idempotency keys, the webhook queue,
    #: the change bus); None: in-process.
    redis_url: str | None = None
    #: Seconds a request waits on Redis (connect or answer) for the shared cache, rate budgets
    #: and idempotency claims before going on without it.
    redis_timeout: float = Field(REDIS_TIMEOUT, gt=0, le=30)

    @field_validator("sources")
    @classmethod
    def _source_names(cls, sources: dict[str, Any]) -> dict[str, Any]:
        for name in sources:
            if not name.isidentifier() or not name.islower():
                raise ValueError(f"source name {name!r} must be a lower-case identifier")
        return sources

    @model_validator(mode="after")
    def _entities_name_sources_that_serve_them(self) -> Settings:
        problems = []
        for entity in ENTITY_KEYS:
            name = getattr(self.entities, entity).source
            source = self.sources.get(name)
            if source is None:
                problems.append(f"entities.{entity}: no source named {name!r}")
            elif entity not in KINDS[source.kind].serves:
                problems.append(
                    f"entities.{entity}: source {name!r} is a {source.kind} source, which "
                    f"serves no {entity}; choose a source of kind {' or '.join(serving(entity))}"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def source_of(self, entity: str) -> tuple[str, SourceBase]:
        """The name and settings of the source serving ``entity`` (the validator above has
        checked that it can)."""
        name: str = getattr(self.entities, entity).source
        return name, self.sources[name]

    def custom_fields(self) -> dict[str, dict[str, CustomFieldSpec]]:
        """The custom fields of each entity, by registry key (``player`` for player stats)."""
        found: dict[str, dict[str, CustomFieldSpec]] = {}
        for entity in ENTITY_KEYS:
            fields = getattr(self.entities, entity).fields
            found[REGISTRY_KEYS[entity]] = {
                name: CustomFieldSpec(
                    name,
                    f.path,
                    f.field_type(),
                    hot=f.group == "hot",
                    filterable=f.filterable,
                    writable=f.writable,
                    roles=None if f.roles is None else tuple(f.roles),
                    description=f.description,
                )
                for name, f in fields.items()
            }
        return found

    def resolved_from(self, base: Path) -> Settings:
        """These settings with relative file paths taken from ``base``."""
        settings = self
        keys = self.auth.keys_file
        if keys is not None and not keys.is_absolute():
            auth = self.auth.model_copy(update={"keys_file": base / keys})
            settings = settings.model_copy(update={"auth": auth})
        outbox = self.writes.outbox_path
        if not outbox.is_absolute():
            writes = self.writes.model_copy(update={"outbox_path": base / outbox})
            settings = settings.model_copy(update={"writes": writes})
        store = self.webhooks.store_path
        if store is not None and not store.is_absolute():
            webhooks = self.webhooks.model_copy(update={"store_path": base / store})
            settings = settings.model_copy(update={"webhooks": webhooks})
        safelist = self.persisted_queries.safelist_file
        if safelist is not None and not safelist.is_absolute():
            pq = self.persisted_queries.model_copy(update={"safelist_file": base / safelist})
            settings = settings.model_copy(update={"persisted_queries": pq})
        return settings

    def secrets(self) -> list[tuple[str, SecretRef]]:
        """Every secret reference with its path in the file."""
        found: list[tuple[str, SecretRef]] = []

        def walk(node: Any, path: str) -> None:
            if isinstance(node, SecretRef):
                found.append((path, node))
            elif isinstance(node, BaseModel):
                for name in type(node).model_fields:
                    walk(getattr(node, name), f"{path}.{name}" if path else name)
            elif isinstance(node, dict):
                for key, value in node.items():
                    walk(value, f"{path}.{key}")
            elif isinstance(node, list):
                for index, value in enumerate(node):
                    walk(value, f"{path}.{index}")

        walk(self, "")
        return found


class ConfigError(Exception):
    """A config file with mistakes; ``problems`` are ``(path, message)`` pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        if len(problems) == 1:  # one line, e.g. a file that is missing or not YAML
            path, message = problems[0]
            super().__init__(f"{source}: {path}: {message}" if path else f"{source}: {message}")
            return
        lines = "\n".join(f"  {path or '(top)'}: {message}" for path, message in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


def parse_config(
    data: Any, source: str = "config", check_secrets: bool = True, base: Path | None = None
) -> Settings:
    """Validate a parsed YAML document and check that every secret it names can be read.
    Relative paths in it are read from ``base`` (the config file's folder)."""
    if not isinstance(data, dict):
        raise ConfigError(source, [("", "the file must be a mapping of settings")])
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            source, [(_path(error["loc"]), error["msg"]) for error in exc.errors(include_url=False)]
        ) from None
    role_problems = _role_problems(settings)
    if role_problems:
        raise ConfigError(source, role_problems)
    if base is not None:
        settings = settings.resolved_from(base)
    if not check_secrets:
        return settings
    problems = []
    for path, ref in settings.secrets():
        try:
            ref.read()
        except ValueError as exc:
            problems.append((path, str(exc)))
    if problems:
        raise ConfigError(source, problems)
    return settings


def _role_problems(settings: Settings) -> list[tuple[str, str]]:
    from app.auth.policy import GOVERNED, roles_in_force  # the policy reads these settings

    roles = roles_in_force(settings.roles)
    from app.cache.groups import FIELDS

    problems = _custom_field_problems(settings, roles)
    for entity, group in settings.cache.groups.items():
        for field in group.hot:
            if field not in FIELDS[entity]:
                problems.append((f"cache.groups.{entity}.hot", f"{entity} has no field {field!r}"))
    if settings.webhooks.salesforce_poll_interval:
        lead_source = settings.source_of("lead")[1]
        if lead_source.kind != "salesforce":
            problems.append(
                (
                    "webhooks.salesforce_poll_interval",
                    f"polls a Salesforce lead source; the leads come from {lead_source.kind}",
                )
            )
    writes = settings.writes
    if writes.backend == "redis" and not (writes.redis_url or settings.redis_url):
        problems.append(("writes.backend", "redis needs writes.redis_url or redis_url (top level)"))
    for brand in writes.phone_regions:
        if brand not in settings.brands:
            problems.append((f"writes.phone_regions.{brand}", "not one of the config's brands"))
    anonymous = settings.auth.anonymous_role
    if anonymous is not None and anonymous not in roles:
        problems.append(("auth.anonymous_role", f"no role named {anonymous!r}"))
    for name, role in settings.roles.items():
        for type_name in role.read:
            if type_name not in GOVERNED:
                known = ", ".join(GOVERNED)
                problems.append(
                    (f"roles.{name}.read.{type_name}", f"not a type roles govern ({known})")
                )
    return problems


def _custom_field_problems(settings: Settings, roles: Mapping[str, Any]) -> list[tuple[str, str]]:
    from app.domain.entities import ENTITIES

    problems = []
    for entity in ENTITY_KEYS:
        chosen = getattr(settings.entities, entity)
        taken = ENTITIES[REGISTRY_KEYS[entity]].graphql_names() | {"custom"}
        for name, spec in chosen.fields.items():
            path = f"entities.{entity}.fields.{name}"
            if name in taken:
                problems.append((path, f"{entity} already has a field {name!r}"))
            if spec.source is not None and spec.source != chosen.source:
                problems.append(
                    (f"{path}.source", f"must be the {entity} source, {chosen.source!r}")
                )
            for role in spec.roles or []:
                if role not in roles:
                    problems.append((f"{path}.roles", f"no role named {role!r}"))
            kind = spec.field_type().name
            if spec.filterable and kind in ("DateTime", "Money"):
                problems.append(
                    (f"{path}.filterable", "a filter matches String, Int, Float, Boolean and Enum")
                )
            if spec.writable and kind == "Money":
                problems.append((f"{path}.writable", "a Money field is read-only here"))
            if entity not in WRITABLE:
                for flag in ("filterable", "writable"):
                    if getattr(spec, flag):
                        problems.append(
                            (f"{path}.{flag}", f"{entity} has no list to filter or mutation")
                        )
    return problems


def _path(loc: tuple[int | str, ...]) -> str:
    parts = list(loc)
    # pydantic names the chosen kind of a source in the path: sources.x.hubspot.base_url.
    if len(parts) > 2 and parts[0] == "sources" and parts[2] in KINDS:
        del parts[2]
    return ".".join(str(p) for p in parts)


def load_config(path: Path, check_secrets: bool = True) -> Settings:
    """The validated settings of the file at ``path``. ``check_secrets=False`` skips reading
    the secrets (for commands that manage keys and need no upstream credentials)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [("", f"cannot read the file: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise ConfigError(str(path), [("", "cannot read the file: not UTF-8 text")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        # PyYAML's own text spans lines (it quotes the file); its ``problem`` is the gist.
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(str(path), [(where, f"not valid YAML: {problem}")]) from None
    return parse_config(data, str(path), check_secrets, base=path.parent)
