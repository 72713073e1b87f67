"""Print an answer sentence by sentence as it streams (StreamBuffer)."""

import os
import sys

from canvasflow import Flowise, PredictionData, StreamBuffer

# the server: CANVASFLOW_URL, else a local one
URL = os.environ.get("CANVASFLOW_URL", "http://127.0.0.1:3000")

question = sys.argv[1] if len(sys.argv) > 1 else "Tell me about the Moon."
buffer = StreamBuffer()
with Flowise(URL) as client:
    for event in client.create_prediction(
        PredictionData(canvasId="default", question=question, streaming=True)
    ):
        if event["event"] == "token":
            buffer.add_text(event["data"])
            for sentence in buffer.get_complete_sentences():
                print("»", sentence)
for sentence in buffer.flush():
    print("»", sentence)
