"""Configuration files (`zats-server -c FILE`, `-t`): nats-server's syntax read into values
(every construct, variables, environment, include, syntax errors with their positions), the keys
mapped onto ServerOptions, each kind of error naming file, line and key, flags over the file, and
the server actually serving what the file says. Parametrised tests check our reading against the
real nats-server: the good files pass its `-t` with the same sha256 digest (so the same values
were read), and the bad ones fail it too."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys

import pytest

from support.servers import free_port, nats_server_binary, require_nats_server, wait_for_port, write_config
from support.wire import Wire
from zats.broker import cli
from zats.broker.conf_syntax import ConfSyntaxError, digest, go_json, include_path, parse_text
from zats.broker.config import ConfigError, check_config, load_config
from zats.broker.durations import format_duration, parse_duration
from zats.broker.options import ResponsePermission, ServerOptions, SubjectPermission

ZATS = [sys.executable, "-m", "zats.broker"]
USER_NKEY = "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4"
BCRYPT = "$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG"


def parse(text: str, **env) -> dict:
    return parse_text(text, "t.conf", environ=env)


def syntax_error(text: str, **env) -> ConfSyntaxError:
    with pytest.raises(ConfSyntaxError) as info:
        parse(text, **env)
    return info.value


def load(tmp_path, text: str, **env):
    return load_config(write_config(tmp_path, text), environ=env)


def errors(tmp_path, text: str, **env) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, **env)
    return info.value.messages


# -- syntax: separators, comments, blocks ---------------------------------------------------------


@pytest.mark.parametrize("text", ["port: 4222", "port = 4222", "port 4222", "port\t4222", "port:4222",
                                  "port=4222", "port : 4222", "  port:   4222  ", "port\n4222",
                                  "port: 4222;", "port: 4222,", "{ port: 4222 }", "{{ port: 4222 }}",
                                  "port: 4222\r\n", "'port': 4222", '"port": 4222'])
def test_key_value_separators(text):
    assert parse(text) == {"port": 4222}


def test_comments():
    text = """# a comment
    // another
    port: 4222 # trailing
    debug: true // trailing too
    server_name: foo#bar   # '#' inside a word is part of it
    authorization {
      # in a block
      user: a   // after a value
      users [ # in an array
        {user: b} // between values
      ]
    }
    """
    assert parse(text) == {"port": 4222, "debug": True, "server_name": "foo#bar",
                           "authorization": {"user": "a", "users": [{"user": "b"}]}}


def test_maps_and_arrays():
    text = """
    a { b: 1, c: 2; d: 3
        e { f: [1 , 2 , 3 ] }
        g = {}
    }
    list1: [a, b, c]
    list2: [
      "x"
      'y',
      {k: v}
      [nested, list ],
    ]
    empty: []
    """
    assert parse(text) == {
        "a": {"b": 1, "c": 2, "d": 3, "e": {"f": [1, 2, 3]}, "g": {}},
        "list1": ["a", "b", "c"], "list2": ["x", "y", {"k": "v"}, ["nested", "list"]], "empty": []}


def test_block_values_may_start_on_the_next_line_top_level_values_only_without_separator():
    assert parse("a {\n  b:\n    1\n}") == {"a": {"b": 1}}
    assert parse("port\n  4222") == {"port": 4222}
    assert "Expected value but found new line" in str(syntax_error("port:\n  4222"))


def test_json_style_file():
    text = json.dumps({"port": 4222, "debug": True, "authorization": {"users": [{"user": "a"}]},
                       "ratio": 1.5, "name": "x"}, indent=2)
    assert parse(text) == {"port": 4222, "debug": True, "authorization": {"users": [{"user": "a"}]},
                           "ratio": 1.5, "name": "x"}


def test_a_later_key_replaces_an_earlier_one():
    conf = parse("port: 1\nPORT: 3\nport: 2")
    assert conf == {"port": 2, "PORT": 3}
    assert conf.pos["port"].line == 3


# -- syntax: strings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    (r'"a\tb\nc\r\"d\\e"', 'a\tb\nc\r"d\\e'),
    (r'"\x41\x42"', "AB"),
    (r'"\xc3\xa9"', "é"),  # escaped bytes are UTF-8...
    (r'"a\xffb"', "a\ufffdb"),  # ...or U+FFFD, as Go's JSON sees them
    (r"'a\tb'", r"a\tb"),  # single quotes: no escapes
    ("'multi\nline'", "multi\nline"),
    ('"multi\nline"', "multi\nline"),
    ('"$HOME"', "$HOME"),  # no variables inside quotes
    ('"true"', "true"),
    ('""', ""),
    ("héllo", "héllo"),
    (r"foo\tbar", "foo\tbar"),  # unquoted words take escapes too
    ("a:b=c", "a:b=c"),
    ("foo'", "foo"),  # a quote ends an unquoted word and is dropped
    ("true'", "true"),  # ...and what it ended is a string, even a boolean word
    ("foo\"bar", 'foo"bar'),
    ("(\nline one\n  line two\n)\n", "\nline one\n  line two\n"),  # ( ... ) block up to ')' alone on a line
    ("(\nnot ) here\n)\n", "\nnot ) here\n"),
])
def test_strings(value, expected):
    assert parse(f"v: {value}\n") == {"v": expected}


@pytest.mark.parametrize(("word", "expected"), [
    ("true", True), ("TRUE", True), ("yes", True), ("On", True),
    ("false", False), ("No", False), ("off", False), ("OFF", False),
])
def test_booleans(word, expected):
    assert parse(f"v: {word}") == {"v": expected}


# -- syntax: numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("word", "expected"), [
    ("0", 0), ("4222", 4222), ("-1", -1), ("-12", -12),
    ("1k", 1000), ("1K", 1000), ("1kb", 1024), ("1KB", 1024), ("1Ki", 1024), ("1KiB", 1024), ("1kib", 1024),
    ("2m", 2_000_000), ("1MB", 1024**2), ("1Mi", 1024**2), ("1g", 10**9), ("1GB", 1024**3),
    ("1t", 10**12), ("1TB", 1024**4), ("1p", 10**15), ("1PB", 1024**5), ("1e", 10**18), ("2EB", 2 * 1024**6),
    ("-1k", -1000), ("-2kb", -2048),
])
def test_integers_and_size_suffixes(word, expected):
    assert parse(f"v: {word}") == {"v": expected}


@pytest.mark.parametrize(("word", "expected"), [
    ("1.5", 1.5), ("-0.25", -0.25), ("10.0", 10.0),
])
def test_floats(word, expected):
    value = parse(f"v: {word}")["v"]
    assert isinstance(value, float) and value == expected


@pytest.mark.parametrize(("word", "expected"), [
    ("127.0.0.1", "127.0.0.1"), ("127.0.0.1:4222", "127.0.0.1:4222"), ("1.2.3", "1.2.3"),  # IP-like
    ("1x", "1x"), ("3secret", "3secret"), ("30s", "30s"), ("500ms", "500ms"), ("1h", "1h"),
    ("1e3", "1e3"), ("1kx", "1kx"), ("1kB2", "1kB2"), ("4222]", "4222]"), ("1:2", "1:2"),
])
def test_words_starting_with_digits_are_strings(word, expected):
    """Digits followed by anything but a size suffix or a terminator make a string, as in
    nats-server: so `30s` is a duration string but `2m` is 2,000,000."""
    assert parse(f"v: {word}") == {"v": expected}


def test_datetime():
    assert parse("v: 2016-05-04T18:53:41Z") == {"v": dt.datetime(2016, 5, 4, 18, 53, 41, tzinfo=dt.UTC)}


# -- syntax: variables and the environment -------------------------------------------------------------


def test_variables_are_earlier_keys_of_enclosing_blocks():
    text = """
    NAME = zats
    LIMIT = 2MB
    server_name: $NAME
    max_payload: $LIMIT
    authorization {
      PASS: secret          # scoped to this block
      user: $NAME
      password: $PASS
      users [ {U: bob, user: $U, password: $PASS} ]
    }
    """
    conf = parse(text)
    assert conf["server_name"] == "zats" and conf["max_payload"] == 2 * 1024**2
    assert conf["authorization"]["password"] == "secret"
    assert conf["authorization"]["users"][0]["user"] == "bob"
    assert conf.used == {"NAME", "LIMIT"} and conf["authorization"].used == {"PASS"}


def test_block_variables_are_not_visible_outside():
    err = syntax_error("a { X: 1 }\nport: $X")
    assert str(err) == "t.conf:2:7: variable reference for 'X' on line 2 can not be found"


def test_variables_must_be_defined_before_use():
    assert "variable reference for 'X' on line 1 can not be found" in str(syntax_error("port: $X\nX: 1"))


def test_variables_take_any_value():
    conf = parse("L = [a, b]\nM = {k: v}\nx: $L\ny: $M")
    assert conf["x"] == ["a", "b"] and conf["y"] == {"k": "v"}


def test_environment_variables_are_read_as_values():
    conf = parse("a: $ZN\nb: $ZS\nc: $ZB\nd: $ZW\ne: $ZL\nf: $ZE",
                 ZN="7", ZS="1MB", ZB="true", ZW="word", ZL="[1, 2 ]", ZE="")
    assert conf == {"a": 7, "b": 1024**2, "c": True, "d": "word", "e": [1, 2], "f": ""}


def test_file_variables_come_before_the_environment():
    assert parse("X: file\nv: $X", X="env") == {"X": "file", "v": "file"}


def test_environment_variables_may_refer_to_others_but_not_to_themselves():
    assert parse("v: $ZA", ZA="$ZB", ZB="deep") == {"v": "deep"}
    err = syntax_error("v: $ZA", ZA="$ZA")
    assert "variable reference for 'ZA' on line 1 could not be parsed" in str(err)
    err = syntax_error("v: $ZA", ZA="two words")
    assert "could not be parsed" in str(err) and "Expected a top-level value to end" in str(err)


def test_unquoted_bcrypt_hash_is_not_a_variable():
    assert parse(f"password: {BCRYPT}") == {"password": BCRYPT}


# -- syntax: include ------------------------------------------------------------------------------------


def test_include_is_relative_to_the_including_file(tmp_path):
    (tmp_path / "conf" / "auth").mkdir(parents=True)
    (tmp_path / "conf" / "auth" / "users.conf").write_text("users [ {user: a, password: b} ]\n")
    (tmp_path / "conf" / "limits.conf").write_text("max_payload: 2MB\ninclude 'auth/more.conf'\n")
    (tmp_path / "conf" / "auth" / "more.conf").write_text("ping_max: 5\n")
    main = tmp_path / "conf" / "main.conf"
    main.write_text('port: 4333\ninclude limits.conf\nauthorization {\n  include "auth/users.conf"\n}\n')
    conf = parse_text(main.read_text(), str(main))
    assert conf == {"port": 4333, "max_payload": 2 * 1024**2, "ping_max": 5,
                    "authorization": {"users": [{"user": "a", "password": "b"}]}}
    assert conf.pos["ping_max"] == (str(tmp_path / "conf" / "auth" / "more.conf"), 1, 1)


def test_include_path_is_joined_even_when_absolute():
    """Go's filepath.Join: `include /x.conf` in /etc/nats/a.conf is /etc/nats/x.conf."""
    assert include_path("/etc/nats/a.conf", "/x.conf") == "/etc/nats/x.conf"
    assert include_path("a.conf", "sub/../b.conf") == "b.conf"


def test_included_files_have_their_own_variables(tmp_path):
    (tmp_path / "inc.conf").write_text("server_name: $X\n")
    with pytest.raises(ConfSyntaxError, match="variable reference for 'X'"):
        parse_text("X: zats\ninclude inc.conf\n", str(tmp_path / "main.conf"), environ={})
    conf = parse_text("include inc.conf\n", str(tmp_path / "main.conf"), environ={"X": "env"})
    assert conf == {"server_name": "env"}


def test_include_errors(tmp_path):
    main = str(tmp_path / "main.conf")
    err = str(pytest.raises(ConfSyntaxError, parse_text, "\ninclude nope.conf\n", main).value)
    assert err == (f"{main}:2:9: error parsing include file 'nope.conf', "
                   f"open {tmp_path}/nope.conf: no such file or directory")
    (tmp_path / "bad.conf").write_text("port: 1\nmax_payload: [\n")
    err = str(pytest.raises(ConfSyntaxError, parse_text, "include bad.conf\n", main).value)
    assert err.startswith(f"{tmp_path}/bad.conf:3:1: ")  # the error names the included file
    (tmp_path / "loop.conf").write_text("include loop.conf\n")
    err = str(pytest.raises(ConfSyntaxError, parse_text, "include loop.conf\n", main).value)
    assert "include cycle" in err


def test_include_keyword_needs_a_space_and_no_separator():
    assert parse("include: x") == {"include": "x"}  # a plain key (which zats then refuses)
    assert "Expected include value but found start of a number" in str(syntax_error("include 2.conf"))


# -- syntax: positions and errors ---------------------------------------------------------------------


def test_positions_of_keys_and_array_values():
    conf = parse("port: 1\n  auth {\n    users [\n      {user: a}\n  {user: b} ]\n  }\n")
    assert conf.pos["port"] == ("t.conf", 1, 1)
    assert conf.pos["auth"] == ("t.conf", 2, 3)
    assert conf["auth"].pos["users"] == ("t.conf", 3, 5)
    assert conf["auth"]["users"].pos == [("t.conf", 4, 7), ("t.conf", 5, 3)]


@pytest.mark.parametrize(("text", "message", "line"), [
    ("port: 4222\nauthorization {\n", "Unexpected EOF processing map.", 3),
    ('server_name: "abc\n', "Unexpected EOF.", 2),
    ("server_name: 'abc\n", "Unexpected EOF.", 2),
    ("port:\n", "Expected value but found new line", 2),
    ("a: [1,,2]", "Unexpected array value terminator ','.", 1),
    ("a: [\n", "Unexpected EOF processing array.", 2),
    ("a: [1 2]", 'Expected an array value terminator "," or an array terminator "]", but got \'2\' instead.', 1),
    ("a { b: 1 c: 2 }", 'Expected a map value terminator "," or a map terminator "}", but got \'c\' instead.', 1),
    ("server_name: foo bar", "Expected a top-level value to end with a new line, comment or EOF, but got 'b' instead.", 1),
    ("{ port: 1 ]", "Expected a block-level value to end with a new line, comment or EOF, but got ']' instead.", 1),
    ('v: "a\\qb"', "Invalid escape character 'q'. Only the following escape characters are allowed: "
                   "\\xXX, \\t, \\n, \\r, \\\", \\\\.", 1),
    ('v: "\\xzz"', "Expected two hexadecimal digits after '\\x', but got 'zz'", 1),
    ("v: .5", "Floats must start with a digit", 1),
    ("v: 1.\n", "Floats must have a digit after the '.', but got '\\n' instead.", 2),
    ("v: 1.5k", "Expected a top-level value to end with a new line, comment or EOF, but got 'k' instead.", 1),
    ("v: -x", "Expected a digit but got 'x'.", 1),
    ("v: 12-5", "All ISO8601 dates must be in full Zulu form.", 1),
    ("v: 2016-05-04\n", "Expected 'T' in ISO8601 datetime, but found '\\n' instead.", 1),
    ("v: 2016-13-04T18:53:41Z", "expected Zulu formatted DateTime, but got '2016-13-04T18:53:41Z'", 1),
    (": 1", "Unexpected key separator ':'", 1),
    ("a { = 1 }", "Unexpected key separator '='.", 1),
    ("a { ] }", "Unexpected array end ']' processing map.", 1),
    ("a { b , }", "Unexpected map value terminator ','.", 1),
    ("a { b }", "Expected a value for key 'b'", 1),
    ("v: 99999999999999999999", "integer '99999999999999999999' is out of the range", 1),
    ("v: 16EB", "integer '16EB' is out of the range", 1),
    ("v: 1kbb", "integer '1kbb' has an unknown size suffix 'kbb'", 1),
    ("v: (\nabc\n", "Unexpected EOF processing block.", 3),
    ("include [a]", "Expected include value but found start of an array", 1),
    ("include\nx.conf", "Expected include value but found new line", 1),
    ("/ port: 1", "Unexpected EOF.", 1),
    ("v: $NOPE_NOT_SET", "variable reference for 'NOPE_NOT_SET' on line 1 can not be found", 1),
])
def test_syntax_errors(text, message, line):
    err = syntax_error(text)
    assert err.message == message
    assert err.pos.file == "t.conf" and err.pos.line == line


def test_key_without_value_at_the_end():
    assert str(syntax_error("port: 1\nport")) == "config is invalid (t.conf:2:5)"
    assert parse("port: 1\n}") == {"port": 1}  # a last stray '}' is tolerated, as by nats-server


# -- the digest ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "text"), [
    ({"b": 1, "a": [True, None is None, "x"]}, '{"a":[true,true,"x"],"b":1}'),
    ("<a&b>", '"\\u003ca\\u0026b\\u003e"'),
    ("é\u2028\n\x01", '"é\\u2028\\n\\u0001"'),
    (1.0, "1"), (1.5, "1.5"), (0.000001, "0.000001"), (1e-7, "1e-7"), (1e21, "1e+21"), (123456789.0, "123456789"),
    (dt.datetime(2016, 5, 4, 18, 53, 41, tzinfo=dt.UTC), '"2016-05-04T18:53:41Z"'),
])
def test_go_json(value, text):
    assert go_json(value) == text


def test_digest_is_sha256_of_go_json():
    assert digest(parse("port: 4222")) == "sha256:797533ebd0dfba7d34a0f9337ecf147e442871f48ddfd07ed751575a5737267e"


# -- durations -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds", "shown"), [
    ("2m", 120.0, "2m0s"), ("500ms", 0.5, "500ms"), ("1h30m", 5400.0, "1h30m0s"), ("1.5s", 1.5, "1.5s"),
    ("-1s", -1.0, "-1s"), ("0", 0.0, "0s"), ("300us", 0.0003, "300µs"), ("30s", 30.0, "30s"),
])
def test_go_durations(text, seconds, shown):
    assert parse_duration(text) == pytest.approx(seconds)
    assert format_duration(seconds) == shown


@pytest.mark.parametrize(("text", "error"), [
    ("5", 'time: missing unit in duration "5"'), ("5x", 'time: unknown unit "x" in duration "5x"'),
    ("", 'time: invalid duration ""'), ("s", 'time: invalid duration "s"'),
])
def test_bad_go_durations(text, error):
    with pytest.raises(ValueError, match=re.escape(error)):
        parse_duration(text)


# -- keys onto ServerOptions ---------------------------------------------------------------------------


FULL = """
listen: 127.0.0.1:4333
http: 127.0.0.1:8333
server_name: zats-1
max_payload: 2MB
max_pending: 32MB
max_connections: 100
max_control_line: 2KB
max_subscriptions: 50
ping_interval: "30s"
ping_max: 3
write_deadline: "500ms"
debug: true
trace: yes
logtime: false
logtime_utc: on
log_file: "/tmp/zats.log"
pid_file: "/tmp/zats.pid"
lame_duck_duration: "1m"
lame_duck_grace_period: "5s"
"""


def test_top_level_keys(tmp_path):
    opts = load(tmp_path, FULL).options
    assert (opts.host, opts.port, opts.http_host, opts.http_port) == ("127.0.0.1", 4333, "127.0.0.1", 8333)
    assert opts.server_name == "zats-1"
    assert (opts.max_payload, opts.max_pending, opts.max_connections) == (2 * 1024**2, 32 * 1024**2, 100)
    assert (opts.max_control_line, opts.max_subscriptions) == (2048, 50)
    assert (opts.ping_interval, opts.ping_max, opts.write_deadline) == (30.0, 3, 0.5)
    assert (opts.debug, opts.trace, opts.logtime, opts.logtime_utc) == (True, True, False, True)
    assert (opts.log_file, opts.pid_file) == ("/tmp/zats.log", "/tmp/zats.pid")
    assert (opts.lame_duck_duration, opts.lame_duck_grace_period) == (60.0, 5.0)
    assert opts.config_file == str(tmp_path / "server.conf")


def test_aliases_and_case_insensitive_keys(tmp_path):
    opts = load(tmp_path, "NET: 10.0.0.1\nPort: 5000\nmax_conn: 7\nmax_subs: 8\nmonitor_port: 9000\n"
                          "http_host: 127.0.0.2\nlogfile: a.log\npidfile: a.pid\n").options
    assert (opts.host, opts.port, opts.max_connections, opts.max_subscriptions) == ("10.0.0.1", 5000, 7, 8)
    assert (opts.http_port, opts.http_host, opts.log_file, opts.pid_file) == (9000, "127.0.0.2", "a.log", "a.pid")


@pytest.mark.parametrize(("listen", "host", "port"), [
    ("4333", "0.0.0.0", 4333), ('":4333"', "0.0.0.0", 4333), ("127.0.0.1:4333", "127.0.0.1", 4333),
    ('"[::1]:4333"', "::1", 4333), ("localhost:-1", "localhost", -1),
])
def test_listen_forms(tmp_path, listen, host, port):
    opts = load(tmp_path, f"listen: {listen}").options
    assert (opts.host, opts.port) == (host, port)


def test_zero_means_the_default_as_in_nats_server(tmp_path):
    opts = load(tmp_path, "max_payload: 0\nmax_pending: 0\nmax_connections: 0\nping_interval: \"0s\"\nping_max: 0").options
    defaults = ServerOptions()
    assert (opts.max_payload, opts.max_pending, opts.max_connections, opts.ping_interval, opts.ping_max) == (
        defaults.max_payload, defaults.max_pending, defaults.max_connections, defaults.ping_interval,
        defaults.ping_max)


def test_plain_seconds_are_taken_with_nats_servers_warning(tmp_path):
    loaded = load(tmp_path, "port: 1\nping_interval: 5\nwrite_deadline: 2")
    assert (loaded.options.ping_interval, loaded.options.write_deadline) == (5.0, 2.0)
    path = tmp_path / "server.conf"
    assert loaded.warnings == [
        f'{path}:2:1: invalid use of field "ping_interval": ping_interval should be converted to a duration',
        f'{path}:3:1: invalid use of field "write_deadline": write_deadline should be converted to a duration']


def test_authorization_token_and_single_user(tmp_path):
    auth = load(tmp_path, 'authorization { token: "s3cr3t", timeout: 1.5 }').options.authorization
    assert (auth.token, auth.user, auth.timeout) == ("s3cr3t", None, 1.5)
    auth = load(tmp_path, "authorization { user: a, pass: b, timeout: 3 }").options.authorization
    assert (auth.user, auth.password, auth.timeout, auth.token) == ("a", "b", 3.0, None)
    auth = load(tmp_path, 'authorization { username: a, password: b, timeout: "500ms" }').options.authorization
    assert (auth.user, auth.password, auth.timeout) == ("a", "b", 0.5)


def test_users_and_permissions(tmp_path):
    text = f"""
    authorization {{
      users = [
        {{user: pub, password: "{BCRYPT}", permissions: {{publish: "a.>", subscribe: ["b", "c.*"]}}}}
        {{user: both, password: x, permissions: {{
            publish: {{allow: ["x.>"], deny: "x.secret"}}
            subscribe: {{deny: [">"]}}
            allow_responses: true }} }}
        {{user: resp, password: y, permissions: {{pub: "r", sub: "q queue", allow_responses: {{max: 5, expires: "1m"}}}}}}
        {{nkey: {USER_NKEY}}}
        {{user: plain, password: z}}
      ]
    }}
    """
    users = load(tmp_path, text).options.authorization.users
    assert [u.user or u.nkey for u in users] == ["pub", "both", "resp", USER_NKEY, "plain"]
    pub, both, resp, nkey, plain = users
    assert pub.password == BCRYPT
    assert pub.permissions.publish == SubjectPermission(allow=["a.>"])
    assert pub.permissions.subscribe == SubjectPermission(allow=["b", "c.*"])
    assert pub.permissions.allow_responses is None
    assert both.permissions.publish == SubjectPermission(allow=["x.>"], deny=["x.secret"])
    assert both.permissions.subscribe == SubjectPermission(deny=[">"])
    assert both.permissions.allow_responses == ResponsePermission(max=1, expires=0.0)
    assert resp.permissions.allow_responses == ResponsePermission(max=5, expires=60.0)
    assert resp.permissions.subscribe == SubjectPermission(allow=["q queue"])
    assert (nkey.nkey, nkey.user, nkey.permissions) == (USER_NKEY, None, None)
    assert plain.permissions is None and plain.account is None


def test_default_permissions_go_to_users_without_their_own(tmp_path):
    text = """authorization {
      permissions: { publish: "default.>" }
      users [ {user: a, password: a}, {user: b, password: b, permissions: {publish: "own"}} ]
    }"""
    a, b = load(tmp_path, text).options.authorization.users
    assert a.permissions.publish.allow == ["default.>"] and b.permissions.publish.allow == ["own"]


def test_accounts(tmp_path):
    text = """
    accounts {
      A { users [ {user: a1, password: x}, {user: a2, password: y} ] }
      B {
        users [ {user: b1, password: z} ]
        default_permissions { subscribe: "b.>" }
      }
      C {}
    }
    no_auth_user: b1
    """
    opts = load(tmp_path, text).options
    assert [a.name for a in opts.accounts] == ["A", "B", "C"]
    a, b, c = opts.accounts
    assert [(u.user, u.account) for u in a.users] == [("a1", "A"), ("a2", "A")]
    assert [(u.user, u.account) for u in b.users] == [("b1", "B")]
    assert b.users[0].permissions.subscribe.allow == ["b.>"]
    assert c.users == [] and opts.no_auth_user == "b1"


def test_accounts_as_a_list_of_names(tmp_path):
    assert [a.name for a in load(tmp_path, "accounts [A, B]").options.accounts] == ["A", "B"]


def test_tls_block(tmp_path):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "s.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "s.key"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    text = f"""tls {{
      cert_file: "{tmp_path}/s.pem"
      key_file: "{tmp_path}/s.key"
      ca_file: "{tmp_path}/ca.pem"
      verify: true
      timeout: 3
      handshake_first: true
    }}"""
    tls = load(tmp_path, text).options.tls
    assert (tls.cert_file, tls.key_file, tls.ca_file) == (f"{tmp_path}/s.pem", f"{tmp_path}/s.key", f"{tmp_path}/ca.pem")
    assert (tls.verify, tls.timeout, tls.handshake_first) == (True, 3.0, True)
    assert load(tmp_path, 'tls { timeout: "500ms" }').options.tls.timeout == 0.5
    msgs = errors(tmp_path, f'tls {{ cert_file: "{tmp_path}/s.pem", key_file: "{tmp_path}/ca.pem" }}')
    assert "error parsing X509 certificate/key pair" in msgs[0]


def test_includes_and_variables_feed_the_options(tmp_path):
    (tmp_path / "users.conf").write_text("USER_LIST = [ {user: a, password: $PW} ]\n")
    text = "authorization {\n  include users.conf\n  users: $USER_LIST\n}\n"
    with pytest.raises(ConfigError, match="variable reference for 'PW' on line 1 can not be found"):
        load(tmp_path, "PW = s3cr3t\n" + text)  # an included file cannot see the including file's variables
    users = load(tmp_path, text, PW="from-env").options.authorization.users
    assert (users[0].user, users[0].password) == ("a", "from-env")


# -- errors: file, line, key ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "message"), [
    ("port: 1\n\nfoo: 1", '3:1: unknown field "foo"'),
    ("jetstream { cipher: aes }", '1:13: unknown field "cipher" (a nats-server option that zats does not support)'),
    ("jetstream: maybe", "Expected 'enabled' or 'disabled' for string value, got 'maybe'"),
    ("store_dir: /a\njetstream { store_dir: /b }", "Duplicate 'store_dir' configuration"),
    ("X = 1", '1:1: unknown field "X"'),  # a variable nothing uses is just an unknown key
    ("authorization {\n  user: a\n  bogus: 1\n}", '3:3: unknown field "bogus"'),
    ("authorization { users [ {user: a, foo: 1} ] }", '1:35: unknown field "foo"'),
    ("authorization { users [ {user: a, permissions: {pub: a, foo: 1}} ] }", '1:57: Unknown field "foo" parsing permissions'),
    ("authorization { users [ {user: a, permissions: {pub: {allow: a, no: b}}} ] }",
     "1:65: Unknown field name \"no\" parsing subject permissions, only 'allow' or 'deny' are permitted"),
    ("accounts { A { imports: [] } }", '1:16: unknown field "imports" (a nats-server option that zats does not support)'),
    ("tls {\n foo: 1 }", '2:2: error parsing tls config, unknown field "foo"'),
    ('port: "4222"', 'field "port": expected an integer, got string "4222"'),
    ("debug: 1", 'field "debug": expected a boolean, got integer 1'),
    ("server_name: 5", 'field "server_name": expected a string, got integer 5'),
    ("max_payload: 1.5", 'field "max_payload": expected an integer, got float 1.5'),
    ("authorization: 5", 'field "authorization": expected a map, got integer 5'),
    ("ping_interval: true", 'field "ping_interval": expected a duration (e.g. "2s"), got boolean true'),
    ("ping_interval: \"5x\"", 'error parsing ping_interval: time: unknown unit "x" in duration "5x"'),
    ("lame_duck_duration: 60", 'field "lame_duck_duration": expected a duration (e.g. "2s"), got integer 60'),
    ("lame_duck_duration: \"10s\"", "invalid lame_duck_duration of 10s, minimum is 30 seconds"),
    ("lame_duck_grace_period: \"-1s\"", "invalid lame_duck_grace_period, needs to be positive"),
    ("server_name: \"a b\"", "server name cannot contain spaces"),
    ("max_payload: 3GB", "max_payload value is too big"),
    ("port: 70000", 'field "port": port 70000 is not between -1 (random) and 65535'),
    ('listen: "localhost"', 'could not parse address string "localhost"'),
    ("listen: \"h:x\"", 'could not parse port "x"'),
    ("authorization { user: a, token: b }", "1:1: Cannot have a user/pass and token"),
    ("authorization { user: a, users: [] }", "Can not have a single user/pass and a users array"),
    ("authorization { token: a, users: [] }", "Can not have a token and a users array"),
    ("authorization { timeout: true }", "error parsing authorization config, 'timeout' wrong type"),
    ("authorization { users: {user: a} }", "Expected users field to be an array, got a map"),
    ("authorization { users: [ bob ] }", 'Expected user entry to be a map/struct, got string "bob"'),
    ("authorization { users: [ {password: x} ] }", "1:26: User entry requires a user"),
    ("authorization { users: [ {nkey: UABC} ] }", "Not a valid public nkey for a user"),
    (f"authorization {{ users: [ {{nkey: {USER_NKEY}, user: x}} ] }}", "Nkey users do not take usernames or passwords"),
    ("authorization { users: [ {user: a}, {user: a} ] }", 'Duplicate user "a" detected'),
    ("accounts { A { users [ {user: a} ] }, B { users [ {user: a} ] } }", 'Duplicate user "a" detected'),
    ("authorization { users: [ {user: a, permissions: 5} ] }", "Expected permissions to be a map/struct, got integer 5"),
    ("authorization { users: [ {user: a, permissions: {pub: 5}} ] }",
     "Expected subject permissions to be a subject, or array of subjects, got integer 5"),
    ("authorization { users: [ {user: a, permissions: {pub: [1.5]}} ] }", "Subject in permissions array cannot be cast to string"),
    ("authorization { users: [ {user: a, permissions: {sub: \"a..b\"}} ] }", 'subject "a..b" is not a valid subject'),
    ("authorization { users: [ {user: a, permissions: {allow_responses: yes please}} ] }",
     'Expected a map value terminator "," or a map terminator "}", but got \'p\' instead.'),
    ("authorization { users: [ {user: a, permissions: {allow_responses: \"x\"}} ] }",
     "error parsing response permissions, expected a boolean or a map"),
    ("authorization { users: [ {user: a, permissions: {allow_responses: {expires: 60}}} ] }",
     "error parsing expires, not a duration string"),
    ("accounts { $G { } }", '1:12: "$G" is a Reserved Account'),
    ("accounts { A: 1 }", "1:12: Expected map entries for accounts"),
    ("accounts [A, A]", "Duplicate Account Entry: A"),
    ("no_auth_user: bob", 'no_auth_user: "bob" present, but users/nkeys are not defined'),
    ("authorization { users [ {user: a} ] }\nno_auth_user: bob",
     '2:1: no_auth_user: "bob" not present as user or nkey in authorization block or account configuration'),
    ("tls { cert_file: a.pem }", "missing 'key_file' in TLS configuration"),
    ("tls { key_file: a.key }", "missing 'cert_file' in TLS configuration"),
    ('tls { cert_file: "/nonexistent.pem", key_file: "/nonexistent.key" }',
     "error parsing X509 certificate/key pair: open /nonexistent.pem: no such file or directory"),
    ("tls { verify: \"yes\" }", "error parsing tls config, expected 'verify' to be a boolean"),
    ("tls { cert_file: 5 }", "error parsing tls config, expected 'cert_file' to be filename"),
    ("tls { timeout: true }", "error parsing tls config, 'timeout' wrong type"),
    ('tls { handshake_first: "300ms" }', "zats takes only true or false for 'handshake_first'"),
])
def test_errors_name_file_line_and_key(tmp_path, text, message):
    msgs = errors(tmp_path, text)
    path = str(tmp_path / "server.conf")
    assert len(msgs) == 1, msgs
    assert msgs[0].startswith(path + ":") and message in msgs[0], msgs[0]


def test_all_errors_are_reported_together_in_file_order(tmp_path):
    msgs = errors(tmp_path, "foo: 1\nport: x\nbar: 2\nping_interval: 5\n")
    path = tmp_path / "server.conf"
    assert msgs == [f'{path}:1:1: unknown field "foo"',
                    f'{path}:2:1: field "port": expected an integer, got string "x"',
                    f'{path}:3:1: unknown field "bar"',
                    f'{path}:4:1: invalid use of field "ping_interval": ping_interval should be converted to a duration']


def test_errors_in_an_included_file_name_that_file(tmp_path):
    (tmp_path / "more.conf").write_text("\n  ping_max: x\n")
    msgs = errors(tmp_path, "port: 1\ninclude more.conf\n")
    assert msgs == [f'{tmp_path}/more.conf:2:3: field "ping_max": expected an integer, got string "x"']


def test_syntax_errors_and_unreadable_files_are_config_errors(tmp_path):
    assert errors(tmp_path, "port: 1\nmax_payload: [\n") == [f"{tmp_path}/server.conf:3:1: Unexpected EOF processing array."]
    with pytest.raises(ConfigError, match="open /nonexistent.conf: no such file or directory"):
        load_config("/nonexistent.conf")


def test_used_variables_are_not_unknown_fields(tmp_path):
    opts = load(tmp_path, "LIMIT = 1MB\nmax_payload: $LIMIT\naccounts { A { U: x, users [ {user: $U} ] } }").options
    assert opts.max_payload == 1024**2 and opts.accounts[0].users[0].user == "x"


def test_check_config_reports_warnings_empty_files_and_option_validation(tmp_path):
    loaded = load(tmp_path, "max_payload: 2MB\nmax_pending: 1MB\nping_interval: 5")
    problems = check_config(loaded, loaded.options)
    assert problems[0].endswith("ping_interval should be converted to a duration")
    assert problems[1] == "max_payload (2097152) cannot be higher than max_pending (1048576)"
    loaded = load(tmp_path, "# nothing\n")
    assert check_config(loaded, loaded.options) == [f"{tmp_path}/server.conf: config has no values or is empty"]


# -- the command line ----------------------------------------------------------------------------------


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(ZATS + list(args), capture_output=True, text=True, timeout=30,
                          env={**os.environ, **(env or {})})


def test_flags_override_the_file(tmp_path):
    path = write_config(tmp_path, "port: 1111\nserver_name: file\ndebug: false\nmax_payload: 2KB\n"
                                  "http_port: 2222\nlogtime: true\n")
    opts = cli.parse_args(["-c", path, "-p", "3333", "-n", "flag", "-D", "-m", "4444", "-T=false"])
    assert (opts.port, opts.server_name, opts.debug, opts.http_port, opts.logtime) == (3333, "flag", True, 4444, False)
    assert opts.max_payload == 2048  # not given as a flag: the file's
    assert opts.config_file == path
    opts = cli.parse_args(["--config", path])
    assert (opts.port, opts.server_name, opts.debug, opts.http_port) == (1111, "file", False, 2222)


def test_check_flag_success_prints_nats_servers_line(tmp_path):
    path = write_config(tmp_path, FULL)
    result = run("-t", "-c", path)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(rf"zats-server: configuration file {re.escape(path)} is valid \(sha256:[0-9a-f]{{64}}\)\n",
                        result.stderr)


@pytest.mark.parametrize(("text", "message"), [
    ("port: 1\nfoo: 2\n", 'server.conf:2:1: unknown field "foo"'),
    ("port: [\n", "server.conf:2:1: Unexpected EOF processing array."),
    ("ping_interval: 5\n", 'server.conf:1:1: invalid use of field "ping_interval"'),  # a warning fails -t
    ("max_payload: 2MB\nmax_pending: 1MB\n", "max_payload (2097152) cannot be higher than max_pending"),
    ("", "config has no values or is empty"),
])
def test_check_flag_failure(tmp_path, text, message):
    result = run("-t", "-c", write_config(tmp_path, text))
    assert result.returncode == 1
    assert result.stderr.startswith("zats-server: ") and message in result.stderr


DEEP = {"maps": "x {" * 3000 + "}" * 3000, "arrays": "x: " + "[" * 3000 + "]" * 3000,
        "json": "x: " + '{"a": ' * 3000 + "1" + "}" * 3000}


@pytest.mark.parametrize("shape", sorted(DEEP))
@pytest.mark.parametrize("how", [["-t", "-c"], ["-c"]])
def test_a_config_nested_thousands_of_levels_deep_is_one_error_line(tmp_path, shape, how):
    """nats-server reads it and refuses the unknown key; zats stops at a depth no real file
    has: either way one error line and exit status 1, never a traceback."""
    path = write_config(tmp_path, DEEP[shape] + "\n")
    result = run(*how, path, "-p", str(free_port()))
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "server.conf:1:" in result.stderr
    binary = nats_server_binary()
    if binary:
        theirs = subprocess.run([binary, *how, path, "-p", str(free_port())], capture_output=True,
                                text=True, timeout=30)
        assert theirs.returncode == 1 and "server.conf:1:" in theirs.stderr


def test_nesting_within_the_limit_is_read():
    from zats.broker.conf_syntax import MAX_DEPTH

    assert parse("x: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH)["x"]
    assert "nested deeper than" in str(syntax_error("x: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)))


def test_check_flag_needs_a_file_and_a_missing_file_is_an_error():
    result = run("-t")
    assert result.returncode == 1
    assert "must specify [-c, --config] option to check configuration file syntax" in result.stderr
    result = run("-c", "/nonexistent/zats.conf")
    assert result.returncode == 1
    assert result.stderr == "zats-server: open /nonexistent/zats.conf: no such file or directory\n"


def test_bad_file_stops_the_server(tmp_path):
    result = run("-c", write_config(tmp_path, "port: 1\nmax_payload: big\n"))
    assert result.returncode == 1
    assert result.stderr == (f'zats-server: {tmp_path}/server.conf:2:1: field "max_payload": expected an '
                             'integer, got string "big"\n')


class FileServer:
    """A server of either kind started with nothing but `-c FILE` (and extra flags)."""

    def __init__(self, kind: str, path: str, *flags: str):
        base = ZATS if kind == "zats" else [require_nats_server()]
        self.log = open(path + f".{kind}.log", "w+")
        self.proc = subprocess.Popen(base + ["-c", path, *flags], stdout=subprocess.DEVNULL, stderr=self.log)

    def stderr(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.log.close()


@pytest.fixture
def file_server():
    started = []

    def start(kind: str, path: str, *flags: str) -> FileServer:
        started.append(FileServer(kind, path, *flags))
        return started[-1]

    yield start
    for srv in started:
        srv.stop()


def info_of(port: int) -> dict:
    with Wire("127.0.0.1", port) as w:
        return json.loads(w.read_info()[5:])


def test_server_serves_the_configured_port_and_max_payload(kind, file_server, tmp_path):
    port = free_port()
    path = write_config(tmp_path, f"# written for nats-server\nlisten: 127.0.0.1:{port}\nmax_payload: 64KB\n"
                                  "server_name: from-file\n")
    srv = file_server(kind, path)
    wait_for_port("127.0.0.1", port, srv.proc)
    info = info_of(port)
    assert (info["port"], info["max_payload"], info["server_name"]) == (port, 64 * 1024, "from-file")


def test_flag_port_overrides_the_file_when_serving(kind, file_server, tmp_path):
    file_port, flag_port = free_port(), free_port()
    path = write_config(tmp_path, f"listen: 127.0.0.1:{file_port}\nmax_payload: 2KB\n")
    srv = file_server(kind, path, "-p", str(flag_port))
    wait_for_port("127.0.0.1", flag_port, srv.proc)
    assert info_of(flag_port)["max_payload"] == 2048


def test_warnings_are_printed_and_the_server_starts(kind, file_server, tmp_path):
    port = free_port()
    path = write_config(tmp_path, f"listen: 127.0.0.1:{port}\nping_interval: 30\n")
    srv = file_server(kind, path)
    wait_for_port("127.0.0.1", port, srv.proc)
    assert f'{path}:2:1: invalid use of field "ping_interval": ping_interval should be converted to a duration' \
        in srv.stderr()


# -- the same files through the real nats-server --------------------------------------------------------


def nats_check(path: str, env: dict | None = None) -> tuple[int, str]:
    binary = require_nats_server()
    result = subprocess.run([binary, "-t", "-c", path], capture_output=True, text=True, timeout=30,
                            env={**os.environ, **(env or {})})
    return result.returncode, result.stdout + result.stderr


def zats_check(path: str, env: dict | None = None) -> tuple[bool, str]:
    """What `zats-server -t -c path` decides, in-process: (valid, digest or errors)."""
    try:
        loaded = load_config(path, environ={**os.environ, **(env or {})})
    except ConfigError as exc:
        return False, str(exc)
    problems = check_config(loaded, loaded.options)
    return not problems, "\n".join(problems) or loaded.digest


GOOD = {
    "separators": "port: 4222\nmax_payload = 1MB\nping_max 3\nmax_pending\t2MB\n",
    "comments": "# c\n// c\nport: 4222 # c\ndebug: true // c\nauthorization { # c\n user: a // c\n password: b # c\n}\n",
    "json style": '{\n  "port": 4222,\n  "max_payload": 65536,\n  "debug": true,\n  "authorization": {"token": "t"}\n}\n',
    "nested braces": "{{ port: 4222 }}\n",
    "terminators": "port: 4222; debug: true, trace: false\nauthorization { user: a; password: b, }\n",
    "crlf": "port: 4222\r\ndebug: true\r\nauthorization {\r\n  user: a\r\n  password: b\r\n}\r\n",
    "sizes": "max_payload: 512KB\nmax_pending: 64MB\nmax_control_line: 2KiB\nmax_connections: 1k\n",
    "size words": "max_payload: 1Ki\nmax_pending: 1g\n",
    "negatives": "port: -1\nmax_subscriptions: -1\n",
    "listen and http": "listen: 127.0.0.1:4333\nhttp: 127.0.0.1:8333\n",
    "listen port only": "listen: 4333\nhttp_port: 8222\n",
    "listen ipv6": 'listen: "[::1]:4333"\n',
    "host and port": "host: 127.0.0.1\nport: 4333\nnet: 0.0.0.0\n",
    "durations": 'ping_interval: "2m"\nwrite_deadline: "500ms"\nlame_duck_duration: "45s"\nlame_duck_grace_period: "5s"\n',
    "unquoted durations": "lame_duck_duration: 1h\nlame_duck_grace_period: 30s\n",
    "booleans": "debug: yes\ntrace: off\nlogtime: TRUE\nlogtime_utc: on\n",
    "files": 'log_file: "/tmp/zats-\\x41.log"\npid_file: \'/tmp/raw\\t.pid\'\n',
    "paren block": "log_file: (\n/tmp/a\n  b\n)\n",
    "server name words": "server_name: 3secret\n",
    "token": 'authorization { token: "s3cr3t", timeout: 2.5 }\n',
    "duration auth timeout": 'authorization { user: a, password: b, timeout: "3s" }\n',
    "users and permissions": f"""
        authorization {{
          permissions {{ subscribe: "_INBOX.>" }}
          users = [
            {{user: a, password: "{BCRYPT}", permissions: {{publish: "a.>", subscribe: ["b", "c.*"]}}}}
            {{user: b, password: {BCRYPT}, permissions: {{publish: {{allow: ["x.>"], deny: "x.y"}}, allow_responses: true}}}}
            {{user: c, pass: p, permissions: {{pub: [r], sub: {{deny: ">"}}, allow_responses: {{max: 5, expires: "1m"}}}}}}
            {{nkey: {USER_NKEY}}}
          ]
        }}
    """,
    "accounts": """
        accounts {
          A { users [ {user: a, password: a} ] }
          B { users [ {user: b, password: b} ], default_permissions { publish: "b.>" } }
        }
        no_auth_user: b
    """,
    "account list": "accounts [A, B]\n",
    "variables": "NAME: zats\nLIMIT = 2MB\nserver_name: $NAME\nmax_payload: $LIMIT\n"
                 "authorization { PASS: x, user: $NAME, password: $PASS }\n",
    "variables in users": "authorization {\n  users [ {U: bob, user: $U, password: $U} ]\n}\n",
    "quoted keys": "'port': 4222\n\"debug\": true\nauthorization { \"user\": a, 'password': b }\n",
    "multiline values in blocks": "authorization {\n  user:\n    a\n  password =\n    b\n}\n",
    "array quirks": "authorization { users [ {user: a, password: b} / {user: c, password: d} ] }\n",
    "lone slashes": "port: 4222 /\nauthorization { user: a / password: b }\n",
    "stray last brace": "port: 4222\n}\n",
    "cluster": """
        cluster {
          name: C1
          listen: 127.0.0.1:6333
          routes: [ nats-route://127.0.0.1:6334, "nats://ru:rp@127.0.0.1:6335" ]
          authorization { user: ru, password: rp, timeout: 2 }
          no_advertise: true
          connect_retries: 3
          advertise: "10.0.0.1:6333"
        }
    """,
    "cluster host and port": 'cluster { host: 127.0.0.1, port: 6333, cluster_advertise: "x:1" }\n',
    "cluster routes without a port": 'cluster { routes: [ "nats://127.0.0.1:6334" ] }\n',
}


@pytest.mark.parametrize("name", list(GOOD))
def test_good_files_pass_both_with_the_same_digest(tmp_path, name):
    path = write_config(tmp_path, GOOD[name])
    rc, out = nats_check(path)
    assert rc == 0, out
    ok, ours = zats_check(path)
    assert ok, ours
    assert f"({ours})" in out  # same sha256: the same values were read


def test_good_files_with_includes_and_environment(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "auth.conf").write_text("user: $ZATS_USER\npassword: $ZATS_PASS\n")
    (tmp_path / "sub" / "limits.conf").write_text("max_payload: $ZATS_LIMIT\ninclude more.conf\n")
    (tmp_path / "sub" / "more.conf").write_text("ping_max: 4\n")
    path = write_config(tmp_path, "port: $ZATS_PORT\ninclude sub/limits.conf\n"
                                  "authorization {\n  include 'sub/auth.conf'\n}\n")
    env = {"ZATS_PORT": "4333", "ZATS_USER": "u", "ZATS_PASS": '"p w"', "ZATS_LIMIT": "1MB"}
    rc, out = nats_check(path, env)
    assert rc == 0, out
    ok, ours = zats_check(path, env)
    assert ok, ours
    assert f"({ours})" in out


def test_good_tls_file(tmp_path):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "s.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "s.key"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    path = write_config(tmp_path, f'tls {{\n  cert_file: "{tmp_path}/s.pem"\n  key_file: "{tmp_path}/s.key"\n'
                                  f'  ca_file: "{tmp_path}/ca.pem"\n  verify: true\n  timeout: 2\n'
                                  "  handshake_first: true\n}\n")
    rc, out = nats_check(path)
    assert rc == 0, out
    ok, ours = zats_check(path)
    assert ok and f"({ours})" in out


BAD_SYNTAX = {
    "unterminated block": "port: 4222\nauthorization {\n  user: a\n",
    "unterminated string": 'server_name: "abc\n',
    "unterminated array": "authorization { users [ {user: a}\n",
    "no value": "port:\n",
    "two words": "server_name: foo bar\n",
    "missing map separator": "authorization { user: a password: b }\n",
    "double comma": "authorization { users [ {user: a},, {user: b} ] }\n",
    "leading comma": "authorization { users [ , {user: a} ] }\n",
    "missing array separator": "authorization { users [ {user: a} {user: b} ] }\n",
    "bad escape": 'server_name: "a\\qb"\n',
    "bad hex": 'server_name: "\\xzz"\n',
    "float without digit": "authorization { timeout: .5 }\n",
    "float after dot": "authorization { timeout: 1. }\n",
    "float with suffix": "max_payload: 1.5k\n",
    "bad date": "server_name: 12-5\n",
    "separator first": ": 4222\n",
    "key without value": "port: 1\nport\n",
    "integer out of range": "max_payload: 99999999999999999999\n",
    "undefined variable": "server_name: $ZATS_SURELY_NOT_SET\n",
    "block variable out of scope": "authorization { P: x }\nserver_name: $P\n",
    "variable used before definition": "server_name: $N\nN: x\n",
    "missing include": "include nothere.conf\n",
    "include of a number": "include 2.conf\n",
    "lone slash": "/ port: 4222\n",
    "block value at end": "{ port: 4222 ]\n",
}


@pytest.mark.parametrize("name", list(BAD_SYNTAX))
def test_bad_syntax_fails_both(tmp_path, name):
    path = write_config(tmp_path, BAD_SYNTAX[name])
    rc, out = nats_check(path)
    assert rc == 1 and "unknown field" not in out, out
    ok, ours = zats_check(path)
    assert not ok and (ours.startswith(path + ":") or ours.startswith("config is invalid")), ours


BAD_KEYS = {
    "unknown top-level": ("port: 1\nfoo: 1\n", ':2:1: unknown field "foo"'),
    "unknown in authorization": ("authorization {\n  user: a\n  bogus: 1\n}\n", ':3:3: unknown field "bogus"'),
    "unknown in tls": ("tls {\n foo: 1 }\n", ':2:2: error parsing tls config, unknown field "foo"'),
    "unused variable": ("port: 1\nX = 1\n", ':2:1: unknown field "X"'),
    "user and token": ("port: 1\nauthorization { user: a, token: b }\n", ":2:1: Cannot have a user/pass and token"),
    "users and user": ("port: 1\nauthorization { user: a, users: [] }\n", "Can not have a single user/pass and a users array"),
    "duplicate user": ("authorization { users: [ {user: a}, {user: a} ] }\n", 'Duplicate user "a" detected'),
    "reserved account": ("accounts { $G { } }\n", '"$G" is a Reserved Account'),
    "user without name": ("accounts { A { users [ {password: x} ] } }\n", "User entry requires a user"),
    "bad nkey": ("accounts { A { users [ {nkey: UABC} ] } }\n", "Not a valid public nkey for a user"),
    "invalid subject": ("authorization { users: [ {user: a, permissions: {sub: \"a..b\"}} ] }\n",
                        'subject "a..b" is not a valid subject'),
    "short lame duck": ("port: 1\nlame_duck_duration: \"10s\"\n", ":2:1: invalid lame_duck_duration of 10s, minimum is 30 seconds"),
    "bad duration": ("port: 1\nping_interval: \"5x\"\n", ':2:1: error parsing ping_interval: time: unknown unit "x" in duration "5x"'),
    "seconds warning": ("port: 1\nping_interval: 5\n", ':2:1: invalid use of field "ping_interval": ping_interval should be converted to a duration'),
    "payload too big": ("port: 1\nmax_payload: 3GB\n", ":2:1: max_payload value is too big"),
    "server name spaces": ("port: 1\nserver_name: \"a b\"\n", ":2:1: server name cannot contain spaces"),
    "listen host only": ("port: 1\nlisten: \"localhost\"\n", ':2:1: could not parse address string "localhost"'),
    "tls without key": ("port: 1\ntls { cert_file: a.pem }\n", ":2:1: missing 'key_file' in TLS configuration"),
    "wrong type": ("port: 1\ndebug: 1\n", ":2:1: "),
    "unknown in cluster": ("cluster {\n  port: 6333\n  bogus: 1\n}\n", ':3:3: unknown field "bogus"'),
    "cluster users": ("cluster {\n  port: 6333\n  authorization { users [ {user: a, password: b} ] }\n}\n",
                      ":3:3: Cluster authorization does not allow multiple users"),
    "cluster token": ("cluster {\n  port: 6333\n  authorization { token: x }\n}\n",
                      ":3:3: Cluster authorization does not support tokens"),
    "cluster name spaces": ('cluster {\n  port: 6333\n  name: "a b"\n}\n', ":3:3: cluster name cannot contain spaces"),
    "bad route url": ('cluster {\n  port: 6333\n  routes: [ "nats://[bad" ]\n}\n',
                      'error parsing route url ["nats://[bad"]'),
    "long auth timeout": ("port: 1\nauthorization {\n  timeout: 1234567.5\n}\n",
                          ':3:3: invalid use of field "timeout": timeout of 1.2345675e+06 (1234567.500000 seconds) '
                          "is high, consider keeping it under 60 seconds"),
    "long auth timeout string": ('port: 1\nauthorization {\n  timeout: "2m"\n}\n',
                                 ':3:3: invalid use of field "timeout": timeout of 2m (120.000000 seconds) is high'),
}


@pytest.mark.parametrize("name", list(BAD_KEYS))
def test_bad_keys_fail_both_with_the_same_reason(tmp_path, name):
    text, message = BAD_KEYS[name]
    path = write_config(tmp_path, text)
    rc, out = nats_check(path)
    assert rc == 1 and message in out, out
    ok, ours = zats_check(path)
    assert not ok and message in ours, ours


def test_zats_and_nats_server_check_lines_match(tmp_path):
    """The whole `-t` line, through both command lines."""
    if nats_server_binary() is None:
        pytest.skip("no nats-server")
    path = write_config(tmp_path, GOOD["users and permissions"])
    ours = run("-t", "-c", path).stderr
    theirs = nats_check(path)[1]
    assert ours.removeprefix("zats-server: ") == theirs.strip().removeprefix("nats-server: ") + "\n"
