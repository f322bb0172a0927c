"""Tool catalogs shipped with tooltune (JSON files in the OpenAI ``tools`` format)."""
