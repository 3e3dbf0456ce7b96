"""ETL: reads a center's exports, maps them with a source profile, writes the warehouse."""
