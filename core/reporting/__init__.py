"""What the licensor and licensees read: usage details and figures."""
