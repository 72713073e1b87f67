"""Save a streamed answer to a file, flushing after every token."""

from datetime import datetime

from canvasflow import Flowise, PredictionData
from canvasflow.sdk import write_stream

filename = f"streaming_output_{datetime.now():%Y%m%d_%H%M%S}.txt"
with Flowise("http://127.0.0.1:3000") as client:
    stream = client.create_prediction(
        PredictionData(canvasId="default", question="Write about machine learning.", streaming=True)
    )
    write_stream(stream, filename)
print("saved to", filename)
