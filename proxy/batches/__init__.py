"""Batches: where they are kept (store), who renders them (worker), who is told (webhook)."""
