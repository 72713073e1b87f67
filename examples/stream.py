"""Stream an answer token by token, then print sources, steps and token usage.

python examples/stream.py [canvas] [question]
"""

import os
import sys

from canvasflow import Flowise, PredictionData

# the server: CANVASFLOW_URL, else a local one
URL = os.environ.get("CANVASFLOW_URL", "http://127.0.0.1:3000")

canvas = sys.argv[1] if len(sys.argv) > 1 else "default"
question = sys.argv[2] if len(sys.argv) > 2 else "What is the capital of France?"

with Flowise(URL) as client:
    stream = client.create_prediction(
        PredictionData(
            canvasId=canvas,
            question=question,
            streaming=True,
            overrideConfig={"returnSourceDocuments": True, "returnIntermediateSteps": True},
        )
    )
    for event in stream.events():
        if event.event == "token":
            print(event.text, end="", flush=True)
        elif event.event == "step":
            print(f"\n[step {event.data['step']}: {event.data['input']} -> {event.data['output']}]")
        elif event.event == "source":
            for doc in event.data:
                print(
                    f"\n[source: {doc['metadata'].get('title') or doc['metadata'].get('source')}]"
                )
        elif event.event == "error":
            print(f"\n[error: {event.data['message']}]")
        elif event.event == "metadata":
            usage = event.data["usage"]
            print(f"\n[{event.data['model']}: {usage['total_tokens']} tokens]")
