from backstop.cli import entry

entry()
