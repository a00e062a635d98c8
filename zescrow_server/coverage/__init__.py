"""Coverage: which local users of each enrolled host have a verified escrow (issue #13)."""
