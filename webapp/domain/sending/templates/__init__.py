"""Message templates: rendering them, checking the shipped ones, and what one may cost."""
