"""What models cost: US dollars per million input and output tokens. The operator's
table (``PUT /api/v1/evaluations/prices``, kept in the database) is read over these
defaults; a model is found by its exact name, else by the longest name it starts with
(``gpt-4o-mini-2024-07-18`` is priced as ``gpt-4o-mini``)."""

from __future__ import annotations

# list prices (USD per million tokens: input, output) of common models, December 2026;
# the operator's table replaces any of them
DEFAULTS: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.5, 10.0),
    "gpt-4o-mini": (0.15, 0.6),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.4, 1.6),
    "gpt-4.1-nano": (0.1, 0.4),
    "gpt-3.5-turbo": (0.5, 1.5),
    "o3-mini": (1.1, 4.4),
    "claude-3-5-sonnet": (3.0, 15.0),
    "claude-3-5-haiku": (0.8, 4.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-opus-4": (15.0, 75.0),
    "gemini-1.5-flash": (0.075, 0.3),
    "gemini-1.5-pro": (1.25, 5.0),
    "mistral-small": (0.2, 0.6),
    "mistral-large": (2.0, 6.0),
    # models run here cost nothing per token
    "SmolLM2": (0.0, 0.0),
}


class Prices:
    def __init__(self, table: dict[str, tuple[float, float]]) -> None:
        self.table = {**DEFAULTS, **table}
        self._names = sorted(self.table, key=len, reverse=True)

    def of(self, model: str | None) -> tuple[float, float] | None:
        if not model:
            return None
        found = self.table.get(model)
        if found is not None:
            return found
        lower = model.lower()
        for name in self._names:
            if lower.startswith(name.lower()):
                return self.table[name]
        return None

    def cost(self, model: str | None, prompt_tokens: int, completion_tokens: int) -> float | None:
        price = self.of(model)
        if price is None:
            return None
        return round((prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6, 8)
