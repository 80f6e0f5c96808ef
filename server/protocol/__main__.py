"""`python -m server.protocol` rewrites the committed JSON Schema."""

from server.protocol import SCHEMA_PATH, schema_text

SCHEMA_PATH.write_text(schema_text())
print(f"wrote {SCHEMA_PATH}")
