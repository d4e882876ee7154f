"""Input echo and consistency through the API: an error quotes at most ~60 characters of a bad
value; control characters, C1 codes, DEL, bidi controls and lone UTF-16 surrogates in any
free-text field are a 400 naming the field, and nothing is recorded or created."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from apiclient import SEED_AZURE_BODY, Api

BAD_TEXT = {
    "ESC": "a\x1b[31mred",
    "C1 CSI": "a\x9bb",
    "DEL": "a\x7fb",
    "NUL": "a\x00b",
    "newline": "a\nb",
    "bidi override": "a\u202eb",
    "bidi isolate": "a\u2066b",
}


def _body(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(SEED_AZURE_BODY)
    config = changes.pop("config", {})
    body.update(changes)
    body["config"].update(config)
    return body


def _post_raw(api: Api, text: str):
    return api.client.post(
        "/api/instances",
        content=text.encode(),
        headers={**api.user, "Content-Type": "application/json"},
    )


@pytest.mark.parametrize("kind", sorted(BAD_TEXT))
@pytest.mark.parametrize(
    ("where", "field"),
    [
        ("purpose", "purpose"),
        ("tag value", "config.tags"),
        ("tag key", "config.tags"),
        ("task id", "taskId"),
    ],
)
def test_unsafe_characters_in_free_text_are_a_400(api: Api, kind, where, field):
    bad = BAD_TEXT[kind]
    body = {
        "purpose": _body(purpose=bad),
        "tag value": _body(config={"tags": {"project": bad}}),
        "tag key": _body(config={"tags": {bad: "x"}}),
        "task id": _body(taskId=bad),
    }[where]
    response = api.client.post("/api/instances", json=body, headers=api.user)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field
    assert api.service.list() == []


@pytest.mark.parametrize(
    ("where", "field"),
    [
        ('"purpose": "a\\ud800b"', "purpose"),
        ('"taskId": "\\udfff"', "taskId"),
        ('"config": {"provider": "AWS", "instanceType": "g4dn.xlarge", "tags": {"\\ud800": "x"}}',
         "config.tags"),
        ('"config": {"provider": "AWS", "instanceType": "g4dn.xlarge", "tags": {"k": "\\ud83d"}}',
         "config.tags"),
    ],
)  # fmt: skip
def test_lone_surrogates_are_a_400_and_never_reach_the_cloud(api: Api, where, field):
    text = '{"userId": "user-123", ' + where
    if '"config"' not in where:
        text += ', "config": {"provider": "AWS", "instanceType": "g4dn.xlarge"}'
    response = _post_raw(api, text + "}")
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field
    assert api.service.list() == []  # no FAILED, billed instance


def test_an_error_quotes_a_huge_value_only_in_part(api: Api):
    huge = "t" * 10_000
    response = api.client.post("/api/instances", json=_body(taskId=huge), headers=api.user)
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert len(message) < 200 and "10000 characters" in message


def test_an_unknown_long_id_is_not_echoed_whole(api: Api):
    response = api.client.get("/api/instances/" + "i" * 5000, headers=api.user)
    assert response.status_code in (400, 404)
    assert len(json.dumps(response.json())) < 400
