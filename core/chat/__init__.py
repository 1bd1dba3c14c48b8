"""Conversations (= usage units), messages, ratings and the protocol v1 frames."""
