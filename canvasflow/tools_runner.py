"""Runs one custom tool call in a separate, limited Python process (never in the
server). Reads ``{"code", "args"}`` as JSON on stdin, writes ``{"result"}`` or
``{"error"}`` as JSON on stdout. The code either defines ``run(**args)`` or sets
``result`` (with the arguments available as ``args``)."""

import json
import sys


def main() -> None:
    request = json.loads(sys.stdin.read())
    namespace = {"args": dict(request.get("args") or {}), "__name__": "canvasflow_tool"}
    try:
        exec(compile(request["code"], "<custom tool>", "exec"), namespace)
        if callable(namespace.get("run")):
            result = namespace["run"](**namespace["args"])
        else:
            result = namespace.get("result")
        out = {"result": result if isinstance(result, str) else json.dumps(result, default=str)}
    except BaseException as exc:  # report whatever the tool raised
        out = {"error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(out))


if __name__ == "__main__":
    main()
