"""The task agent: the catalog tools over the Task API, an Agents SDK agent on our server,
and end-to-end scenarios scored by the final database state."""
