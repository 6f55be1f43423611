"""Disaster-recovery archives: their names and manifests, and listing, verifying and restoring them."""
