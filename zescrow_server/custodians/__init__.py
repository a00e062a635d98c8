"""Custodians mode (server-blind escrow): the server publishes k and the
custodians, checks each upload's structure, and holds no key that opens it."""
