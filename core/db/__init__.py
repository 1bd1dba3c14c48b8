"""Storage: engines, sessions, the write path, tables and migrations."""
