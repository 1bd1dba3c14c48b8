"""The chat session: its state machine, answering pipeline and connections."""
