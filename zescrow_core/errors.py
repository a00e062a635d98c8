"""Failures of custodians-mode containers and shares (custodians.py)."""

from pam_zescrow.errors import ZescrowError


class ContainerInvalid(ZescrowError):
    code, exit_code = "custodian-container-invalid", 45
    message = "this is not a usable custodians-mode escrow: {reason}"
    hint = ("it may be damaged or made for another server's custodians; download it again, "
            "or escrow again after zescrowctl setup")


class ShareInvalid(ZescrowError):
    code, exit_code = "custodian-share-invalid", 46
    message = "a custodian's share cannot be used: {reason}"
    hint = "ask the custodian to approve this very request again (zescrowctl custodian approve)"


class ThresholdNotMet(ZescrowError):
    code, exit_code = "custodian-threshold-not-met", 47
    message = "{have} custodian share(s) are in; opening this escrow takes {need}"
    hint = "wait for more custodians to approve the request, then run the command again"
