"""Assertions the tests share."""

from __future__ import annotations

from typing import Any

from werkzeug.test import TestResponse


def assert_body(response: TestResponse, status: int, body: dict[str, Any]) -> None:
    """The response has this status and exactly this JSON body, keys in this order."""
    assert (response.status_code, response.get_json()) == (status, body)
    assert list(response.get_json()) == list(body)
    assert response.mimetype == "application/json"


def completion_error(code: str, message: str) -> dict[str, Any]:
    """The documented body of a refused completion."""
    return {
        "error": "Could not complete order",
        "details": [f"Error Code: {code}", f"Error Message: {message}"],
    }
