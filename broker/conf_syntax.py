"""nats-server's configuration file syntax, read into plain Python values.

The format (nats-server's `conf/lex.go` and `conf/parse.go`) is forgiving:

    # comments with '#' or '//'
    port: 4222                  # `key: value`, `key = value` or `key value`
    max_payload = 2MB           # sizes: k/m/g/t/p/e are powers of 1000, kb/mb/... (or ki/mi/...) of 1024
    authorization {             # maps; entries end with a new line, ',' or ';'
      users [                   # arrays; values end with a new line or ','
        {user: "a", password: 'b'}
      ]
    }
    NAME = "zats"               # any key is also a variable for what follows in its block...
    server_name: $NAME          # ...referenced unquoted with '$'; failing that, the environment
    include ./more.conf         # another file's keys, relative to this file's directory

Values come out as dict (ConfMap), list (ConfList), str, int, float, bool and datetime. A ConfMap
remembers where each of its keys was written (`pos`) and which keys were referenced as variables
(`used`); a ConfList where each of its values was, so that errors found later name file, line and
column. Unquoted words follow nats-server exactly: `true/yes/on` are booleans, `1k` is 1000 but
`1x` and `30s` are strings, `127.0.0.1:4222` is a string. `digest()` is nats-server's
`sha256:...` of a parsed file (JSON of the tree as Go encodes it), shown by `-t`.

The reader is recursive descent over the text with anchored regular expressions; `ConfSyntaxError`
carries nats-server's wording for each syntax error.
"""

from __future__ import annotations

import bisect
import datetime as _dt
import decimal
import hashlib
import json
import os
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

# Go's unicode.IsSpace; the lexer skips these between keys and values, but only ' ' and '\t'
# (isWhitespace) after a separator or a value.
_USPACE_CHARS = frozenset(" \t\n\v\f\r\x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
                          + "".join(map(chr, range(0x2000, 0x200B))))
_USPACE = "".join(sorted(_USPACE_CHARS))  # as the body of a regex character class
_FILLER = re.compile(rf"(?:[{_USPACE}]+|(?:#|//)[^\n\r]*)*")  # spaces, new lines, comments
_AFTER_BLOCK_FILLER = re.compile(r"(?:[ \t\n\r]|/(?!/))*")
_USPACES = re.compile(rf"[{_USPACE}]*")
_BLANKS = re.compile(r"[ \t]*")
_BLANKS_OR_SLASH = re.compile(r"(?:[ \t]|/(?!/))*")  # after a top-level value a lone '/' is a blank
_COMMENT = re.compile(r"(?:#|//)[^\n\r]*")
_KEY = re.compile(rf"[^{_USPACE}:=]*")
_UNQUOTED = re.compile(r"[^\n\r;,\]} \t'\\]*")  # an unquoted word stops at these (or '\')
_DQ_RUN = re.compile(r'[^"\\]*')
_DIGITS = re.compile(r"[0-9]+")
_SIZE_SUFFIX = re.compile(r"[kKmMgGtTpPeE][bBiI]*")
_IP_TAIL = re.compile(r"[0-9.:\-]*")
_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_DATETIME_SHAPE = "00-00T00:00:00Z"  # what follows "YYYY-", for the error message
_BLOCK_END = re.compile(r"(?<=\n)\)(?=\n|\Z)")  # a ')' alone at the start of a line
_HEX2 = re.compile(r"[0-9a-fA-F]{2}")
_INCLUDE_WORD = re.compile(r"[^\n\r;} \t']*")
_INCLUDE_REFUSALS = {"[": "start of an array", "{": "start of a map", "(": "start of a block",
                     "-": "start of a number", "\\": "escape sequence", "\n": "new line", "\r": "new line",
                     "\x00": "end of file"}

_NUMBER_ENDS = frozenset("\n\r};, \t\x00")  # after digits: anything else makes a word a string
_BOOLS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}
_ESCAPES = {"t": b"\t", "n": b"\n", "r": b"\r", '"': b'"', "\\": b"\\"}
# Size suffixes: k, m, g, t, p, e count in 1000s; kb, ki, kib (and so on) in 1024s.
_SIZES = {"": 1} | {letter + tail: base**power
                    for power, letter in enumerate("kmgtpe", 1)
                    for tail, base in (("", 1000), ("b", 1024), ("i", 1024), ("ib", 1024))}
_INT64 = (-(2**63), 2**63 - 1)
_BCRYPT_PREFIX = "2a$"  # `$2a$...` is a bcrypt hash written unquoted, not a variable
_TOP, _BLOCK, _AFTER_BLOCK = "top", "block", "after block"  # where document() is
# nats-server reads any depth; recursion here would overflow Python's stack long before its,
# so deeper nesting (never seen in a real configuration) is refused with an error line.
MAX_DEPTH = 100
_EOF = "\x00"  # what peek() returns at the end; Go's lexer also takes a NUL for the end


class Pos(NamedTuple):
    """Where something was written: file, line and column (both from 1)."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}" if self.file else f"line {self.line}:{self.col}"


class ConfSyntaxError(ValueError):
    """A configuration that nats-server's parser refuses; `str()` starts with the position."""

    def __init__(self, message: str, pos: Pos | None = None):
        super().__init__(f"{pos}: {message}" if pos else message)
        self.message = message
        self.pos = pos


class ConfMap(dict):
    """A `{}` block (or the whole file): a dict that also knows each key's position and which
    keys were referenced as `$variables`."""

    __slots__ = ("pos", "used")

    def __init__(self):
        super().__init__()
        self.pos: dict[str, Pos] = {}
        self.used: set[str] = set()

    def put(self, key: str, value: Any, pos: Pos) -> None:
        self[key] = value
        self.pos[key] = pos
        self.used.discard(key)


class ConfList(list):
    """A `[]` array: a list that also knows each value's position."""

    __slots__ = ("pos",)

    def __init__(self):
        super().__init__()
        self.pos: list[Pos] = []


def parse_file(path: str, *, environ: Mapping[str, str] | None = None) -> ConfMap:
    """Reads a configuration file (and what it includes). Raises OSError when it cannot be read,
    ConfSyntaxError when it is not valid."""
    return _parse_path(path, os.environ if environ is None else environ, ())


def parse_text(text: str, path: str = "", *, environ: Mapping[str, str] | None = None) -> ConfMap:
    """Reads configuration text; `path` names it in errors and anchors relative includes."""
    including = (os.path.realpath(path),) if path else ()
    return _Reader(text, path, os.environ if environ is None else environ, including).document()


def _parse_path(path: str, environ: Mapping[str, str], including: tuple[str, ...]) -> ConfMap:
    """A file read on its own; `including` are the files (real paths) that include it."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    return _Reader(text, path, environ, including + (os.path.realpath(path),)).document()


def include_path(including_file: str, name: str) -> str:
    """Where `include name` points: nats-server joins it to the including file's directory even
    when it starts with '/' (Go's filepath.Join)."""
    base = os.path.dirname(including_file) or "."
    return os.path.normpath(f"{base}/{name}")


class _Reader:
    """One file's text read into a ConfMap. `i` is the offset reached; `scopes` the maps open
    around it, innermost last, where `$variables` are looked up."""

    def __init__(self, text: str, path: str, environ: Mapping[str, str], including: tuple[str, ...],
                 env_stack: tuple[str, ...] = ()):
        self.text = text
        self.n = len(text)
        self.path = path
        self.environ = environ
        self.including = including
        self.env_stack = env_stack
        self.i = 0
        self.depth = 0  # maps and arrays open around `i`
        self.scopes: list[ConfMap] = []
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        if _EOF in text:
            raise self.fail("Unexpected NUL character.", text.index(_EOF))

    # -- positions and errors --------------------------------------------------------------

    def pos(self, offset: int | None = None) -> Pos:
        offset = self.i if offset is None else offset
        line = bisect.bisect_right(self._line_starts, offset)
        return Pos(self.path, line, offset - self._line_starts[line - 1] + 1)

    def fail(self, message: str, offset: int | None = None) -> ConfSyntaxError:
        return ConfSyntaxError(message, self.pos(offset))

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.text[j] if j < self.n else _EOF

    def skip(self, pattern: re.Pattern) -> None:
        self.i = pattern.match(self.text, self.i).end()

    def at_comment(self) -> bool:
        return self.peek() == "#" or self.text.startswith("//", self.i)

    # -- the file and its blocks ---------------------------------------------------------------

    def document(self) -> ConfMap:
        """The top level: keys and values, each value ending with a new line, ';', ',', '}',
        a comment or the end. Top-level keys may also sit in `{ }` (JSON style, even nested);
        there a value must end with a new line, ';', ',' or the '}'. `state` is where the lexer
        is: at the top, in such a block, or after its '}'; `returns` what follows each '}'."""
        top = ConfMap()
        self.scopes.append(top)
        state, returns = _TOP, []
        while True:
            if state == _AFTER_BLOCK:
                state = self.after_block(returns)
                continue
            self.skip(_FILLER)
            c = self.peek()
            if c == "{":
                self.i += 1
                returns.append(_TOP if state == _TOP else _AFTER_BLOCK)
                state = _BLOCK
            elif c == "}" and state == _BLOCK:
                self.i += 1
                state = returns.pop()
            elif self.at_end_of_keys(c) or not self.entry(top, top_level=True):
                return top
            else:
                state = self.after_top_value() if state == _TOP else self.after_block_value()

    def at_end_of_keys(self, c: str) -> bool:
        if c == "/":
            raise self.fail("Unexpected EOF.")
        if c in ":=":
            raise self.fail(f"Unexpected key separator '{c}'")
        # nats-server also ends quietly at a lone opening quote as the last character
        return c == _EOF or (c in "'\"" and self.i + 1 == self.n)

    def after_top_value(self) -> str:
        self.skip(_BLANKS_OR_SLASH)
        c = self.peek()
        if c in "\n\r;,}\x00" or self.at_comment():
            if c in ";,}":
                self.i += 1
            return _TOP
        raise self.fail("Expected a top-level value to end with a new line, comment or EOF, "
                        f"but got '{_show(c)}' instead.")

    def after_block_value(self) -> str:
        while True:
            self.skip(_BLANKS_OR_SLASH)
            if not self.at_comment():
                break
            self.skip(_COMMENT)
        c = self.peek()
        if c in "\n\r;,":
            self.i += 1
            return _BLOCK
        if c == "}":
            return _AFTER_BLOCK
        raise self.fail("Expected a block-level value to end with a new line, comment or EOF, "
                        f"but got '{_show(c)}' instead.")

    def after_block(self, returns: list[str]) -> str:
        """Between a top-level block's '}'s: blanks and new lines, then '}' (closing the next
        block out), ';' or ',' (back to its keys), or a comment (likewise)."""
        self.skip(_AFTER_BLOCK_FILLER)
        c = self.peek()
        if self.at_comment():
            self.skip(_COMMENT)
            return _BLOCK
        if c == "}":
            self.i += 1
            return returns.pop()
        if c in ";,":
            self.i += 1
            return _BLOCK
        raise self.fail(f"Expected a block-level to end with a '}}', but got '{_show(c)}' instead.")

    def entry(self, into: ConfMap, *, top_level: bool, literal_first: bool = False) -> bool:
        """One `key value` (or `include file`) into `into`; False at a key that the file ends
        after (nats-server accepts a last stray '}' that way)."""
        key_at = self.i
        key, quoted = self.key(top_level, literal_first)
        if not quoted and key.lower() == "include" and self.peek() in _USPACE_CHARS:
            self.include(into)
            return True
        self.skip(_USPACES)
        if self.peek() == _EOF and top_level:
            if key == "}":
                return False
            raise ConfSyntaxError(f"config is invalid ({self.pos()})")
        if self.peek() in (":", "="):
            self.i += 1
        if not top_level:  # in a block the value may be on the next line
            self.map_value_start(key, key_at)
        value = self.value()
        into.put(key, value, self.pos(key_at))
        return True

    def key(self, top_level: bool, literal_first: bool = False) -> tuple[str, bool]:
        """A key: quoted with '"' or "'" (no escapes), or a word up to a space or separator
        (after a dropped '/', its first character whatever it is)."""
        c = self.peek()
        if c in "\"'" and not literal_first:
            end = self.text.find(c, self.i + 1)
            if end < 0:
                kind = "double quoted" if c == '"' else "quoted"
                raise self.fail("Unexpected EOF." if top_level else f"Unexpected EOF processing {kind} map key.",
                                self.n)
            key = self.text[self.i + 1:end]
            self.i = end + 1
            return key, True
        start = self.i
        if literal_first and c != _EOF:
            self.i += 1
        self.skip(_KEY)
        if not top_level and self.i >= self.n:
            raise self.fail("Unexpected EOF processing map key.")
        return self.text[start:self.i], False

    def map_value_start(self, key: str, key_at: int) -> None:
        """Inside a block, a value may follow on the next line; a ',' or '}' instead is refused."""
        self.skip(_USPACES)
        c = self.peek()
        if c == ",":
            raise self.fail("Unexpected map value terminator ','.")
        if c == "}":
            raise self.fail(f"Expected a value for key '{key}'", key_at)
        if c == _EOF:
            raise self.fail("Unexpected EOF processing map.")

    def block(self) -> ConfMap:
        """A `{}` map, after its '{'. Entries end with a new line, ',', ';' or a comment."""
        m = ConfMap()
        self.scopes.append(m)
        try:
            while True:
                self.skip(_FILLER)
                c = self.peek()
                if c == "}":
                    self.i += 1
                    return m
                self.check_map_key_start(c)
                lone_slash = c == "/"  # nats-server drops it and takes the next character
                self.i += lone_slash
                self.entry(m, top_level=False, literal_first=lone_slash)
                if self.after_map_value():
                    return m
        finally:
            self.scopes.pop()

    def check_map_key_start(self, c: str) -> None:
        if c in ":=":
            raise self.fail(f"Unexpected key separator '{c}'.")
        if c == "]":
            raise self.fail("Unexpected array end ']' processing map.")
        if c == _EOF:
            raise self.fail("Unexpected EOF processing map.")

    def after_map_value(self) -> bool:
        """True when the map ends here."""
        while True:
            self.skip(_BLANKS)
            if self.at_comment():
                self.skip(_COMMENT)
                continue
            c = self.peek()
            if c == "}":
                self.i += 1
                return True
            if c in "\n\r;,/":
                self.i += 1
                return False
            if c == _EOF:
                raise self.fail("Unexpected EOF processing map.")
            raise self.fail("Expected a map value terminator \",\" or a map terminator \"}\", "
                            f"but got '{_show(c)}' instead.")

    def array(self) -> ConfList:
        """A `[]` array, after its '['. Values are separated by ',' or new lines."""
        arr = ConfList()
        while True:
            self.skip(_FILLER)
            c = self.peek()
            if c == "]":
                self.i += 1
                return arr
            if c in (",", "/"):
                raise self.fail("Unexpected array value terminator ','.")
            if c == _EOF:
                raise self.fail("Unexpected EOF processing array.")
            at = self.i
            arr.append(self.value())
            arr.pos.append(self.pos(at))
            if self.after_array_value():
                return arr

    def after_array_value(self) -> bool:
        while True:
            self.skip(_BLANKS)
            if self.at_comment():
                self.skip(_COMMENT)
                continue
            c = self.peek()
            if c == "]":
                self.i += 1
                return True
            if c in "\n\r,/":
                self.i += 1
                return False
            if c == _EOF:
                raise self.fail("Unexpected EOF processing array.")
            raise self.fail("Expected an array value terminator \",\" or an array terminator \"]\", "
                            f"but got '{_show(c)}' instead.")

    # -- values --------------------------------------------------------------------------------

    def value(self) -> Any:
        """A value after its key (and separator): blanks before it, not a new line."""
        self.skip(_BLANKS)
        c = self.peek()
        if c in "[{":
            if self.depth >= MAX_DEPTH:
                raise self.fail(f"Maps and arrays nested deeper than {MAX_DEPTH} levels")
            self.i += 1
            self.depth += 1
            try:
                return self.array() if c == "[" else self.block()
            finally:
                self.depth -= 1
        if c == "'":
            return self.single_quoted()
        if c == '"':
            return self.double_quoted()
        if c == "(":
            return self.paren_block()
        if c == "-" or "0" <= c <= "9":
            return self.number()
        if c == ".":
            raise self.fail("Floats must start with a digit")
        if c in ("\n", "\r"):
            raise self.fail("Expected value but found new line", self.i + 1)
        return self.word(self.i, self.i)

    def single_quoted(self) -> str:
        end = self.text.find("'", self.i + 1)
        if end < 0:
            raise self.fail("Unexpected EOF.", self.n)
        s = self.text[self.i + 1:end]
        self.i = end + 1
        return s

    def double_quoted(self) -> str:
        self.i += 1
        parts: list[bytes] = []
        while True:
            m = _DQ_RUN.match(self.text, self.i)
            parts.append(m.group().encode())
            self.i = m.end()
            c = self.peek()
            if c == '"':
                self.i += 1
                return _join(parts)
            if c == _EOF:
                raise self.fail("Unexpected EOF.")
            parts.append(self.escape())

    def escape(self) -> bytes:
        """A backslash escape at `i`: \\xHH, \\t, \\n, \\r, \\" or \\\\."""
        c = self.peek(1)
        if c == "x":
            digits = self.text[self.i + 2:self.i + 4]
            if "\n" in digits or "\r" in digits or len(digits) < 2:
                raise self.fail("Expected two hexadecimal digits after '\\x', but hit end of line")
            if not _HEX2.fullmatch(digits):
                raise self.fail(f"Expected two hexadecimal digits after '\\x', but got '{digits}'")
            self.i += 4
            return bytes.fromhex(digits)
        if c in _ESCAPES:
            self.i += 2
            return _ESCAPES[c]
        raise self.fail(f"Invalid escape character '{_show(c)}'. Only the following escape characters "
                        "are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.")

    def word(self, start: int, resume: int) -> Any:
        """An unquoted word from `start` (its text up to `resume` already taken): a boolean, a
        `$variable`, or a string. It ends at a blank, new line, ';', ',', ']', '}' or a quote
        (which is dropped); backslash escapes work as in double quotes."""
        parts = [self.text[start:resume].encode()]
        self.i = resume
        escaped = False
        while True:
            m = _UNQUOTED.match(self.text, self.i)
            parts.append(m.group().encode())
            self.i = m.end()
            if self.peek() != "\\":
                break
            parts.append(self.escape())
            escaped = True
        quote_ended = self.peek() == "'"
        if quote_ended:
            self.i += 1
        s = _join(parts)
        if escaped or quote_ended or start != resume:
            return s
        if s.lower() in _BOOLS:
            return _BOOLS[s.lower()]
        if s.startswith("$"):
            return self.variable(s[1:], start)
        return s

    def paren_block(self) -> str:
        """`( ... )`: the raw text up to a ')' alone at the start of a line."""
        start = self.i + 1
        m = _BLOCK_END.search(self.text, start)
        if m is None:
            raise self.fail("Unexpected EOF processing block.", self.n)
        end = m.start()
        self.i = m.end()
        return self.text[start:end + 1 if self.i >= self.n else end]

    def number(self) -> Any:
        """An integer (with an optional size suffix), a float, an ISO8601 Zulu datetime, an
        IP-like string (`127.0.0.1:4222`) or, for a word starting with digits, a string."""
        start = self.i
        negative = self.peek() == "-"
        if negative:
            self.i += 1
            c = self.peek()
            if not "0" <= c <= "9":
                if c == ".":
                    raise self.fail("Floats must start with a digit, not '.'.")
                raise self.fail(f"Expected a digit but got '{_show(c)}'.", self.i + 1)
        self.skip(_DIGITS)
        c = self.peek()
        if c == "-" and not negative:
            return self.datetime(start)
        if c == ".":
            return self.float_or_ip(start)
        if c in "kKmMgGtTpPeE":
            self.skip(_SIZE_SUFFIX)
            if self.peek() in _NUMBER_ENDS:
                return self.integer(start)
            return self.word(start, self.i)
        if c in _NUMBER_ENDS or negative:
            return self.integer(start)
        return self.word(start, self.i + 1)  # e.g. `3secret`: the odd character joins the word

    def integer(self, start: int) -> int:
        """Digits with an optional size suffix; nats-server silently drops a key whose suffix it
        does not know (`1kbb`), zats refuses it."""
        text = self.text[start:self.i]
        digits = text.rstrip("kKmMgGtTpPeEbBiI")
        suffix = text[len(digits):].lower()
        if suffix not in _SIZES:
            raise self.fail(f"integer '{text}' has an unknown size suffix '{suffix}'", start)
        value = int(digits) * _SIZES[suffix]
        if not _INT64[0] <= value <= _INT64[1]:
            raise self.fail(f"integer '{text}' is out of the range", start)
        return value

    def float_or_ip(self, start: int) -> float | str:
        self.i += 1
        c = self.peek()
        if not "0" <= c <= "9":
            raise self.fail(f"Floats must have a digit after the '.', but got '{_show(c)}' instead.",
                            self.i + 1)
        self.skip(_DIGITS)
        if self.peek() == ".":
            self.skip(_IP_TAIL)
            return self.text[start:self.i]
        return float(self.text[start:self.i])

    def datetime(self, start: int) -> _dt.datetime:
        if self.i - start != 4:
            raise self.fail("All ISO8601 dates must be in full Zulu form.", self.i + 1)
        m = _DATETIME.match(self.text, start)
        if m is None:
            raise self.datetime_error(start)
        self.i = m.end()
        try:
            return _dt.datetime.strptime(m.group(), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.UTC)
        except ValueError:
            raise self.fail(f"expected Zulu formatted DateTime, but got '{m.group()}'", start) from None

    def datetime_error(self, start: int) -> ConfSyntaxError:
        rest = self.text[start + 5:start + 5 + len(_DATETIME_SHAPE)]
        for k, want in enumerate(_DATETIME_SHAPE):  # error path only: the first mismatch
            got = rest[k] if k < len(rest) else _EOF
            if want == "0" and not got.isdigit():
                return self.fail(f"Expected digit in ISO8601 datetime, but found '{_show(got)}' instead.")
            if want != "0" and got != want:
                return self.fail(f"Expected '{want}' in ISO8601 datetime, but found '{_show(got)}' instead.")
        return self.fail("All ISO8601 dates must be in full Zulu form.")

    # -- variables and includes ------------------------------------------------------------------

    def variable(self, name: str, at: int) -> Any:
        """`$name`: the nearest enclosing block's key of that name defined so far, else the
        environment variable (read as a value would be: `7` is a number)."""
        if name.startswith(_BCRYPT_PREFIX):
            return "$" + name
        for scope in reversed(self.scopes):
            if name in scope:
                scope.used.add(name)
                return scope[name]
        line = self.pos(at).line
        if name in self.environ:
            return self.env_value(name, line)
        raise ConfSyntaxError(f"variable reference for '{name}' on line {line} can not be found",
                              self.pos(at))

    def env_value(self, name: str, line: int) -> Any:
        if name in self.env_stack:
            raise ConfSyntaxError(f"variable reference for '{name}' on line {line} could not be "
                                  f"parsed: variable '{name}' refers to itself")
        reader = _Reader(f"pk={self.environ[name]}", f"${name}", self.environ, self.including,
                         self.env_stack + (name,))
        try:
            return reader.document()["pk"]
        except (ConfSyntaxError, KeyError) as exc:
            raise ConfSyntaxError(f"variable reference for '{name}' on line {line} could not be "
                                  f"parsed: {exc}") from None

    def include(self, into: ConfMap) -> None:
        """`include path`: the keys of another file, read on its own (its own variables), set
        into the current block. The path is relative to this file's directory."""
        self.skip(_BLANKS)
        at = self.i
        name = self.include_name()
        path = include_path(self.path, name)
        if os.path.realpath(path) in self.including:
            raise self.fail(f"include cycle: '{name}' is already being read", at)
        try:
            included = _parse_path(path, self.environ, self.including)
        except OSError as exc:
            raise ConfSyntaxError(f"error parsing include file '{name}', open {path}: "
                                  f"{exc.strerror.lower() if exc.strerror else exc}", self.pos(at)) from None
        for key, value in included.items():
            into.put(key, value, included.pos[key])
            if key in included.used:
                into.used.add(key)

    def include_name(self) -> str:
        c = self.peek()
        if c in ("'", '"'):
            end = self.text.find(c, self.i + 1)
            if end < 0:
                kind = "double quoted" if c == '"' else "quoted"
                raise self.fail(f"Unexpected EOF in {kind} include", self.n)
            name = self.text[self.i + 1:end]
            self.i = end + 1
            return name
        if c in _INCLUDE_REFUSALS or c.isdigit():
            raise self.fail(f"Expected include value but found {_INCLUDE_REFUSALS.get(c, 'start of a number')}")
        m = _INCLUDE_WORD.match(self.text, self.i)
        self.i = m.end()
        if self.peek() == "'":
            self.i += 1
        return m.group()


def _join(parts: list[bytes]) -> str:
    """Text and escaped bytes joined; `\\xHH` bytes that are not UTF-8 read as U+FFFD, as Go's
    JSON (and so the digest) sees them."""
    return b"".join(parts).decode("utf-8", "replace")


def _show(c: str) -> str:
    """A character as nats-server quotes it in errors."""
    return {"\n": "\\n", _EOF: "EOF"}.get(c, c)


# -- nats-server's digest of a configuration -------------------------------------------------------


def digest(tree: Any) -> str:
    """`sha256:<hex>` of the parsed configuration as nats-server computes it (-t and /varz):
    the tree encoded as Go's encoding/json does (sorted keys, HTML-safe strings), plus a newline."""
    return "sha256:" + hashlib.sha256((go_json(tree) + "\n").encode()).hexdigest()


def go_json(value: Any) -> str:
    """JSON text byte-identical to Go's json.Marshal for the values a configuration holds."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return _go_string(value)
    if isinstance(value, _dt.datetime):
        return _go_string(value.strftime("%Y-%m-%dT%H:%M:%SZ"))
    if isinstance(value, dict):
        return "{" + ",".join(f"{_go_string(k)}:{go_json(value[k])}" for k in sorted(value)) + "}"
    if isinstance(value, list):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__}")


_HTML_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                            "\u2028": "\\u2028", "\u2029": "\\u2029"})


def _go_string(s: str) -> str:
    return json.dumps(s, ensure_ascii=False).translate(_HTML_SAFE)


def _go_float(f: float) -> str:
    """Go's float64 JSON: shortest digits, plain notation between 1e-6 and 1e21, else 1e-07
    written as 1e-7."""
    if f != f or f in (float("inf"), float("-inf")):
        raise ValueError(f"unsupported float {f}")
    if f == 0 or 1e-6 <= abs(f) < 1e21:
        s = format(decimal.Decimal(repr(f)), "f")
        return s.rstrip("0").rstrip(".") if "." in s else s
    return re.sub(r"e([+-])0(\d)$", r"e\1\2", repr(f))
