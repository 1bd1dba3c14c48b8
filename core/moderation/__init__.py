"""The content filter: word lists, the matcher and the log of blocks."""
