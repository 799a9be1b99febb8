"""Inline commands (``SET k "a b"\\r\\n``): splitting one line into arguments as Redis does.

What may live here: the quoting rules of Redis's ``sdssplitargs``, used by the request
parser in ``resp.protocol`` for commands typed without the multibulk framing
(``telnet``, ``redis-cli`` in inline mode). Pure: bytes in, arguments out.
"""

from __future__ import annotations

_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}
_SPACE = b" \n\r\t\x0b\x0c\x00"
_HEX = b"0123456789abcdefABCDEF"


def split_inline(line: bytes) -> list[bytes] | None:
    """Split an inline command the way Redis's ``sdssplitargs`` does: blanks separate
    arguments; ``"..."`` understands ``\\n \\r \\t \\b \\a \\\\ \\" \\xHH``; ``'...'``
    understands ``\\'``. A closing quote must be followed by a blank. ``None`` when
    quotes are unbalanced."""
    args: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in _SPACE:
            i += 1
        if i >= n:
            return args
        current = bytearray()
        quote = 0
        while True:
            if i >= n:
                if quote:
                    return None
                break
            c = line[i]
            if quote == 0x22:  # inside "..."
                if (
                    c == 0x5C
                    and i + 3 < n
                    and line[i + 1] == 0x78
                    and line[i + 2] in _HEX
                    and line[i + 3] in _HEX
                ):
                    current.append(int(line[i + 2 : i + 4], 16))
                    i += 3
                elif c == 0x5C and i + 1 < n:
                    i += 1
                    current.append(_ESCAPES.get(line[i], line[i]))
                elif c == 0x22:
                    if i + 1 < n and line[i + 1] not in _SPACE:
                        return None
                    i += 1
                    break
                else:
                    current.append(c)
            elif quote == 0x27:  # inside '...'
                if c == 0x5C and i + 1 < n and line[i + 1] == 0x27:
                    i += 1
                    current.append(0x27)
                elif c == 0x27:
                    if i + 1 < n and line[i + 1] not in _SPACE:
                        return None
                    i += 1
                    break
                else:
                    current.append(c)
            elif c in _SPACE:
                break
            elif c in (0x22, 0x27):
                quote = c
            else:
                current.append(c)
            i += 1
        args.append(bytes(current))
