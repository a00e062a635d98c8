"""zescrowd, the per-user daemon, and zescrowctl, the command line."""
