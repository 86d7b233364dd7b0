"""The AsyncAPI 3.0 document of every topic: channel, key, headers, payload schema, producer and consumers.

Generated from the same pydantic models as the JSON Schemas (``schema_export.py``), so it cannot drift from
the code; ``listening-path contracts export`` writes it to ``docs/contracts/asyncapi.yaml``.
"""

from __future__ import annotations

from typing import Any

from shared.contracts.envelope import CloudEvent
from shared.contracts.topics import CONTRACTS, dead_letter_topic

SERVICES = ("ingest", "nlp", "journey")


def _id(topic: str) -> str:
    return topic.replace(".", "_").replace("-", "_")


def asyncapi_document(version: str = "0.1.0") -> dict[str, Any]:
    """The AsyncAPI document as a plain dict (dump it as YAML or JSON)."""
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    components_schemas: dict[str, Any] = {}
    for contract in CONTRACTS:
        cid = _id(contract.topic)
        model = CloudEvent[contract.payload]  # type: ignore[name-defined]
        schema = model.model_json_schema(mode="serialization", ref_template="#/components/schemas/{model}")
        schema["title"] = f"{contract.topic} ({contract.event_type})"
        defs = schema.pop("$defs", {})
        for name, definition in defs.items():
            components_schemas[name] = definition
        components_schemas[f"{cid}_event"] = schema
        messages[f"{cid}_event"] = {
            "name": contract.event_type,
            "title": contract.payload.__name__,
            "summary": (contract.payload.__doc__ or "").strip().splitlines()[0],
            "contentType": "application/cloudevents+json",
            "payload": {"$ref": f"#/components/schemas/{cid}_event"},
            "headers": {"type": "object", "properties": {
                "ce_id": {"type": "string", "description": "The CloudEvent id (also in the body)."}}},
            "bindings": {"kafka": {"key": {"type": "string", "description": contract.key}, "bindingVersion": "0.5.0"}},
        }
        channels[cid] = {
            "address": contract.topic,
            "description": f"{contract.payload.__name__} events. Key: {contract.key}. Delivery is at-least-once; "
                           "consumers deduplicate on the CloudEvent id.",
            "messages": {"event": {"$ref": f"#/components/messages/{cid}_event"}},
        }
        operations[f"{contract.producer}_sends_{cid}"] = {
            "action": "send", "channel": {"$ref": f"#/channels/{cid}"},
            "summary": f"{contract.producer} publishes", "tags": [{"name": contract.producer}],
        }
        for consumer in contract.consumers:
            operations[f"{consumer}_receives_{cid}"] = {
                "action": "receive", "channel": {"$ref": f"#/channels/{cid}"},
                "summary": f"{consumer} consumes (consumer group lp-{consumer})", "tags": [{"name": consumer}],
            }
    channels["dead_letters"] = {
        "address": dead_letter_topic("{group}"),
        "description": "Messages a consumer group can never process, with the reason (DeadLetter).",
        "parameters": {"group": {"description": "The consumer group, e.g. lp-nlp or lp-journey."}},
    }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Listening Path events", "version": version,
                 "description": "Every event is a CloudEvents 1.0 structured-JSON envelope whose `data` is the "
                                "payload named by the topic. Versioning policy: additive changes keep a topic's "
                                "version; breaking changes get a new topic (docs/contracts/VERSIONING.md)."},
        "defaultContentType": "application/cloudevents+json",
        "servers": {"embedded": {"host": "127.0.0.1:9092", "protocol": "kafka",
                                 "description": "listening-path up prints the bundled broker's port"},
                    "production": {"host": "kafka:9092", "protocol": "kafka"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": components_schemas},
    }
