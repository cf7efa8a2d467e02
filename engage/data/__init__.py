"""The data layer: functions named for what they do, each owning its SQL and transaction."""
