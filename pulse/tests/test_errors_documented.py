"""Every error code the code can produce is documented in docs/errors.md (clients switch on codes).

Codes are discovered, not listed here, so a code added later is caught without editing this test:
- by asking the exception handler: every exception class our code, DRF, the provider clients and
  the payment gateways define is raised through `api_exception_handler` and the answered `code` read;
- by reading the source (pulse/ and providers/, without tests, migrations and the simulators, which
  speak the vendors' codes): `code = "x"` in a class body, `obj.code = "x"`, a `code="x"` keyword
  (a DRF/Django `ValidationError(code=...)` is asked of the handler instead, since it may fold a
  generic field code into `invalid_input`), `error_body(message, "x")` and a `{"code": "x"}` literal.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf

from providers.errors import ProviderError
from pulse.exception_handlers import api_exception_handler
from pulse.exceptions import ApplicationError
from pulse.payments import GatewayError

ROOT = Path(__file__).resolve().parents[2]
ERRORS_MD = ROOT / "docs" / "errors.md"
SOURCE_PACKAGES = ("pulse", "providers")
# Vendor simulators answer with the vendors' own codes; tests and migrations raise nothing at runtime.
SKIPPED_PARTS = {"tests", "migrations", "sandbox"}
CODE_SHAPE = re.compile(r"^[a-z][a-z0-9_]*$")
# Known codes that discovery must find, so a broken discovery cannot pass by finding nothing.
SENTINELS = {
    "esim_not_renewable",  # a subclass in a service module
    "invalid_bundle",  # a subclass of a subclass
    "order_not_found",  # a code= keyword at the raise site
    "session_not_found",  # a gateway error the handler maps
    "malformed_json",  # a DRF error the handler maps
    "provider_not_configured",  # a provider error the handler maps
    "circuit_open",  # a provider error code shown in `sources`
    "internal",  # an attribute assignment (fan-out crash)
    "internal_error",  # error_body(..., "internal_error")
    "unsupported_amount",  # a gateway error code keyword
}


def _source_files() -> list[Path]:
    files = []
    for package in SOURCE_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if not SKIPPED_PARTS & set(path.relative_to(ROOT).parts):
                files.append(path)
    return files


def _import_everything() -> None:
    """Import every module so that every exception class is defined (subclasses register on import)."""
    for path in _source_files():
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        importlib.import_module(module)


def _subclasses(base: type) -> set[type]:
    found, todo = set(), [base]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                todo.append(sub)
    return found


def _ours(cls: type) -> bool:
    module = cls.__module__
    in_scope = module.split(".")[0] in SOURCE_PACKAGES or module.startswith("rest_framework.")
    return in_scope and not SKIPPED_PARTS & set(module.split("."))


def _instance(cls: type) -> Exception:
    if issubclass(cls, ProviderError):
        return cls("airhub", "probe")
    if issubclass(cls, GatewayError):
        return cls("probe", gateway="sandbox")
    for args in ((), ("probe",), ("probe", "probe")):
        try:
            return cls(*args)
        except TypeError:
            continue
    raise AssertionError(f"cannot build {cls.__module__}.{cls.__qualname__} to ask the handler")


def _handler_code(exc: Exception) -> str:
    return api_exception_handler(exc, {}).data["code"]


def _codes_from_the_handler() -> dict[str, str]:
    _import_everything()
    bases = (drf.APIException, ApplicationError, ProviderError, GatewayError)
    classes = {*bases, Http404, PermissionDenied, RuntimeError}
    for base in bases:
        classes |= {cls for cls in _subclasses(base) if _ours(cls)}
    return {_handler_code(_instance(cls)): f"handler answer to {cls.__qualname__}" for cls in classes}


def _string(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and CODE_SHAPE.match(node.value):
        return node.value
    return None


def _callee(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _codes_in_tree(tree: ast.AST) -> list[tuple[str, int]]:
    """(code, line) for every code-shaped literal in one module (see the module docstring)."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for statement in node.body:
                targets = getattr(statement, "targets", None) or [getattr(statement, "target", None)]
                if any(getattr(t, "id", None) == "code" for t in targets):
                    found.append((_string(statement.value), statement.lineno))
        elif isinstance(node, ast.Assign):
            if any(isinstance(t, ast.Attribute) and t.attr == "code" for t in node.targets):
                found.append((_string(node.value), node.lineno))
        elif isinstance(node, ast.Call):
            found.extend(_codes_in_call(node))
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "code":
                    found.append((_string(value), node.lineno))
    return [(code, line) for code, line in found if code]


def _codes_in_call(node: ast.Call) -> list[tuple[str | None, int]]:
    found = []
    for keyword in node.keywords:
        if keyword.arg == "code" and (code := _string(keyword.value)):
            if _callee(node) == "ValidationError":
                code = _handler_code(drf.ValidationError({"field": ["probe"]}, code=code))
            found.append((code, node.lineno))
    if _callee(node) == "error_body" and len(node.args) > 1:
        found.append((_string(node.args[1]), node.lineno))
    return found


def _codes_from_the_source() -> dict[str, str]:
    codes: dict[str, str] = {}
    for path in _source_files():
        for code, line in _codes_in_tree(ast.parse(path.read_text(), filename=str(path))):
            codes.setdefault(code, f"{path.relative_to(ROOT)}:{line}")
    return codes


def _documented_codes() -> set[str]:
    return set(re.findall(r"`([a-z][a-z0-9_]*)`", ERRORS_MD.read_text()))


@pytest.fixture(scope="module")
def discovered() -> dict[str, str]:
    return {**_codes_from_the_source(), **_codes_from_the_handler()}


def test_discovery_finds_codes_of_every_kind(discovered):
    assert not SENTINELS - discovered.keys(), SENTINELS - discovered.keys()


def test_a_generic_field_code_is_discovered_as_the_code_the_client_sees():
    tree = ast.parse('raise ValidationError({"amount": ["x"]}, code="max_decimal_places")')
    assert _codes_in_tree(tree) == [("invalid_input", 1)]


def test_every_error_code_is_documented_in_errors_md(discovered):
    missing = {code: where for code, where in discovered.items() if code not in _documented_codes()}
    assert not missing, f"add these codes to docs/errors.md: {missing}"
