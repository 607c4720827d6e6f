"""Bearer-token verification: dev HS256 tokens, production JWKS tokens, and every refusal's reason."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from service.auth import KNOWN_ROLES, TokenVerifier, bearer_token, issue_dev_token
from service.config import ConfigurationError, Settings
from service.domain.actor import Actor
from service.domain.errors import Unauthenticated

ISSUER = "https://id.example.test/realms/cdht"
AUDIENCE = "cdht-api"
KID = "test-key-1"


def refusal_code(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(token)
    assert caught.value.status == 401
    assert len(caught.value.reasons) == 1
    return caught.value.reasons[0].code


def dev_claims(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": "cdht-dev",
        "aud": "cdht",
        "sub": "u-1",
        "name": "Nguyễn Văn A",
        "roles": ["commune_officer"],
        "unit": "VN-HN-001",
        "iat": now,
        "exp": now + timedelta(hours=1),
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


# --- dev mode ---------------------------------------------------------------------------------------


@pytest.fixture
def dev_settings(tmp_path: Path) -> Settings:
    return Settings(env="dev", data_dir=tmp_path)


@pytest.fixture
def dev_verifier(dev_settings: Settings) -> TokenVerifier:
    return TokenVerifier(dev_settings)


def test_dev_token_round_trip_gives_actor(dev_settings: Settings, dev_verifier: TokenVerifier) -> None:
    token = issue_dev_token(
        dev_settings,
        sub="u-42",
        roles=["commune_member", "council_member"],
        unit="VN-HN-001",
        org="org-7",
        name="Trần Thị B",
    )

    actor = dev_verifier.verify(token)

    assert actor == Actor(
        sub="u-42",
        name="Trần Thị B",
        roles=("commune_member", "council_member"),
        unit="VN-HN-001",
        org="org-7",
        on_behalf_of=None,
    )


def test_dev_token_without_name_or_org_defaults_name_to_sub(
    dev_settings: Settings, dev_verifier: TokenVerifier
) -> None:
    token = issue_dev_token(dev_settings, sub="u-1", roles=["auditor"], unit="VN")

    actor = dev_verifier.verify(token)

    assert (actor.name, actor.org, actor.roles) == ("u-1", None, ("auditor",))


def test_test_env_verifies_dev_tokens(tmp_path: Path) -> None:
    settings = Settings(env="test", data_dir=tmp_path)
    token = issue_dev_token(settings, sub="u-1", roles=["admin"], unit="VN")

    assert TokenVerifier(settings).verify(token).has_role("admin")


def test_on_behalf_of_claim_reaches_actor(dev_settings: Settings, dev_verifier: TokenVerifier) -> None:
    token = jwt.encode(dev_claims(on_behalf_of="u-9"), dev_settings.dev_secret(), algorithm="HS256")

    assert dev_verifier.verify(token).on_behalf_of == "u-9"


def test_expired_token_refused(dev_settings: Settings, dev_verifier: TokenVerifier) -> None:
    token = issue_dev_token(
        dev_settings,
        sub="u-1",
        roles=["commune_officer"],
        unit="VN",
        ttl_seconds=60,
        now=datetime.now(UTC) - timedelta(days=1),
    )

    assert refusal_code(dev_verifier, token) == "expired"


def test_tampered_signature_refused(dev_settings: Settings, dev_verifier: TokenVerifier) -> None:
    token = issue_dev_token(dev_settings, sub="u-1", roles=["commune_officer"], unit="VN")
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"

    assert refusal_code(dev_verifier, tampered) == "bad_signature"


def test_tampered_payload_refused(dev_settings: Settings, dev_verifier: TokenVerifier) -> None:
    token = issue_dev_token(dev_settings, sub="u-1", roles=["commune_officer"], unit="VN")
    forged = issue_dev_token(dev_settings, sub="u-1", roles=["admin"], unit="VN")
    header, _, signature = token.split(".")
    mixed = f"{header}.{forged.split('.')[1]}.{signature}"

    assert refusal_code(dev_verifier, mixed) == "bad_signature"


def test_token_signed_with_other_secret_refused(tmp_path: Path, dev_verifier: TokenVerifier) -> None:
    other = Settings(env="dev", data_dir=tmp_path / "other")
    token = issue_dev_token(other, sub="u-1", roles=["commune_officer"], unit="VN")

    assert refusal_code(dev_verifier, token) == "bad_signature"


def test_unknown_role_refused_naming_role(dev_settings: Settings, dev_verifier: TokenVerifier) -> None:
    token = jwt.encode(dev_claims(roles=["commune_officer", "superuser"]), dev_settings.dev_secret(), algorithm="HS256")

    with pytest.raises(Unauthenticated) as caught:
        dev_verifier.verify(token)

    assert caught.value.reasons[0].code == "unknown_role"
    assert "superuser" in caught.value.reasons[0].message


def test_system_role_refused(dev_settings: Settings, dev_verifier: TokenVerifier) -> None:
    token = jwt.encode(dev_claims(roles=["system"]), dev_settings.dev_secret(), algorithm="HS256")

    assert "system" not in KNOWN_ROLES
    assert refusal_code(dev_verifier, token) == "system_role"


def test_system_subject_refused(dev_settings: Settings, dev_verifier: TokenVerifier) -> None:
    token = jwt.encode(dev_claims(sub="system:deadlines"), dev_settings.dev_secret(), algorithm="HS256")

    assert refusal_code(dev_verifier, token) == "system_subject"


@pytest.mark.parametrize("claim", ["unit", "name", "roles"])
def test_missing_required_claim_refused(dev_settings: Settings, dev_verifier: TokenVerifier, claim: str) -> None:
    token = jwt.encode(dev_claims(**{claim: None}), dev_settings.dev_secret(), algorithm="HS256")

    with pytest.raises(Unauthenticated) as caught:
        dev_verifier.verify(token)

    assert caught.value.reasons[0].code == "missing_claim"
    assert claim in caught.value.reasons[0].message


def test_missing_exp_refused(dev_settings: Settings, dev_verifier: TokenVerifier) -> None:
    token = jwt.encode(dev_claims(exp=None), dev_settings.dev_secret(), algorithm="HS256")

    assert refusal_code(dev_verifier, token) == "missing_claim"


def test_roles_not_a_list_refused(dev_settings: Settings, dev_verifier: TokenVerifier) -> None:
    token = jwt.encode(dev_claims(roles="admin"), dev_settings.dev_secret(), algorithm="HS256")

    assert refusal_code(dev_verifier, token) == "bad_claim"


def test_dev_token_with_wrong_audience_refused(dev_settings: Settings, dev_verifier: TokenVerifier) -> None:
    token = jwt.encode(dev_claims(aud="someone-else"), dev_settings.dev_secret(), algorithm="HS256")

    assert refusal_code(dev_verifier, token) == "wrong_audience"


def test_garbage_token_refused_as_malformed(dev_verifier: TokenVerifier) -> None:
    assert refusal_code(dev_verifier, "not-a-jwt") == "malformed_token"


def test_issue_dev_token_in_production_raises_configuration_error(tmp_path: Path) -> None:
    settings = Settings(env="production", data_dir=tmp_path)

    with pytest.raises(ConfigurationError):
        issue_dev_token(settings, sub="u-1", roles=["admin"], unit="VN")

    assert not (tmp_path / "dev-secret").exists()


@pytest.mark.parametrize("roles", [["superuser"], ["system"], []])
def test_issue_dev_token_with_bad_roles_raises_value_error(dev_settings: Settings, roles: list[str]) -> None:
    with pytest.raises(ValueError):
        issue_dev_token(dev_settings, sub="u-1", roles=roles, unit="VN")


# --- production mode --------------------------------------------------------------------------------


@dataclass
class Jwks:
    url: str
    private_key: rsa.RSAPrivateKey


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwks(rsa_key: rsa.RSAPrivateKey) -> Iterator[Jwks]:
    public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    body = json.dumps({"keys": [{**public_jwk, "kid": KID, "alg": "RS256", "use": "sig"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Jwks(url=f"http://127.0.0.1:{server.server_address[1]}/jwks.json", private_key=rsa_key)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def production_settings(tmp_path: Path, jwks_url: str) -> Settings:
    return Settings(
        env="production",
        data_dir=tmp_path,
        auth_issuer=ISSUER,
        auth_audience=AUDIENCE,
        auth_jwks_url=jwks_url,
    )


def rs256_token(jwks: Jwks, **overrides: Any) -> str:
    claims = dev_claims(iss=ISSUER, aud=AUDIENCE)
    claims.update(overrides)
    claims = {key: value for key, value in claims.items() if value is not None}
    return jwt.encode(claims, jwks.private_key, algorithm="RS256", headers={"kid": KID})


def test_production_rs256_token_from_jwks_passes(tmp_path: Path, jwks: Jwks) -> None:
    verifier = TokenVerifier(production_settings(tmp_path, jwks.url))

    actor = verifier.verify(rs256_token(jwks, roles=["district_officer"], org="org-3"))

    assert actor == Actor(sub="u-1", name="Nguyễn Văn A", roles=("district_officer",), unit="VN-HN-001", org="org-3")


def test_production_wrong_audience_refused(tmp_path: Path, jwks: Jwks) -> None:
    verifier = TokenVerifier(production_settings(tmp_path, jwks.url))

    assert refusal_code(verifier, rs256_token(jwks, aud="another-api")) == "wrong_audience"


def test_production_missing_audience_refused(tmp_path: Path, jwks: Jwks) -> None:
    verifier = TokenVerifier(production_settings(tmp_path, jwks.url))

    assert refusal_code(verifier, rs256_token(jwks, aud=None)) == "missing_claim"


def test_production_wrong_issuer_refused(tmp_path: Path, jwks: Jwks) -> None:
    verifier = TokenVerifier(production_settings(tmp_path, jwks.url))

    assert refusal_code(verifier, rs256_token(jwks, iss="https://evil.example.test")) == "wrong_issuer"


def test_production_token_signed_by_other_key_refused(tmp_path: Path, jwks: Jwks) -> None:
    verifier = TokenVerifier(production_settings(tmp_path, jwks.url))
    impostor = Jwks(url=jwks.url, private_key=rsa.generate_private_key(public_exponent=65537, key_size=2048))

    assert refusal_code(verifier, rs256_token(impostor)) == "bad_signature"


def test_production_unknown_kid_refused(tmp_path: Path, jwks: Jwks) -> None:
    verifier = TokenVerifier(production_settings(tmp_path, jwks.url))
    token = jwt.encode(
        dev_claims(iss=ISSUER, aud=AUDIENCE),
        jwks.private_key,
        algorithm="RS256",
        headers={"kid": "rotated-away"},
    )

    assert refusal_code(verifier, token) == "unknown_key"


def test_production_hs256_dev_token_refused(tmp_path: Path, jwks: Jwks) -> None:
    dev_secret = Settings(env="dev", data_dir=tmp_path / "dev").dev_secret()
    token = jwt.encode(dev_claims(), dev_secret, algorithm="HS256")
    verifier = TokenVerifier(production_settings(tmp_path, jwks.url))

    assert refusal_code(verifier, token) == "dev_token_refused"


def _hs256_with_raw_key(claims: dict[str, Any], key: bytes) -> str:
    # PyJWT refuses to HMAC with a PEM key, which is the point; an attacker would sign by hand.
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": KID}).encode())
    payload = b64(json.dumps(claims, default=lambda moment: int(moment.timestamp())).encode())
    signature = hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


def test_production_hs256_signed_with_public_key_refused(tmp_path: Path, jwks: Jwks) -> None:
    # Algorithm confusion: the public key is public, so an HMAC made with it proves nothing.
    public_pem = jwks.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = _hs256_with_raw_key(dev_claims(iss=ISSUER, aud=AUDIENCE), public_pem)
    verifier = TokenVerifier(production_settings(tmp_path, jwks.url))

    assert refusal_code(verifier, token) == "dev_token_refused"


def test_production_rs256_token_with_dev_issuer_refused(tmp_path: Path, jwks: Jwks) -> None:
    verifier = TokenVerifier(production_settings(tmp_path, jwks.url))

    assert refusal_code(verifier, rs256_token(jwks, iss="cdht-dev")) == "dev_token_refused"


def test_production_ignores_hs256_in_configured_algorithms(tmp_path: Path, jwks: Jwks) -> None:
    settings = production_settings(tmp_path, jwks.url).model_copy(update={"auth_algorithms": ["HS256", "RS256"]})
    verifier = TokenVerifier(settings)
    token = jwt.encode(dev_claims(iss=ISSUER, aud=AUDIENCE), "x" * 64, algorithm="HS256")

    assert refusal_code(verifier, token) == "dev_token_refused"
    assert verifier.verify(rs256_token(jwks)).sub == "u-1"


def test_production_jwks_server_down_refused_as_jwks_unavailable(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    verifier = TokenVerifier(production_settings(tmp_path, f"http://127.0.0.1:{closed_port}/jwks.json"))
    token = jwt.encode(dev_claims(iss=ISSUER, aud=AUDIENCE), rsa_key, algorithm="RS256", headers={"kid": KID})

    assert refusal_code(verifier, token) == "jwks_unavailable"


def test_production_without_issuer_raises_configuration_error(tmp_path: Path) -> None:
    settings = Settings(env="production", data_dir=tmp_path, auth_audience=AUDIENCE, auth_jwks_url="http://x/")

    with pytest.raises(ConfigurationError, match="CDHT_AUTH_ISSUER"):
        TokenVerifier(settings)


# --- bearer_token -----------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["Bearer abc.def.ghi", "bearer abc.def.ghi", "BEARER  abc.def.ghi "])
def test_bearer_header_yields_token(header: str) -> None:
    assert bearer_token(header) == "abc.def.ghi"


@pytest.mark.parametrize("header", [None, "", "   ", "Bearer", "Bearer  "])
def test_absent_token_refused_as_missing_token(header: str | None) -> None:
    with pytest.raises(Unauthenticated) as caught:
        bearer_token(header)

    assert caught.value.reasons[0].code == "missing_token"


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Token abc", "Bearer a b"])
def test_other_scheme_refused_as_bad_scheme(header: str) -> None:
    with pytest.raises(Unauthenticated) as caught:
        bearer_token(header)

    assert caught.value.reasons[0].code == "bad_scheme"
