"""Just enough OpenPGP (RFC 4880) to check a sealed archive without decrypting it (S7).

The server checks, on the request path, that an upload is an encrypted
OpenPGP message whose public-key-encrypted session key (PKESK) packets
include one for its own encryption key. That needs packet headers and the
PKESK's key ID only: no cryptography, bounded work, no gpg process.
"""

import base64
import binascii

TAG_PKESK, TAG_SKESK = 1, 3
TAG_SED, TAG_SEIPD, TAG_AEAD = 9, 18, 20
ENCRYPTED_DATA = {TAG_SED, TAG_SEIPD, TAG_AEAD}


class NotOpenPGP(ValueError):
    """The bytes are not an encrypted OpenPGP message."""


def packets(data, limit=64):
    """Yield (tag, body offset, body length) for the packets in `data`."""
    pos, count = 0, 0
    while pos < len(data):
        count += 1
        if count > limit:
            raise NotOpenPGP("more than %d packets" % limit)
        tag, start, length, partial = _header(data, pos)
        if partial:  # partial lengths: only the encrypted data packet may use them, and it is last
            yield tag, start, len(data) - start
            return
        if start + length > len(data):
            raise NotOpenPGP("a packet runs past the end of the message (truncated?)")
        yield tag, start, length
        pos = start + length


def recipients(data):
    """The key IDs (16 hex, upper case) the message's session key is encrypted to."""
    key_ids, saw_data = [], False
    for tag, start, length in packets(data):
        if tag == TAG_PKESK:
            if length < 10 or data[start] != 3:
                raise NotOpenPGP("unsupported public-key session key packet (version %d)"
                                 % (data[start] if length else -1))
            key_ids.append(data[start + 1:start + 9].hex().upper())
        elif tag == TAG_SKESK:
            continue
        elif tag in ENCRYPTED_DATA:
            saw_data = True
            break
        else:
            raise NotOpenPGP("packet type %d where an encrypted message starts" % tag)
    if not saw_data:
        raise NotOpenPGP("there is no encrypted data packet")
    if not key_ids:
        raise NotOpenPGP("it is not encrypted to a public key")
    return key_ids


def dearmor(text):
    """The bytes of an ASCII-armored OpenPGP message (the 2012 client sends these)."""
    lines = text.strip().splitlines()
    if not lines or not lines[0].startswith("-----BEGIN PGP MESSAGE-----"):
        raise NotOpenPGP("it does not start with -----BEGIN PGP MESSAGE-----")
    body, in_headers = [], True
    for line in lines[1:]:
        line = line.strip()
        if line.startswith("-----END PGP MESSAGE-----"):
            break
        if in_headers:
            if not line:
                in_headers = False
            elif ":" not in line:
                in_headers = False
                body.append(line)
            continue
        if line.startswith("="):  # the CRC-24 line
            continue
        body.append(line)
    try:
        return base64.b64decode("".join(body), validate=True)
    except (binascii.Error, ValueError):
        raise NotOpenPGP("the armor is not valid base64") from None


def _header(data, pos):
    first = data[pos]
    if not first & 0x80:
        raise NotOpenPGP("byte %d is not an OpenPGP packet header" % pos)
    if first & 0x40:  # new format
        tag, pos = first & 0x3F, pos + 1
        return (tag,) + _new_length(data, pos)
    tag, kind, pos = (first >> 2) & 0x0F, first & 0x03, pos + 1
    if kind == 3:  # indeterminate: to the end
        return tag, pos, len(data) - pos, False
    size = (1, 2, 4)[kind]
    if pos + size > len(data):
        raise NotOpenPGP("truncated packet header")
    return tag, pos + size, int.from_bytes(data[pos:pos + size], "big"), False


def _new_length(data, pos):
    if pos >= len(data):
        raise NotOpenPGP("truncated packet header")
    o = data[pos]
    if o < 192:
        return pos + 1, o, False
    if o < 224:
        if pos + 1 >= len(data):
            raise NotOpenPGP("truncated packet header")
        return pos + 2, ((o - 192) << 8) + data[pos + 1] + 192, False
    if o == 255:
        if pos + 5 > len(data):
            raise NotOpenPGP("truncated packet header")
        return pos + 5, int.from_bytes(data[pos + 1:pos + 5], "big"), False
    return pos + 1, 1 << (o & 0x1F), True
