"""One sub-package per venue; a venue's wire format never leaves its package."""
