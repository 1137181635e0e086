"""What other services integrate with: decision logs and metrics (issue 11)."""
