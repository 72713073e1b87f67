"""The canvas created on first start: a conversation chain with buffer memory on the
embedded model."""

from __future__ import annotations

from typing import Any

DEFAULT_SLUG = "default"


def _node(node_id: str, name: str, category: str, inputs: dict[str, Any], x: int) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": "customNode",
        "position": {"x": x, "y": 200},
        "data": {
            "id": node_id,
            "name": name,
            "label": name,
            "category": category,
            "inputs": inputs,
        },
    }


def default_flow() -> dict[str, Any]:
    return {
        "nodes": [
            _node(
                "chatLocal_0", "chatLocal", "Chat Models", {"temperature": 0.2, "maxTokens": 256}, 0
            ),
            _node("bufferMemory_0", "bufferMemory", "Memory", {"memoryKey": "chat_history"}, 0),
            _node(
                "conversationChain_0",
                "conversationChain",
                "Chains",
                {
                    "model": "{{chatLocal_0.data.instance}}",
                    "memory": "{{bufferMemory_0.data.instance}}",
                },
                400,
            ),
        ],
        "edges": [
            {
                "source": "chatLocal_0",
                "target": "conversationChain_0",
                "sourceHandle": "chatLocal_0-output-chatLocal-ChatLocal|BaseChatModel",
                "targetHandle": "conversationChain_0-input-model-BaseChatModel",
                "id": "e1",
            },
            {
                "source": "bufferMemory_0",
                "target": "conversationChain_0",
                "sourceHandle": "bufferMemory_0-output-bufferMemory-BufferMemory|BaseMemory",
                "targetHandle": "conversationChain_0-input-memory-BaseMemory",
                "id": "e2",
            },
        ],
    }
