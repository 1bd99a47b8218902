from hoist.cli.main import run

run()
