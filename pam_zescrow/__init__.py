"""zescrow's client: the login-time pipeline that escrows an eCryptfs key.

The story, one module per step: capture → decide → unwrap → verify →
archive → seal → spool. The PAM hook, `zescrowd` and `zescrowctl` all call
these modules; nothing lives only in the PAM layer.
"""

__version__ = "0.1.0"
