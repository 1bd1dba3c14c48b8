"""What licensees are billed: unit prices and, to come, statements."""
