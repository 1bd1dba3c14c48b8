"""The chat server's periodic work: idle sweeper and licence watcher."""
