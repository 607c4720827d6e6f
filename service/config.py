"""Settings: the one place that reads the environment (prefix ``CDHT_``).

Every setting has a documented default; the README's configuration table is written from this class.
Production (``CDHT_ENV=production``) refuses the conveniences meant for development: a frozen clock,
dev-signed tokens, and start-up without an issuer, an audience and a JWKS URL.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service import clock_file as dev_clock
from workflows.registry import Registry, registry_with_profiles


class ConfigurationError(RuntimeError):
    """The settings cannot run the service; the message says which setting and why."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CDHT_", extra="ignore")

    env: Literal["dev", "test", "production"] = "dev"
    data_dir: Path = Field(default=Path("var"), description="Evidence files, the dev secret and the SQLite file.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; default sqlite+aiosqlite under data_dir."
    )
    now: datetime | None = Field(default=None, description="Freezes the clock (ISO 8601). Refused in production.")

    auth_issuer: str | None = None
    auth_audience: str | None = None
    auth_jwks_url: str | None = None
    auth_dev_secret: str | None = Field(
        default=None, description="HS256 secret for dev tokens; default: generated once into data_dir/dev-secret."
    )
    auth_algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256", "EdDSA"])
    auth_leeway_seconds: int = 30

    evidence_max_bytes: int = Field(default=20 * 1024 * 1024, description="Largest evidence file accepted (413).")
    workers_in_process: bool = Field(default=True, description="Run the deadline sweeper inside `cdht serve`.")
    sweep_interval_seconds: float = Field(default=60.0, gt=0, description="Seconds between two deadline sweeps.")
    webhook_key: str | None = Field(
        default=None, description="Fernet key sealing webhook secrets at rest; dev: generated into data_dir."
    )
    webhook_allowed_ports: list[int] | None = Field(
        default=None,
        description="Ports a webhook target may use (JSON list, e.g. '[443, 8443]'); default: 443 in production, "
        "any in dev and test (local receivers).",
    )
    webhook_secret_overlap_hours: float = Field(default=24, ge=0, description="Old secret kept after rotation.")
    webhook_retry_schedule_seconds: list[int] = Field(
        default_factory=lambda: [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 72000],
        description="Waits between attempts (about three days in all); exhausted: the subscription is disabled.",
    )
    webhook_connect_timeout_seconds: float = 5.0
    webhook_read_timeout_seconds: float = 10.0
    webhook_poll_seconds: float = Field(default=1.0, gt=0, description="Dispatcher wait when there is nothing to do.")
    webhook_attempt_timeout_seconds: float = Field(
        default=30, gt=0, description="Whole-attempt limit (resolution, connection, response); below the lease."
    )
    webhook_lease_seconds: float = Field(default=60, gt=0, description="A claimed delivery is retried after this.")
    webhook_concurrency: int = Field(
        default=128,
        ge=1,
        description="Deliveries a dispatcher holds in flight (claimed and not yet recorded); claimed, posted and "
        "recorded in overlapping batches.",
    )
    webhook_subscription_concurrency: int = Field(
        default=64,
        ge=1,
        description="Of those, the most posted at once to one subscription, so a slow subscriber cannot hold the "
        "others (half of them by default). It also bounds one subscriber's rate: a place is taken from its claim to "
        "its answer, and a claim under load takes 30-40 ms: one fast subscriber got 570/s with 32 places and 620-640/s "
        "with 64 on a busy 2-core host.",
    )
    audit_signing_key_file: Path | None = Field(
        default=None,
        description="PEM file of the Ed25519 private key signing audit checkpoints; required in production, "
        "dev: generated into data_dir/audit-signing-key.pem.",
    )
    audit_checkpoint_interval_hours: float = Field(default=24, gt=0, description="Hours between two checkpoints.")
    verify_processes: int | None = Field(
        default=None,
        ge=1,
        description="Worker processes of a full audit verify (GET /v1/audit/verify without case) on PostgreSQL; "
        "default: the CPUs the service may use; 1 verifies in the API process.",
    )
    verify_parallel_min_events: int = Field(
        default=100_000,
        ge=0,
        description="A full verify of fewer audit events stays in the API process (starting workers costs ~1 s).",
    )
    request_max_bytes: int = Field(default=1024 * 1024, description="Largest JSON request body accepted (413).")
    request_max_header_bytes: int = Field(
        default=32 * 1024,
        ge=4096,
        description="Largest request line and header fields together (431); `cdht serve` stops reading there.",
    )
    request_max_headers: int = Field(default=100, ge=16, description="Most header fields in one request (431).")
    profile_dirs: list[Path] = Field(
        default_factory=list,
        description="Directories of further jurisdiction profiles (YAML), e.g. a province's own profile that "
        "extends two_tier (JSON list in the environment: CDHT_PROFILE_DIRS='[\"/etc/cdht/profiles\"]').",
    )
    page_size_default: int = 50
    console_session_secret: str | None = Field(
        default=None,
        description="Key signing the console's session cookie; required in production (else kept in the data dir).",
    )
    console_session_hours: float = Field(default=10, gt=0, description="How long a console sign-in lasts.")
    console_oidc_client_id: str | None = Field(default=None, description="The console's OpenID Connect client id.")
    console_oidc_client_secret: str | None = Field(default=None, description="Its client secret, if it has one.")
    console_oidc_discovery_url: str | None = Field(
        default=None, description="The issuer's /.well-known/openid-configuration (default: from CDHT_AUTH_ISSUER)."
    )
    console_oidc_claims: dict[str, str] = Field(
        default_factory=lambda: {"sub": "sub", "name": "name", "roles": "roles", "unit": "unit", "org": "org"},
        description="Which claim of the ID token gives each claim of the console's identity (JSON object).",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins a browser front-end may call the API from (JSON list, e.g. "
        "CDHT_CORS_ORIGINS='[\"https://cdht.example.gov.vn\"]'); empty (the default): no CORS. '*' allows any "
        "origin (tokens travel in a header, never in cookies).",
    )

    # Operators' signals (README "Metrics, logs and traces").
    log_format: Literal["json", "text"] = Field(default="json", description="Log lines as JSON, or as text.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    metrics_token: SecretStr | None = Field(
        default=None,
        description="When set, GET /metrics of the API asks for `Authorization: Bearer <this token>` (401 else).",
    )
    worker_metrics_host: str = Field(default="127.0.0.1", description="Where `cdht worker` serves /metrics.")
    worker_metrics_port: int = Field(
        default=9101, ge=0, le=65535, description="Port of `cdht worker`'s /metrics; 0 serves none."
    )
    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP receiver of traces (e.g. http://otel-collector:4318); unset: no tracing.",
    )
    otel_service_name: str = Field(default="cdht", description="service.name of the traces.")
    pdf_renderer: str | None = Field(
        default=None,
        description="LibreOffice's soffice (a path or a command name) rendering report PDFs; default: soffice on PATH.",
    )
    pdf_timeout_seconds: float = Field(default=120, gt=0, description="Longest a PDF rendering may take.")

    @field_validator("now")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("CDHT_NOW must carry a timezone offset, e.g. 2026-02-28T23:59:00+07:00")
        return value

    def registry(self) -> Registry:
        """The shipped definitions and profiles, plus the deployment's own profiles."""
        return registry_with_profiles(tuple(path.resolve() for path in self.profile_dirs))

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'cdht.sqlite3').resolve()}"

    def check(self) -> None:
        """Refuse settings that cannot work, and those that must not reach production; called at start-up."""
        if self.webhook_key:
            try:
                Fernet(self.webhook_key)
            except (ValueError, TypeError):
                raise ConfigurationError(
                    "CDHT_WEBHOOK_KEY is not a Fernet key (32 bytes in URL-safe base64, 44 characters; make one "
                    "with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
                ) from None
        if not self.is_production:
            return
        missing = [
            name
            for name, value in (
                ("CDHT_AUTH_ISSUER", self.auth_issuer),
                ("CDHT_AUTH_AUDIENCE", self.auth_audience),
                ("CDHT_AUTH_JWKS_URL", self.auth_jwks_url),
            )
            if not value
        ]
        if missing:
            raise ConfigurationError(f"production needs {', '.join(missing)}")
        if self.now is not None:
            raise ConfigurationError("CDHT_NOW (a frozen clock) is refused in production")
        if self.auth_dev_secret:
            raise ConfigurationError("CDHT_AUTH_DEV_SECRET (dev tokens) is refused in production")
        if not self.webhook_key:
            raise ConfigurationError("production needs CDHT_WEBHOOK_KEY (a Fernet key sealing webhook secrets)")
        if not self.audit_signing_key_file or not self.audit_signing_key_file.is_file():
            raise ConfigurationError(
                "production needs CDHT_AUDIT_SIGNING_KEY_FILE (a readable PEM file of the Ed25519 key signing "
                "audit checkpoints)"
            )

    def dev_secret(self) -> str:
        """The HS256 secret of dev tokens, shared by `cdht serve` and `cdht token` through the data dir."""
        if self.is_production:
            raise ConfigurationError("dev tokens are refused in production")
        if self.auth_dev_secret:
            return self.auth_dev_secret
        return self._kept_in_data_dir("dev-secret", lambda: secrets.token_urlsafe(48))

    def console_secret(self) -> str:
        """The key signing console session cookies: CDHT_CONSOLE_SESSION_SECRET, or in dev one in the data dir."""
        if self.console_session_secret:
            return self.console_session_secret
        if self.is_production:
            raise ConfigurationError("production needs CDHT_CONSOLE_SESSION_SECRET (signs the console's cookies)")
        return self._kept_in_data_dir("console-secret", lambda: secrets.token_urlsafe(48))

    def sealing_key(self) -> str:
        """The Fernet key that seals webhook secrets: CDHT_WEBHOOK_KEY, or in dev one kept in the data dir."""
        if self.webhook_key:
            return self.webhook_key
        if self.is_production:
            raise ConfigurationError("production needs CDHT_WEBHOOK_KEY")
        return self._kept_in_data_dir("webhook-key", lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())

    def _kept_in_data_dir(self, name: str, make: Callable[[], str]) -> str:
        """A dev secret kept in the data dir (0600), made on first use: shared by every process of the data dir."""
        path = self.data_dir / name
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(make())
            path.chmod(0o600)
        return path.read_text().strip()

    @property
    def webhook_ports(self) -> frozenset[int] | None:
        """The ports a webhook target may use, or None for any (dev and test unless the setting says otherwise)."""
        if self.webhook_allowed_ports is not None:
            return frozenset(self.webhook_allowed_ports)
        return frozenset({443}) if self.is_production else None

    @property
    def allow_private_webhooks(self) -> bool:
        """Loopback and private webhook targets are for dev and test; production refuses them (SSRF)."""
        return not self.is_production

    def real_clock(self) -> datetime:
        """CDHT_NOW when set (never in production), else the real time in UTC: the clock without the dev clock."""
        if self.now is not None:
            return self.now.astimezone(timezone.utc)
        return datetime.now(timezone.utc)

    def clock(self) -> datetime:
        """The app clock: ``real_clock``, moved by the dev clock of the data directory outside production
        (``POST /v1/dev/clock``, ``cdht clock``; ``service/clock_file.py``)."""
        if self.is_production:
            return self.real_clock()
        return self.real_clock() + dev_clock.offset(self.data_dir)
