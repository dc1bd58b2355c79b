"""The contract generates a working client, as an integrator would make one: openapi-python-client
on the committed docs/openapi.json, then every v2 operation called through it against a running
API, each answer parsed into the model the document declares for its status."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import live

# The generated client against the contract, whatever the engine: the SQLite pass runs it.
pytestmark = pytest.mark.database_free

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
PACKAGE = "rx_universe_v_2_api_simulator_rx_jobtracker_client"
GENERATOR = Path(sys.executable).parent / "openapi-python-client"
V2 = "Rx-Universe v2"
KEY = "key-one"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ModuleType, str]]:
    """The generated package, imported; and what the generator said."""
    if not GENERATOR.exists():
        pytest.fail(f"{GENERATOR} is missing: scripts/setup test installs it")
    out = tmp_path_factory.mktemp("client") / "client"
    run = subprocess.run(
        [GENERATOR, "generate", "--path", ROOT / "docs" / "openapi.json", "--output-path", out],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module(PACKAGE), run.stdout + run.stderr
    finally:
        sys.path.remove(str(out))
        for name in [name for name in sys.modules if name.startswith(PACKAGE)]:
            del sys.modules[name]
        shutil.rmtree(out, ignore_errors=True)


def test_every_model_survives_the_generator(generated: tuple[ModuleType, str]) -> None:
    _, said = generated
    assert "Unable to process schema" not in said, said
    models = importlib.import_module(f"{PACKAGE}.models")
    for name in ("Order", "OrderList", "OrderStatus", "SubmittedOrder", "CompletionAccepted"):
        assert hasattr(models, name), name


def declared_models(operation_id: str, status: int) -> set[str]:
    """The model names the document declares for an operation's answer with this status."""
    for operations in DOCUMENT["paths"].values():
        for operation in operations.values():
            if operation["operationId"] == operation_id:
                schema = operation["responses"][str(status)]["content"]["application/json"]
                schema = schema["schema"]
                refs = schema.get("oneOf", [schema])
                return {ref["$ref"].rsplit("/", 1)[1] for ref in refs}
    raise AssertionError(operation_id)


def v2_operations() -> set[str]:
    return {
        operation["operationId"]
        for operations in DOCUMENT["paths"].values()
        for operation in operations.values()
        if operation["tags"] == [V2]
    }


@pytest.mark.e2e
def test_every_v2_operation_works_through_the_generated_client(
    generated: tuple[ModuleType, str], database_url: str, tmp_path: Path
) -> None:
    package, _ = generated
    models = importlib.import_module(f"{PACKAGE}.models")

    def operation(name: str) -> Any:
        return importlib.import_module(f"{PACKAGE}.api.rx_universe_v_2.{name}")

    with live.run_api(database_url, tmp_path, API_KEYS=KEY) as api:
        status, _ = live.call(
            "POST",
            api.base_url + "/api/sim/orders",
            {"orderNumber": "33719", "trayNumber": "123", "poNumber": "PO-7", "stations": ["GEN"]},
        )
        assert status == 201
        client = package.AuthenticatedClient(base_url=api.base_url, token=KEY)
        identifier = {"order_identifier": "33719"}
        calls: dict[str, tuple[int, Any]] = {
            "addons": (200, {}),
            "addon": (200, {"code": "AR"}),
            "stations": (200, {}),
            "station": (200, {"code": "GEN"}),
            "checkin": (
                201,
                {"code": "FIN", "body": models.CheckinBody.from_dict({"orderIdentifier": "33719"})},
            ),
            "order": (200, identifier),
            "order_status": (200, identifier),
            "orders": (200, {"limit": 5}),
            "history": (200, identifier),
            "pick_information": (200, identifier),
            "perform_pick_verification": (
                400,  # a code the order does not expect: the refusal parses as its model too
                {**identifier, "body": models.PickCodes.from_dict({"rtOPC": "9999999999"})},
            ),
            "assign_tray": (
                200,
                {
                    **identifier,
                    "body": models.TrayAssignment.from_dict(
                        {"trayNumber": "124", "reassign": True}
                    ),
                },
            ),
            "print_work_ticket": (201, identifier),
            "complete_order": (201, identifier),
            "submit_order": (
                202,
                {
                    "body": models.OrderSubmission.from_dict(
                        {
                            "customerJobId": "JOB-1",
                            "customerNumber": "1001",
                            "jobType": "F",
                            "poNumber": "PO-8",
                            "rtLensStyle": "SV",
                            "rtLensMaterial": "PC",
                            "ltLensStyle": "SV",
                            "ltLensMaterial": "PC",
                        }
                    )
                },
            ),
            "cancel": (200, identifier),
        }
        assert set(calls) == v2_operations()
        for name, (expected, kwargs) in calls.items():
            response = operation(name).sync_detailed(client=client, **kwargs)
            assert response.status_code == expected, (name, response.content)
            parsed = type(response.parsed).__name__
            assert parsed in declared_models(name, expected), (name, parsed)
        # Without the key, the same client gets the documented 401, parsed.
        anonymous = package.Client(base_url=api.base_url)
        refused = operation("order").sync_detailed(client=anonymous, **identifier)
        assert (refused.status_code, type(refused.parsed).__name__) == (401, "Error")
