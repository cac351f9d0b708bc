"""Reference data (roles, regions, units, the national pathway list) and demo data."""
