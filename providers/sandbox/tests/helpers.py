"""Client-side helpers shared by the sandbox simulator tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests

from providers.sandbox import SANDBOX_CREDENTIALS, SandboxWorld

PARTNER = 200000001
TIMEOUT = 5


@dataclass
class Sandbox:
    """A client-side view of one world over one transport, with small helpers per provider."""

    world: SandboxWorld
    session: requests.Session
    urls: dict[str, str]
    transport: str
    _tokens: dict[str, str] = field(default_factory=dict)

    # AirHub
    def airhub_login(self) -> str:
        creds = SANDBOX_CREDENTIALS["airhub"]
        body = {"userName": creds["username"], "password": creds["password"]}
        response = self.session.post(
            f"{self.urls['airhub']}/api/Authentication/UserLogin", json=body, timeout=TIMEOUT
        )
        self._tokens["airhub"] = response.json()["token"]
        return self._tokens["airhub"]

    def airhub(
        self, path: str, body: dict[str, Any], *, token: str | None = None, **kw: Any
    ) -> requests.Response:
        token = token or self._tokens.get("airhub") or self.airhub_login()
        kw.setdefault("timeout", TIMEOUT)
        headers = {"Authorization": f"Bearer {token}"}
        return self.session.post(f"{self.urls['airhub']}{path}", json=body, headers=headers, **kw)

    # eSIMCard
    def esimcard_login(self) -> str:
        creds = SANDBOX_CREDENTIALS["esimcard"]
        response = self.session.post(f"{self.urls['esimcard']}/login", json=creds, timeout=TIMEOUT)
        self._tokens["esimcard"] = response.json()["access_token"]
        return self._tokens["esimcard"]

    def esimcard(self, method: str, path: str, *, token: str | None = None, **kw: Any) -> requests.Response:
        token = token or self._tokens.get("esimcard") or self.esimcard_login()
        kw.setdefault("timeout", TIMEOUT)
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        return self.session.request(method, f"{self.urls['esimcard']}{path}", headers=headers, **kw)

    # TravelRoam
    def travelroam(
        self,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        method: str = "POST",
        headers: dict[str, str] | None = None,
        **kw: Any,
    ) -> requests.Response:
        creds = SANDBOX_CREDENTIALS["travelroam"]
        auth = {"x-api-key": creds["api_key"], "clientSecret": creds["client_secret"]}
        kw.setdefault("timeout", TIMEOUT)
        url = f"{self.urls['travelroam']}{path}"
        return self.session.request(
            method, url, json=body, headers=auth if headers is None else headers, **kw
        )

    # CurrencyFreaks
    def rates(self, **params: Any) -> requests.Response:
        params.setdefault("apikey", SANDBOX_CREDENTIALS["currencyfreaks"]["api_key"])
        params.setdefault("timeout", TIMEOUT)
        timeout = params.pop("timeout")
        return self.session.get(f"{self.urls['currencyfreaks']}/rates/latest", params=params, timeout=timeout)
