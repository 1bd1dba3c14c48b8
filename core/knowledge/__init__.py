"""A licensee's knowledge base: entries, their store, import and export files."""
