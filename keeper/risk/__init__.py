"""Pure risk math: health factors and their display."""
