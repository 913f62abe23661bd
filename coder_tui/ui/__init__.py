"""The Textual front end: turns core events into widgets and keys into core calls."""
