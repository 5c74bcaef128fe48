"""Price sources behind the market oracle: feeds, their events and their staleness."""
