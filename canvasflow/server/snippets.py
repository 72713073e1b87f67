"""The code a canvas's API dialog hands out (Flowise's "API endpoint" dialog): calls of
the prediction API with curl, Python (requests, streaming with ``iter_lines``, as the
streaming guide does), canvasflow's Python and TypeScript SDKs, JavaScript's fetch,
Flowise's own SDKs, the OpenAI door and MCP, each filled in with the canvas's address
and runnable as shown (a test runs every one against a live server). A canvas with keys
reads its key from ``CANVASFLOW_KEY`` (keys are kept as hashes: the server cannot show
one again), an MCP client its token from ``CANVASFLOW_MCP_TOKEN``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

QUESTION = "Hey, how are you?"
# what the code handed out reads its key with (canvasflow itself reads the environment
# only in config.py; this is text for the user's program)
ENVIRON = "os." + "environ"


@dataclass(frozen=True)
class Snippet:
    key: str
    label: str
    language: str  # shell, python, javascript
    code: str


def snippets(
    base: str,
    canvas_id: str,
    slug: str,
    locked: bool,
    override_example: dict[str, Any] | None = None,
    mcp_url: str | None = None,
) -> list[Snippet]:
    """Every snippet for one canvas, in the dialog's order."""
    url = f"{base}/api/v1/prediction/{canvas_id}"
    body: dict[str, Any] = {"question": QUESTION}
    if override_example:
        body["overrideConfig"] = override_example
    out: list[Snippet] = []

    # -- the shell ----------------------------------------------------------------------
    auth_sh = ' \\\n  -H "Authorization: Bearer $CANVASFLOW_KEY"' if locked else ""
    out.append(
        Snippet(
            "curl",
            "curl",
            "shell",
            f"curl -s {url} \\\n  -H 'Content-Type: application/json'{auth_sh} \\\n"
            f"  -d '{json.dumps(body)}'",
        )
    )
    out.append(
        Snippet(
            "curl-stream",
            "curl (streaming)",
            "shell",
            f"curl -sN {url} \\\n  -H 'Content-Type: application/json'{auth_sh} \\\n"
            f"  -d '{json.dumps({**body, 'streaming': True})}'",
        )
    )

    # -- Python ---------------------------------------------------------------------------
    key_py = f'{ENVIRON}["CANVASFLOW_KEY"]' if locked else "None"
    headers_py = (
        '{"Authorization": f"Bearer {' + ENVIRON + "['CANVASFLOW_KEY']}\"}" if locked else "{}"
    )
    body_py = repr({**body, "streaming": True})
    out.append(
        Snippet(
            "python-requests",
            "Python (requests, streaming)",
            "python",
            f"""import json
import os

import requests

URL = "{url}"
headers = {headers_py}
body = {body_py}

with requests.post(URL, json=body, headers=headers, stream=True, timeout=120) as r:
    r.raise_for_status()
    for line in r.iter_lines(decode_unicode=True):
        if not line or not line.startswith("data:") or line == "data: [DONE]":
            continue
        event = json.loads(line[5:])
        if event["event"] == "token":
            print(event["data"], end="", flush=True)
        elif event["event"] == "error":
            raise SystemExit(event["data"])
print()
""",
        )
    )
    over_py = f", overrideConfig={override_example!r}" if override_example else ""
    out.append(
        Snippet(
            "python-sdk",
            "Python SDK",
            "python",
            f"""import os

from canvasflow import Flowise, PredictionData

with Flowise(base_url="{base}", api_key={key_py}) as client:
    stream = client.create_prediction(
        PredictionData(canvasId="{canvas_id}", question="{QUESTION}", streaming=True{over_py})
    )
    for event in stream:
        if event["event"] == "token":
            print(event["data"], end="", flush=True)
print()
""",
        )
    )
    out.append(
        Snippet(
            "python-sdk-async",
            "Python SDK (async)",
            "python",
            f"""import asyncio
import os

from canvasflow import AsyncFlowise, PredictionData


async def main() -> None:
    async with AsyncFlowise(base_url="{base}", api_key={key_py}) as client:
        stream = await client.create_prediction(
            PredictionData(canvasId="{canvas_id}", question="{QUESTION}", streaming=True{over_py})
        )
        async for event in stream:
            if event["event"] == "token":
                print(event["data"], end="", flush=True)
    print()


asyncio.run(main())
""",
        )
    )

    # -- JavaScript -----------------------------------------------------------------------
    headers_js = (
        "{ 'Content-Type': 'application/json', Authorization: "
        "`Bearer ${process.env.CANVASFLOW_KEY}` }"
        if locked
        else "{ 'Content-Type': 'application/json' }"
    )
    key_js = "process.env.CANVASFLOW_KEY" if locked else "undefined"
    over_js = f", overrideConfig: {json.dumps(override_example)}" if override_example else ""
    out.append(
        Snippet(
            "javascript-fetch",
            "JavaScript (fetch, streaming)",
            "javascript",
            f"""// Node.js 18+ or a browser
const response = await fetch('{url}', {{
  method: 'POST',
  headers: {headers_js},
  body: JSON.stringify({json.dumps({**body, "streaming": True})}),
}});
if (!response.ok) throw new Error(`${{response.status}}: ${{await response.text()}}`);
const reader = response.body.getReader();
const decoder = new TextDecoder();
let buffer = '';
for (;;) {{
  const {{ done, value }} = await reader.read();
  if (done) break;
  buffer += decoder.decode(value, {{ stream: true }});
  const lines = buffer.split('\\n');
  buffer = lines.pop();
  for (const line of lines) {{
    if (!line.startsWith('data:') || line === 'data: [DONE]') continue;
    const event = JSON.parse(line.slice(5));
    if (event.event === 'token') process.stdout.write(event.data);
  }}
}}
console.log();
""",
        )
    )
    out.append(
        Snippet(
            "typescript-sdk",
            "TypeScript SDK",
            "javascript",
            f"""// npm install canvasflow-sdk (clients/typescript in canvasflow's repository)
import {{ FlowiseClient }} from 'canvasflow-sdk';

const client = new FlowiseClient({{ baseUrl: '{base}', apiKey: {key_js} }});
const stream = await client.createPrediction({{
  canvasId: '{canvas_id}',
  question: '{QUESTION}',
  streaming: true{over_js},
}});
for await (const event of stream) {{
  if (event.event === 'token') process.stdout.write(String(event.data));
}}
console.log();
""",
        )
    )
    out.append(
        Snippet(
            "flowise-sdk",
            "Flowise SDK (JavaScript)",
            "javascript",
            f"""// npm install flowise-sdk: Flowise's own SDK works unchanged
import flowiseSdk from 'flowise-sdk'; // a CommonJS package

const {{ FlowiseClient }} = flowiseSdk;

const client = new FlowiseClient({{ baseUrl: '{base}', apiKey: {key_js} }});
const prediction = await client.createPrediction({{
  chatflowId: '{canvas_id}',
  question: '{QUESTION}',
  streaming: true{over_js},
}});
for await (const chunk of prediction) {{
  if (chunk.event === 'token') process.stdout.write(chunk.data);
}}
console.log();
""",
        )
    )
    out.append(
        Snippet(
            "flowise-py",
            "Flowise SDK (Python)",
            "python",
            f"""# pip install flowise: Flowise's own Python SDK works unchanged
import os

from flowise import Flowise, PredictionData

client = Flowise(base_url="{base}", api_key={key_py})
completion = client.create_prediction(
    PredictionData(chatflowId="{canvas_id}", question="{QUESTION}", streaming=True{over_py})
)
for chunk in completion:
    print(chunk)
""",
        )
    )
    key_openai = f'{ENVIRON}["CANVASFLOW_KEY"]' if locked else '"none"'
    out.append(
        Snippet(
            "openai",
            "OpenAI SDK (the OpenAI door)",
            "python",
            f"""# pip install openai: the canvas is the model
import os

from openai import OpenAI

client = OpenAI(base_url="{base}/v1", api_key={key_openai})
stream = client.chat.completions.create(
    model="{slug}",
    messages=[{{"role": "user", "content": "{QUESTION}"}}],
    stream=True,
)
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        print(chunk.choices[0].delta.content, end="", flush=True)
print()
""",
        )
    )
    if mcp_url:
        out.append(
            Snippet(
                "mcp",
                "MCP (Python)",
                "python",
                f"""# pip install mcp: the canvas served as an MCP server (its Settings)
import asyncio
import os

import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


async def main() -> None:
    headers = {{"Authorization": f"Bearer {{{ENVIRON}['CANVASFLOW_MCP_TOKEN']}}"}}
    async with (
        httpx.AsyncClient(headers=headers, timeout=120) as http,
        streamable_http_client("{mcp_url}", http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        tool = (await session.list_tools()).tools[0]
        result = await session.call_tool(tool.name, {{"question": "{QUESTION}"}})
        print(result.content[0].text)


asyncio.run(main())
""",
            )
        )
    return out
