"""The chat server's periodic work: the idle sweeper and the licence watcher, and their runner."""
