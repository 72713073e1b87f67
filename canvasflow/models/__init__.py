"""Chat models behind one small interface: stream a list of chat messages as text pieces."""

from canvasflow.models.base import ChatModel, Message, Usage

__all__ = ["ChatModel", "Message", "Usage"]
