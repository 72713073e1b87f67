"""The async client, with an abort after ten tokens."""

import asyncio
import os

from canvasflow.sdk import AsyncFlowise, PredictionData

# the server: CANVASFLOW_URL, else a local one
URL = os.environ.get("CANVASFLOW_URL", "http://127.0.0.1:3000")


async def main() -> None:
    async with AsyncFlowise(URL) as client:
        stream = await client.create_prediction(
            PredictionData(canvasId="default", question="Count to one hundred.", streaming=True)
        )
        count = 0
        async for event in stream:
            if event["event"] == "token":
                count += 1
                print(event["data"], end="", flush=True)
                if count == 10:
                    await stream.abort()
            elif event["event"] == "metadata":
                print(f"\n[status: {event['data']['status']}]")


asyncio.run(main())
