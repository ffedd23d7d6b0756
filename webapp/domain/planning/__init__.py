"""Planning: applying the inbox's events to bookings and people, and the messages each one means."""
