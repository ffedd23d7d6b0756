"""Staff: accounts and the audit log, what staff do, and what the dashboard shows them."""
