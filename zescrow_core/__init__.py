"""zescrow's core: what the hook, zescrowd, zescrowctl and the server all use.

New shared code lives here (STYLE.md: the core is named for what it is, and
the server should not import "the PAM module"); the eCryptfs key code, the
archive and sealing still live in pam_zescrow/ and move here in time.
"""
