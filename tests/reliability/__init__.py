"""Issue 4: never lose work, never crash on bad input. See helpers.py for the shared pieces."""
