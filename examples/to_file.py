"""Save a streamed answer to a file, flushing after every token."""

import os
from datetime import datetime

from canvasflow import Flowise, PredictionData
from canvasflow.sdk import write_stream

# the server: CANVASFLOW_URL, else a local one
URL = os.environ.get("CANVASFLOW_URL", "http://127.0.0.1:3000")

filename = f"streaming_output_{datetime.now():%Y%m%d_%H%M%S}.txt"
with Flowise(URL) as client:
    stream = client.create_prediction(
        PredictionData(canvasId="default", question="Write about machine learning.", streaming=True)
    )
    write_stream(stream, filename)
print("saved to", filename)
