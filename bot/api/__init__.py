"""The licensee API (secret key)."""
