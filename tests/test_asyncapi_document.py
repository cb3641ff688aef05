"""docs/asyncapi.yaml is a valid AsyncAPI 3.0.0 document (the specification's own JSON
Schema, shipped in tests/data/asyncapi with its licence, checked offline) and its channel
addresses are the topics the service publishes on. The events themselves are checked
against the document's schemas as published: tests/test_alert_feeds.py,
tests/test_hazard_feeds.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema

from mda.exchange.feeds import STATUS_TOPIC, alert_topic
from mda.exchange.hazard_feed import hazard_topic
from mda.store.alerts import alert_message

ROOT = Path(__file__).resolve().parents[1]
SPEC = json.loads((ROOT / "tests" / "data" / "asyncapi" / "asyncapi-3.0.0.schema.json").read_text())
DOC = json.loads((ROOT / "docs" / "asyncapi.yaml").read_text())


def _errors(doc: dict) -> list[str]:
    validator = jsonschema.validators.validator_for(SPEC)(SPEC)
    return [f"{list(e.path)}: {e.message[:160]}" for e in validator.iter_errors(doc)]


def test_the_document_is_valid_asyncapi_3():
    assert DOC["asyncapi"].startswith("3.")
    assert _errors(DOC) == []


def test_the_specification_schema_catches_a_broken_document():
    """The check has teeth: an operation that neither sends nor receives, a channel given
    as a number, and a document without its info are each refused."""
    for breakage in ("action", "address", "info"):
        doc = copy.deepcopy(DOC)
        if breakage == "action":
            next(iter(doc["operations"].values()))["action"] = "push"
        elif breakage == "address":
            next(iter(doc["channels"].values()))["address"] = 5
        else:
            del doc["info"]
        assert _errors(doc), breakage


def _address(channel: str, **params) -> str:
    address = DOC["channels"][channel]["address"]
    for name, value in params.items():
        address = address.replace("{" + name + "}", str(value))
    assert "{" not in address, address
    return address


def test_the_channels_are_the_topics_the_service_publishes_on():
    message = alert_message({"id": 1, "kind": "loitering", "mmsi": 419000001, "status": "open"})
    assert alert_topic(message) == _address("alerts", kind="loitering", mmsi=419000001)
    assert alert_topic(message, "srilanka") == _address(
        "partnerAlerts", partner="srilanka", kind="loitering", mmsi=419000001
    )
    assert hazard_topic(12) == _address("hazards", hazardId=12)
    assert hazard_topic(12, cap=True) == _address("hazardCap", hazardId=12)
    assert hazard_topic(12, "srilanka") == _address(
        "partnerHazards", partner="srilanka", hazardId=12
    )
    assert hazard_topic(12, "srilanka", cap=True) == _address(
        "partnerHazardCap", partner="srilanka", hazardId=12
    )
    assert STATUS_TOPIC == _address("status")
    # every channel is sent on by an operation of the document
    sent = {op["channel"]["$ref"].rsplit("/", 1)[1] for op in DOC["operations"].values()}
    assert sent == set(DOC["channels"])
