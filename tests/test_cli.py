"""The engage command: accounts, the sample, and help for every command."""

import json

import click
from conftest import query


def test_users_add_reads_the_password_from_stdin(app, runner):
    result = runner.invoke(args=["users", "add", "fay", "--role", "facilitator", "--json"],
                           input="a long enough password\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["role"] == "facilitator"
    (user,) = query(app, "select * from users")
    assert user["password_hash"].startswith("$argon2id$")


def test_users_add_refuses_a_bad_role_and_a_short_password(app, runner):
    result = runner.invoke(args=["users", "add", "x", "--role", "owner"], input="long password\n")
    assert result.exit_code != 0
    result = runner.invoke(args=["users", "add", "fay", "--role", "admin"], input="short\n")
    assert result.exit_code == 1
    assert "at least 10 characters" in result.output
    assert query(app, "select count(*) as n from users")[0]["n"] == 0


def test_demo_load_fills_a_realistic_example(app, runner):
    result = runner.invoke(args=["demo", "load", "--json"])
    assert result.exit_code == 0, result.output
    ids = json.loads(result.output)
    assert query(app, "select count(*) as n from ideas where conversation_id = ?",
                 [ids["conversation_id"]])[0]["n"] == 8
    assert query(app, "select sample from workshops where id = ?",
                 [ids["workshop_id"]])[0]["sample"] == 1


def test_every_command_has_help(app):
    def walk(command, path):
        yield path, command
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                yield from walk(sub, path + [name])

    for path, command in walk(app.cli, []):
        if path and path[0] in ("users", "demo", "export"):
            assert command.help or command.short_help, " ".join(path)


def test_console_script_names_its_groups():
    from click.testing import CliRunner

    from engage.cli import cli

    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for group in ("users", "demo", "export"):
        assert group in result.output


def test_set_password_lets_a_forgetful_facilitator_back_in(app, runner):
    from engage.data import users

    runner.invoke(args=["users", "add", "fay", "--role", "facilitator"], input="first password\n")
    result = runner.invoke(args=["users", "set-password", "fay"], input="second password\n")
    assert result.exit_code == 0, result.output
    with app.test_request_context():
        assert users.authenticate("fay", "first password") is None
        assert users.authenticate("fay", "second password")["username"] == "fay"
    result = runner.invoke(args=["users", "set-password", "nobody"], input="second password\n")
    assert result.exit_code == 1 and "no account" in result.output
