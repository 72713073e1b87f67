"""Exit 0 when the embedded model loads and generates a token on this machine."""

from llama_cpp import Llama

from canvasflow.models.local import default_model_path

model = Llama(model_path=str(default_model_path()), n_ctx=256, verbose=False)
out = model.create_completion("Hello", max_tokens=1)
assert out["choices"], out
print("embedded model: ok")
